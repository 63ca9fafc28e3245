//! Which upstream questions ([`Query`]) a connector must answer for a release: one function
//! used both to plan the fetches and to look the answers up, so the two cannot disagree. What
//! each type asks is its [`ConnectorKind`](super::kind::ConnectorKind)'s; the scope helpers
//! here are shared by the types that read a release's workloads or GitOps objects.

use std::sync::Arc;

use super::kind::{Answers, Asked};
use super::kind_of;
use super::query::{Query, WorkloadScope};
use crate::api::release::{GitOpsApp, GitOpsKind};
use crate::api::{Connector, ConnectorType, ObjectKey, Release, namespace_of};
use crate::engine::needs::{MetricNeed, Needs};

/// The questions `connector` answers for `release`; empty when the release reads nothing of it.
pub fn queries_for(
    connector: &Connector,
    release: &Release,
    needs: &Needs,
    connectors: &[Arc<Connector>],
) -> Vec<Query> {
    let ns = namespace_of(&release.metadata);
    if connector.metadata.namespace.as_deref() != Some(ns) {
        return Vec::new();
    }
    kind_of(connector.spec.type_).queries(&Asked {
        connector,
        release,
        needs,
        connectors,
    })
}

/// The namespaces and label selector of a release's workloads.
pub(super) fn workload_scope(release: &Release) -> WorkloadScope {
    let ns = namespace_of(&release.metadata);
    let namespaces = if release.spec.scope.namespaces.is_empty() {
        vec![ns.to_string()]
    } else {
        release.spec.scope.namespaces.clone()
    };
    let selector = release
        .spec
        .scope
        .selector
        .clone()
        .and_then(|s| kube::core::Selector::try_from(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    WorkloadScope {
        namespaces,
        selector,
    }
}

/// A GitOps object of a release's scope (its namespace defaults to the release's).
pub(super) fn named(app: &GitOpsApp, release: &Release) -> ObjectKey {
    ObjectKey {
        namespace: app
            .namespace
            .clone()
            .unwrap_or_else(|| crate::api::namespace_of(&release.metadata).to_string()),
        name: app.name.clone(),
    }
}

/// Each Argo CD Application in a release's scope.
pub(super) fn argo_apps(release: &Release) -> impl Iterator<Item = ObjectKey> + '_ {
    release
        .spec
        .scope
        .gitops_apps
        .iter()
        .filter(|a| a.kind == GitOpsKind::ArgoApplication)
        .map(|a| named(a, release))
}

/// Which metric connector answers `need` for releases in `namespace`: the one the rule names,
/// else the namespace's first Prometheus connector by name (another backend answers only the
/// rules that name it).
pub fn metric_connector<'a>(
    need: &MetricNeed,
    namespace: &str,
    connectors: &'a [Arc<Connector>],
) -> Option<&'a Arc<Connector>> {
    let mut candidates: Vec<&Arc<Connector>> = connectors
        .iter()
        .filter(|c| {
            kind_of(c.spec.type_).about().answers == Answers::Metrics
                && c.metadata.namespace.as_deref() == Some(namespace)
        })
        .collect();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match &need.connector {
        Some(name) => candidates
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some(name)),
        None => candidates
            .into_iter()
            .find(|c| c.spec.type_ == ConnectorType::Prometheus),
    }
}

/// The metric questions of a release that `asked.connector` answers: each metric need goes to
/// exactly one metric connector of the release's namespace.
pub fn metric_queries(asked: &Asked<'_>) -> Vec<Query> {
    let ns = namespace_of(&asked.release.metadata);
    asked
        .needs
        .metrics
        .iter()
        .filter(|m| {
            metric_connector(m, ns, asked.connectors)
                .is_some_and(|c| c.metadata.name == asked.connector.metadata.name)
        })
        .map(|m| Query::Metric(m.query.clone()))
        .collect()
}
