//! The console's view of a live cluster: its objects from the watch caches, integrations the
//! hub detected, the delivery history, and whether this replica leads.

use std::sync::Arc;

use super::{Objects, Refreshing, Runtime, Snapshot, SnapshotSource};
use crate::cluster::Stores;
use crate::cluster::history::SharedRollups;
use crate::connectors::hub::Hub;
use crate::leadership::{self, Signal};

/// Everything the console shows, from the caches (shared, not copied, but for Releases).
pub fn objects(stores: &Stores, hub: Option<&Hub>, rollups: &SharedRollups) -> Objects {
    Objects {
        passports: stores.passports.state(),
        releases: stores
            .releases
            .state()
            .iter()
            .filter_map(|g| g.0.as_ref().ok().cloned().map(Arc::new))
            .collect(),
        policies: stores.policies.state(),
        approvals: stores.approvals.state(),
        waivers: stores.waivers.state(),
        connectors: stores.connectors.state(),
        candidates: hub.map(Hub::candidates).unwrap_or_default(),
        rollups: rollups.read().map(|r| Arc::clone(&r)).unwrap_or_default(),
    }
}

/// A new snapshot at most every two seconds, however many pages are served.
pub fn source(
    stores: Stores,
    hub: Option<Arc<Hub>>,
    rollups: SharedRollups,
    runtime: Runtime,
    leadership: Option<Signal>,
) -> Arc<dyn SnapshotSource> {
    Arc::new(Refreshing::new(
        move || {
            let mut runtime = runtime.clone();
            if let Some(signal) = &leadership {
                runtime.leader = Some(leadership::leading(signal));
            }
            let objects = objects(&stores, hub.as_deref(), &rollups);
            Snapshot::new(objects, chrono::Utc::now(), runtime)
        },
        std::time::Duration::from_secs(2),
    ))
}
