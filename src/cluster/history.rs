//! The delivery history that outlives passports: daily rollups in a ConfigMap of the
//! controller's namespace (gzipped JSON), read once, followed by every replica and the
//! standalone console, and written by the leader's retention.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::watches::watch;
use crate::api::FIELD_MANAGER;
use crate::metrics::delivery::Rollups;

/// Why the history could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("encoding the rollups: {0}")]
    Encode(#[source] std::io::Error),
}

/// The rollups retention keeps, shared with whoever shows figures (swapped whole, read cheaply).
pub type SharedRollups = Arc<RwLock<Arc<Rollups>>>;

/// The ConfigMap holding the rollups, in the controller's namespace.
pub const ROLLUPS_CONFIGMAP: &str = "release-passport-rollups";
/// Gzipped JSON in `binaryData`: a year of daily rollups for hundreds of targets stays far
/// below a ConfigMap's 1 MiB.
const ROLLUPS_KEY: &str = "rollups.json.gz";

pub fn encode(stored: &Stored) -> Result<Vec<u8>, std::io::Error> {
    use std::io::Write;
    let json = serde_json::to_vec(stored)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json)?;
    gz.finish()
}

pub fn decode(bytes: &[u8]) -> Option<Stored> {
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut json).ok()?;
    serde_json::from_slice(&json).ok()
}

/// What the ConfigMap stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub rollups: Rollups,
    /// Passports (by uid) folded in but perhaps not yet deleted: never folded twice.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub folded: BTreeSet<String>,
}

/// The rollups as the ConfigMap holds them now (empty when there is none).
pub async fn read(client: &Client, namespace: &str) -> Result<Stored, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    Ok(api
        .get_opt(ROLLUPS_CONFIGMAP)
        .await?
        .and_then(stored_in)
        .unwrap_or_default())
}

/// What the rollups ConfigMap holds, if its key is there and readable.
fn stored_in(cm: ConfigMap) -> Option<Stored> {
    decode(&cm.binary_data?.remove(ROLLUPS_KEY)?.0)
}

/// Replaces the ConfigMap's rollups with `stored` (server-side apply).
pub async fn write(client: &Client, namespace: &str, stored: &Stored) -> Result<(), HistoryError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let bytes = encode(stored).map_err(HistoryError::Encode)?;
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": ROLLUPS_CONFIGMAP, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "release-passport"}},
        "binaryData": {ROLLUPS_KEY: text},
    });
    api.patch(
        ROLLUPS_CONFIGMAP,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&cm),
    )
    .await?;
    Ok(())
}

/// Keeps `shared` equal to the rollups ConfigMap in `namespace`: standby replicas and
/// `passport console` see what the leader's retention folded without restarting. Runs until
/// the process ends; a lost watch is resumed with backoff.
pub async fn follow(client: Client, namespace: String, shared: SharedRollups) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default()
        .fields(&format!("metadata.name={ROLLUPS_CONFIGMAP}"))
        .any_semantic();
    watch(api, config)
        .touched_objects()
        .for_each(|cm| {
            match cm {
                Ok(cm) if cm.metadata.name.as_deref() == Some(ROLLUPS_CONFIGMAP) => {
                    match (stored_in(cm), shared.write()) {
                        (Some(stored), Ok(mut s)) => *s = Arc::new(stored.rollups),
                        (None, _) => tracing::warn!(
                            "ConfigMap {namespace}/{ROLLUPS_CONFIGMAP}: key {ROLLUPS_KEY} is missing or not gzipped rollups; keeping the rollups read before"
                        ),
                        (_, Err(_)) => {}
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("watching the rollups ConfigMap: {e}"),
            }
            std::future::ready(())
        })
        .await;
}
