//! Which upstream questions ("queries") a connector must answer for a release: one function
//! used both to plan the fetches and to look the answers up, so the two cannot disagree.
//! Releases asking the same question share one key, hence one upstream call.

use std::sync::Arc;

use crate::api::release::GitOpsKind;
use crate::api::{Connector, ConnectorType, Release};
use crate::engine::needs::{MetricNeed, Needs};

/// The key of a question that has one answer for everybody (a status page, a journey).
pub const WHOLE: &str = "";

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
) -> Vec<String> {
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
            .map(|m| m.query.clone())
            .collect();
    }
    let mut out = rollback_queries(connector, release, needs);
    if needs.sources.contains(&source_name(connector)) {
        out.extend(evidence_queries(connector, release, ns));
    }
    out
}

/// The rollback-target questions: does the previous release's revision still exist?
fn rollback_queries(connector: &Connector, release: &Release, needs: &Needs) -> Vec<String> {
    let Some(previous) = &needs.rollback else {
        return Vec::new();
    };
    match connector.spec.type_ {
        ConnectorType::Kubernetes => {
            let (namespaces, selector) = workload_scope(release);
            vec![super::rollback::workload_key(&super::kubernetes::key(
                &namespaces,
                &selector,
                &previous.version,
            ))]
        }
        ConnectorType::ArgoCD => argo_apps(release)
            .map(|app| super::rollback::argocd_key(&app, &previous.revision))
            .collect(),
        _ => Vec::new(),
    }
}

/// The namespaces and label selector of a release's workloads.
fn workload_scope(release: &Release) -> (Vec<String>, String) {
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
    (namespaces, selector)
}

/// `appNamespace/name` of each Argo CD Application in a release's scope.
fn argo_apps(release: &Release) -> impl Iterator<Item = String> + '_ {
    let ns = release.metadata.namespace.as_deref().unwrap_or("default");
    release
        .spec
        .scope
        .gitops_apps
        .iter()
        .filter(|a| a.kind == GitOpsKind::ArgoApplication)
        .map(move |a| format!("{}/{}", a.namespace.as_deref().unwrap_or(ns), a.name))
}

/// The questions a connector answers for the evidence a release's policies read.
fn evidence_queries(connector: &Connector, release: &Release, ns: &str) -> Vec<String> {
    match connector.spec.type_ {
        ConnectorType::StatusPage | ConnectorType::Http => vec![WHOLE.to_string()],
        // Webhook deliveries name their release.
        ConnectorType::Webhook => vec![release.metadata.name.clone().unwrap_or_default()],
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
            let pipeline = release.spec.scope.pipeline.as_deref().unwrap_or("");
            vec![format!("{project}@{commit}#{pipeline}")]
        }
        ConnectorType::Kubernetes => {
            let (namespaces, selector) = workload_scope(release);
            vec![super::kubernetes::key(
                &namespaces,
                &selector,
                &release.spec.version,
            )]
        }
        ConnectorType::Flux => release
            .spec
            .scope
            .gitops_apps
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    GitOpsKind::FluxKustomization | GitOpsKind::FluxHelmRelease
                )
            })
            .map(|a| {
                let expected = match a.kind {
                    GitOpsKind::FluxHelmRelease => release.spec.version.clone(),
                    _ => expected_revision(release),
                };
                format!(
                    "{:?}/{}/{}@{expected}",
                    a.kind,
                    a.namespace.as_deref().unwrap_or(ns),
                    a.name
                )
            })
            .collect(),
        ConnectorType::ArgoCD => argo_apps(release)
            .map(|app| format!("{app}@{}", expected_revision(release)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Splits `a@b#c` keys: (a, b, c).
pub fn split_key(key: &str) -> (&str, &str, &str) {
    let (head, fragment) = key.rsplit_once('#').unwrap_or((key, ""));
    let (subject, revision) = head.rsplit_once('@').unwrap_or((head, ""));
    (subject, revision, fragment)
}
