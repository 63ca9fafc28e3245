//! Prometheus metrics (prometheus-client). Labels are bounded: object kinds, verdicts, error
//! categories — never object names or error text.

pub mod delivery;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::Decision;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub connector_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub resource: &'static str,
}

/// The controller's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ResultLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    pub decisions: Family<DecisionLabels, Gauge>,
    pub decision_changes: Family<DecisionLabels, Counter>,
    pub evidence_age: Histogram,
    pub api_writes: Family<WriteLabels, Counter>,
    pub leader: Gauge,
    pub candidates: Family<TypeLabels, Gauge>,
    current: Mutex<HashMap<String, Decision>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("passport");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by object kind and result",
            reconciles.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconcile errors by object kind and category",
            errors.clone(),
        );
        let duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            duration.clone(),
        );
        let decisions = Family::<DecisionLabels, Gauge>::default();
        registry.register(
            "passports",
            "Passports by current decision",
            decisions.clone(),
        );
        let decision_changes = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decision_changes",
            "Decisions written that differ from the previous one",
            decision_changes.clone(),
        );
        let evidence_age = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        registry.register(
            "evidence_age_seconds",
            "Age of each evidence item when a decision was made",
            evidence_age.clone(),
        );
        let api_writes = Family::<WriteLabels, Counter>::default();
        registry.register(
            "api_writes",
            "Writes made to the Kubernetes API, by resource",
            api_writes.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        let candidates = Family::<TypeLabels, Gauge>::default();
        registry.register(
            "connector_candidates",
            "Integrations found in the cluster that no Connector covers yet",
            candidates.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            duration,
            decisions,
            decision_changes,
            evidence_age,
            api_writes,
            leader,
            candidates,
            current: Mutex::new(HashMap::new()),
        }
    }

    /// The text exposition format, for `/metrics`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Starts timing a reconcile of `kind`; the time is recorded when the guard drops.
    pub fn time(&self, kind: &'static str) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            kind,
            start: Instant::now(),
        }
    }

    pub fn reconciled(&self, kind: &'static str, result: &'static str) {
        self.reconciles
            .get_or_create(&ResultLabels { kind, result })
            .inc();
    }

    pub fn error(&self, kind: &'static str, category: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels { kind, category })
            .inc();
    }

    pub fn wrote(&self, resource: &'static str) {
        self.api_writes
            .get_or_create(&WriteLabels { resource })
            .inc();
    }

    /// How many candidates of one connector type were detected.
    pub fn set_candidates(&self, t: crate::api::ConnectorType, n: usize) {
        let connector_type = match t {
            crate::api::ConnectorType::ArgoCD => "ArgoCD",
            crate::api::ConnectorType::Flux => "Flux",
            crate::api::ConnectorType::Prometheus => "Prometheus",
            _ => "Other",
        };
        self.candidates
            .get_or_create(&TypeLabels { connector_type })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records the current decision of one release (`key` stays in memory, never in a label).
    pub fn set_decision(&self, key: &str, decision: Option<Decision>) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        match decision {
            Some(d) => {
                current.insert(key.to_string(), d);
            }
            None => {
                current.remove(key);
            }
        }
        for d in [Decision::Allow, Decision::Hold, Decision::Block] {
            let n = current.values().filter(|v| **v == d).count();
            self.decisions
                .get_or_create(&DecisionLabels {
                    decision: d.as_str(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    kind: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .get_or_create(&KindLabels { kind: self.kind })
            .observe(self.start.elapsed().as_secs_f64());
    }
}
