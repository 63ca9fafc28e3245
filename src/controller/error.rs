//! Controller errors, with a bounded category for metrics.

/// One write a reconcile makes: which one failed is part of its error and its metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    PassportObject,
    PassportStatus,
    /// The Release's status, mirroring its passport's decision.
    ReleaseStatus,
    PolicyStatus,
    ConnectorStatus,
    /// What a Notifier told, recorded on the passport (the delivery's own field manager).
    PassportNotifications,
    NotifierStatus,
}

impl Write {
    /// The resource it writes (the `api_writes` label, and how our writes are remembered).
    pub fn resource(self) -> &'static str {
        match self {
            Write::PassportObject => "releasepassports",
            Write::PassportStatus => "releasepassports/status",
            Write::ReleaseStatus => "releases/status",
            Write::PolicyStatus => "gatepolicies/status",
            Write::ConnectorStatus => "connectors/status",
            Write::PassportNotifications => "releasepassports/status",
            Write::NotifierStatus => "notifiers/status",
        }
    }

    /// The kind of the object written.
    pub fn kind(self) -> &'static str {
        match self {
            Write::PassportObject | Write::PassportStatus | Write::PassportNotifications => {
                "ReleasePassport"
            }
            Write::ReleaseStatus => "Release",
            Write::PolicyStatus => "GatePolicy",
            Write::ConnectorStatus => "Connector",
            Write::NotifierStatus => "Notifier",
        }
    }
}

impl std::fmt::Display for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Write::PassportObject => "passport object",
            Write::PassportStatus => "passport status",
            Write::ReleaseStatus => "Release status (the passport's mirror)",
            Write::PolicyStatus => "GatePolicy status",
            Write::ConnectorStatus => "Connector status",
            Write::PassportNotifications => "passport's notification records",
            Write::NotifierStatus => "Notifier status",
        })
    }
}

/// Why a reconcile failed. Every variant is transient: invalid input is not an error, it is a
/// `Stalled` condition and a wait for the next change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("writing the {write}: {source}")]
    Write {
        write: Write,
        #[source]
        source: kube::Error,
    },
    #[error("serialising {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("delivery history: {0}")]
    History(#[from] crate::cluster::history::HistoryError),
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        use crate::cluster::history::HistoryError;
        match self {
            Error::Kube(e)
            | Error::Write { source: e, .. }
            | Error::History(HistoryError::Kube(e)) => kube_category(e),
            Error::Serialize { .. } | Error::History(HistoryError::Encode(_)) => "serialization",
        }
    }
}

impl Error {
    /// Which write failed, as a bounded label (`read` when none was being made).
    pub fn step(&self) -> &'static str {
        match self {
            Error::Write { write, .. } => write.resource(),
            Error::History(_) => "history",
            Error::Kube(_) | Error::Serialize { .. } => "read",
        }
    }
}

fn kube_category(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(status) => match status.code {
            409 => "conflict",
            404 => "not_found",
            401 | 403 => "forbidden",
            429 => "throttled",
            500..=599 => "server",
            _ => "api",
        },
        _ => "transport",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed write says which one, and counts under a bounded step label.
    #[test]
    fn a_write_error_names_its_step() {
        let refused = || {
            kube::Error::Api(
                kube::core::Status::failure("the server rejected our request", "Conflict")
                    .with_code(409)
                    .boxed(),
            )
        };
        let e = Error::Write {
            write: Write::ReleaseStatus,
            source: refused(),
        };
        assert!(
            e.to_string()
                .starts_with("writing the Release status (the passport's mirror): "),
            "{e}"
        );
        assert_eq!((e.step(), e.category()), ("releases/status", "conflict"));
        let e = Error::Write {
            write: Write::PassportObject,
            source: refused(),
        };
        assert_eq!(e.step(), "releasepassports");
        assert_eq!(Error::Kube(refused()).step(), "read");
    }
}
