//! What the connectors that read the cluster share: whether a Pod template runs a release's
//! version, and what a failed list call means for a Connector's health.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::FetchError;

/// Whether a pod template runs `version` (an image tag, or the `app.kubernetes.io/version` label).
pub fn runs_version(t: &PodTemplateSpec, version: &str) -> bool {
    let label = t
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get("app.kubernetes.io/version"));
    label.is_some_and(|v| v == version)
        || t.spec.iter().flat_map(|s| &s.containers).any(|c| {
            c.image.as_deref().is_some_and(|image| {
                let tag = image.rsplit_once('@').map_or(image, |(i, _)| i);
                tag.rsplit_once(':').is_some_and(|(repo, tag)| {
                    !repo.ends_with('/') && (tag == version || tag == format!("v{version}"))
                })
            })
        })
}

/// A list call's failure, by what it means for the Connector's health.
pub fn api_error(e: kube::Error) -> FetchError {
    match &e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => FetchError::Credential(format!(
            "the controller may not read workloads: {}",
            s.message
        )),
        kube::Error::Api(s) => FetchError::Upstream(format!("{} ({})", s.message, s.code)),
        other => FetchError::Unreachable(other.to_string()),
    }
}
