//! In-cluster connectors against real-shaped objects in the in-memory Kubernetes API: the
//! Kubernetes connector reads only the Release's scope and judges the rollout of its version.

use std::sync::Arc;

use crate::common::fake_api::FakeApi;
use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use release_passport::api::{Connector, EvidenceStatus, Keyed, Release};
use release_passport::connectors::hub::{self, Hub};
use release_passport::engine::needs::{Needs, RollbackNeed};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn deployment(
    ns: &str,
    name: &str,
    image: &str,
    replicas: i32,
    ready: i32,
    updated: i32,
) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "generation": 4, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}}
        },
        "status": {"observedGeneration": 4, "replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": ready,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    }))
    .unwrap()
}

fn pod(ns: &str, app: &str, waiting: Option<&str>, restarts: i32) -> Pod {
    let state = match waiting {
        Some(reason) => serde_json::json!({"waiting": {"reason": reason}}),
        None => serde_json::json!({"running": {"startedAt": "2026-11-25T13:50:00Z"}}),
    };
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{app}-7d9f-x"), "namespace": ns, "labels": {"app.kubernetes.io/name": app}},
        "spec": {"containers": [{"name": "app", "image": "x"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": waiting.is_none(), "restartCount": restarts, "state": state}]}
    }))
    .unwrap()
}

fn release(app: &str, version: &str) -> Release {
    serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: {app}, namespace: shop}}
spec:
  service: {app}
  version: {version}
  environment: production
  scope: {{namespaces: [shop-prod], selector: {{matchLabels: {{app.kubernetes.io/name: {app}}}}}}}
"
    ))
    .unwrap()
}

fn cluster_connector() -> Connector {
    serde_yaml_ng::from_str(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {name: cluster, namespace: shop}\nspec: {type: Kubernetes, allowedNamespaces: [shop-prod]}\n",
    )
    .unwrap()
}

/// Plans, refreshes once (healthy) and returns each release's observation, in order.
async fn observe_all(
    hub: &Hub,
    conn: &Connector,
    releases: &[(Release, Needs)],
) -> Vec<release_passport::engine::EvidenceItem> {
    let all = [Arc::new(conn.clone())];
    let plan = hub::plan(&all, releases);
    let queries = plan[&conn.key()].clone();
    assert_eq!(queries.len(), releases.len(), "{queries:?}");
    crate::common::refresh_healthy(hub, conn, &queries, now()).await;
    releases
        .iter()
        .map(|(r, n)| {
            let q = release_passport::connectors::queries::queries_for(conn, r, n, &all).remove(0);
            hub.observation(&conn.key(), &q).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn workloads_in_scope_decide_workload_health() {
    let client = FakeApi::new()
        .with_objects(vec![
            deployment(
                "shop-prod",
                "checkout",
                "registry.example/shop/checkout:2.3.1",
                3,
                3,
                3,
            ),
            deployment(
                "shop-prod",
                "payments",
                "registry.example/shop/payments:5.0.2",
                4,
                2,
                4,
            ),
            deployment(
                "shop-prod",
                "catalog",
                "registry.example/shop/catalog:1.11.3",
                2,
                2,
                2,
            ),
            deployment(
                "shop-prod",
                "search",
                "registry.example/shop/search:4.0.0",
                2,
                1,
                2,
            ),
            // Same name, another namespace: outside every scope.
            deployment(
                "other-team",
                "checkout",
                "registry.example/shop/checkout:9.9.9",
                1,
                0,
                0,
            ),
        ])
        .with_objects(vec![
            pod("shop-prod", "checkout", None, 0),
            pod("shop-prod", "search", Some("CrashLoopBackOff"), 7),
        ])
        .client();
    let hub = Hub::new().unwrap().with_kube(client);
    let conn = cluster_connector();
    let needs = Needs {
        sources: ["workload-health".to_string()].into(),
        ..Needs::default()
    };
    let rows = [
        (
            "checkout",
            "2.3.1",
            EvidenceStatus::Complete,
            "1/1 workloads rolled out at 2.3.1",
        ),
        (
            "payments",
            "5.0.2",
            EvidenceStatus::Partial,
            "not ready: Deployment/payments",
        ),
        (
            "catalog",
            "1.11.4",
            EvidenceStatus::Pending,
            "rolling out 1.11.4",
        ),
        ("search", "4.0.0", EvidenceStatus::Failed, "crash-looping"),
        (
            "ghost",
            "1.0.0",
            EvidenceStatus::Missing,
            "no workload in scope",
        ),
    ];
    let releases: Vec<(Release, Needs)> = rows
        .iter()
        .map(|(app, v, _, _)| (release(app, v), needs.clone()))
        .collect();
    let items = observe_all(&hub, &conn, &releases).await;
    for (item, (app, _, expected, text)) in items.into_iter().zip(rows) {
        assert_eq!(item.status, expected, "{app}: {:?}", item.summary);
        assert!(
            item.summary.as_deref().unwrap().contains(text),
            "{app}: {:?}",
            item.summary
        );
    }

    // A Release in shop that names another team's namespace reads nothing there: its
    // Connector does not open other-team to shop's Releases.
    let mut prying = release("checkout", "9.9.9");
    prying.spec.scope.namespaces = vec!["other-team".into()];
    let item = observe_all(&hub, &conn, &[(prying, needs.clone())])
        .await
        .remove(0);
    assert_eq!(item.status, EvidenceStatus::Missing);
    let summary = item.summary.unwrap();
    assert!(
        summary.contains("namespace other-team is outside what Connector shop/cluster allows"),
        "{summary}"
    );
    assert!(
        !summary.contains("9.9.9 rolled out") && !summary.contains("checkout"),
        "{summary}"
    );
}

/// A retained ReplicaSet (Deployments) or ControllerRevision (StatefulSets) at the previous
/// version is a rollback target; once pruned, the target is gone.
#[tokio::test]
async fn rollback_targets_are_retained_workload_revisions_in_scope() {
    use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
    let replicaset: ReplicaSet = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "checkout-5d8", "namespace": "shop-prod",
                     "labels": {"app.kubernetes.io/name": "checkout"},
                     "annotations": {"deployment.kubernetes.io/revision": "4"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app.kubernetes.io/name": "checkout"}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": "checkout"}},
                              "spec": {"containers": [{"name": "app", "image": "registry.example/shop/checkout:2.3.0"}]}}}
    }))
    .unwrap();
    let revision: ControllerRevision = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "ledger-6c7", "namespace": "shop-prod", "labels": {"app.kubernetes.io/name": "ledger"}},
        "revision": 7,
        "data": {"spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/version": "3.1.0"}},
                                       "spec": {"containers": [{"name": "app", "image": "registry.example/shop/ledger"}]}}}}
    }))
    .unwrap();
    // The same old version, but in a namespace outside the release's scope.
    let mut elsewhere = replicaset.clone();
    elsewhere.metadata.namespace = Some("other-team".into());
    elsewhere.metadata.name = Some("payments-1a2".into());
    elsewhere.metadata.labels =
        Some([("app.kubernetes.io/name".to_string(), "payments".to_string())].into());
    let client = FakeApi::new()
        .with_objects(vec![replicaset, elsewhere])
        .with_objects(vec![revision])
        .client();
    let hub = Hub::new().unwrap().with_kube(client);
    let conn = cluster_connector();
    let rows = [
        (
            "checkout",
            "2.3.0",
            EvidenceStatus::Complete,
            "ReplicaSet shop-prod/checkout-5d8 (revision 4) still runs 2.3.0",
        ),
        (
            "ledger",
            "3.1.0",
            EvidenceStatus::Complete,
            "ControllerRevision shop-prod/ledger-6c7 (revision 7) still runs 3.1.0",
        ),
        (
            "checkout",
            "2.2.9",
            EvidenceStatus::Failed,
            "no ReplicaSet or ControllerRevision in scope runs 2.2.9",
        ),
        (
            "payments",
            "2.3.0",
            EvidenceStatus::Failed,
            "runs 2.3.0 any more",
        ),
    ];
    let releases: Vec<(Release, Needs)> = rows
        .iter()
        .map(|(app, previous, _, _)| {
            let needs = Needs {
                rollback: Some(RollbackNeed {
                    version: previous.to_string(),
                    revision: previous.to_string(),
                }),
                ..Needs::default()
            };
            (release(app, "9.0.0"), needs)
        })
        .collect();
    let items = observe_all(&hub, &conn, &releases).await;
    for (item, (app, _, expected, text)) in items.into_iter().zip(rows) {
        assert_eq!(
            item.source,
            release_passport::engine::ROLLBACK_REVISION_SOURCE
        );
        assert_eq!(item.status, expected, "{app}: {:?}", item.summary);
        assert!(
            item.summary.as_deref().unwrap().contains(text),
            "{app}: {:?}",
            item.summary
        );
    }
}

mod flux_api {
    use kube::CustomResource;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// The shape of Flux's Kustomization, as far as the connector reads it.
    #[derive(CustomResource, Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[kube(
        group = "kustomize.toolkit.fluxcd.io",
        version = "v1",
        kind = "Kustomization",
        namespaced,
        status = "KustomizationStatus"
    )]
    pub struct KustomizationSpec {
        pub interval: String,
        pub path: String,
    }

    #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct KustomizationStatus {
        pub conditions: Vec<serde_json::Value>,
        pub last_applied_revision: Option<String>,
    }
}

fn kustomization(name: &str, ready: &str, reason: &str, revision: &str) -> flux_api::Kustomization {
    let mut k = flux_api::Kustomization::new(
        name,
        flux_api::KustomizationSpec {
            interval: "5m".into(),
            path: "./deploy".into(),
        },
    );
    k.metadata.namespace = Some("flux-system".into());
    k.status = Some(flux_api::KustomizationStatus {
        conditions: vec![
            serde_json::json!({"type": "Ready", "status": ready, "reason": reason, "message": "Applied revision", "lastTransitionTime": "2026-11-25T13:57:00Z"}),
        ],
        last_applied_revision: Some(revision.into()),
    });
    k
}

#[tokio::test]
async fn flux_kustomizations_in_scope() {
    let client = FakeApi::new()
        .with_objects(vec![
            kustomization(
                "catalog",
                "True",
                "ReconciliationSucceeded",
                "main@sha1:e4c2b19d8f07aa11bb22cc33dd44ee55ff667788",
            ),
            kustomization(
                "search",
                "False",
                "HealthCheckFailed",
                "main@sha1:0123456789ab",
            ),
        ])
        .client();
    let hub = Hub::new().unwrap().with_kube(client);
    let conn: Connector = serde_yaml_ng::from_str(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {name: flux, namespace: shop}\nspec: {type: Flux, allowedNamespaces: [flux-system]}\n",
    )
    .unwrap();
    let release = |app: &str, commit: &str| -> Release {
        serde_yaml_ng::from_str(&format!(
            "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {{name: {app}, namespace: shop}}\nspec: {{service: {app}, version: '1', environment: production, revision: {{commit: {commit}}}, scope: {{gitopsApps: [{{kind: FluxKustomization, name: {app}, namespace: flux-system}}]}}}}\n"
        ))
        .unwrap()
    };
    let needs = Needs {
        sources: ["gitops-sync".to_string()].into(),
        ..Needs::default()
    };
    let all = [Arc::new(conn.clone())];
    let rows = [
        (release("catalog", "e4c2b19d8f07"), EvidenceStatus::Complete),
        (release("search", "0123456789ab"), EvidenceStatus::Failed),
        (release("ghost", "abc"), EvidenceStatus::Missing),
    ];
    let releases: Vec<(Release, Needs)> = rows
        .iter()
        .map(|(r, _)| (r.clone(), needs.clone()))
        .collect();
    let queries = hub::plan(&all, &releases)[&conn.key()].clone();
    crate::common::refresh_healthy(&hub, &conn, &queries, now()).await;
    for (r, expected) in rows {
        let q =
            release_passport::connectors::queries::queries_for(&conn, &r, &needs, &all).remove(0);
        let item = hub.observation(&conn.key(), &q).unwrap();
        assert_eq!(item.status, expected, "{q}: {:?}", item.summary);
    }
}
