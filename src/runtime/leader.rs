//! Lease-based leader election: only the replica holding the Lease runs the controllers (and so
//! writes). Losing the Lease ends the process, as controller-runtime does, so a restarted
//! replica rejoins as a standby instead of two writers overlapping.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use tracing::{debug, info, warn};

use super::lease::{Holder, LeaseLock};
use crate::leadership::{Leadership, Signal};

/// Settings for the Lease.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub ttl: Duration,
}

/// Keeps trying to acquire, then to renew, the Lease (the returned task, to be supervised: it
/// returns only once the Lease is lost); reports through the returned signal. The returned lock
/// is used to step down on shutdown.
pub fn elect(
    client: Client,
    settings: LeaseSettings,
) -> (
    Signal,
    Arc<LeaseLock>,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let lock = Arc::new(LeaseLock::new(
        client,
        &settings.namespace,
        &settings.name,
        &settings.identity,
        settings.ttl,
    ));
    let (tx, rx) = tokio::sync::watch::channel(Leadership::Waiting);
    let renew_every = (settings.ttl / 3).max(Duration::from_secs(1));
    let task_lock = Arc::clone(&lock);
    let task = async move {
        let mut leading = false;
        let mut renewed = tokio::time::Instant::now();
        loop {
            match task_lock.try_acquire_or_renew().await {
                Ok(Holder::Us) => {
                    renewed = tokio::time::Instant::now();
                    if !leading {
                        info!(lease = %settings.name, identity = %settings.identity, "acquired the leader Lease");
                        leading = true;
                        let _ = tx.send(Leadership::Leading);
                    }
                }
                Ok(Holder::Another) => {
                    if leading {
                        warn!(lease = %settings.name, "lost the leader Lease");
                        let _ = tx.send(Leadership::Lost);
                        return;
                    }
                }
                Err(e) => {
                    warn!(lease = %settings.name, "leader election: {e}");
                    // A failed renewal is no lost Lease: it holds until its TTL runs out. Give up
                    // (a renewal period early, so two replicas never write at once) only then.
                    if leading && renewed.elapsed() + renew_every >= settings.ttl {
                        warn!(lease = %settings.name, "could not renew the leader Lease within its TTL");
                        let _ = tx.send(Leadership::Lost);
                        return;
                    }
                }
            }
            tokio::time::sleep(renew_every).await;
        }
    };
    (rx, lock, task)
}

/// The label the leader's Pod carries. Webhook deliveries land in the leader's memory and the
/// HTTP gate is answered where decisions are made, so their Service selects it.
pub const LEADER_LABEL: &str = "releasepassport.io/leader";

/// Sets (`leading`) or clears the leader label on this replica's own Pod. A replica clears it
/// before it may lead (a restarted container keeps its Pod and so the label) and sets it on
/// taking the Lease. Outside a Pod there is nothing to label and nothing routes by it.
pub async fn label_pod(client: &Client, namespace: &str, pod: &str, leading: bool) {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let value = if leading {
        serde_json::Value::from("true")
    } else {
        serde_json::Value::Null
    };
    let patch = serde_json::json!({"metadata": {"labels": {LEADER_LABEL: value}}});
    match api
        .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => debug!(pod, leading, "labelled this replica's Pod"),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            debug!(
                pod,
                "not running in a Pod of that name: no leader label to set"
            );
        }
        Err(e) => warn!(
            pod,
            "cannot set {LEADER_LABEL} on this Pod ({e}); the leader's Service may not route to it"
        ),
    }
}

/// Takes the leader label on becoming leader: clears it from any other Pod that still carries it
/// (a leader killed before it could clear its own), then sets it on this replica's Pod, so the
/// gate Service routes to this replica alone.
pub async fn take_label(client: &Client, namespace: &str, pod: &str) {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let labelled = ListParams::default().labels(&format!("{LEADER_LABEL}=true"));
    match api.list_metadata(&labelled).await {
        Ok(pods) => {
            for other in pods.items.iter().filter_map(|p| p.metadata.name.as_deref()) {
                if other != pod {
                    info!(pod = other, "clearing a former leader's label");
                    label_pod(client, namespace, other, false).await;
                }
            }
        }
        Err(e) => warn!("cannot list Pods labelled {LEADER_LABEL}: {e}"),
    }
    label_pod(client, namespace, pod, true).await;
}
