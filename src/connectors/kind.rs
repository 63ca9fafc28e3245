//! What every connector type is: one implementation of [`ConnectorKind`] per type, in that
//! type's module, looked up through [`super::kind_of`]. The hub, the planner, detection, metrics
//! and the console ask the kind; none of them matches on the type.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::detect::{Candidate, Discovery};
use super::query::Query;
use super::{FetchError, kind_of};
use crate::api::passport::Targets;
use crate::api::{Connector, EvidenceStatus, Keyed, Release};
use crate::engine::needs::{Needs, RollbackNeed};

/// The evidence source name a connector's observations are recorded under.
pub fn source_name(c: &Connector) -> String {
    if let Some(s) = &c.spec.source {
        return s.clone();
    }
    match kind_of(c.spec.type_).about().default_source {
        Some(s) => s.into(),
        None => c.metadata.name.clone().unwrap_or_default(),
    }
}

/// The evidence a connector type answers, by what a reader of the console cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answers {
    Workloads,
    GitOps,
    Metrics,
    /// Alerts firing for a release's scope.
    Alerts,
    /// Synthetic user journeys (the Radar's journey lane).
    Journeys,
    /// Third-party status (the Radar's third-party lane).
    ThirdPartyStatus,
    Ci,
    /// Recorded by a person on the Release.
    Manual,
}

/// What a connector type is, as the console, the metrics and the planner describe it.
pub struct About {
    /// One line on the Integrations page: what it reads.
    pub reads: &'static str,
    pub answers: Answers,
    /// The source name its observations carry when `spec.source` is unset (`None`: the
    /// Connector's own name).
    pub default_source: Option<&'static str>,
    /// Its results are pushed to us (nothing to fetch; the credential is still checked).
    pub pushed: bool,
    /// The hub refreshes it on its interval (false: its evidence is read elsewhere).
    pub refreshed: bool,
    /// How its Services look in a cluster, for detected candidates.
    pub looks: Option<Looks>,
}

/// How a Service of an integration looks: what it is called, the labels its operator, Helm
/// chart or convention put on it, and its usual port.
pub struct Looks {
    pub name: &'static str,
    pub selectors: &'static [&'static str],
    pub port: i32,
}

impl About {
    /// A type whose answers the hub fetches on its interval.
    pub const fn fetched(
        reads: &'static str,
        answers: Answers,
        default_source: Option<&'static str>,
    ) -> Self {
        Self {
            reads,
            answers,
            default_source,
            pushed: false,
            refreshed: true,
            looks: None,
        }
    }

    /// The same, detected by its Services' labels.
    pub const fn looking(mut self, looks: Looks) -> Self {
        self.looks = Some(looks);
        self
    }
}

/// What a connector is asked about one release.
pub struct Asked<'a> {
    pub connector: &'a Connector,
    pub release: &'a Release,
    pub needs: &'a Needs,
    /// Every Connector (a rule may name the one that answers it).
    pub connectors: &'a [Arc<Connector>],
}

/// What a fetch may use: the upstream's address and credential, bounded in time.
pub struct Upstream<'a> {
    pub http: &'a reqwest::Client,
    /// For the types that read the cluster.
    pub kube: Option<&'a kube::Client>,
    pub connector: &'a Connector,
    pub token: Option<&'a str>,
    /// The second key some types need (Datadog's application key).
    pub second: Option<&'a str>,
    pub timeout: Duration,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl Upstream<'_> {
    pub fn endpoint(&self) -> Result<&str, FetchError> {
        self.connector.spec.endpoint.as_deref().ok_or_else(|| {
            FetchError::Config("spec.endpoint is required for this connector type".into())
        })
    }

    pub fn cluster(&self) -> Result<&kube::Client, FetchError> {
        self.kube.ok_or_else(|| {
            FetchError::Config(
                "this connector reads the cluster, and no cluster client is configured".into(),
            )
        })
    }
}

/// One upstream answer, before the hub stamps it with source, connector and times.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: EvidenceStatus,
    pub summary: String,
    pub value: Option<f64>,
    /// The query text shown beside a metric.
    pub query: Option<String>,
    pub targets: Option<Targets>,
    /// When the release's version began rolling out, where the upstream shows it.
    pub rollout_started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A comparison's samples over its window, oldest first.
    pub samples: Vec<f64>,
}

impl Answer {
    pub fn new(status: EvidenceStatus, summary: String) -> Self {
        Self {
            status,
            summary,
            value: None,
            query: None,
            targets: None,
            rollout_started_at: None,
            samples: Vec::new(),
        }
    }

    pub fn with_targets(mut self, targets: Targets) -> Self {
        self.targets = Some(targets);
        self
    }
}

/// The answer for a release whose scope names a namespace its connector does not open to it
/// (`spec.allowedNamespaces`): nothing is read there, and the passport says why.
pub fn outside_allowed<'n>(
    connector: &Connector,
    mut namespaces: impl Iterator<Item = &'n str>,
) -> Option<Answer> {
    let refused = namespaces.find(|n| !connector.permits_namespace(n))?;
    Some(Answer::new(
        EvidenceStatus::Missing,
        format!(
            "not read: namespace {refused} is outside what Connector {} allows (spec.allowedNamespaces)",
            connector.key()
        ),
    ))
}

/// The answer to a question this type was never asked (the planner and the fetch disagree).
pub fn not_asked(query: &Query) -> FetchError {
    FetchError::Config(format!("{query} is not a question for this connector type"))
}

/// One connector type: what it answers, which questions a release puts to it, how it fetches
/// an answer, how it is probed and found, how it is labelled.
pub trait ConnectorKind: Send + Sync {
    /// What it is, for the console, metrics and the planner.
    fn about(&self) -> &'static About;

    /// The questions the release's evidence asks of this connector.
    fn evidence_queries(&self, _release: &Release) -> Vec<Query> {
        Vec::new()
    }

    /// Whether the previous release can still be returned to, asked of this connector.
    fn rollback_queries(&self, _release: &Release, _previous: &RollbackNeed) -> Vec<Query> {
        Vec::new()
    }

    /// Every question for one release: rollback targets, and the evidence when the release's
    /// policies read this connector's source.
    fn queries(&self, asked: &Asked<'_>) -> Vec<Query> {
        let mut out = match &asked.needs.rollback {
            Some(previous) => self.rollback_queries(asked.release, previous),
            None => Vec::new(),
        };
        if asked.needs.sources.contains(&source_name(asked.connector)) {
            out.extend(self.evidence_queries(asked.release));
        }
        out.extend(self.fixed_source_queries(asked));
        out
    }

    /// The questions for evidence sources of a fixed name this type also answers, when the
    /// release's policies read them (the Kubernetes type's `jobs`).
    fn fixed_source_queries(&self, _asked: &Asked<'_>) -> Vec<Query> {
        Vec::new()
    }

    /// What is asked when no release needs the connector yet, to tell whether it answers.
    fn probe(&self) -> Option<Query> {
        None
    }

    /// Integrations of this type in the cluster that no Connector covers (`None`: this type
    /// is never looked for).
    fn detect(&self, _found: &Discovery, _connectors: &[Arc<Connector>]) -> Option<Vec<Candidate>> {
        None
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>>;
}
