//! What every reconcile shares: the client, the watch caches, compiled policies, the evidence
//! sources, the event recorder, metrics, and the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use kube::Client;
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::{Approval, Connector, GatePolicy, Release, ReleasePassport, Waiver};
use crate::engine::{self, CompiledPolicy};
use crate::evidence::EvidenceSource;
use crate::metrics::Metrics;

/// Returns "now". Injected so tests can pin time and assert requeue moments.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock, to the second (Kubernetes timestamps carry seconds).
pub fn system_clock() -> Clock {
    Arc::new(|| Utc::now().trunc_subsecs(0))
}

/// The watch caches reconciles read instead of calling the API.
#[derive(Clone)]
pub struct Stores {
    pub releases: Store<DeserializeGuard<Release>>,
    pub policies: Store<GatePolicy>,
    pub approvals: Store<Approval>,
    pub waivers: Store<Waiver>,
    pub passports: Store<ReleasePassport>,
    pub connectors: Store<Connector>,
    /// Set once every watched cache has listed. One task waits on the stores; every reconcile
    /// waits on this: a store's own readiness signal wakes only the last of several concurrent
    /// waiters (kube-runtime's DelayedInit keeps one waker), so nothing else may wait on it.
    synced: Arc<tokio::sync::OnceCell<()>>,
}

impl Stores {
    pub fn new(
        releases: Store<DeserializeGuard<Release>>,
        policies: Store<GatePolicy>,
        approvals: Store<Approval>,
        waivers: Store<Waiver>,
        passports: Store<ReleasePassport>,
        connectors: Store<Connector>,
    ) -> Self {
        Self {
            releases,
            policies,
            approvals,
            waivers,
            passports,
            connectors,
            synced: Arc::default(),
        }
    }

    /// Waits until every cache has listed once, so no decision is made from a half-filled cache.
    /// The Release cache is not awaited here: the controller's runner already waits for it before
    /// the first reconcile, and a second waiter could starve the first.
    pub async fn wait_ready(&self) {
        self.synced
            .get_or_init(|| async {
                let _ = self.policies.wait_until_ready().await;
                let _ = self.approvals.wait_until_ready().await;
                let _ = self.waivers.wait_until_ready().await;
                let _ = self.passports.wait_until_ready().await;
                let _ = self.connectors.wait_until_ready().await;
            })
            .await;
    }

    pub fn passport(&self, namespace: &str, name: &str) -> Option<Arc<ReleasePassport>> {
        self.passports.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn release(&self, namespace: &str, name: &str) -> Option<Release> {
        self.releases
            .get(&ObjectRef::new(name).within(namespace))
            .and_then(|g| g.0.as_ref().ok().cloned())
    }

    /// Everything the console shows, from the caches (shared, not copied, but for Releases).
    pub fn objects(
        &self,
        candidates: Vec<crate::connectors::detect::Candidate>,
    ) -> crate::console::Objects {
        crate::console::Objects {
            passports: self.passports.state(),
            releases: self
                .releases
                .state()
                .iter()
                .filter_map(|g| g.0.as_ref().ok().cloned().map(Arc::new))
                .collect(),
            policies: self.policies.state(),
            approvals: self.approvals.state(),
            waivers: self.waivers.state(),
            connectors: self.connectors.state(),
            candidates,
            rollups: Arc::default(),
        }
    }

    /// The releases that deserialise, in one namespace (or all with `None`).
    pub fn valid_releases(&self, namespace: Option<&str>) -> ValidReleases {
        ValidReleases(
            self.releases
                .state()
                .into_iter()
                .filter(|g| {
                    g.0.as_ref().is_ok_and(|r| {
                        namespace.is_none() || r.metadata.namespace.as_deref() == namespace
                    })
                })
                .collect(),
        )
    }
}

/// The Releases of one cache snapshot that deserialise: shared with the cache, not copied (a
/// policy's status counts them on every Release change).
pub struct ValidReleases(Vec<Arc<DeserializeGuard<Release>>>);

impl ValidReleases {
    pub fn iter(&self) -> impl Iterator<Item = &Release> {
        self.0.iter().filter_map(|g| g.0.as_ref().ok())
    }
}

/// Compiled policies, recompiled only when a policy's generation (or resourceVersion) moves.
#[derive(Default)]
pub struct PolicyCache {
    compiled: Mutex<HashMap<String, (String, Arc<CompiledPolicy>)>>,
}

impl PolicyCache {
    fn version(policy: &GatePolicy) -> String {
        format!(
            "{}/{}/{}",
            policy.metadata.uid.as_deref().unwrap_or(""),
            policy.metadata.generation.unwrap_or_default(),
            policy.metadata.resource_version.as_deref().unwrap_or("")
        )
    }

    /// The compiled form of `policy`, from the cache when it has not changed.
    pub fn get(&self, policy: &GatePolicy) -> Arc<CompiledPolicy> {
        let key = format!(
            "{}/{}",
            policy.metadata.namespace.as_deref().unwrap_or("default"),
            policy.metadata.name.as_deref().unwrap_or("")
        );
        let version = Self::version(policy);
        if let Ok(cache) = self.compiled.lock()
            && let Some((v, c)) = cache.get(&key)
            && *v == version
        {
            return Arc::clone(c);
        }
        let compiled = Arc::new(engine::compile(policy));
        if let Ok(mut cache) = self.compiled.lock() {
            cache.insert(key, (version, Arc::clone(&compiled)));
        }
        compiled
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub stores: Stores,
    pub policies: PolicyCache,
    pub sources: Vec<Box<dyn EvidenceSource>>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// Consecutive failures per object, for backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Our last status writes the cache has not shown yet.
    pub written: Arc<super::written::Written>,
}

impl Context {
    pub fn new(
        client: Client,
        stores: Stores,
        sources: Vec<Box<dyn EvidenceSource>>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "release-passport".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Self {
            client,
            stores,
            policies: PolicyCache::default(),
            sources,
            recorder,
            metrics,
            clock,
            failures: Mutex::new(HashMap::new()),
            written: Default::default(),
        }
    }

    /// Shares `written` with the watches that forget its entries as the caches catch up.
    pub fn with_written(mut self, written: Arc<super::written::Written>) -> Self {
        self.written = written;
        self
    }

    /// Every compiled policy in `namespace`.
    pub fn compiled_policies(&self, namespace: &str) -> Vec<Arc<CompiledPolicy>> {
        self.stores
            .policies
            .state()
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
            .map(|p| self.policies.get(p))
            .collect()
    }
}
