//! The console's view of a live cluster: its objects from the watch caches, integrations the
//! hub detected, the delivery history, and whether this replica leads. Each snapshot re-reads
//! only what the watches changed since the last one ([`crate::cluster::changes`]).

use std::sync::{Arc, Mutex};

use kube::runtime::reflector::{ObjectRef, Store};

use super::builder::{Builder, Kept};
use super::{Refreshing, Runtime, Snapshot, SnapshotSource};
use crate::cluster::Stores;
use crate::cluster::changes::{Pending, Watched};
use crate::cluster::history::SharedRollups;
use crate::connectors::hub::Hub;
use crate::leadership::{self, Signal};

/// Brings `builder` up to date with the caches: the objects the watches changed, or a whole
/// kind after its watch relisted.
fn refresh(builder: &mut Builder, stores: &Stores) {
    let mut taken = stores.changes.take();
    // Releases and policies that do not deserialise are not shown (the controller reports
    // them).
    sync(builder, taken.of(Watched::Release), &stores.releases, |g| {
        g.0.as_ref().ok().cloned().map(Arc::new)
    });
    sync(builder, taken.of(Watched::Policy), &stores.policies, |g| {
        g.0.as_ref().ok().cloned().map(Arc::new)
    });
    sync(
        builder,
        taken.of(Watched::Approval),
        &stores.approvals,
        Some,
    );
    sync(builder, taken.of(Watched::Waiver), &stores.waivers, Some);
    sync(
        builder,
        taken.of(Watched::Passport),
        &stores.passports,
        Some,
    );
    sync(
        builder,
        taken.of(Watched::Connector),
        &stores.connectors,
        Some,
    );
    sync(
        builder,
        taken.of(Watched::Notifier),
        &stores.notifiers,
        Some,
    );
}

fn sync<S, K>(
    builder: &mut Builder,
    pending: Pending,
    store: &Store<S>,
    shown: impl Fn(Arc<S>) -> Option<Arc<K>>,
) where
    S: kube::Resource<DynamicType = ()> + Clone + 'static,
    K: Kept,
{
    if pending.everything {
        builder.replace_all(store.state().into_iter().filter_map(shown).collect());
        return;
    }
    for key in pending.keys {
        let cached = store.get(&ObjectRef::new(&key.name).within(&key.namespace));
        match cached.and_then(&shown) {
            Some(object) => builder.upsert(object),
            None => builder.remove::<K>(&key),
        }
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
    let builder = Mutex::new(Builder::default());
    Arc::new(Refreshing::new(
        move || {
            let mut runtime = runtime.clone();
            if let Some(signal) = &leadership {
                runtime.leader = Some(leadership::leading(signal));
            }
            let mut builder = builder
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            refresh(&mut builder, &stores);
            builder.set_context(
                hub.as_deref().map(Hub::candidates).unwrap_or_default(),
                rollups.read().map(|r| Arc::clone(&r)).unwrap_or_default(),
            );
            Snapshot::of(builder.collections(), chrono::Utc::now(), runtime)
        },
        std::time::Duration::from_secs(2),
    ))
}
