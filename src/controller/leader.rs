//! Lease-based leader election: only the replica holding the Lease runs the controllers (and so
//! writes). Losing the Lease ends the process, as controller-runtime does, so a restarted
//! replica rejoins as a standby instead of two writers overlapping.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube_leader_election::{LeaseLock, LeaseLockParams, LeaseLockResult};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// Where leadership stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leadership {
    Waiting,
    Leading,
    Lost,
}

/// Settings for the Lease.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub ttl: Duration,
}

/// Keeps trying to acquire, then to renew, the Lease; reports through the returned channel.
/// The returned lock is used to step down on shutdown.
pub fn elect(
    client: Client,
    settings: LeaseSettings,
    metrics: Arc<Metrics>,
) -> (watch::Receiver<Leadership>, Arc<LeaseLock>) {
    let lock = Arc::new(LeaseLock::new(
        client,
        &settings.namespace,
        LeaseLockParams {
            lease_name: settings.name.clone(),
            holder_id: settings.identity.clone(),
            lease_ttl: settings.ttl,
        },
    ));
    let (tx, rx) = watch::channel(Leadership::Waiting);
    let renew_every = (settings.ttl / 3).max(Duration::from_secs(1));
    let task_lock = Arc::clone(&lock);
    tokio::spawn(async move {
        let mut leading = false;
        loop {
            match task_lock.try_acquire_or_renew().await {
                Ok(LeaseLockResult::Acquired(_)) => {
                    if !leading {
                        info!(lease = %settings.name, identity = %settings.identity, "acquired the leader Lease");
                        leading = true;
                        metrics.leader.set(1);
                        let _ = tx.send(Leadership::Leading);
                    }
                }
                Ok(LeaseLockResult::NotAcquired(_)) => {
                    if leading {
                        warn!(lease = %settings.name, "lost the leader Lease");
                        metrics.leader.set(0);
                        let _ = tx.send(Leadership::Lost);
                        return;
                    }
                }
                Err(e) => {
                    warn!(lease = %settings.name, "leader election: {e}");
                    if leading {
                        // Past the TTL without a renewal another replica may have taken over.
                        metrics.leader.set(0);
                        let _ = tx.send(Leadership::Lost);
                        return;
                    }
                }
            }
            tokio::time::sleep(renew_every).await;
        }
    });
    (rx, lock)
}
