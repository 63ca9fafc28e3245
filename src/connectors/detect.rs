//! Detected candidates: integrations present in the cluster (Argo CD and Flux APIs, Prometheus
//! and Alertmanager Services) that no Connector covers yet — offered on the Integrations page, never used until a
//! person creates the Connector.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, ListParams};

use super::kind_of;
use crate::api::{Connector, ConnectorType};

/// A Service that looks like an integration (see [`super::kind::Looks`]).
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

/// What discovery found in the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub api_groups: Vec<String>,
    /// The Services that look like each type's.
    pub services: BTreeMap<ConnectorType, Vec<FoundService>>,
}

/// A candidate of `type_` for each of `services` that no Connector of that type points at
/// (its endpoint names the Service by `NAME.NAMESPACE` or `//NAME:`).
fn uncovered(
    services: &[FoundService],
    type_: ConnectorType,
    looks_like: &str,
    connectors: &[Arc<Connector>],
) -> Vec<Candidate> {
    services
        .iter()
        .filter(|s| {
            !connectors.iter().any(|c| {
                c.spec.type_ == type_
                    && c.spec.endpoint.as_deref().is_some_and(|e| {
                        e.contains(&format!("{}.{}", s.name, s.namespace))
                            || e.contains(&format!("//{}:", s.name))
                    })
            })
        })
        .map(|s| Candidate {
            type_,
            found: format!("Service {}/{} looks like {looks_like}", s.namespace, s.name),
            endpoint: Some(format!("http://{}.{}.svc:{}", s.name, s.namespace, s.port)),
        })
        .collect()
}

/// The connector types detection looks for.
pub fn detectable() -> impl Iterator<Item = ConnectorType> {
    ConnectorType::ALL.iter().copied().filter(|t| {
        let kind = kind_of(*t);
        kind.about().looks.is_some() || kind.detect(&Discovery::default(), &[]).is_some()
    })
}

/// Candidates from what discovery found, minus what Connectors already cover (pure): each
/// connector type says what of its own it recognises.
pub fn candidates(found: &Discovery, connectors: &[Arc<Connector>]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for t in ConnectorType::ALL.iter().copied() {
        let kind = kind_of(t);
        out.extend(kind.detect(found, connectors).into_iter().flatten());
        if let Some(looks) = &kind.about().looks {
            let services = found
                .services
                .get(&t)
                .map(Vec::as_slice)
                .unwrap_or_default();
            out.extend(uncovered(services, t, looks.name, connectors));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Asks the cluster what is there: API groups, and the Services that look like each type's.
pub async fn discover(client: &Client) -> Result<Discovery, kube::Error> {
    let api_groups = client
        .list_api_groups()
        .await?
        .groups
        .into_iter()
        .map(|g| g.name)
        .collect();
    let api: Api<Service> = Api::all(client.clone());
    let mut services = BTreeMap::new();
    for t in ConnectorType::ALL.iter().copied() {
        if let Some(looks) = &kind_of(t).about().looks {
            services.insert(t, labelled(&api, looks.selectors, looks.port).await?);
        }
    }
    Ok(Discovery {
        api_groups,
        services,
    })
}

/// The Services carrying any of `selectors`, each with its web port (`default_port`, a port
/// named `web`, else its first).
async fn labelled(
    api: &Api<Service>,
    selectors: &[&str],
    default_port: i32,
) -> Result<Vec<FoundService>, kube::Error> {
    let mut found = Vec::new();
    for selector in selectors {
        for svc in api.list(&ListParams::default().labels(selector)).await? {
            let port = svc
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .and_then(|ports| {
                    ports
                        .iter()
                        .find(|p| p.port == default_port || p.name.as_deref() == Some("web"))
                        .or(ports.first())
                })
                .map_or(default_port, |p| p.port);
            found.push(FoundService {
                namespace: svc.metadata.namespace.clone().unwrap_or_default(),
                name: svc.metadata.name.clone().unwrap_or_default(),
                port,
            });
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
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
        let prometheus = vec![
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
        let alertmanager = vec![FoundService {
            namespace: "monitoring".into(),
            name: "alertmanager-operated".into(),
            port: 9093,
        }];
        let found = Discovery {
            api_groups: groups,
            services: [
                (ConnectorType::Prometheus, prometheus),
                (ConnectorType::Alertmanager, alertmanager),
            ]
            .into(),
        };
        let all = candidates(&found, &[]);
        assert_eq!(all.len(), 5);
        let covered = candidates(
            &found,
            &[
                conn("ArgoCD", Some("https://argocd")),
                conn(
                    "Prometheus",
                    Some("http://prometheus-operated.monitoring.svc:9090"),
                ),
                conn(
                    "Alertmanager",
                    Some("http://alertmanager-operated.monitoring:9093"),
                ),
            ],
        );
        let types: Vec<ConnectorType> = covered.iter().map(|c| c.type_).collect();
        assert_eq!(types, vec![ConnectorType::Flux, ConnectorType::Prometheus]);
        assert_eq!(
            covered[1].endpoint.as_deref(),
            Some("http://prometheus.team-b.svc:9090")
        );
        let nothing = Discovery {
            api_groups: vec!["apps".into()],
            ..Discovery::default()
        };
        assert!(candidates(&nothing, &[]).is_empty());
        let looked_for: Vec<ConnectorType> = detectable().collect();
        assert_eq!(
            looked_for,
            vec![
                ConnectorType::ArgoCD,
                ConnectorType::Flux,
                ConnectorType::Prometheus,
                ConnectorType::Alertmanager,
                ConnectorType::InfluxDB
            ]
        );
        let alertmanager = &all[all.len() - 1];
        assert_eq!(
            (alertmanager.type_, alertmanager.endpoint.as_deref()),
            (
                ConnectorType::Alertmanager,
                Some("http://alertmanager-operated.monitoring.svc:9093")
            )
        );
    }
}
