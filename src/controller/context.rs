//! What every reconcile shares: the client, the watch caches, compiled policies, the evidence
//! sources, the event recorder, metrics, and the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::api::{GatePolicy, Keyed, ObjectKey};
use crate::cluster::Stores;
use crate::engine::{self, CompiledPolicy};
use crate::evidence::EvidenceSource;
use crate::metrics::Metrics;

/// Returns "now". Injected so tests can pin time and assert requeue moments.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The wall clock, to the second (Kubernetes timestamps carry seconds).
pub fn system_clock() -> Clock {
    Arc::new(|| Utc::now().trunc_subsecs(0))
}

/// Compiled policies, recompiled only when a policy's generation (or resourceVersion) moves.
#[derive(Default)]
pub struct PolicyCache {
    compiled: Mutex<HashMap<ObjectKey, (String, Arc<CompiledPolicy>)>>,
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
        let key = policy.key();
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
    pub failures: Mutex<HashMap<ObjectKey, u32>>,
    /// What this process last decided per Release.
    pub decisions: super::decisions::LastDecisions,
    /// Our last status writes the cache has not shown yet.
    pub written: super::written::Written,
    /// How far in the future evidence may be dated before it is refused.
    pub clock_skew: chrono::Duration,
    /// Moves when a passport or Notifier changes: the delivery and the protection-rule
    /// answers (each subscribed) plan again.
    pub notifications_due: tokio::sync::watch::Sender<u64>,
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
            decisions: Default::default(),
            written: Default::default(),
            clock_skew: crate::engine::provenance::DEFAULT_CLOCK_SKEW,
            notifications_due: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn with_clock_skew(mut self, clock_skew: chrono::Duration) -> Self {
        self.clock_skew = clock_skew;
        self
    }

    /// Something a Notifier or a waiting protection rule reads changed.
    pub fn wake_notifications(&self) {
        self.notifications_due
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Every compiled policy in `namespace`.
    pub fn compiled_policies(&self, namespace: &str) -> Vec<Arc<CompiledPolicy>> {
        self.stores
            .valid_policies(Some(namespace))
            .iter()
            .map(|p| self.policies.get(p))
            .collect()
    }
}
