//! What the console reads: one immutable snapshot of the objects, taken from a [`Builder`] kept
//! up to date by the watches (or filled from the demo's in-process decisions) and shared by every
//! request until the next one is taken. What is derived per object — recency, the newest passport
//! of each target, the governance log, the freezes — the builder keeps as objects change; the
//! Radar and delivery rollups are computed once per snapshot and set of namespaces a viewer may
//! see ([`View`]), so a restricted viewer's figures come from their namespaces alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::auth::{Identity, Visibility};
use super::builder::{Builder, Collections};
use crate::api::key::ObjectKey;
use crate::api::{Approval, Connector, GatePolicy, Notifier, Release, ReleasePassport, Waiver};
use crate::connectors::detect::Candidate;
use crate::metrics::delivery::{Rollups, WindowFigures};
use crate::radar::{self, Radar};

/// How this console instance runs, for the header and Settings (nothing secret).
#[derive(Clone, Debug, Default)]
pub struct Runtime {
    /// "demo" or "controller".
    pub mode: String,
    /// Where the data comes from, e.g. "demo: bundled example shop".
    pub source: String,
    /// Whether this replica holds the leader Lease (None: no election in this mode).
    pub leader: Option<bool>,
    /// The namespace the controller is limited to, if any.
    pub watch_namespace: Option<String>,
}

/// The objects one console snapshot shows (sorted by namespace and name; read through
/// `Deref`), and what is derived from them as they change ([`Builder`]).
#[derive(Debug)]
pub struct Snapshot {
    objects: Collections,
    /// The moment the snapshot describes.
    pub now: DateTime<Utc>,
    pub runtime: Runtime,
    /// What each set of visible namespaces derives, built on first use.
    views: Mutex<HashMap<Visibility, Arc<OnceLock<Arc<View>>>>>,
    /// Pages drawn from this snapshot, per viewer and address.
    pages: Mutex<Pages>,
}

/// A drawn page is the same bytes for the same viewer, address and snapshot: a dashboard
/// refreshed by many screens, or a page re-read, is drawn once per snapshot. Bounded: past
/// either limit the cache starts over.
#[derive(Debug, Default)]
struct Pages {
    /// By viewer, path and query, and auto-refresh interval (the page's own header says it).
    drawn: HashMap<(Identity, String, Option<u32>), bytes::Bytes>,
    bytes: usize,
}

const MAX_PAGES: usize = 256;
const MAX_PAGE_BYTES: usize = 32 << 20;

impl std::ops::Deref for Snapshot {
    type Target = Collections;

    fn deref(&self) -> &Collections {
        &self.objects
    }
}

/// The objects a snapshot is made from, as whole lists (the demo, tests, benchmarks).
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub passports: Vec<Arc<ReleasePassport>>,
    pub releases: Vec<Arc<Release>>,
    pub policies: Vec<Arc<GatePolicy>>,
    pub approvals: Vec<Arc<Approval>>,
    pub waivers: Vec<Arc<Waiver>>,
    pub connectors: Vec<Arc<Connector>>,
    pub notifiers: Vec<Arc<Notifier>>,
    pub candidates: Vec<Candidate>,
    /// Daily aggregates of passports retention already folded away.
    pub rollups: Arc<Rollups>,
}

impl Snapshot {
    pub fn new(objects: Objects, now: DateTime<Utc>, runtime: Runtime) -> Self {
        Self::of(Builder::of(objects).collections(), now, runtime)
    }

    /// A snapshot of what a [`Builder`] holds.
    pub fn of(objects: Collections, now: DateTime<Utc>, runtime: Runtime) -> Self {
        Self {
            objects,
            now,
            runtime,
            views: Mutex::new(HashMap::new()),
            pages: Mutex::default(),
        }
    }

    /// The page `draw` draws for `viewer` at `address` (path and query) with auto-refresh
    /// `refresh`, drawn at most once per snapshot while the cache holds it (two first views at
    /// once may both draw it; the result is the same).
    pub fn page(
        &self,
        viewer: &Identity,
        address: &str,
        refresh: Option<u32>,
        draw: impl FnOnce() -> String,
    ) -> bytes::Bytes {
        let key = (viewer.clone(), address.to_string(), refresh);
        let pages = || {
            self.pages
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(body) = pages().drawn.get(&key) {
            return body.clone();
        }
        let body = bytes::Bytes::from(draw());
        let mut cache = pages();
        if cache.drawn.len() >= MAX_PAGES || cache.bytes + body.len() > MAX_PAGE_BYTES {
            *cache = Pages::default();
        }
        cache.bytes += body.len();
        cache.drawn.insert(key, body.clone());
        body
    }

    pub fn passport(&self, namespace: &str, name: &str) -> Option<&Arc<ReleasePassport>> {
        self.passports.get(&ObjectKey::new(namespace, name))
    }

    /// What the namespaces `visibility` allows derive: computed once per snapshot and set
    /// (concurrent first views of one set wait for one computation).
    pub fn view(&self, visibility: &Visibility) -> Arc<View> {
        let cell = {
            let mut views = self
                .views
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if views.len() >= MAX_VIEWS && !views.contains_key(visibility) {
                views.clear();
            }
            Arc::clone(views.entry(visibility.clone()).or_default())
        };
        Arc::clone(cell.get_or_init(|| Arc::new(View::of(self, visibility))))
    }

    /// The passports, newest first; with `latest_only`, just the newest of each namespace,
    /// service and environment.
    pub fn newest_first(&self, latest_only: bool) -> impl Iterator<Item = &ReleasePassport> {
        let list = if latest_only {
            &self.latest
        } else {
            &self.recency
        };
        list.iter().map(AsRef::as_ref)
    }

    pub fn release(&self, namespace: &str, name: &str) -> Option<&Arc<Release>> {
        self.releases.get(&ObjectKey::new(namespace, name))
    }
}

/// Views kept per snapshot: more distinct group combinations than this start the cache over.
const MAX_VIEWS: usize = 64;

/// The figures one set of namespaces derives: nothing in it comes from another namespace.
#[derive(Debug)]
pub struct View {
    pub radar: Radar,
    /// Kept rollups of these namespaces plus their live passports folded on top.
    pub rollups: Rollups,
    /// Kept rollups of these namespaces alone: what retention folded away, which no list can
    /// show but every figure counts.
    pub folded: Rollups,
    /// The Metrics page's figures per window length in days, computed on first view.
    windows: Mutex<HashMap<u32, Arc<WindowFigures>>>,
    /// How many passports these namespaces hold, and their services and environments
    /// (sorted, distinct): the Releases page's filter choices.
    pub passports: usize,
    pub services: Vec<String>,
    pub environments: Vec<String>,
}

/// Hold reasons the Metrics page lists.
pub const HOLD_REASONS: usize = 8;

impl View {
    /// The figures of the `days` ending on the snapshot's day: computed once per snapshot, set
    /// of namespaces and window, however many viewers ask (a window's figures over a thousand
    /// targets took most of the Metrics page's time).
    pub fn window(&self, days: u32, today: chrono::NaiveDate) -> Arc<WindowFigures> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(windows.entry(days).or_insert_with(|| {
            let from = today - chrono::Duration::days(i64::from(days.max(1)) - 1);
            Arc::new(self.rollups.window(from, today, HOLD_REASONS))
        }))
    }
}

impl View {
    fn of(snap: &Snapshot, visibility: &Visibility) -> Self {
        let sees = |namespace: Option<&str>| visibility.allows(namespace);
        let passports: Vec<&ReleasePassport> = snap
            .passports
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| sees(p.metadata.namespace.as_deref()))
            .collect();
        let connectors: Vec<&Connector> = snap
            .connectors
            .iter()
            .map(AsRef::as_ref)
            .filter(|c| sees(c.metadata.namespace.as_deref()))
            .collect();
        let kept = match visibility {
            Visibility::All => Rollups::clone(&snap.rollups),
            Visibility::Only(_) => snap.rollups.within(|ns| sees(Some(ns))),
        };
        let distinct = |f: fn(&ReleasePassport) -> &str| {
            let set: std::collections::BTreeSet<&str> = passports.iter().map(|p| f(p)).collect();
            set.into_iter().map(str::to_string).collect()
        };
        Self {
            radar: radar::radar(&passports, &connectors, snap.now),
            rollups: kept.with_passports(passports.iter().copied(), snap.now.date_naive()),
            folded: kept,
            windows: Mutex::new(HashMap::new()),
            services: distinct(|p| p.spec.service.as_str()),
            environments: distinct(|p| p.spec.environment.as_str()),
            passports: passports.len(),
        }
    }
}

/// Where the console gets its snapshot from.
pub trait SnapshotSource: Send + Sync {
    fn snapshot(&self) -> Arc<Snapshot>;
}

/// A snapshot that never changes (the demo, tests, benchmarks).
pub struct Fixed(pub Arc<Snapshot>);

impl SnapshotSource for Fixed {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.0)
    }
}

/// Takes a new snapshot with `take` when the last one is older than `max_age`, so a burst of
/// page views shares one snapshot and the caches are read at most once per interval. While one
/// request rebuilds, the others keep being served the previous snapshot: a rebuild (tens of
/// milliseconds over 10,000 passports) never queues page views behind it.
pub struct Refreshing<F> {
    take: F,
    max_age: Duration,
    current: Mutex<Option<(Instant, Arc<Snapshot>)>>,
    rebuilding: std::sync::atomic::AtomicBool,
}

impl<F: Fn() -> Snapshot + Send + Sync> Refreshing<F> {
    pub fn new(take: F, max_age: Duration) -> Self {
        Self {
            take,
            max_age,
            current: Mutex::new(None),
            rebuilding: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn current(&self) -> Option<(Instant, Arc<Snapshot>)> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl<F: Fn() -> Snapshot + Send + Sync> SnapshotSource for Refreshing<F> {
    fn snapshot(&self) -> Arc<Snapshot> {
        use std::sync::atomic::Ordering;
        let current = self.current();
        if let Some((at, s)) = &current
            && at.elapsed() < self.max_age
        {
            return Arc::clone(s);
        }
        // Someone else is rebuilding: serve what there is (only the very first view waits).
        if self.rebuilding.swap(true, Ordering::AcqRel)
            && let Some((_, s)) = &current
        {
            return Arc::clone(s);
        }
        let fresh = Arc::new((self.take)());
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((Instant::now(), Arc::clone(&fresh)));
        self.rebuilding.store(false, Ordering::Release);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Rollups retention folded away were shown whole to restricted viewers, every namespace's.
    #[test]
    fn a_view_reads_the_kept_rollups_of_its_namespaces_only() {
        use crate::metrics::delivery::{Target, TargetKey};
        let key = |namespace: &str| TargetKey {
            namespace: namespace.into(),
            service: "checkout".into(),
            environment: "production".into(),
        };
        let kept = Rollups {
            targets: [
                (key("shop"), Target::default()),
                (key("other"), Target::default()),
                (key(""), Target::default()),
            ]
            .into(),
        };
        let snap = Snapshot::new(
            Objects {
                rollups: Arc::new(kept),
                ..Objects::default()
            },
            chrono::Utc::now(),
            Runtime::default(),
        );
        let shop = Visibility::Only(["shop".to_string()].into());
        let mine = snap.view(&shop);
        assert_eq!(
            mine.rollups.targets.keys().collect::<Vec<_>>(),
            vec![&key("shop")]
        );
        assert!(
            Arc::ptr_eq(&mine, &snap.view(&shop)),
            "computed once per set"
        );
        assert_eq!(snap.view(&Visibility::All).rollups.targets.len(), 3);
    }

    #[test]
    fn a_page_is_drawn_once_per_snapshot_viewer_and_address() {
        let snap = Snapshot::new(Objects::default(), chrono::Utc::now(), Runtime::default());
        let viewer = |name: &str| Identity {
            name: name.into(),
            groups: Vec::new(),
            visibility: Visibility::All,
            via: "proxy",
        };
        let drawn = AtomicUsize::new(0);
        let draw = |text: &str| {
            drawn.fetch_add(1, Ordering::SeqCst);
            text.to_string()
        };
        let overview = "/console";
        assert_eq!(
            snap.page(&viewer("alice"), overview, None, || draw("a")),
            "a"
        );
        assert_eq!(
            snap.page(&viewer("alice"), overview, None, || draw("b")),
            "a"
        );
        assert_eq!(drawn.load(Ordering::SeqCst), 1);
        // Another viewer, another address or another snapshot: drawn again.
        assert_eq!(snap.page(&viewer("bob"), overview, None, || draw("b")), "b");
        assert_eq!(
            snap.page(&viewer("alice"), "/console/radar", None, || draw("c")),
            "c"
        );
        let next = Snapshot::new(Objects::default(), chrono::Utc::now(), Runtime::default());
        assert_eq!(
            next.page(&viewer("alice"), overview, None, || draw("d")),
            "d"
        );
        assert_eq!(drawn.load(Ordering::SeqCst), 4);
        // Bounded by count: past it the cache starts over.
        for i in 0..=MAX_PAGES {
            snap.page(&viewer("carol"), &format!("/console?{i}"), None, || {
                draw("x")
            });
        }
        assert!(snap.pages.lock().unwrap().drawn.len() <= MAX_PAGES);
    }

    #[test]
    fn one_snapshot_per_interval_however_many_views() {
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&taken);
        let source = Refreshing::new(
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Snapshot::new(Objects::default(), chrono::Utc::now(), Runtime::default())
            },
            Duration::from_secs(60),
        );
        for _ in 0..100 {
            source.snapshot();
        }
        assert_eq!(taken.load(Ordering::SeqCst), 1);
        let instant = Refreshing::new(
            || Snapshot::new(Objects::default(), chrono::Utc::now(), Runtime::default()),
            Duration::ZERO,
        );
        let (a, b) = (instant.snapshot(), instant.snapshot());
        assert!(!Arc::ptr_eq(&a, &b), "an expired snapshot is taken again");
    }
}
