//! Properties of the decision engine that must hold for every input.

use crate::common;

use common::*;
use proptest::prelude::*;
use release_passport::api::passport::Effect;
use release_passport::api::{ConditionStatus, ConditionType};
use release_passport::api::{Decision, EvidenceStatus, GatePolicy, PolicyMode};
use release_passport::engine::EvidenceItem;

const SOURCES: [&str; 4] = ["health", "gitops", "ci", "journeys"];
const RULES: [&str; 7] = [
    "health", "gitops", "ci", "errors", "approved", "freeze", "journeys",
];
const ERRORS: &str = "rate(errors{service=\"checkout\"}[5m])";

/// A policy using every rule type.
fn full_policy(name: &str) -> GatePolicy {
    policy(
        name,
        "  rules:
  - name: health
    evidence: {source: health, maxAge: 15m}
  - name: gitops
    evidence: {source: gitops, maxAge: 15m, onFailed: Hold}
  - name: ci
    evidence: {source: ci}
  - name: errors
    metric: {query: 'rate(errors{$labels}[5m])', op: '<', threshold: 0.01, maxAge: 10m}
  - name: approved
    approval: {min: 1, excludeAuthor: true}
  - name: freeze
    window: {timeZone: Europe/Berlin, freezes: [{name: weekend, cron: '0 18 * * FRI', duration: 62h}]}
  - name: journeys
    expression: {cel: \"'journeys' in evidence && evidence['journeys'].passing == evidence['journeys'].total\"}
",
    )
}

fn status() -> impl Strategy<Value = EvidenceStatus> {
    prop::sample::select(EvidenceStatus::ALL.to_vec())
}

fn evidence() -> impl Strategy<Value = Vec<EvidenceItem>> {
    let one = (
        prop::sample::select(SOURCES.to_vec()),
        status(),
        0i64..40,
        0u32..4,
        0u32..4,
    )
        .prop_map(|(source, status, age, total, passing)| {
            with_targets(item(source, status, age), total.max(passing), passing)
        });
    let metric_value = prop::option::of(prop_oneof![-0.1f64..0.1, Just(f64::NAN)]);
    (
        prop::collection::vec(one, 0..8),
        prop::option::of((metric_value, 0i64..20)),
    )
        .prop_map(|(mut items, m)| {
            if let Some((value, age)) = m {
                items.push(metric(ERRORS, value, age));
            }
            items
        })
}

fn approvals() -> impl Strategy<Value = Vec<release_passport::api::Approval>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["alice", "bob", "carol"]),
            prop::bool::weighted(0.8),
        ),
        0..4,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (who, approve))| {
                approval(
                    &format!("a{i}"),
                    "rel",
                    who,
                    if approve { "Approve" } else { "Reject" },
                    &[],
                )
            })
            .collect()
    })
}

/// A moment in a two-week span that includes a weekend freeze.
fn moment() -> impl Strategy<Value = String> {
    (0i64..14 * 24 * 60).prop_map(|m| {
        (t("2026-11-20T00:00:00Z") + chrono::Duration::minutes(m))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

fn case() -> impl Strategy<Value = Case> {
    (evidence(), approvals(), moment()).prop_map(|(evidence, approvals, at)| {
        Case::new(vec![full_policy("prod")])
            .evidence(evidence)
            .approvals(approvals)
            .at(&at)
    })
}

fn rank(d: Option<Decision>) -> u8 {
    match d {
        Some(Decision::Allow) => 0,
        Some(Decision::Hold) => 1,
        Some(Decision::Block) | None => 2,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn same_inputs_same_bytes(case in case()) {
        let a = serde_json::to_vec(&case.decide().status).unwrap();
        let b = serde_json::to_vec(&case.decide().status).unwrap();
        prop_assert_eq!(&a, &b);
        // Input order does not matter either.
        let mut shuffled = case.clone();
        shuffled.evidence.reverse();
        shuffled.approvals.reverse();
        shuffled.policies.push(policy("zz-other", "  selector: {environments: [staging]}\n  rules:\n  - name: r\n    evidence: {source: x}\n"));
        shuffled.policies.reverse();
        prop_assert_eq!(a, serde_json::to_vec(&shuffled.decide().status).unwrap());
    }

    #[test]
    fn a_failed_item_never_moves_towards_allow(case in case(), source in prop::sample::select(SOURCES.to_vec()), age in 0i64..60) {
        let before = rank(case.decide().status.decision);
        let mut worse = case.clone();
        worse.evidence.push(item(source, EvidenceStatus::Failed, age));
        prop_assert!(rank(worse.decide().status.decision) >= before);
    }

    /// Knowing when the release started only ever removes evidence from it (BRIEF §2).
    #[test]
    fn provenance_never_moves_towards_allow(case in case(), minutes_ago in -30i64..600) {
        let before = rank(case.decide().status.decision);
        let mut started = case.clone();
        started.release.spec.started_at = Some(case.now - chrono::Duration::minutes(minutes_ago));
        prop_assert!(rank(started.decide().status.decision) >= before);
    }

    /// A soak only ever holds what would pass, for as long as it lasts.
    #[test]
    fn soak_never_moves_towards_allow(case in case(), soak in prop::sample::select(vec!["1m", "15m", "2h"])) {
        let before = rank(case.decide().status.decision);
        let mut soaked = case.clone();
        for rule in &mut soaked.policies[0].spec.rules {
            let soak = Some(release_passport::api::DurationString(soak.to_string()));
            if let Some(e) = &mut rule.evidence {
                e.soak = soak.clone();
            }
            if let Some(m) = &mut rule.metric {
                m.soak = soak;
            }
        }
        prop_assert!(rank(soaked.decide().status.decision) >= before);
    }

    #[test]
    fn a_waiver_changes_only_the_rules_it_names(case in case(), named in prop::sample::subsequence(RULES.to_vec(), 1..3)) {
        let before = case.decide().status;
        // Within the policy's longest waiver (7d by default).
        let expires = (case.now + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let waived = case.clone().waivers(vec![waiver("w", "rel", &named, &expires)]).decide().status;
        prop_assert_eq!(before.trace.len(), waived.trace.len());
        for (b, w) in before.trace.iter().zip(&waived.trace) {
            if named.contains(&b.rule.as_str()) && matches!(b.effect, Effect::Hold | Effect::Block) {
                prop_assert_eq!(w.effect, Effect::Waived);
            } else {
                prop_assert_eq!(b, w);
            }
        }
        prop_assert!(rank(waived.decision) <= rank(before.decision));
    }

    #[test]
    fn simulate_never_changes_the_decision(case in case()) {
        let before = case.decide().status;
        let mut sim = full_policy("sim");
        sim.spec.mode = PolicyMode::Simulate;
        let mut strict = policy("strict", "  mode: Simulate\n  rules:\n  - name: nothing\n    evidence: {source: never-observed, onMissing: Block}\n");
        strict.spec.mode = PolicyMode::Simulate;
        let mut with_sim = case.clone();
        with_sim.policies.extend([sim, strict]);
        let after = with_sim.decide().status;
        prop_assert_eq!(before.decision, after.decision);
        prop_assert_eq!(&before.reasons, &after.reasons);
        prop_assert_eq!(&before.evidence, &after.evidence);
        let enforced: Vec<_> = after.trace.iter().filter(|t| t.mode == PolicyMode::Enforce).cloned().collect();
        prop_assert_eq!(before.trace, enforced);
    }

    #[test]
    fn ready_exactly_when_allowed(case in case()) {
        let status = case.decide().status;
        let ready = status.conditions.iter().find(|c| c.type_ == ConditionType::Ready).unwrap();
        prop_assert_eq!(ready.status == ConditionStatus::True, status.decision == Some(Decision::Allow));
    }
}
