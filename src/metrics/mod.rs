//! Prometheus metrics (prometheus-client). Labels are bounded: object kinds, verdicts, error
//! categories — never object names or error text.

pub mod delivery;
pub mod dora;

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::Decision;
use crate::api::passport::RuleType;

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
    /// Which write failed (`read` when none was being made).
    pub step: &'static str,
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
pub struct RefreshLabels {
    pub connector_type: &'static str,
    /// The health the refresh left: Healthy, Degraded, CredentialRequired, Unreachable.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotificationLabels {
    /// The Notifier's type: Slack, MSTeams, Webhook, GitHubStatus (or GitHubProtection for
    /// deployment protection rule answers).
    pub notifier_type: &'static str,
    /// delivered, retried (a 5xx, 429, timeout or unreachable receiver) or failed (refused,
    /// misconfigured, no credential).
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub resource: &'static str,
}

/// A service in an environment: the only per-release dimension delivery metrics carry.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub namespace: String,
    pub service: String,
    pub environment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub service: String,
    pub environment: String,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub service: String,
    pub environment: String,
    /// The rule type that held or blocked: evidence, metric, approval, window, expression, policy.
    pub reason: &'static str,
}

type RatioGauge = Family<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>;

/// Delivery analytics on `/metrics` (labels: service and environment, never a release).
pub struct Delivery {
    pub verdicts: Family<VerdictLabels, Counter>,
    pub holds: Family<ReasonLabels, Counter>,
    pub lead_time: Family<TargetLabels, Histogram>,
    pub approval_wait: Family<TargetLabels, Histogram>,
    pub dwell: Family<TargetLabels, Histogram>,
    pub frequency: RatioGauge,
    pub fail_rate: RatioGauge,
    pub rework_rate: RatioGauge,
    pub rollback_rate: RatioGauge,
    pub recovery: RatioGauge,
    pub completeness: RatioGauge,
}

impl Delivery {
    fn register(registry: &mut Registry) -> Self {
        // Minutes to weeks.
        let hours = || Histogram::new(exponential_buckets(60.0, 2.0, 15));
        let d = Self {
            verdicts: Family::default(),
            holds: Family::default(),
            lead_time: Family::new_with_constructor(hours),
            approval_wait: Family::new_with_constructor(hours),
            dwell: Family::new_with_constructor(hours),
            frequency: Family::default(),
            fail_rate: Family::default(),
            rework_rate: Family::default(),
            rollback_rate: Family::default(),
            recovery: Family::default(),
            completeness: Family::default(),
        };
        registry.register(
            "verdicts",
            "Decision changes by service, environment and verdict",
            d.verdicts.clone(),
        );
        registry.register(
            "holds",
            "Changes into Hold or Block by service, environment and the rule type responsible",
            d.holds.clone(),
        );
        registry.register(
            "change_lead_time_seconds",
            "Commit to promotion, observed at each first Allow",
            d.lead_time.clone(),
        );
        registry.register(
            "approval_wait_seconds",
            "Release to approval, observed at each first Allow",
            d.approval_wait.clone(),
        );
        registry.register(
            "hold_dwell_seconds",
            "First Hold or Block to the Allow that followed",
            d.dwell.clone(),
        );
        registry.register(
            "deployment_frequency_per_day",
            "Promotions per day over the last 30 days",
            d.frequency.clone(),
        );
        registry.register(
            "change_fail_rate",
            "Promotions needing intervention over the last 30 days, 0..1",
            d.fail_rate.clone(),
        );
        registry.register(
            "deployment_rework_rate",
            "Unplanned promotions (recovering from a failed one) over the last 30 days, 0..1",
            d.rework_rate.clone(),
        );
        registry.register(
            "rollback_rate",
            "Promotions rolled back over the last 30 days, 0..1",
            d.rollback_rate.clone(),
        );
        registry.register(
            "failed_deployment_recovery_seconds",
            "Median time from a failed promotion to the next one, last 30 days",
            d.recovery.clone(),
        );
        registry.register(
            "evidence_completeness",
            "Complete evidence / evidence read, last 30 days, 0..1",
            d.completeness.clone(),
        );
        d
    }

    /// Counts a decision change and, on a first Allow, observes its lead time, approval waits and
    /// hold dwell.
    pub fn decided(&self, passport: &crate::api::ReleasePassport) {
        let Some(status) = &passport.status else {
            return;
        };
        let Some(decision) = status.decision else {
            return;
        };
        let service = passport.spec.service.clone();
        let environment = passport.spec.environment.clone();
        self.verdicts
            .get_or_create(&VerdictLabels {
                service: service.clone(),
                environment: environment.clone(),
                decision: decision.as_str(),
            })
            .inc();
        let target = TargetLabels {
            namespace: crate::api::namespace_of(&passport.metadata).to_string(),
            service,
            environment,
        };
        if decision != Decision::Allow {
            let reason = status
                .trace
                .iter()
                .find(|t| {
                    t.mode == crate::api::PolicyMode::Enforce
                        && matches!(
                            t.effect,
                            crate::api::passport::Effect::Hold
                                | crate::api::passport::Effect::Block
                        )
                })
                .map_or("policy", |t| match t.type_ {
                    RuleType::Evidence
                    | RuleType::Metric
                    | RuleType::Approval
                    | RuleType::Window
                    | RuleType::Expression => t.type_.as_str(),
                    RuleType::Policy | RuleType::Summary | RuleType::Other => "policy",
                });
            self.holds
                .get_or_create(&ReasonLabels {
                    service: target.service.clone(),
                    environment: target.environment.clone(),
                    reason,
                })
                .inc();
            return;
        }
        let allowed_before = status
            .timeline
            .iter()
            .filter(|t| t.decision == Decision::Allow)
            .count()
            > 1;
        if allowed_before {
            return;
        }
        let record = delivery::Record::from_passport(passport);
        let at = status.timeline.last().map(|t| t.at);
        if let (Some(at), Some(committed)) = (at, record.committed_at) {
            self.lead_time
                .get_or_create(&target)
                .observe((at - committed).num_seconds().max(0) as f64);
        }
        for w in &record.approval_waits {
            self.approval_wait
                .get_or_create(&target)
                .observe(*w.max(&0) as f64);
        }
        if let Some(d) = record.dwell {
            self.dwell
                .get_or_create(&target)
                .observe(d.num_seconds().max(0) as f64);
        }
    }

    /// Sets the 30-day gauges of every target from the rollups.
    pub fn set_figures(&self, rollups: &delivery::Rollups, to: chrono::NaiveDate) {
        let from = to - chrono::Duration::days(29);
        for (key, f) in rollups.per_target(&delivery::Scope::default(), from, to) {
            let labels = TargetLabels {
                namespace: key.namespace,
                service: key.service,
                environment: key.environment,
            };
            self.frequency
                .get_or_create(&labels)
                .set(f.deployment_frequency);
            for (gauge, value) in [
                (&self.fail_rate, f.change_fail_rate),
                (&self.rework_rate, f.rework_rate),
                (&self.rollback_rate, f.rollback_rate),
                (&self.completeness, f.evidence_completeness),
                (
                    &self.recovery,
                    f.recovery_median.map(|d| d.num_seconds() as f64),
                ),
            ] {
                if let Some(v) = value {
                    gauge.get_or_create(&labels).set(v);
                }
            }
        }
    }
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
    /// Connector refreshes by type and outcome: the connectors' success ratio.
    pub refreshes: Family<RefreshLabels, Counter>,
    /// Notification deliveries by type and result.
    pub notifications: Family<NotificationLabels, Counter>,
    pub delivery: Delivery,
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
            "Reconcile errors by object kind, the step that failed, and category",
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
        let refreshes = Family::<RefreshLabels, Counter>::default();
        registry.register(
            "connector_refreshes",
            "Connector refreshes by connector type and the health they left (success ratio = Healthy / all)",
            refreshes.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notification deliveries by notifier type and result (delivered, retried, failed)",
            notifications.clone(),
        );
        let delivery = Delivery::register(&mut registry);
        Self {
            notifications,
            refreshes,
            delivery,
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

    pub fn error(&self, kind: &'static str, step: &'static str, category: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind,
                step,
                category,
            })
            .inc();
    }

    pub fn wrote(&self, resource: &'static str) {
        self.api_writes
            .get_or_create(&WriteLabels { resource })
            .inc();
    }

    /// Counts one connector refresh and the health it left.
    pub fn refreshed(
        &self,
        t: crate::api::ConnectorType,
        health: Option<crate::api::ConnectorHealth>,
    ) {
        use crate::api::ConnectorHealth;
        let connector_type = t.wire_name();
        let result = match health {
            Some(ConnectorHealth::Healthy) => "Healthy",
            Some(ConnectorHealth::Degraded) => "Degraded",
            Some(ConnectorHealth::CredentialRequired) => "CredentialRequired",
            Some(ConnectorHealth::Unreachable) => "Unreachable",
            None => "Unknown",
        };
        self.refreshes
            .get_or_create(&RefreshLabels {
                connector_type,
                result,
            })
            .inc();
    }

    /// Counts one notification delivery attempt.
    pub fn notified(&self, notifier_type: &'static str, result: &'static str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                notifier_type,
                result,
            })
            .inc();
    }

    /// How many candidates of one connector type were detected.
    pub fn set_candidates(&self, t: crate::api::ConnectorType, n: usize) {
        let connector_type = t.wire_name();
        self.candidates
            .get_or_create(&TypeLabels { connector_type })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// How many releases this process last decided each way.
    pub fn set_decisions(&self, counts: &DecisionCounts) {
        for d in [Decision::Allow, Decision::Hold, Decision::Block] {
            self.decisions
                .get_or_create(&DecisionLabels {
                    decision: d.as_str(),
                })
                .set(i64::try_from(counts.of(d)).unwrap_or(i64::MAX));
        }
    }
}

/// Releases per decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecisionCounts([u64; 3]);

impl DecisionCounts {
    fn index(d: Decision) -> usize {
        match d {
            Decision::Allow => 0,
            Decision::Hold => 1,
            Decision::Block => 2,
        }
    }

    pub fn of(&self, d: Decision) -> u64 {
        self.0[Self::index(d)]
    }

    /// One release moved from `before` (if it was counted) to `now`.
    pub fn moved(&mut self, before: Option<Decision>, now: Decision) {
        if let Some(b) = before {
            let n = &mut self.0[Self::index(b)];
            *n = n.saturating_sub(1);
        }
        self.0[Self::index(now)] += 1;
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
