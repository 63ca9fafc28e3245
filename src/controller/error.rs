//! Controller errors, with a bounded category for metrics.

/// Why a reconcile failed. Every variant is transient: invalid input is not an error, it is a
/// `Stalled` condition and a wait for the next change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
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
            Error::Kube(e) | Error::History(HistoryError::Kube(e)) => kube_category(e),
            Error::Serialize { .. } | Error::History(HistoryError::Encode(_)) => "serialization",
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
