//! The simulator: replay a candidate policy over recorded passports — their evidence, approvals
//! and waivers as the decision saw them — and say what it would have decided. Pure; nothing is
//! enforced or written.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::approval::ApprovalSpec;
use crate::api::common::ReleaseRef;
use crate::api::waiver::WaiverSpec;
use crate::api::{
    Approval, Decision, GatePolicy, Keyed, PolicyMode, Release, ReleasePassport, ReleaseSpec,
    Waiver,
};
use crate::engine::{self, EvidenceItem, Input};

/// One recorded decision, replayed.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    pub release: crate::api::ObjectKey,
    pub decided_at: Option<DateTime<Utc>>,
    pub recorded: Option<Decision>,
    pub would: Decision,
    /// The candidate's first reason, when it would not allow.
    pub why: Option<String>,
}

impl Replay {
    pub fn changed(&self) -> bool {
        self.recorded != Some(self.would)
    }
}

/// The inputs a recorded passport preserves: the release as it was, its evidence, approvals
/// and waivers, and the rollback target it recorded.
struct Recorded {
    release: Release,
    evidence: Vec<EvidenceItem>,
    approvals: Vec<Approval>,
    waivers: Vec<Waiver>,
    previous: Option<engine::PreviousRelease>,
}

fn inputs(p: &ReleasePassport) -> Recorded {
    let status = p.status.clone().unwrap_or_default();
    let ns = p.metadata.namespace.clone();
    let name = p.spec.release_ref.name.clone();
    let mut release = Release::new(
        &name,
        ReleaseSpec {
            service: p.spec.service.clone(),
            version: p.spec.version.clone(),
            environment: p.spec.environment.clone(),
            // The author, so `excludeAuthor` replays as it was decided.
            revision: p.spec.revision.clone(),
            scope: crate::api::release::ReleaseScope {
                metric_labels: p.spec.metric_labels.clone(),
                ..Default::default()
            },
            // The start the decision took: a comparison's windows are fixed from it.
            started_at: status.started_at,
            ..ReleaseSpec::default()
        },
    );
    release.metadata.namespace = ns.clone();
    release.metadata.labels = p.metadata.labels.clone();
    let mut evidence: Vec<EvidenceItem> = status.evidence.iter().map(EvidenceItem::from).collect();
    // The rollback target as the decision recorded it, and — when it was ready — the
    // connector's confirmation that its revision was still there: a replay judges a
    // rollback-ready rule as the decision did (the policy builder's preview said "no previous
    // release is named" of releases whose truth screen said Ready).
    // A target it was not ready for replays as allowed but unconfirmed: not ready either way.
    let previous = status.rollback.as_ref().and_then(|r| {
        let name = r.target.clone()?;
        if r.ready {
            evidence.push(EvidenceItem {
                summary: Some("its revision was confirmed when this passport was decided".into()),
                ..EvidenceItem::new(
                    engine::ROLLBACK_REVISION_SOURCE,
                    crate::api::EvidenceStatus::Complete,
                )
            });
        }
        release.spec.previous = Some(name.clone());
        let version = r.revision.clone().unwrap_or_default();
        Some(engine::PreviousRelease {
            name,
            revision: version.clone(),
            version,
            decision: Some(Decision::Allow),
        })
    });
    let approvals = status
        .approvals
        .iter()
        .flat_map(|a| &a.records)
        .map(|r| {
            let mut a = Approval::new(
                &r.name,
                ApprovalSpec {
                    release_ref: ReleaseRef { name: name.clone() },
                    decision: r.decision,
                    approver: r.approver.clone(),
                    groups: r.groups.clone(),
                    comment: r.comment.clone(),
                },
            );
            a.metadata.namespace = ns.clone();
            a
        })
        .collect();
    let waivers = status
        .waivers
        .iter()
        .map(|w| {
            let mut waiver = Waiver::new(
                &w.name,
                WaiverSpec {
                    release_ref: Some(ReleaseRef { name: name.clone() }),
                    release_selector: None,
                    rules: w.rules.clone(),
                    reason: w.reason.clone(),
                    expires_at: w.expires_at,
                    approver: w.approver.clone(),
                },
            );
            waiver.metadata.namespace = ns.clone();
            waiver
        })
        .collect();
    Recorded {
        release,
        evidence,
        approvals,
        waivers,
        previous,
    }
}

/// What `candidate` (enforced, whatever its mode) would have decided for each passport decided
/// at or after `since`, at the moment each was decided.
pub fn replay<'a>(
    candidate: &GatePolicy,
    passports: impl IntoIterator<Item = &'a ReleasePassport>,
    since: Option<DateTime<Utc>>,
) -> Vec<Replay> {
    let mut policy = candidate.clone();
    policy.spec.mode = PolicyMode::Enforce;
    let mut out = Vec::new();
    for p in passports {
        let at = p.status.as_ref().and_then(|s| s.decided_at());
        if since.is_some_and(|s| at.is_none_or(|a| a < s)) {
            continue;
        }
        let Recorded {
            release,
            evidence,
            approvals,
            waivers,
            previous,
        } = inputs(p);
        // Replayed as of its last evaluation: the evidence a passport keeps may have been read
        // after the decision last changed (a watch, a refresh), and must not look future-dated.
        let evaluated = evidence.iter().filter_map(|e| e.observed_at).max();
        let now = match (at, evaluated) {
            (Some(a), Some(e)) => Some(a.max(e)),
            (a, e) => a.or(e),
        };
        // The candidate is judged on the releases it would select, in their own namespace.
        let mut scoped = policy.clone();
        scoped.metadata.namespace = release.metadata.namespace.clone();
        let compiled = vec![Arc::new(engine::compile(&scoped))];
        if !engine::selects(&compiled[0], &release) {
            continue;
        }
        let evaluation = engine::evaluate(&Input {
            release: &release,
            policies: &compiled,
            approvals: &approvals,
            waivers: &waivers,
            evidence: &evidence,
            previous: None,
            previous_release: previous.as_ref(),
            now: now.unwrap_or_else(|| DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()),
            clock_skew: crate::engine::provenance::DEFAULT_CLOCK_SKEW,
        });
        let would = evaluation.status.decision.unwrap_or(Decision::Hold);
        out.push(Replay {
            release: release.key(),
            decided_at: at,
            recorded: p.status.as_ref().and_then(|s| s.decision),
            would,
            why: evaluation.status.reasons.first().cloned(),
        });
    }
    out.sort_by(|a, b| (a.decided_at, &a.release).cmp(&(b.decided_at, &b.release)));
    out
}

/// "would have blocked 4 of 120 (changed 6)".
pub fn summary(replays: &[Replay]) -> String {
    let count = |d: Decision| replays.iter().filter(|r| r.would == d).count();
    format!(
        "would have blocked {} and held {} of {} (allowed {}); {} decisions differ from what was recorded",
        count(Decision::Block),
        count(Decision::Hold),
        replays.len(),
        count(Decision::Allow),
        replays.iter().filter(|r| r.changed()).count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A candidate policy of one rule, written as YAML flow.
    fn candidate(rule: &str) -> GatePolicy {
        serde_yaml_ng::from_str(&format!(
            "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: candidate}}
spec:
  rules:
  - {rule}
"
        ))
        .unwrap()
    }

    /// A passport's evidence was read after its last decision (a watch re-evaluated it):
    /// replayed as of the decision, it looked future-dated and was refused.
    #[test]
    fn evidence_read_after_the_decision_replays_as_it_was() {
        let passport: ReleasePassport = serde_yaml_ng::from_str(
            "apiVersion: releasepassport.io/v1alpha1
kind: ReleasePassport
metadata: {name: web-1, namespace: shop}
spec: {releaseRef: {name: web-1}, service: web, version: '1', environment: production}
status:
  decision: Allow
  evidence:
  - {source: workload-health, status: Complete, observedAt: '2026-11-20T10:40:00Z'}
  timeline:
  - {at: '2026-11-20T10:05:00Z', decision: Allow, message: all 1 enforced rules pass}
",
        )
        .unwrap();
        let candidate = candidate("{name: healthy, evidence: {source: workload-health}}");
        let replays = replay(&candidate, [&passport], None);
        assert_eq!(replays.len(), 1);
        assert_eq!(replays[0].would, Decision::Allow, "{:?}", replays[0].why);
    }

    /// A rollback-ready rule replays as the decision recorded the rollback (#32: the policy
    /// builder's preview said "no previous release is named" of a release whose truth screen
    /// said Ready).
    #[test]
    fn the_recorded_rollback_replays_as_it_was() {
        let recorded = |ready: bool| -> ReleasePassport {
            serde_yaml_ng::from_str(&format!(
                "apiVersion: releasepassport.io/v1alpha1
kind: ReleasePassport
metadata: {{name: web-2, namespace: shop}}
spec: {{releaseRef: {{name: web-2}}, service: web, version: '2', environment: production}}
status:
  decision: Allow
  rollback: {{ready: {ready}, target: web-1, revision: '1', reason: recorded}}
  timeline:
  - {{at: '2026-11-20T10:05:00Z', decision: Allow, message: m}}
"
            ))
            .unwrap()
        };
        let candidate = candidate("{name: can-go-back, evidence: {source: rollback-ready}}");
        let ready = replay(&candidate, [&recorded(true)], None);
        assert_eq!(ready[0].would, Decision::Allow, "{:?}", ready[0].why);
        let not_ready = replay(&candidate, [&recorded(false)], None);
        assert_eq!(not_ready[0].would, Decision::Hold);
        let why = not_ready[0].why.clone().unwrap_or_default();
        assert!(
            why.contains("web-1") && !why.contains("no previous release"),
            "{why}"
        );
    }
}
