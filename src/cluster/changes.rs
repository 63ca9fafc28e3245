//! What the watches changed since the console last took a snapshot: the keys of the objects
//! each watch event touched, per kind, so the next snapshot re-reads those from the caches and
//! nothing else. A relist (the watch restarted) or more changes than are worth naming one by
//! one mean "read the whole kind again". Nothing is noted until someone takes changes, so a
//! controller without a console keeps no list.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::Resource;
use kube::runtime::watcher;

use crate::api::key::{Keyed, ObjectKey};

/// The kinds the console shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    Release,
    Policy,
    Approval,
    Waiver,
    Passport,
    Connector,
    Notifier,
}

impl Watched {
    pub const ALL: [Watched; 7] = [
        Watched::Release,
        Watched::Policy,
        Watched::Approval,
        Watched::Waiver,
        Watched::Passport,
        Watched::Connector,
        Watched::Notifier,
    ];
}

/// Beyond this many changed objects of one kind, the whole kind is read again instead.
const MOST_NAMED: usize = 4096;

/// What changed in one kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// The objects added, changed or deleted.
    pub keys: HashSet<ObjectKey>,
    /// Read the whole kind again: the watch relisted, or too much changed to name.
    pub everything: bool,
}

/// The changes of every watched kind, shared by the watch streams and the console.
#[derive(Debug, Default)]
pub struct Changes {
    listening: AtomicBool,
    kinds: [Mutex<Pending>; 7],
    /// How many times each kind's watch has listed (0: not yet). Our own signal, not the
    /// stores': a store's readiness wakes only one of several waiters (kube-runtime's
    /// DelayedInit keeps one waker), and a Controller already waits on it.
    listed: tokio::sync::watch::Sender<[u64; 7]>,
}

impl Changes {
    fn pending(&self, kind: Watched) -> std::sync::MutexGuard<'_, Pending> {
        self.kinds[kind as usize]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes what `event` of `kind` touched (after the cache applied it).
    pub fn note<K: Resource>(&self, kind: Watched, event: &watcher::Event<K>) {
        if matches!(event, watcher::Event::InitDone) {
            self.relisted(kind);
        }
        if !self.listening.load(Ordering::Acquire) {
            return;
        }
        let mut pending = self.pending(kind);
        match event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                if !pending.everything {
                    pending.keys.insert(o.key());
                }
                if pending.keys.len() > MOST_NAMED {
                    pending.keys = HashSet::new();
                    pending.everything = true;
                }
            }
            watcher::Event::InitDone => {
                pending.keys = HashSet::new();
                pending.everything = true;
            }
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }

    /// Counts a listing of `kind` (a watch's, or a test's refill of the caches).
    pub fn relisted(&self, kind: Watched) {
        self.listed
            .send_modify(|listed| listed[kind as usize] = listed[kind as usize].wrapping_add(1));
    }

    /// How many times `kind`'s watch has listed so far (0: not yet).
    pub fn listings(&self, kind: Watched) -> u64 {
        self.listed.borrow()[kind as usize]
    }

    /// Waits until every kind in `kinds` has listed at least once.
    pub async fn listed(&self, kinds: &[Watched]) {
        let mut listed = self.listed.subscribe();
        // The sender lives in `self`, so the wait ends only by the condition.
        let _ = listed
            .wait_for(|l| kinds.iter().all(|k| l[*k as usize] > 0))
            .await;
    }

    /// What changed in every kind since the last call; the first call says "everything".
    pub fn take(&self) -> Taken {
        let first = !self.listening.swap(true, Ordering::AcqRel);
        Taken(Watched::ALL.map(|kind| {
            let mut taken = std::mem::take(&mut *self.pending(kind));
            taken.everything |= first;
            taken
        }))
    }
}

/// What changed in each kind, as taken at once.
#[derive(Debug)]
pub struct Taken([Pending; 7]);

impl Taken {
    pub fn of(&mut self, kind: Watched) -> Pending {
        std::mem::take(&mut self.0[kind as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn approval(name: &str) -> ConfigMap {
        let mut o = ConfigMap::default();
        o.metadata.name = Some(name.into());
        o.metadata.namespace = Some("shop".into());
        o
    }

    #[test]
    fn names_what_changed_and_asks_for_everything_after_a_relist() {
        let changes = Changes::default();
        changes.note(Watched::Approval, &watcher::Event::Apply(approval("a")));
        let mut first = changes.take();
        assert!(
            first.of(Watched::Approval).everything && first.of(Watched::Release).everything,
            "nothing was noted before the first take, which reads everything"
        );
        changes.note(Watched::Approval, &watcher::Event::Apply(approval("a")));
        changes.note(Watched::Approval, &watcher::Event::Delete(approval("b")));
        let taken = changes.take().of(Watched::Approval);
        assert!(!taken.everything);
        assert_eq!(
            taken.keys,
            [ObjectKey::new("shop", "a"), ObjectKey::new("shop", "b")].into()
        );
        let mut none = changes.take();
        assert_eq!(none.of(Watched::Approval), Pending::default());
        assert_eq!(none.of(Watched::Passport), Pending::default());

        changes.note::<ConfigMap>(Watched::Approval, &watcher::Event::InitDone);
        assert!(changes.take().of(Watched::Approval).everything);

        for i in 0..=MOST_NAMED {
            changes.note(
                Watched::Approval,
                &watcher::Event::Apply(approval(&format!("a-{i}"))),
            );
        }
        let taken = changes.take().of(Watched::Approval);
        assert!(taken.everything && taken.keys.is_empty());
    }
}
