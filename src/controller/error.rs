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
}

impl Error {
    /// A bounded label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) => match status.code {
                409 => "conflict",
                404 => "not_found",
                401 | 403 => "forbidden",
                429 => "throttled",
                500..=599 => "server",
                _ => "api",
            },
            Error::Kube(_) => "transport",
            Error::Serialize { .. } => "serialization",
        }
    }
}
