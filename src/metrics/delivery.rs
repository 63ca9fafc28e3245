//! Delivery analytics from passport history (pure): DORA-style figures per service and
//! environment plus the gate's own (hold reasons, approval wait, hold dwell, evidence
//! completeness). Everything folds into daily [`Rollups`], which answer any window of whole days
//! and outlive the passports they were folded from. Analytics only: nothing here feeds a
//! decision. Definitions: docs/metrics.md.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::api::passport::{Effect, ReleasePassportStatus, WatchPhase};
use crate::api::{Decision, EvidenceStatus, PolicyMode, ReleasePassport};

/// One release as the figures see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub namespace: String,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub created: Option<DateTime<Utc>>,
    /// When it was promoted: its post-deploy watch started (running and healthy), else its
    /// first Allow.
    pub promoted_at: Option<DateTime<Utc>>,
    /// `revision.committedAt`, when known.
    pub committed_at: Option<DateTime<Utc>>,
    /// Needed intervention by itself: its post-deploy watch failed or rollback was recommended.
    pub failed: bool,
    /// It is a hotfix: the release it replaces needed intervention.
    pub hotfix: bool,
    pub decision: Option<Decision>,
    /// From its first Hold/Block to the Allow that followed.
    pub dwell: Option<Duration>,
    pub approval_waits: Vec<i64>,
    /// (complete, total) evidence.
    pub evidence: (u32, u32),
    /// `policy/rule` of every enforced rule holding or blocking it.
    pub holding: Vec<String>,
}

impl Record {
    pub fn from_passport(p: &ReleasePassport) -> Self {
        let empty = ReleasePassportStatus::default();
        let status = p.status.as_ref().unwrap_or(&empty);
        let first = |allow: bool| {
            status
                .timeline
                .iter()
                .filter(|t| (t.decision == Decision::Allow) == allow)
                .map(|t| t.at)
                .min()
        };
        let (first_allow, first_stop) = (first(true), first(false));
        let dwell = match (first_stop, first_allow) {
            (Some(stop), Some(allow)) if allow > stop => Some(allow - stop),
            _ => None,
        };
        let watch = status.watch.as_ref();
        // The summary ("5/6") when the items are not kept (compacted or recorded history).
        let summary = status.evidence_summary.map(|c| (c.complete, c.read));
        let listed = (
            u32::try_from(
                status
                    .evidence
                    .iter()
                    .filter(|e| e.status == EvidenceStatus::Complete)
                    .count(),
            )
            .unwrap_or(u32::MAX),
            u32::try_from(status.evidence.len()).unwrap_or(u32::MAX),
        );
        let evidence = if status.evidence.is_empty() {
            summary.unwrap_or(listed)
        } else {
            listed
        };
        Self {
            namespace: crate::api::namespace_of(&p.metadata).to_string(),
            service: p.spec.service.clone(),
            environment: p.spec.environment.clone(),
            version: p.spec.version.clone(),
            created: crate::api::common::created_at(&p.metadata),
            promoted_at: promoted_at(status),
            committed_at: p.spec.revision.as_ref().and_then(|r| r.committed_at),
            failed: watch.is_some_and(|w| w.phase == WatchPhase::Failed)
                || status.rollback.as_ref().is_some_and(|r| r.recommended),
            hotfix: p.spec.hotfix,
            decision: status.decision,
            dwell,
            approval_waits: status
                .approvals
                .iter()
                .flat_map(|a| &a.records)
                .filter_map(|r| r.wait_seconds)
                .collect(),
            evidence,
            holding: holding(status).collect(),
        }
    }

    /// The day a record counts on: its promotion, else its creation.
    pub fn day(&self) -> Option<NaiveDate> {
        self.promoted_at.or(self.created).map(|t| t.date_naive())
    }
}

/// When a release was promoted: its post-deploy watch started (running and healthy), else its
/// first Allow. The one definition the figures and the lists behind them share.
pub fn promoted_at(status: &ReleasePassportStatus) -> Option<DateTime<Utc>> {
    status
        .watch
        .as_ref()
        .and_then(|w| w.started_at)
        .or_else(|| {
            status
                .timeline
                .iter()
                .filter(|t| t.decision == Decision::Allow)
                .map(|t| t.at)
                .min()
        })
}

/// `policy/rule` of every enforced rule holding or blocking a release: what the hold
/// reasons count.
pub fn holding(status: &ReleasePassportStatus) -> impl Iterator<Item = String> + '_ {
    status
        .trace
        .iter()
        .filter(|t| t.mode == PolicyMode::Enforce)
        .filter(|t| matches!(t.effect, Effect::Hold | Effect::Block))
        .map(|t| format!("{}/{}", t.policy, t.rule))
}

/// The day a passport counts on in the figures folded on `today` ([`Record::day`], else
/// `today` as [`Rollups::add`] falls back to).
pub fn counted_on(p: &ReleasePassport, today: NaiveDate) -> NaiveDate {
    p.status
        .as_ref()
        .and_then(promoted_at)
        .or_else(|| crate::api::common::created_at(&p.metadata))
        .map_or(today, |t| t.date_naive())
}

/// One service and environment on one day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub releases: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deployments: u32,
    /// Promotions that needed intervention (watch failed, rolled back, superseded by a hotfix).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: u32,
    /// Of those, returned from by redeploying the version before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rollbacks: u32,
    /// Promotions made to recover from a failed one (unplanned).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rework: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blocked: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lead_times: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recoveries: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approval_waits: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dwells: Vec<i64>,
    #[serde(default, skip_serializing_if = "is_zero64")]
    pub evidence_complete: u64,
    #[serde(default, skip_serializing_if = "is_zero64")]
    pub evidence_total: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hold_reasons: BTreeMap<String, u32>,
}

impl Day {
    /// Adds another day's counts and durations to this one (hold reasons are counted apart).
    fn absorb(&mut self, d: &Day) {
        self.releases += d.releases;
        self.deployments += d.deployments;
        self.failed += d.failed;
        self.rollbacks += d.rollbacks;
        self.rework += d.rework;
        self.held += d.held;
        self.blocked += d.blocked;
        self.lead_times.extend(&d.lead_times);
        self.recoveries.extend(&d.recoveries);
        self.approval_waits.extend(&d.approval_waits);
        self.dwells.extend(&d.dwells);
        self.evidence_complete += d.evidence_complete;
        self.evidence_total += d.evidence_total;
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero64(n: &u64) -> bool {
    *n == 0
}

/// The last promotion of a target, for sequencing the next one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Promotion {
    pub at: DateTime<Utc>,
    pub version: String,
    pub failed: bool,
    /// The version promoted before this one (a redeploy of it is a rollback).
    pub before: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub days: BTreeMap<NaiveDate, Day>,
    pub last: Option<Promotion>,
}

/// One service in one environment of one namespace: what figures are kept per. Namespaces are
/// part of it so that a viewer restricted to some namespaces gets figures from those alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetKey {
    /// Empty for history folded before rollups kept namespaces (shown only to viewers who see
    /// every namespace).
    pub namespace: String,
    pub service: String,
    pub environment: String,
}

impl TargetKey {
    fn of(r: &Record) -> Self {
        Self {
            namespace: r.namespace.clone(),
            service: r.service.clone(),
            environment: r.environment.clone(),
        }
    }
}

/// `namespace/service/environment`, or `service/environment` for history without a namespace.
impl std::fmt::Display for TargetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        write!(f, "{}/{}", self.service, self.environment)
    }
}

/// Daily aggregates per target: small (a few numbers per release), enough for every figure over
/// any window of whole days. Stored as [`StoredRollups`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredRollups", into = "StoredRollups")]
pub struct Rollups {
    pub targets: BTreeMap<TargetKey, Target>,
}

/// The rollups as the history ConfigMap holds them. Keys are fields, not a string to split: a
/// service name may hold a `/`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRollups {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scoped: Vec<StoredTarget>,
    /// The form written before namespaces were kept, keyed `service/environment`; read, never
    /// written.
    #[serde(default, skip_serializing)]
    targets: BTreeMap<String, Target>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredTarget {
    namespace: String,
    service: String,
    environment: String,
    #[serde(flatten)]
    target: Target,
}

impl From<StoredRollups> for Rollups {
    fn from(stored: StoredRollups) -> Self {
        let old = stored.targets.into_iter().map(|(key, target)| {
            let (service, environment) = key.split_once('/').unwrap_or((&key, ""));
            let key = TargetKey {
                namespace: String::new(),
                service: service.into(),
                environment: environment.into(),
            };
            (key, target)
        });
        let scoped = stored.scoped.into_iter().map(|t| {
            let key = TargetKey {
                namespace: t.namespace,
                service: t.service,
                environment: t.environment,
            };
            (key, t.target)
        });
        Self {
            targets: old.chain(scoped).collect(),
        }
    }
}

impl From<Rollups> for StoredRollups {
    fn from(rollups: Rollups) -> Self {
        Self {
            scoped: rollups
                .targets
                .into_iter()
                .map(|(key, target)| StoredTarget {
                    namespace: key.namespace,
                    service: key.service,
                    environment: key.environment,
                    target,
                })
                .collect(),
            targets: BTreeMap::new(),
        }
    }
}

/// Which targets a figure covers.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub namespace: Option<String>,
    pub service: Option<String>,
    pub environment: Option<String>,
}

impl Scope {
    /// Exactly one target.
    pub fn target(key: &TargetKey) -> Self {
        Self {
            namespace: Some(key.namespace.clone()),
            service: Some(key.service.clone()),
            environment: Some(key.environment.clone()),
        }
    }

    fn covers(&self, key: &TargetKey) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == key.namespace)
            && self.service.as_deref().is_none_or(|s| s == key.service)
            && self
                .environment
                .as_deref()
                .is_none_or(|e| e == key.environment)
    }
}

impl Rollups {
    /// Folds many records: sorted by the time they count at, so promotions sequence correctly.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>, fallback: NaiveDate) -> Self {
        let mut sorted: Vec<&Record> = records.into_iter().collect();
        sorted.sort_by_key(|r| (r.promoted_at.or(r.created), r.service.clone()));
        let mut out = Self::default();
        for r in sorted {
            out.add(r, fallback);
        }
        out
    }

    /// These rollups with live `passports` added on top, oldest first: the figures over
    /// everything, folded away or not.
    pub fn with_passports<'a>(
        &self,
        passports: impl Iterator<Item = &'a ReleasePassport>,
        today: NaiveDate,
    ) -> Self {
        let mut records: Vec<Record> = passports.map(Record::from_passport).collect();
        records.sort_by_key(|r| r.promoted_at.or(r.created));
        let mut out = self.clone();
        for r in &records {
            out.add(r, today);
        }
        out
    }

    /// The targets of the namespaces `keep` accepts: what a restricted viewer's figures read.
    pub fn within(&self, keep: impl Fn(&str) -> bool) -> Self {
        Self {
            targets: self
                .targets
                .iter()
                .filter(|(k, _)| keep(&k.namespace))
                .map(|(k, t)| (k.clone(), t.clone()))
                .collect(),
        }
    }

    /// Adds one record (a newer one than any folded so far, for promotion sequencing).
    pub fn add(&mut self, r: &Record, fallback: NaiveDate) {
        let day = r.day().unwrap_or(fallback);
        let target = self.targets.entry(TargetKey::of(r)).or_default();
        let d = target.days.entry(day).or_default();
        d.releases += 1;
        d.evidence_complete += u64::from(r.evidence.0);
        d.evidence_total += u64::from(r.evidence.1);
        d.approval_waits.extend(&r.approval_waits);
        d.dwells.extend(r.dwell.map(|x| x.num_seconds()));
        match r.decision {
            Some(Decision::Hold) => d.held += 1,
            Some(Decision::Block) => d.blocked += 1,
            _ => {}
        }
        for h in &r.holding {
            *d.hold_reasons.entry(h.clone()).or_default() += 1;
        }
        let Some(at) = r.promoted_at else { return };
        d.deployments += 1;
        d.failed += u32::from(r.failed);
        if let Some(c) = r.committed_at
            && at >= c
        {
            d.lead_times.push((at - c).num_seconds());
        }
        let last = target.last.take();
        let mut before = None;
        if let Some(last) = last.as_ref().filter(|l| l.at <= at) {
            let rollback = last.before.as_deref() == Some(r.version.as_str());
            if last.failed || r.hotfix || rollback {
                let today = target.days.entry(day).or_default();
                today.rework += 1;
                today.recoveries.push((at - last.at).num_seconds());
                let then = target.days.entry(last.at.date_naive()).or_default();
                then.rollbacks += u32::from(rollback);
                // Found out only now: the previous promotion needed this one.
                then.failed += u32::from(!last.failed);
            }
            before = Some(last.version.clone());
        }
        target.last = Some(match last {
            Some(l) if l.at > at => l,
            _ => Promotion {
                at,
                version: r.version.clone(),
                failed: r.failed,
                before,
            },
        });
    }

    fn days<'a>(
        &'a self,
        scope: &'a Scope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = (&'a TargetKey, NaiveDate, &'a Day)> + 'a {
        self.targets
            .iter()
            .filter(move |(k, _)| scope.covers(k))
            .flat_map(move |(k, t)| t.days.range(from..=to).map(move |(d, day)| (k, *d, day)))
    }

    /// The figures over the days `from..=to`.
    pub fn figures(&self, scope: &Scope, from: NaiveDate, to: NaiveDate) -> Figures {
        let mut sum = Day::default();
        for (_, _, d) in self.days(scope, from, to) {
            sum.absorb(d);
        }
        let days = (to - from).num_days() + 1;
        let deployments = sum.deployments as usize;
        Figures {
            releases: sum.releases as usize,
            deployments,
            deployment_frequency: deployments as f64 / days.max(1) as f64,
            lead_time_median: median(sum.lead_times),
            change_fail_rate: ratio(sum.failed, sum.deployments),
            recovery_median: median(sum.recoveries),
            rework_rate: ratio(sum.rework, sum.deployments),
            rollback_rate: ratio(sum.rollbacks, sum.deployments),
            approval_wait_median: median(sum.approval_waits),
            dwell_median: median(sum.dwells),
            evidence_completeness: (sum.evidence_total > 0)
                .then(|| sum.evidence_complete as f64 / sum.evidence_total as f64),
            held: sum.held as usize,
            blocked: sum.blocked as usize,
        }
    }

    /// The rules that held or blocked most releases over the window, most first.
    pub fn hold_reasons(
        &self,
        scope: &Scope,
        from: NaiveDate,
        to: NaiveDate,
        top: usize,
    ) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, _, d) in self.days(scope, from, to) {
            for (k, v) in &d.hold_reasons {
                *counts.entry(k).or_default() += *v as usize;
            }
        }
        let mut out: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(top);
        out
    }

    /// Promotions per day over the window (every day present, oldest first).
    pub fn daily_deployments(
        &self,
        scope: &Scope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(NaiveDate, usize)> {
        let mut counts: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (_, day, d) in self.days(scope, from, to) {
            *counts.entry(day).or_default() += d.deployments as usize;
        }
        from.iter_days()
            .take_while(|d| *d <= to)
            .map(|d| (d, counts.get(&d).copied().unwrap_or(0)))
            .collect()
    }

    /// The figures of each target in the scope.
    pub fn per_target(
        &self,
        scope: &Scope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(TargetKey, Figures)> {
        self.targets(scope)
            .map(|k| (k.clone(), self.figures(&Scope::target(k), from, to)))
            .collect()
    }

    /// Like [`Rollups::per_target`], leaving out targets without a release in the window (what
    /// the reports list; the gauges keep every target so a quiet one reads zero).
    pub fn active_per_target(
        &self,
        scope: &Scope,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<(TargetKey, Figures)> {
        let mut all = self.per_target(scope, from, to);
        all.retain(|(_, f)| f.releases > 0);
        all
    }

    /// The targets in the scope.
    pub fn targets<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a TargetKey> + 'a {
        self.targets.keys().filter(move |k| scope.covers(k))
    }
}

/// Everything the Metrics page shows for one window, computed together (and, by the console,
/// once per snapshot, viewer's namespaces and window).
#[derive(Clone, Debug, Default)]
pub struct WindowFigures {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub all: Figures,
    /// The targets with a release in the window.
    pub targets: Vec<(TargetKey, Figures)>,
    pub daily_deployments: Vec<(NaiveDate, usize)>,
    pub hold_reasons: Vec<(String, usize)>,
    /// DORA's figures are production's: `None` when no environment is called production (then
    /// `dora` is every environment's).
    pub dora_environment: Option<String>,
    pub dora: Figures,
    /// The same figures over the window of the same length just before.
    pub dora_before: Figures,
}

/// The environment DORA's figures describe.
pub const PRODUCTION: &str = "production";

impl Rollups {
    /// The Metrics page's figures for `from..=to` (and the window of the same length before).
    pub fn window(&self, from: NaiveDate, to: NaiveDate, reasons: usize) -> WindowFigures {
        let all_scope = Scope::default();
        let production = Scope {
            environment: Some(PRODUCTION.to_string()),
            ..Scope::default()
        };
        let all = self.figures(&all_scope, from, to);
        let dora_now = self.figures(&production, from, to);
        let (dora_environment, dora_scope) = if dora_now.releases > 0 {
            (Some(PRODUCTION.to_string()), &production)
        } else {
            (None, &all_scope)
        };
        let length = (to - from).num_days() + 1;
        let before_to = from - chrono::Duration::days(1);
        let before_from = before_to - chrono::Duration::days(length - 1);
        WindowFigures {
            from,
            to,
            targets: self.active_per_target(&all_scope, from, to),
            daily_deployments: self.daily_deployments(&all_scope, from, to),
            hold_reasons: self.hold_reasons(&all_scope, from, to, reasons),
            dora: if dora_environment.is_some() {
                dora_now
            } else {
                all.clone()
            },
            dora_before: self.figures(dora_scope, before_from, before_to),
            dora_environment,
            all,
        }
    }
}

/// The figures for one scope over one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub releases: usize,
    pub deployments: usize,
    /// Promotions per day.
    pub deployment_frequency: f64,
    #[serde(serialize_with = "seconds")]
    pub lead_time_median: Option<Duration>,
    /// Promotions that needed intervention / promotions.
    pub change_fail_rate: Option<f64>,
    /// From a failed promotion to the next promotion of the same service and environment.
    #[serde(serialize_with = "seconds")]
    pub recovery_median: Option<Duration>,
    /// Promotions made to recover from a failed one / promotions.
    pub rework_rate: Option<f64>,
    /// Failed promotions returned from by redeploying the version before / promotions.
    pub rollback_rate: Option<f64>,
    #[serde(serialize_with = "seconds")]
    pub approval_wait_median: Option<Duration>,
    #[serde(serialize_with = "seconds")]
    pub dwell_median: Option<Duration>,
    pub evidence_completeness: Option<f64>,
    pub held: usize,
    pub blocked: usize,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_i64(d.num_seconds()),
        None => s.serialize_none(),
    }
}

fn median(mut values: Vec<i64>) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    let m = if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2
    } else {
        values[mid]
    };
    Some(Duration::seconds(m))
}

fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(namespace: &str, service: &str) -> TargetKey {
        TargetKey {
            namespace: namespace.into(),
            service: service.into(),
            environment: "production".into(),
        }
    }

    #[test]
    fn rollups_are_stored_with_namespaces_and_the_old_form_still_reads() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
        let target = |releases| Target {
            days: [(
                day,
                Day {
                    releases,
                    ..Day::default()
                },
            )]
            .into(),
            last: None,
        };
        let rollups = Rollups {
            targets: [
                (key("shop", "checkout"), target(1)),
                (key("payments-team", "checkout"), target(2)),
                (key("shop", "web/api"), target(3)),
            ]
            .into(),
        };
        let text = serde_json::to_string(&rollups).unwrap_or_default();
        let read: Rollups = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(read, rollups, "{text}");
        assert!(
            !text.contains("\"targets\""),
            "the old form is not written: {text}"
        );

        let old = r#"{"targets": {"checkout/production": {"days": {"2026-11-02": {"releases": 4}}, "last": null}}}"#;
        let read: Rollups = serde_json::from_str(old).unwrap_or_default();
        assert_eq!(read.targets.get(&key("", "checkout")), Some(&target(4)));
        assert_eq!(key("", "checkout").to_string(), "checkout/production");
        assert_eq!(
            key("shop", "checkout").to_string(),
            "shop/checkout/production"
        );

        let mine = rollups.within(|ns| ns == "payments-team");
        assert_eq!(
            mine.targets.keys().collect::<Vec<_>>(),
            vec![&key("payments-team", "checkout")]
        );
    }
}
