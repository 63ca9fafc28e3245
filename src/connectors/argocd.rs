//! Argo CD: an Application's sync status, health, operation state and synced revision
//! (`GET /api/v1/applications/{name}?appNamespace=`), and whether its history still holds the
//! previous release's revision (the rollback target).

use std::time::Duration;

use serde_json::Value;

use super::{AnswerError, FetchError, http};
use crate::api::EvidenceStatus;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::detect::{Candidate, Discovery};
use super::kind::{About, Answer, Answers, ConnectorKind, Upstream, not_asked};
use super::queries::argo_apps;
use super::query::Query;
use crate::api::{Connector, ConnectorType, ObjectKey, Release};
use crate::engine::needs::RollbackNeed;

/// The evidence status of an Application against the revision the release expects (pure).
pub fn parse(app: &Value, expected: &str) -> Result<(EvidenceStatus, String), AnswerError> {
    let status = app.get("status").ok_or(AnswerError::Missing("status"))?;
    let name = app
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("application");
    let sync = status
        .pointer("/sync/status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let health = status
        .pointer("/health/status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let revision = status
        .pointer("/sync/revision")
        .and_then(Value::as_str)
        .unwrap_or("");
    let phase = status
        .pointer("/operationState/phase")
        .and_then(Value::as_str);
    let at_expected = !expected.is_empty()
        && (revision.starts_with(expected)
            || expected.starts_with(revision) && !revision.is_empty());
    let short: String = revision.chars().take(12).collect();
    let summary = format!("Application {name} {sync} to {short}, {health}");
    let evidence = match (phase, sync, health) {
        (Some("Failed" | "Error"), _, _) => EvidenceStatus::Failed,
        (Some("Running" | "Terminating"), _, _) => EvidenceStatus::Pending,
        (_, _, "Degraded") => EvidenceStatus::Failed,
        (_, _, "Missing" | "Unknown") | (_, "Unknown", _) => EvidenceStatus::Missing,
        _ if !at_expected => EvidenceStatus::Pending,
        (_, "OutOfSync", _) => EvidenceStatus::Failed,
        (_, "Synced", "Healthy") => EvidenceStatus::Complete,
        _ => EvidenceStatus::Pending,
    };
    let summary = if at_expected {
        summary
    } else {
        format!("{summary}; the release expects {expected}")
    };
    Ok((evidence, summary))
}

pub async fn fetch(
    client: &reqwest::Client,
    endpoint: &str,
    app: &ObjectKey,
    expected: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(EvidenceStatus, String), FetchError> {
    let body = get_application(client, endpoint, app, token, timeout).await?;
    Ok(parse(&body, expected)?)
}

/// `GET /api/v1/applications/{name}?appNamespace={namespace}`.
pub async fn get_application(
    client: &reqwest::Client,
    endpoint: &str,
    app: &ObjectKey,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Value, FetchError> {
    let mut url = http::join(endpoint, &["api", "v1", "applications", &app.name])?;
    if !app.namespace.is_empty() {
        url.query_pairs_mut()
            .append_pair("appNamespace", &app.namespace);
    }
    http::get_json(client, url, token, timeout, &[]).await
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

/// Whether the Application's history still holds `revision` (something to roll back to).
pub async fn fetch_history(
    client: &reqwest::Client,
    endpoint: &str,
    app: &ObjectKey,
    revision: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(EvidenceStatus, String), FetchError> {
    let body = get_application(client, endpoint, app, token, timeout).await?;
    Ok(argocd_history(&body, revision))
}

/// The `ArgoCD` connector type.
pub struct ArgoCd;

static ABOUT: About = About::fetched(
    "Argo CD Applications: sync, health, history",
    Answers::GitOps,
    Some("gitops-sync"),
);

impl ConnectorKind for ArgoCd {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn evidence_queries(&self, release: &Release) -> Vec<Query> {
        argo_apps(release)
            .map(|app| Query::ArgoApp {
                app,
                expected: release.expected_revision(),
            })
            .collect()
    }

    fn rollback_queries(&self, release: &Release, previous: &RollbackNeed) -> Vec<Query> {
        argo_apps(release)
            .map(|app| Query::RollbackApp {
                app,
                revision: previous.revision.clone(),
            })
            .collect()
    }

    fn detect(&self, found: &Discovery, connectors: &[Arc<Connector>]) -> Option<Vec<Candidate>> {
        let covered = connectors
            .iter()
            .any(|c| c.spec.type_ == ConnectorType::ArgoCD);
        if covered || !found.api_groups.iter().any(|g| g == "argoproj.io") {
            return Some(Vec::new());
        }
        Some(vec![Candidate {
            type_: ConnectorType::ArgoCD,
            found: "API group argoproj.io is served (Argo CD Applications)".into(),
            endpoint: None,
        }])
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            let (status, summary) = match query {
                Query::ArgoApp { app, expected } => {
                    fetch(
                        upstream.http,
                        upstream.endpoint()?,
                        app,
                        expected,
                        upstream.token,
                        upstream.timeout,
                    )
                    .await?
                }
                Query::RollbackApp { app, revision } => {
                    fetch_history(
                        upstream.http,
                        upstream.endpoint()?,
                        app,
                        revision,
                        upstream.token,
                        upstream.timeout,
                    )
                    .await?
                }
                other => return Err(not_asked(other)),
            };
            Ok(Answer::new(status, summary))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(sync: &str, health: &str, revision: &str, phase: Option<&str>) -> Value {
        let mut v = json!({"metadata": {"name": "checkout-prod"}, "status": {
            "sync": {"status": sync, "revision": revision}, "health": {"status": health}}});
        if let Some(p) = phase {
            v["status"]["operationState"] = json!({"phase": p});
        }
        v
    }

    #[test]
    fn maps_sync_health_operation_and_revision() {
        let sha = "41d0c2f99e3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c";
        let rows = [
            (
                app("Synced", "Healthy", sha, Some("Succeeded")),
                EvidenceStatus::Complete,
            ),
            (
                app("Synced", "Healthy", "0000000000", None),
                EvidenceStatus::Pending,
            ),
            (
                app("Synced", "Progressing", sha, None),
                EvidenceStatus::Pending,
            ),
            (app("Synced", "Degraded", sha, None), EvidenceStatus::Failed),
            (
                app("OutOfSync", "Healthy", sha, None),
                EvidenceStatus::Failed,
            ),
            (
                app("Synced", "Healthy", sha, Some("Running")),
                EvidenceStatus::Pending,
            ),
            (
                app("Synced", "Healthy", sha, Some("Failed")),
                EvidenceStatus::Failed,
            ),
            (app("Unknown", "Missing", "", None), EvidenceStatus::Missing),
        ];
        for (a, expected) in rows {
            assert_eq!(parse(&a, "41d0c2f99e3a").map(|r| r.0), Ok(expected), "{a}");
        }
        assert!(parse(&json!({"metadata": {}}), "x").is_err());
    }

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
