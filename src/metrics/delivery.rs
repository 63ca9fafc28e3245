//! Delivery analytics from passport history (pure): DORA-style figures per service and
//! environment, plus the gate's own figures (hold reasons, approval wait, hold dwell, evidence
//! completeness). Analytics only: nothing here feeds a decision. Definitions: docs/metrics.md.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::api::passport::Effect;
use crate::api::passport::{ReleasePassportStatus, WatchPhase};
use crate::api::{Decision, EvidenceStatus, Release, ReleasePassport};

/// One release as the figures see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub service: String,
    pub environment: String,
    pub created: Option<DateTime<Utc>>,
    /// When it was promoted: its post-deploy watch started (running and healthy), else its
    /// first Allow.
    pub promoted_at: Option<DateTime<Utc>>,
    /// `spec.revision.committedAt` of its Release, when known.
    pub committed_at: Option<DateTime<Utc>>,
    /// Needed intervention: the post-deploy watch failed or a rollback was recommended.
    pub failed: bool,
    pub decision: Option<Decision>,
    /// From its first Hold/Block to the Allow that followed.
    pub dwell: Option<Duration>,
    pub approval_waits: Vec<i64>,
    /// (complete, total) evidence.
    pub evidence: (u32, u32),
    /// `policy/rule` of every rule holding or blocking it now.
    pub holding: Vec<String>,
}

impl Record {
    pub fn from_passport(p: &ReleasePassport, release: Option<&Release>) -> Self {
        let empty = ReleasePassportStatus::default();
        let status = p.status.as_ref().unwrap_or(&empty);
        let first_allow = status
            .timeline
            .iter()
            .filter(|t| t.decision == Decision::Allow)
            .map(|t| t.at)
            .min();
        let first_stop = status
            .timeline
            .iter()
            .filter(|t| t.decision != Decision::Allow)
            .map(|t| t.at)
            .min();
        let dwell = match (first_stop, first_allow) {
            (Some(stop), Some(allow)) if allow > stop => Some(allow - stop),
            _ => None,
        };
        let watch_started = status.watch.as_ref().and_then(|w| w.started_at);
        let failed = status
            .watch
            .as_ref()
            .is_some_and(|w| w.phase == WatchPhase::Failed)
            || status.rollback.as_ref().is_some_and(|r| r.recommended);
        let complete = status
            .evidence
            .iter()
            .filter(|e| e.status == EvidenceStatus::Complete)
            .count();
        Self {
            service: p.spec.service.clone(),
            environment: p.spec.environment.clone(),
            created: p
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0)),
            promoted_at: watch_started.or(first_allow),
            committed_at: release
                .and_then(|r| r.spec.revision.as_ref())
                .and_then(|r| r.committed_at),
            failed,
            decision: status.decision,
            dwell,
            approval_waits: status
                .approvals
                .iter()
                .flat_map(|a| &a.records)
                .filter_map(|r| r.wait_seconds)
                .collect(),
            evidence: (
                u32::try_from(complete).unwrap_or(u32::MAX),
                u32::try_from(status.evidence.len()).unwrap_or(u32::MAX),
            ),
            holding: status
                .trace
                .iter()
                .filter(|t| matches!(t.effect, Effect::Hold | Effect::Block))
                .filter(|t| t.mode == crate::api::PolicyMode::Enforce)
                .map(|t| format!("{}/{}", t.policy, t.rule))
                .collect(),
        }
    }
}

/// The figures for one group of records over a window of `days`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub releases: usize,
    pub deployments: usize,
    /// Promotions per day.
    pub deployment_frequency: f64,
    pub lead_time_median: Option<Duration>,
    /// Failed promotions / promotions.
    pub change_fail_rate: Option<f64>,
    /// From a failed promotion to the next promotion of the same service and environment.
    pub recovery_median: Option<Duration>,
    /// Promotions that followed a failed one (unplanned) / promotions.
    pub rework_rate: Option<f64>,
    pub rollback_rate: Option<f64>,
    pub approval_wait_median: Option<Duration>,
    pub dwell_median: Option<Duration>,
    pub evidence_completeness: Option<f64>,
    pub held: usize,
    pub blocked: usize,
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

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Figures over `records` (already limited to one window), the window being `days` long.
pub fn figures(records: &[&Record], days: f64) -> Figures {
    let mut promoted: Vec<&Record> = records
        .iter()
        .copied()
        .filter(|r| r.promoted_at.is_some())
        .collect();
    promoted.sort_by_key(|r| r.promoted_at);
    let failed = promoted.iter().filter(|r| r.failed).count();
    // Recovery and rework: walk each service/environment's promotions in order.
    let mut recoveries = Vec::new();
    let mut rework = 0;
    let mut by_target: BTreeMap<(&str, &str), Vec<&Record>> = BTreeMap::new();
    for r in &promoted {
        by_target
            .entry((&r.service, &r.environment))
            .or_default()
            .push(r);
    }
    for list in by_target.values() {
        for pair in list.windows(2) {
            if pair[0].failed {
                rework += 1;
                if let (Some(a), Some(b)) = (pair[0].promoted_at, pair[1].promoted_at) {
                    recoveries.push((b - a).num_seconds());
                }
            }
        }
    }
    let lead: Vec<i64> = promoted
        .iter()
        .filter_map(|r| Some((r.promoted_at? - r.committed_at?).num_seconds()))
        .filter(|s| *s >= 0)
        .collect();
    let (complete, total) = records.iter().fold((0u64, 0u64), |(c, t), r| {
        (c + u64::from(r.evidence.0), t + u64::from(r.evidence.1))
    });
    Figures {
        releases: records.len(),
        deployments: promoted.len(),
        deployment_frequency: if days > 0.0 {
            promoted.len() as f64 / days
        } else {
            0.0
        },
        lead_time_median: median(lead),
        change_fail_rate: ratio(failed, promoted.len()),
        recovery_median: median(recoveries),
        rework_rate: ratio(rework, promoted.len()),
        rollback_rate: ratio(failed, promoted.len()),
        approval_wait_median: median(
            records
                .iter()
                .flat_map(|r| r.approval_waits.iter().copied())
                .collect(),
        ),
        dwell_median: median(
            records
                .iter()
                .filter_map(|r| r.dwell.map(|d| d.num_seconds()))
                .collect(),
        ),
        evidence_completeness: (total > 0).then(|| complete as f64 / total as f64),
        held: records
            .iter()
            .filter(|r| r.decision == Some(Decision::Hold))
            .count(),
        blocked: records
            .iter()
            .filter(|r| r.decision == Some(Decision::Block))
            .count(),
    }
}

/// The rules holding or blocking most releases now, most first (ties by name).
pub fn hold_reasons(records: &[&Record], top: usize) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        for h in &r.holding {
            *counts.entry(h).or_default() += 1;
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

/// Promotions per day over the `days` days ending on `last` (oldest first).
pub fn daily_deployments(
    records: &[&Record],
    last: NaiveDate,
    days: u32,
) -> Vec<(NaiveDate, usize)> {
    let first = last - Duration::days(i64::from(days.max(1)) - 1);
    let mut counts: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for at in records.iter().filter_map(|r| r.promoted_at) {
        let day = at.date_naive();
        if day >= first && day <= last {
            *counts.entry(day).or_default() += 1;
        }
    }
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| (d, counts.get(&d).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn rec(service: &str, promoted: Option<&str>, committed: Option<&str>, failed: bool) -> Record {
        Record {
            service: service.into(),
            environment: "prod".into(),
            created: None,
            promoted_at: promoted.map(t),
            committed_at: committed.map(t),
            failed,
            decision: Some(if promoted.is_some() {
                Decision::Allow
            } else {
                Decision::Hold
            }),
            dwell: None,
            approval_waits: Vec::new(),
            evidence: (1, 2),
            holding: if promoted.is_some() {
                vec![]
            } else {
                vec!["prod/approval".into()]
            },
        }
    }

    #[test]
    fn dora_figures_on_a_small_history() {
        let records = [
            rec(
                "a",
                Some("2026-11-01T10:00:00Z"),
                Some("2026-11-01T08:00:00Z"),
                false,
            ),
            rec(
                "a",
                Some("2026-11-02T10:00:00Z"),
                Some("2026-11-02T06:00:00Z"),
                true,
            ),
            rec(
                "a",
                Some("2026-11-02T13:00:00Z"),
                Some("2026-11-02T12:00:00Z"),
                false,
            ),
            rec("b", None, None, false),
        ];
        let refs: Vec<&Record> = records.iter().collect();
        let f = figures(&refs, 10.0);
        assert_eq!((f.releases, f.deployments), (4, 3));
        assert!((f.deployment_frequency - 0.3).abs() < 1e-9);
        // Lead times 2h, 4h, 1h → median 2h.
        assert_eq!(f.lead_time_median, Some(Duration::hours(2)));
        assert_eq!(f.change_fail_rate, Some(1.0 / 3.0));
        assert_eq!(f.recovery_median, Some(Duration::hours(3)));
        assert_eq!(f.rework_rate, Some(1.0 / 3.0));
        assert_eq!(f.evidence_completeness, Some(0.5));
        assert_eq!(f.held, 1);
        assert_eq!(
            hold_reasons(&refs, 5),
            vec![("prod/approval".to_string(), 1)]
        );
    }

    #[test]
    fn no_deployments_means_no_rates() {
        let f = figures(&[], 30.0);
        assert_eq!(f.deployments, 0);
        assert_eq!(f.change_fail_rate, None);
        assert_eq!(f.lead_time_median, None);
        assert_eq!(f.deployment_frequency, 0.0);
    }

    #[test]
    fn daily_series_covers_every_day() {
        let records = [rec("a", Some("2026-11-02T10:00:00Z"), None, false)];
        let refs: Vec<&Record> = records.iter().collect();
        let last = t("2026-11-03T00:00:00Z").date_naive();
        let series = daily_deployments(&refs, last, 3);
        assert_eq!(
            series.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
    }
}
