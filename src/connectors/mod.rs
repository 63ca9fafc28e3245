//! Evidence connectors: one module per upstream system, all behind [`hub::Hub`], which fetches
//! each distinct query once per refresh for every release that needs it, bounds time and
//! concurrency, and keeps each Connector's health. Reconciles read the hub's cache; they never
//! wait on an upstream.

pub mod alertmanager;
pub mod argocd;
pub mod cluster_read;
pub mod datadog;
pub mod detect;
pub mod flux;
pub mod github;
pub mod http;
pub mod hub;
pub mod influxdb;
pub mod jobs;
pub mod journey;
pub mod kind;
pub mod kubernetes;
pub mod manual;
pub mod metric_backend;
pub mod newrelic;
pub mod prometheus;
pub mod queries;
pub mod query;
pub mod statuspage;
pub mod webhook;

use crate::api::ConnectorType;
use kind::ConnectorKind;

/// The one place a connector type meets its implementation: adding a type is a module, a line
/// in the API's `connector_types!` list, and an arm here.
pub fn kind_of(t: ConnectorType) -> &'static dyn ConnectorKind {
    match t {
        ConnectorType::Kubernetes => &kubernetes::Kubernetes,
        ConnectorType::ArgoCD => &argocd::ArgoCd,
        ConnectorType::Flux => &flux::Flux,
        ConnectorType::Prometheus => &prometheus::Prometheus,
        ConnectorType::Http => &journey::HttpJourney,
        ConnectorType::StatusPage => &statuspage::StatusPage,
        ConnectorType::GitHubActions => &github::GitHubActions,
        ConnectorType::Webhook => &webhook::Webhook,
        ConnectorType::Manual => &manual::Manual,
        ConnectorType::Alertmanager => &alertmanager::Alertmanager,
        ConnectorType::InfluxDB => &influxdb::InfluxDb,
        ConnectorType::NewRelic => &newrelic::NewRelic,
        ConnectorType::Datadog => &datadog::Datadog,
    }
}

/// Why an upstream's answer could not be read: it is not in the shape the API documents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// A member the API always sends is absent, or not of its type.
    #[error("no {0}")]
    Missing(&'static str),
    /// A value the API does not document.
    #[error("unknown {field} {value:?}")]
    Unknown { field: &'static str, value: String },
}

/// Why an upstream call failed, by what it means for the Connector's health.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The credential is missing or was refused.
    #[error("{0}")]
    Credential(String),
    /// Timeout, refused connection, DNS, TLS.
    #[error("{0}")]
    Unreachable(String),
    /// The upstream answered, but not usefully (5xx, malformed or truncated body).
    #[error("{0}")]
    Upstream(String),
    /// The upstream answered in a shape its API does not document (counts as Upstream).
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// The Connector's spec cannot work (bad endpoint).
    #[error("{0}")]
    Config(String),
    /// The upstream asked us to slow down (HTTP 429): nothing more is asked of it before
    /// `retry_after` (its `Retry-After` or rate-limit reset hint), or the next refresh.
    #[error("rate limited by the upstream (HTTP 429){}", retry_after.map(|d| format!(": retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        retry_after: Option<std::time::Duration>,
    },
}

impl FetchError {
    /// How long the upstream asked us to wait before asking again, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            FetchError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}
