//! What console snapshots are made of, kept up to date one changed object at a time. Every
//! collection is a persistent sorted map (`imbl`): a snapshot holds a copy that shares all but
//! the changed paths with the builder's, so taking one costs nothing, and a change costs a few
//! map updates — the object, its place by recency, its target's newest passport, its lines in
//! the governance log — whatever the number of objects. The watches say what changed
//! ([`crate::cluster::changes`]); the demo and tests fill a builder from whole lists.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use imbl::OrdMap;

use super::audit::{self, GovernanceEvent, LogKey};
use crate::api::common::created_order;
use crate::api::key::{Keyed, ObjectKey};
use crate::api::{Approval, Connector, GatePolicy, Notifier, Release, ReleasePassport, Waiver};
use crate::connectors::detect::Candidate;
use crate::freeze::Freeze;
use crate::metrics::delivery::Rollups;

/// Values in the order of their keys: a persistent map the builder updates, and, once a
/// snapshot reads it, a plain list of the same values (iterating a list is several times faster
/// than walking the tree, and pages iterate thousands of passports many times over).
#[derive(Debug)]
pub struct Listed<Key: Ord + Clone, V> {
    map: OrdMap<Key, Arc<V>>,
    listed: OnceLock<Vec<Arc<V>>>,
}

impl<Key: Ord + Clone, V> Clone for Listed<Key, V> {
    /// The map is shared; the list is made again on first use.
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            listed: OnceLock::new(),
        }
    }
}

impl<Key: Ord + Clone, V> Default for Listed<Key, V> {
    fn default() -> Self {
        Self {
            map: OrdMap::new(),
            listed: OnceLock::new(),
        }
    }
}

impl<Key: Ord + Clone, V> Listed<Key, V> {
    pub fn iter(&self) -> std::slice::Iter<'_, Arc<V>> {
        self.listed
            .get_or_init(|| self.map.values().cloned().collect())
            .iter()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, key: &Key) -> Option<&Arc<V>> {
        self.map.get(key)
    }

    /// The map, to change (only the builder's own copy, which no snapshot reads as a list).
    fn map_mut(&mut self) -> &mut OrdMap<Key, Arc<V>> {
        self.listed = OnceLock::new();
        &mut self.map
    }
}

/// Objects of one kind in namespace and name order.
pub type Sorted<K> = Listed<ObjectKey, K>;

impl<K: kube::Resource> FromIterator<Arc<K>> for Sorted<K> {
    fn from_iter<I: IntoIterator<Item = Arc<K>>>(objects: I) -> Self {
        Self {
            map: objects.into_iter().map(|o| (o.key(), o)).collect(),
            listed: OnceLock::new(),
        }
    }
}

/// A passport's place among the others, newest first (undated ones — just decided — lead),
/// then by namespace and name.
pub type Recency = (std::cmp::Reverse<i64>, ObjectKey);

fn recency(p: &ReleasePassport) -> Recency {
    (std::cmp::Reverse(created_order(&p.metadata)), p.key())
}

/// The governance log, newest first ([`LogKey`]).
pub type Log = Listed<LogKey, GovernanceEvent>;

/// Passports newest first.
pub type ByRecency = Listed<Recency, ReleasePassport>;

/// The objects of every kind the console shows, as one snapshot sees them.
#[derive(Clone, Debug, Default)]
pub struct Collections {
    pub passports: Sorted<ReleasePassport>,
    pub releases: Sorted<Release>,
    pub policies: Sorted<GatePolicy>,
    pub approvals: Sorted<Approval>,
    pub waivers: Sorted<Waiver>,
    pub connectors: Sorted<Connector>,
    pub notifiers: Sorted<Notifier>,
    pub candidates: Vec<Candidate>,
    /// Daily aggregates of passports retention already folded away.
    pub rollups: Arc<Rollups>,
    /// Every passport, newest first.
    pub recency: ByRecency,
    /// The newest passport of each namespace, service and environment, newest first.
    pub latest: ByRecency,
    /// Every decision, approval, waiver and policy change, newest first.
    pub events: Log,
    /// Every freeze (`crate::freeze`), newest first.
    pub freezes: Arc<Vec<Freeze>>,
}

/// A namespace, service and environment: what "the newest passport" is counted over.
type Target = (String, String, String);

fn target(p: &ReleasePassport) -> Target {
    (
        p.key().namespace,
        p.spec.service.clone(),
        p.spec.environment.clone(),
    )
}

/// Keeps [`Collections`] up to date from changes, one object at a time.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    objects: Collections,
    /// Per target, its passports by (creation, name): the last one is the newest.
    targets: HashMap<Target, BTreeSet<(i64, String)>>,
    /// Per target, where its newest passport sits in `objects.latest`.
    newest: HashMap<Target, Recency>,
    /// A policy changed since the freezes were last read.
    policies_changed: bool,
}

/// A kind the builder keeps, and what else changes with one of its objects.
pub trait Kept: kube::Resource + Sized {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self>;

    /// The governance log's lines this object contributes.
    fn events(&self) -> Vec<GovernanceEvent> {
        Vec::new()
    }

    /// Updates what is derived from this kind beside the log, once `old` left and `new` came.
    fn derive(_: &mut Builder, _old: Option<&Arc<Self>>, _new: Option<&Arc<Self>>) {}
}

/// The same version of one object: the same allocation, or the same resourceVersion.
fn same<K: kube::Resource>(a: &Arc<K>, b: &Arc<K>) -> bool {
    Arc::ptr_eq(a, b)
        || matches!(
            (&a.meta().resource_version, &b.meta().resource_version),
            (Some(x), Some(y)) if x == y
        )
}

impl Builder {
    /// A builder holding every object of `objects`.
    pub fn of(objects: super::Objects) -> Self {
        let mut b = Self::default();
        b.replace_all(objects.passports);
        b.replace_all(objects.releases);
        b.replace_all(objects.policies);
        b.replace_all(objects.approvals);
        b.replace_all(objects.waivers);
        b.replace_all(objects.connectors);
        b.replace_all(objects.notifiers);
        b.set_context(objects.candidates, objects.rollups);
        b
    }

    /// What the hub detected and the kept delivery history, as of now.
    pub fn set_context(&mut self, candidates: Vec<Candidate>, rollups: Arc<Rollups>) {
        self.objects.candidates = candidates;
        self.objects.rollups = rollups;
    }

    /// The collections as they are now: shared with the builder, so this is cheap.
    pub fn collections(&mut self) -> Collections {
        if std::mem::take(&mut self.policies_changed) {
            let mut freezes: Vec<Freeze> = self
                .objects
                .policies
                .iter()
                .filter_map(|p| Freeze::of(p))
                .collect();
            freezes.sort_by(|a, b| (b.start, &b.name).cmp(&(a.start, &a.name)));
            self.objects.freezes = Arc::new(freezes);
        }
        self.objects.clone()
    }

    /// `object` is now as given (added or changed).
    pub fn upsert<K: Kept>(&mut self, object: Arc<K>) {
        let key = object.key();
        let old = K::slot(&mut self.objects)
            .map_mut()
            .insert(key, Arc::clone(&object));
        if old.as_ref().is_some_and(|old| same(old, &object)) {
            return;
        }
        self.changed(old.as_ref(), Some(&object));
    }

    /// The object at `key` is gone.
    pub fn remove<K: Kept>(&mut self, key: &ObjectKey) {
        if let Some(old) = K::slot(&mut self.objects).map_mut().remove(key) {
            self.changed(Some(&old), None);
        }
    }

    /// The kind now holds exactly `objects` (a first list, or a relist after a watch restarted):
    /// what is missing is removed, what differs is updated, what is the same is left.
    pub fn replace_all<K: Kept>(&mut self, objects: Vec<Arc<K>>) {
        let present: HashSet<ObjectKey> = objects.iter().map(|o| o.key()).collect();
        let gone: Vec<ObjectKey> = K::slot(&mut self.objects)
            .map
            .keys()
            .filter(|k| !present.contains(*k))
            .cloned()
            .collect();
        for key in &gone {
            self.remove::<K>(key);
        }
        for object in objects {
            self.upsert(object);
        }
    }

    fn changed<K: Kept>(&mut self, old: Option<&Arc<K>>, new: Option<&Arc<K>>) {
        for (key, _) in old.into_iter().flat_map(|o| log_lines(o.as_ref())) {
            self.objects.events.map_mut().remove(&key);
        }
        for (key, event) in new.into_iter().flat_map(|o| log_lines(o.as_ref())) {
            self.objects.events.map_mut().insert(key, Arc::new(event));
        }
        K::derive(self, old, new);
    }

    /// Makes `objects.latest` hold the newest passport of `target`, if it has any left.
    fn refresh_newest(&mut self, target: Target) {
        if let Some(place) = self.newest.remove(&target) {
            self.objects.latest.map_mut().remove(&place);
        }
        let newest = self
            .targets
            .get(&target)
            .and_then(|set| set.last())
            .map(|(_, name)| ObjectKey::new(target.0.clone(), name.clone()));
        if let Some(passport) = newest.and_then(|k| self.objects.passports.get(&k).cloned()) {
            let place = recency(&passport);
            self.objects
                .latest
                .map_mut()
                .insert(place.clone(), passport);
            self.newest.insert(target, place);
        }
    }
}

/// The governance log's lines `object` contributes, each with its place in the log.
fn log_lines<K: Kept>(object: &K) -> impl Iterator<Item = (LogKey, GovernanceEvent)> {
    let at = object.key();
    object
        .events()
        .into_iter()
        .enumerate()
        .map(move |(position, event)| {
            // The record of another object is keyed as that object's own line.
            let key = match &event.about {
                Some(about) => event.key(about, 0),
                None => event.key(&at, position),
            };
            (key, event)
        })
}

impl Kept for ReleasePassport {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.passports
    }

    fn events(&self) -> Vec<GovernanceEvent> {
        audit::of_passport(self)
    }

    fn derive(b: &mut Builder, old: Option<&Arc<Self>>, new: Option<&Arc<Self>>) {
        let mut touched = Vec::new();
        if let Some(old) = old {
            b.objects.recency.map_mut().remove(&recency(old));
            let t = target(old);
            if let Some(set) = b.targets.get_mut(&t) {
                set.remove(&(created_order(&old.metadata), old.key().name));
                if set.is_empty() {
                    b.targets.remove(&t);
                }
            }
            touched.push(t);
        }
        if let Some(new) = new {
            b.objects
                .recency
                .map_mut()
                .insert(recency(new), Arc::clone(new));
            let t = target(new);
            b.targets
                .entry(t.clone())
                .or_default()
                .insert((created_order(&new.metadata), new.key().name));
            touched.push(t);
        }
        touched.dedup();
        for t in touched {
            b.refresh_newest(t);
        }
    }
}

impl Kept for Release {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.releases
    }
}

impl Kept for GatePolicy {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.policies
    }

    fn events(&self) -> Vec<GovernanceEvent> {
        vec![audit::of_policy(self)]
    }

    fn derive(b: &mut Builder, _: Option<&Arc<Self>>, _: Option<&Arc<Self>>) {
        b.policies_changed = true;
    }
}

impl Kept for Approval {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.approvals
    }

    fn events(&self) -> Vec<GovernanceEvent> {
        vec![audit::of_approval(self)]
    }
}

impl Kept for Waiver {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.waivers
    }

    fn events(&self) -> Vec<GovernanceEvent> {
        vec![audit::of_waiver(self)]
    }
}

impl Kept for Connector {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.connectors
    }
}

impl Kept for Notifier {
    fn slot(objects: &mut Collections) -> &mut Sorted<Self> {
        &mut objects.notifiers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::passport::ReleasePassportSpec;

    fn passport(namespace: &str, name: &str, service: &str, created: i64) -> Arc<ReleasePassport> {
        let mut p = ReleasePassport::new(
            name,
            ReleasePassportSpec {
                service: service.into(),
                environment: "production".into(),
                ..ReleasePassportSpec::default()
            },
        );
        p.metadata.namespace = Some(namespace.into());
        p.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_second(created).unwrap(),
        ));
        Arc::new(p)
    }

    fn names<'a>(items: impl Iterator<Item = &'a Arc<ReleasePassport>>) -> Vec<String> {
        items.map(|p| p.key().to_string()).collect()
    }

    /// Built one change at a time or from the whole list, the collections read the same.
    #[test]
    fn changes_one_at_a_time_equal_a_build_from_scratch() {
        let all = vec![
            passport("shop", "web-1", "web", 10),
            passport("shop", "web-2", "web", 20),
            passport("shop", "api-1", "api", 15),
            passport("other", "web-1", "web", 5),
        ];
        let mut b = Builder::default();
        for p in &all {
            b.upsert(Arc::clone(p));
        }
        let c = b.collections();
        assert_eq!(
            names(c.recency.iter()),
            ["shop/web-2", "shop/api-1", "shop/web-1", "other/web-1"]
        );
        assert_eq!(
            names(c.latest.iter()),
            ["shop/web-2", "shop/api-1", "other/web-1"]
        );

        // The newest of shop/web goes: the one before it is the newest again.
        b.remove::<ReleasePassport>(&ObjectKey::new("shop", "web-2"));
        // An older snapshot is not changed by later changes.
        assert_eq!(c.passports.len(), 4);
        let after = b.collections();
        assert_eq!(
            names(after.latest.iter()),
            ["shop/api-1", "shop/web-1", "other/web-1"]
        );
        let rebuilt = Builder::of(super::super::Objects {
            passports: vec![
                Arc::clone(&all[0]),
                Arc::clone(&all[2]),
                Arc::clone(&all[3]),
            ],
            ..super::super::Objects::default()
        })
        .collections();
        assert_eq!(names(after.recency.iter()), names(rebuilt.recency.iter()));
        assert_eq!(names(after.latest.iter()), names(rebuilt.latest.iter()));

        // A passport moved to another service leaves its old target.
        let mut moved = ReleasePassport::clone(&all[0]);
        moved.spec.service = "api".into();
        b.upsert(Arc::new(moved));
        let c = b.collections();
        assert_eq!(names(c.latest.iter()), ["shop/api-1", "other/web-1"]);
    }

    #[test]
    fn a_changed_passport_replaces_its_log_lines() {
        use crate::api::passport::{ReleasePassportStatus, TimelineEntry};
        let entry = |message: &str| TimelineEntry {
            at: chrono::DateTime::from_timestamp(100, 0).unwrap(),
            decision: crate::api::Decision::Hold,
            message: message.into(),
            waived: Vec::new(),
        };
        let mut p = ReleasePassport::clone(&passport("shop", "web-1", "web", 10));
        p.status = Some(ReleasePassportStatus {
            timeline: vec![entry("first")],
            ..ReleasePassportStatus::default()
        });
        let mut b = Builder::default();
        b.upsert(Arc::new(p.clone()));
        p.status = Some(ReleasePassportStatus {
            timeline: vec![entry("first"), entry("second")],
            ..ReleasePassportStatus::default()
        });
        b.upsert(Arc::new(p));
        let summaries: Vec<String> = b
            .collections()
            .events
            .iter()
            .map(|e| e.summary.clone())
            .collect();
        assert_eq!(summaries, ["Hold: first", "Hold: second"]);
        b.remove::<ReleasePassport>(&ObjectKey::new("shop", "web-1"));
        assert!(b.collections().events.is_empty());
    }
}
