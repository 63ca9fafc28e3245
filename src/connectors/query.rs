//! The questions connectors answer, as typed values: built once from a release (see
//! `queries.rs`), read field by field by the connector module that fetches them, and used as
//! the hub's cache key. Nothing is written out to be parsed again, so planning a fetch and
//! looking its answer up cannot disagree. Releases asking the same question share one value,
//! hence one upstream call.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::api::ObjectKey;
use crate::engine::metric::MetricQuery;

/// Where a release's workloads run: namespaces and a label selector (empty: every workload).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadScope {
    pub namespaces: Vec<String>,
    pub selector: String,
}

impl fmt::Display for WorkloadScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.namespaces.join(","))?;
        if !self.selector.is_empty() {
            write!(f, " ({})", self.selector)?;
        }
        Ok(())
    }
}

/// The two Flux kinds a Release can name in `scope.gitopsApps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FluxKind {
    Kustomization,
    HelmRelease,
}

/// Which alerts count against a release (Alertmanager): the active ones carrying every label
/// of `scope` and matching every one of `matchers`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertQuery {
    /// The release's `scope.metricLabels` (empty: the release cannot be scoped, and nothing is
    /// asked: no fleet-wide question, ever).
    pub scope: BTreeMap<String, String>,
    /// The connector's `spec.alerts.matchers`, as written.
    pub matchers: Vec<String>,
    /// Whether silenced and inhibited alerts count too.
    pub count_suppressed: bool,
}

/// One question one connector answers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Query {
    /// A metric rule's question (Prometheus).
    Metric(MetricQuery),
    /// The status page's current incidents (one answer for everybody).
    StatusPage,
    /// The connector's synthetic journey (one answer for everybody).
    Journey,
    /// The latest delivery that named this release (pushed to the webhook receiver).
    Delivery { release: String },
    /// The CI runs at `commit` of `project` (`owner/repository`), of `pipeline` (empty: any).
    Pipeline {
        project: String,
        commit: String,
        pipeline: String,
    },
    /// The workloads of a scope, and whether they run `version`.
    Workloads {
        scope: WorkloadScope,
        version: String,
    },
    /// A Flux object, and whether it applied `expected` (a revision, or a chart version).
    Flux {
        kind: FluxKind,
        object: ObjectKey,
        expected: String,
    },
    /// An Argo CD Application, and whether it synced `expected`.
    ArgoApp { app: ObjectKey, expected: String },
    /// Whether a scope still holds a ReplicaSet or ControllerRevision running `version` (the
    /// previous release's: something to roll back to).
    RollbackWorkloads {
        scope: WorkloadScope,
        version: String,
    },
    /// Whether an Application's history still holds `revision`.
    RollbackApp { app: ObjectKey, revision: String },
    /// The alerts firing for a release's scope.
    Alerts(AlertQuery),
    /// The Jobs of a scope that carry `version` and did not finish before `since` (smoke and
    /// verification tests).
    Jobs {
        scope: WorkloadScope,
        version: String,
        since: Option<DateTime<Utc>>,
    },
}

impl Query {
    /// Whether the answer says if the previous release can be returned to (recorded under the
    /// `rollback-revision` source rather than the connector's own).
    pub fn is_rollback(&self) -> bool {
        matches!(
            self,
            Query::RollbackWorkloads { .. } | Query::RollbackApp { .. }
        )
    }

    /// The evidence source its answer is recorded under when that is not the connector's own:
    /// whether the previous release can be returned to, and the release's Jobs.
    pub fn fixed_source(&self) -> Option<&'static str> {
        if self.is_rollback() {
            Some(crate::engine::ROLLBACK_REVISION_SOURCE)
        } else if matches!(self, Query::Jobs { .. }) {
            Some(crate::engine::JOBS_SOURCE)
        } else {
            None
        }
    }
}

/// How a query reads in logs and on the Integrations page.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Metric(q) => q.fmt(f),
            Query::StatusPage => f.write_str("current incidents"),
            Query::Journey => f.write_str("journey"),
            Query::Delivery { release } => write!(f, "deliveries for {release}"),
            Query::Pipeline {
                project,
                commit,
                pipeline,
            } => {
                write!(f, "{project}@{commit}")?;
                if !pipeline.is_empty() {
                    write!(f, " ({pipeline})")?;
                }
                Ok(())
            }
            Query::Workloads { scope, version } => write!(f, "workloads in {scope} at {version}"),
            Query::Flux {
                kind,
                object,
                expected,
            } => write!(f, "{kind:?} {object} at {expected}"),
            Query::ArgoApp { app, expected } => write!(f, "Application {app} at {expected}"),
            Query::RollbackWorkloads { scope, version } => {
                write!(f, "rollback target in {scope}: {version}")
            }
            Query::RollbackApp { app, revision } => {
                write!(f, "rollback target in Application {app}: {revision}")
            }
            Query::Jobs { scope, version, .. } => write!(f, "Jobs in {scope} at {version}"),
            Query::Alerts(q) => {
                let scope = (q.scope.iter())
                    .map(|(k, v)| format!("{k}={}", crate::engine::labels::quoted(v)));
                let all: Vec<String> = scope.chain(q.matchers.iter().cloned()).collect();
                write!(f, "alerts {{{}}}", all.join(","))?;
                if q.count_suppressed {
                    f.write_str(" (silenced and inhibited count)")?;
                }
                Ok(())
            }
        }
    }
}
