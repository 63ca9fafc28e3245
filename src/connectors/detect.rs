//! Detected candidates: integrations present in the cluster (Argo CD and Flux APIs, Prometheus
//! Services) that no Connector covers yet — offered on the Integrations page, never used until a
//! person creates the Connector.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::api::{Connector, ConnectorType};

/// Label selectors that identify Prometheus Services (the operator's, the Helm chart's, the
/// common convention).
pub const PROMETHEUS_SELECTORS: [&str; 3] = [
    "operated-prometheus=true",
    "app.kubernetes.io/name=prometheus",
    "app=prometheus",
];

/// A Service that looks like Prometheus.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FoundService {
    pub namespace: String,
    pub name: String,
    pub port: i32,
}

/// An integration no Connector covers yet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    pub type_: ConnectorType,
    /// Why we think it is there, e.g. "API group argoproj.io is served".
    pub found: String,
    /// The endpoint a Connector would use, when it has one.
    pub endpoint: Option<String>,
}

/// Candidates from what discovery found, minus what Connectors already cover (pure).
pub fn candidates(
    api_groups: &[String],
    services: &[FoundService],
    connectors: &[Arc<Connector>],
) -> Vec<Candidate> {
    let has = |t: ConnectorType| connectors.iter().any(|c| c.spec.type_ == t);
    let mut out = Vec::new();
    if api_groups.iter().any(|g| g == "argoproj.io") && !has(ConnectorType::ArgoCD) {
        out.push(Candidate {
            type_: ConnectorType::ArgoCD,
            found: "API group argoproj.io is served (Argo CD Applications)".into(),
            endpoint: None,
        });
    }
    if api_groups
        .iter()
        .any(|g| g == "kustomize.toolkit.fluxcd.io" || g == "helm.toolkit.fluxcd.io")
        && !has(ConnectorType::Flux)
    {
        out.push(Candidate {
            type_: ConnectorType::Flux,
            found: "Flux APIs are served (Kustomizations / HelmReleases)".into(),
            endpoint: None,
        });
    }
    for s in services {
        let endpoint = format!("http://{}.{}.svc:{}", s.name, s.namespace, s.port);
        let covered = connectors.iter().any(|c| {
            c.spec.type_ == ConnectorType::Prometheus
                && c.spec.endpoint.as_deref().is_some_and(|e| {
                    e.contains(&format!("{}.{}", s.name, s.namespace))
                        || e.contains(&format!("//{}:", s.name))
                })
        });
        if !covered {
            out.push(Candidate {
                type_: ConnectorType::Prometheus,
                found: format!("Service {}/{} looks like Prometheus", s.namespace, s.name),
                endpoint: Some(endpoint),
            });
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asks the cluster what is there: API groups, and Services carrying Prometheus labels.
pub async fn discover(client: &Client) -> Result<(Vec<String>, Vec<FoundService>), kube::Error> {
    let groups = client
        .list_api_groups()
        .await?
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    let api: Api<Service> = Api::all(client.clone());
    let mut found = Vec::new();
    for selector in PROMETHEUS_SELECTORS {
        for svc in api.list(&ListParams::default().labels(selector)).await? {
            let port = svc
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .and_then(|ports| {
                    ports
                        .iter()
                        .find(|p| p.port == 9090 || p.name.as_deref() == Some("web"))
                        .or(ports.first())
                })
                .map_or(9090, |p| p.port);
            found.push(FoundService {
                namespace: svc.metadata.namespace.clone().unwrap_or_default(),
                name: svc.metadata.name.clone().unwrap_or_default(),
                port,
            });
        }
    }
    found.sort();
    found.dedup();
    Ok((groups, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(type_: &str, endpoint: Option<&str>) -> Arc<Connector> {
        let endpoint = endpoint
            .map(|e| format!(", endpoint: '{e}'"))
            .unwrap_or_default();
        Arc::new(
            serde_yaml_ng::from_str(&format!(
                "apiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {{name: c, namespace: shop}}\nspec: {{type: {type_}{endpoint}}}\n"
            ))
            .unwrap(),
        )
    }

    #[test]
    fn offers_only_what_is_not_covered() {
        let groups: Vec<String> = ["apps", "argoproj.io", "kustomize.toolkit.fluxcd.io"]
            .map(String::from)
            .to_vec();
        let services = vec![
            FoundService {
                namespace: "monitoring".into(),
                name: "prometheus-operated".into(),
                port: 9090,
            },
            FoundService {
                namespace: "team-b".into(),
                name: "prometheus".into(),
                port: 9090,
            },
        ];
        let all = candidates(&groups, &services, &[]);
        assert_eq!(all.len(), 4);
        let covered = candidates(
            &groups,
            &services,
            &[
                conn("ArgoCD", Some("https://argocd")),
                conn(
                    "Prometheus",
                    Some("http://prometheus-operated.monitoring.svc:9090"),
                ),
            ],
        );
        let types: Vec<ConnectorType> = covered.iter().map(|c| c.type_).collect();
        assert_eq!(types, vec![ConnectorType::Flux, ConnectorType::Prometheus]);
        assert_eq!(
            covered[1].endpoint.as_deref(),
            Some("http://prometheus.team-b.svc:9090")
        );
        assert!(candidates(&["apps".into()], &[], &[]).is_empty());
    }
}
