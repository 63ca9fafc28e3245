//! Rollback targets: whether the previous release's revision can still be returned to — a
//! ReplicaSet or StatefulSet ControllerRevision in the release's scope that still runs the
//! previous version, or an Argo CD Application history entry at the previous revision. Answered
//! by the Kubernetes and Argo CD connectors under the evidence source `rollback-revision`.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::FetchError;
use super::kubernetes::runs_version;
use super::query::{Named, WorkloadScope};
use crate::api::EvidenceStatus;

/// The first retained revision that still runs `version` (pure): `(kind/name, revision)`.
pub fn retained<'a>(
    templates: impl IntoIterator<Item = (String, Option<String>, Option<&'a PodTemplateSpec>)>,
    version: &str,
) -> Option<(String, Option<String>)> {
    templates
        .into_iter()
        .find(|(_, _, t)| runs_version(*t, version))
        .map(|(name, revision, _)| (name, revision))
}

/// Whether the Application's history holds `expected` (pure).
pub fn argocd_history(app: &Value, expected: &str) -> (EvidenceStatus, String) {
    let name = app
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("application");
    let history = app
        .pointer("/status/history")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let matches = |r: &str| {
        !r.is_empty()
            && !expected.is_empty()
            && (r.starts_with(expected) || expected.starts_with(r))
    };
    let found = history.iter().rev().find(|h| {
        let single = h.get("revision").and_then(Value::as_str);
        let multi = h.get("revisions").and_then(Value::as_array);
        single.is_some_and(matches)
            || multi.is_some_and(|rs| rs.iter().filter_map(Value::as_str).any(matches))
    });
    let short: String = expected.chars().take(12).collect();
    match found {
        Some(h) => {
            let id = h.get("id").map_or_else(|| "?".into(), Value::to_string);
            (
                EvidenceStatus::Complete,
                format!(
                    "Application {name} history entry {id} deployed {short}: argocd app rollback {name} {id}"
                ),
            )
        }
        None => (
            EvidenceStatus::Failed,
            format!(
                "Application {name} history ({} entries) no longer holds {short}",
                history.len()
            ),
        ),
    }
}

pub async fn fetch_argocd(
    client: &reqwest::Client,
    endpoint: &str,
    app: &Named,
    revision: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(EvidenceStatus, String), FetchError> {
    let body = super::argocd::get_application(client, endpoint, app, token, timeout).await?;
    Ok(argocd_history(&body, revision))
}

/// Lists the ReplicaSets and ControllerRevisions of a scope and looks for the previous version.
pub async fn fetch_workloads(
    client: &Client,
    scope: &WorkloadScope,
    version: &str,
) -> Result<(EvidenceStatus, String), FetchError> {
    let params = ListParams::default().labels(&scope.selector);
    let mut candidates: Vec<(String, Option<String>, Option<PodTemplateSpec>)> = Vec::new();
    let revision_of = |m: &kube::api::ObjectMeta| {
        m.annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .cloned()
    };
    for ns in &scope.namespaces {
        for rs in Api::<ReplicaSet>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(super::kubernetes::api_error)?
        {
            let name = format!(
                "ReplicaSet {ns}/{}",
                rs.metadata.name.clone().unwrap_or_default()
            );
            candidates.push((
                name,
                revision_of(&rs.metadata),
                rs.spec.and_then(|s| s.template),
            ));
        }
        for cr in Api::<ControllerRevision>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(super::kubernetes::api_error)?
        {
            let template = cr
                .data
                .as_ref()
                .and_then(|d| d.0.pointer("/spec/template").cloned())
                .and_then(|t| serde_json::from_value(t).ok());
            let name = format!(
                "ControllerRevision {ns}/{}",
                cr.metadata.name.clone().unwrap_or_default()
            );
            candidates.push((name, Some(cr.revision.to_string()), template));
        }
    }
    let found = retained(
        candidates
            .iter()
            .map(|(n, r, t)| (n.clone(), r.clone(), t.as_ref())),
        version,
    );
    Ok(match found {
        Some((name, revision)) => (
            EvidenceStatus::Complete,
            match revision {
                Some(r) => format!("{name} (revision {r}) still runs {version}"),
                None => format!("{name} still runs {version}"),
            },
        ),
        None => (
            EvidenceStatus::Failed,
            format!(
                "no ReplicaSet or ControllerRevision in scope runs {version} any more ({} checked; revisionHistoryLimit may have pruned it)",
                candidates.len()
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_previous_revision_in_argo_cd_history() {
        let app = json!({"metadata": {"name": "checkout"}, "status": {"history": [
            {"id": 3, "revision": "aaaa111"},
            {"id": 4, "revisions": ["bbbb222", "cccc333"]},
        ]}});
        let (status, summary) = argocd_history(&app, "aaaa1112345");
        assert_eq!(status, EvidenceStatus::Complete);
        assert!(summary.contains("entry 3"), "{summary}");
        assert_eq!(argocd_history(&app, "cccc333").0, EvidenceStatus::Complete);
        let (status, summary) = argocd_history(&app, "dddd444");
        assert_eq!(status, EvidenceStatus::Failed);
        assert!(summary.contains("2 entries"), "{summary}");
        assert_eq!(argocd_history(&json!({}), "x").0, EvidenceStatus::Failed);
    }
}
