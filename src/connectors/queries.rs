//! Which upstream questions ([`Query`]) a connector must answer for a release: one function
//! used both to plan the fetches and to look the answers up, so the two cannot disagree.

use std::sync::Arc;

use super::query::{FluxKind, Named, Query, WorkloadScope};
use crate::api::release::{GitOpsApp, GitOpsKind};
use crate::api::{Connector, ConnectorType, Release};
use crate::engine::needs::{MetricNeed, Needs};

/// The evidence source name a connector's observations are recorded under.
pub fn source_name(c: &Connector) -> String {
    if let Some(s) = &c.spec.source {
        return s.clone();
    }
    match c.spec.type_ {
        ConnectorType::Kubernetes => "workload-health".into(),
        ConnectorType::ArgoCD | ConnectorType::Flux => "gitops-sync".into(),
        ConnectorType::GitHubActions | ConnectorType::Webhook => "ci".into(),
        ConnectorType::Http => "journeys".into(),
        _ => c.metadata.name.clone().unwrap_or_default(),
    }
}

/// Which Prometheus connector answers `need` for releases in `namespace`: the one the rule
/// names, else the first Prometheus connector of the namespace by name.
pub fn metric_connector<'a>(
    need: &MetricNeed,
    namespace: &str,
    connectors: &'a [Arc<Connector>],
) -> Option<&'a Arc<Connector>> {
    let mut candidates: Vec<&Arc<Connector>> = connectors
        .iter()
        .filter(|c| {
            c.spec.type_ == ConnectorType::Prometheus
                && c.metadata.namespace.as_deref() == Some(namespace)
        })
        .collect();
    candidates.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match &need.connector {
        Some(name) => candidates
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some(name)),
        None => candidates.into_iter().next(),
    }
}

/// What `release` expects GitOps to have applied: its commit when known, else its version.
pub fn expected_revision(release: &Release) -> String {
    release
        .spec
        .revision
        .as_ref()
        .and_then(|r| r.commit.clone())
        .unwrap_or_else(|| release.spec.version.clone())
}

/// The questions `connector` answers for `release`; empty when the release reads nothing of it.
pub fn queries_for(
    connector: &Connector,
    release: &Release,
    needs: &Needs,
    connectors: &[Arc<Connector>],
) -> Vec<Query> {
    let ns = release.metadata.namespace.as_deref().unwrap_or("default");
    if connector.metadata.namespace.as_deref() != Some(ns) {
        return Vec::new();
    }
    if connector.spec.type_ == ConnectorType::Prometheus {
        return needs
            .metrics
            .iter()
            .filter(|m| {
                metric_connector(m, ns, connectors)
                    .is_some_and(|c| c.metadata.name == connector.metadata.name)
            })
            .map(|m| Query::Metric(m.query.clone()))
            .collect();
    }
    let mut out = rollback_queries(connector, release, needs);
    if needs.sources.contains(&source_name(connector)) {
        out.extend(evidence_queries(connector, release));
    }
    out
}

/// The rollback-target questions: does the previous release's revision still exist?
fn rollback_queries(connector: &Connector, release: &Release, needs: &Needs) -> Vec<Query> {
    let Some(previous) = &needs.rollback else {
        return Vec::new();
    };
    match connector.spec.type_ {
        ConnectorType::Kubernetes => vec![Query::RollbackWorkloads {
            scope: workload_scope(release),
            version: previous.version.clone(),
        }],
        ConnectorType::ArgoCD => argo_apps(release)
            .map(|app| Query::RollbackApp {
                app,
                revision: previous.revision.clone(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The namespaces and label selector of a release's workloads.
fn workload_scope(release: &Release) -> WorkloadScope {
    let ns = release.metadata.namespace.as_deref().unwrap_or("default");
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
fn named(app: &GitOpsApp, release: &Release) -> Named {
    Named {
        namespace: app
            .namespace
            .clone()
            .or_else(|| release.metadata.namespace.clone())
            .unwrap_or_else(|| "default".into()),
        name: app.name.clone(),
    }
}

/// Each Argo CD Application in a release's scope.
fn argo_apps(release: &Release) -> impl Iterator<Item = Named> + '_ {
    release
        .spec
        .scope
        .gitops_apps
        .iter()
        .filter(|a| a.kind == GitOpsKind::ArgoApplication)
        .map(|a| named(a, release))
}

/// The questions a connector answers for the evidence a release's policies read.
fn evidence_queries(connector: &Connector, release: &Release) -> Vec<Query> {
    match connector.spec.type_ {
        ConnectorType::StatusPage => vec![Query::StatusPage],
        ConnectorType::Http => vec![Query::Journey],
        // Webhook deliveries name their release.
        ConnectorType::Webhook => vec![Query::Delivery {
            release: release.metadata.name.clone().unwrap_or_default(),
        }],
        ConnectorType::GitHubActions => {
            let (Some(project), Some(commit)) = (
                release.spec.scope.project.as_deref(),
                release
                    .spec
                    .revision
                    .as_ref()
                    .and_then(|r| r.commit.as_deref()),
            ) else {
                return Vec::new();
            };
            vec![Query::Pipeline {
                project: project.to_string(),
                commit: commit.to_string(),
                pipeline: release.spec.scope.pipeline.clone().unwrap_or_default(),
            }]
        }
        ConnectorType::Kubernetes => vec![Query::Workloads {
            scope: workload_scope(release),
            version: release.spec.version.clone(),
        }],
        ConnectorType::Flux => release
            .spec
            .scope
            .gitops_apps
            .iter()
            .filter_map(|a| {
                let (kind, expected) = match a.kind {
                    GitOpsKind::FluxKustomization => {
                        (FluxKind::Kustomization, expected_revision(release))
                    }
                    // A HelmRelease applies a chart version, not a commit.
                    GitOpsKind::FluxHelmRelease => {
                        (FluxKind::HelmRelease, release.spec.version.clone())
                    }
                    GitOpsKind::ArgoApplication => return None,
                };
                Some(Query::Flux {
                    kind,
                    object: named(a, release),
                    expected,
                })
            })
            .collect(),
        ConnectorType::ArgoCD => argo_apps(release)
            .map(|app| Query::ArgoApp {
                app,
                expected: expected_revision(release),
            })
            .collect(),
        _ => Vec::new(),
    }
}
