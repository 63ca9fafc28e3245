//! Flux: a Kustomization's or HelmRelease's Ready condition and applied revision, read from the
//! cluster (`kustomize.toolkit.fluxcd.io/v1`, `helm.toolkit.fluxcd.io/v2`).

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::FetchError;
use super::query::FluxKind;
use crate::api::EvidenceStatus;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::detect::{Candidate, Discovery};
use super::kind::{About, Answer, Answers, ConnectorKind, Upstream, not_asked, outside_allowed};
use super::queries::named;
use super::query::Query;
use crate::api::release::GitOpsKind;
use crate::api::{Connector, ConnectorType, ObjectKey, Release};

/// The API resource of a Flux kind.
pub fn resource(kind: FluxKind) -> ApiResource {
    let gvk = match kind {
        FluxKind::Kustomization => {
            GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization")
        }
        FluxKind::HelmRelease => {
            GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease")
        }
    };
    ApiResource::from_gvk(&gvk)
}

/// The evidence status of a Flux object against the expected revision or version (pure).
pub fn parse(object: &Value, expected: &str) -> (EvidenceStatus, String) {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("object");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = object.get("status").cloned().unwrap_or(Value::Null);
    let ready = status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        });
    let applied: Vec<String> = [
        status.get("lastAppliedRevision").and_then(Value::as_str),
        status
            .pointer("/history/0/chartVersion")
            .and_then(Value::as_str),
        status
            .pointer("/history/0/appVersion")
            .and_then(Value::as_str),
        status.get("lastAttemptedRevision").and_then(Value::as_str),
    ]
    .into_iter()
    .flatten()
    .map(str::to_string)
    .collect();
    let at_expected = applied.iter().any(|r| {
        r == expected
            || r.contains(&format!(":{expected}"))
            || r.ends_with(expected)
            || r.split(':')
                .next_back()
                .is_some_and(|sha| !expected.is_empty() && sha.starts_with(expected))
    });
    let shown = applied.first().cloned().unwrap_or_else(|| "nothing".into());
    let (state, reason, message) = match ready {
        None => ("Unknown", "", ""),
        Some(c) => (
            c.get("status").and_then(Value::as_str).unwrap_or("Unknown"),
            c.get("reason").and_then(Value::as_str).unwrap_or(""),
            c.get("message").and_then(Value::as_str).unwrap_or(""),
        ),
    };
    let summary = format!("{kind} {name} Ready={state} ({reason}), applied {shown}");
    let evidence = match state {
        "True" if at_expected => EvidenceStatus::Complete,
        "True" => {
            return (
                EvidenceStatus::Pending,
                format!("{summary}; the release expects {expected}"),
            );
        }
        "False"
            if matches!(
                reason,
                "Progressing"
                    | "DependencyNotReady"
                    | "ArtifactFailed"
                    | "ReconciliationInProgress"
            ) =>
        {
            EvidenceStatus::Pending
        }
        "False" => return (EvidenceStatus::Failed, format!("{summary}: {message}")),
        _ => EvidenceStatus::Pending,
    };
    (evidence, summary)
}

/// Reads one Flux object and whether it applied `expected`.
pub async fn fetch(
    client: &Client,
    kind: FluxKind,
    object: &ObjectKey,
    expected: &str,
) -> Result<(EvidenceStatus, String), FetchError> {
    let (ns, name) = (&object.namespace, object.name.as_str());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource(kind));
    // As the Release names it in `scope.gitopsApps`.
    let kind = format!("Flux{kind:?}");
    match api.get_opt(name).await {
        Ok(Some(object)) => {
            let value =
                serde_json::to_value(&object).map_err(|e| FetchError::Upstream(e.to_string()))?;
            Ok(parse(&value, expected))
        }
        Ok(None) => Ok((
            EvidenceStatus::Missing,
            format!("{kind} {ns}/{name} does not exist"),
        )),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok((
            EvidenceStatus::Missing,
            format!("{kind} is not installed in this cluster"),
        )),
        Err(kube::Error::Api(s)) if s.code == 401 || s.code == 403 => Err(FetchError::Credential(
            format!("the controller may not read {kind}: {}", s.message),
        )),
        Err(e) => Err(FetchError::Unreachable(e.to_string())),
    }
}

/// The `Flux` connector type: reads Kustomizations and HelmReleases from the cluster.
pub struct Flux;

static ABOUT: About = About::fetched(
    "Flux Kustomizations and HelmReleases",
    Answers::GitOps,
    Some("gitops-sync"),
);

impl ConnectorKind for Flux {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn evidence_queries(&self, release: &Release) -> Vec<Query> {
        release
            .spec
            .scope
            .gitops_apps
            .iter()
            .filter_map(|a| {
                let (kind, expected) = match a.kind {
                    GitOpsKind::FluxKustomization => {
                        (FluxKind::Kustomization, release.expected_revision())
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
            .collect()
    }

    fn detect(&self, found: &Discovery, connectors: &[Arc<Connector>]) -> Option<Vec<Candidate>> {
        let covered = connectors
            .iter()
            .any(|c| c.spec.type_ == ConnectorType::Flux);
        let served = found
            .api_groups
            .iter()
            .any(|g| g == "kustomize.toolkit.fluxcd.io" || g == "helm.toolkit.fluxcd.io");
        if covered || !served {
            return Some(Vec::new());
        }
        Some(vec![Candidate {
            type_: ConnectorType::Flux,
            found: "Flux APIs are served (Kustomizations / HelmReleases)".into(),
            endpoint: None,
        }])
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            let Query::Flux {
                kind,
                object,
                expected,
            } = query
            else {
                return Err(not_asked(query));
            };
            let namespace = std::iter::once(object.namespace.as_str());
            if let Some(refused) = outside_allowed(upstream.connector, namespace) {
                return Ok(refused);
            }
            let (status, summary) = fetch(upstream.cluster()?, *kind, object, expected).await?;
            Ok(Answer::new(status, summary))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kustomization(status: &str, reason: &str, revision: &str) -> Value {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "catalog", "namespace": "flux-system"},
            "status": {"conditions": [{"type": "Ready", "status": status, "reason": reason, "message": "m"}], "lastAppliedRevision": revision}})
    }

    #[test]
    fn maps_ready_and_revision() {
        let rev = "main@sha1:e4c2b19d8f07aa11";
        assert_eq!(
            parse(
                &kustomization("True", "ReconciliationSucceeded", rev),
                "e4c2b19d8f07"
            )
            .0,
            EvidenceStatus::Complete
        );
        assert_eq!(
            parse(
                &kustomization("True", "ReconciliationSucceeded", "main@sha1:0000"),
                "e4c2b19d8f07"
            )
            .0,
            EvidenceStatus::Pending
        );
        assert_eq!(
            parse(&kustomization("False", "Progressing", rev), "e4c2b19d8f07").0,
            EvidenceStatus::Pending
        );
        assert_eq!(
            parse(
                &kustomization("False", "HealthCheckFailed", rev),
                "e4c2b19d8f07"
            )
            .0,
            EvidenceStatus::Failed
        );
        let helm = json!({"kind": "HelmRelease", "metadata": {"name": "payments"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "InstallSucceeded"}], "history": [{"chartVersion": "5.0.2", "status": "deployed"}]}});
        assert_eq!(parse(&helm, "5.0.2").0, EvidenceStatus::Complete);
        assert_eq!(
            parse(
                &json!({"kind": "Kustomization", "metadata": {"name": "x"}}),
                "1"
            )
            .0,
            EvidenceStatus::Pending
        );
    }
}
