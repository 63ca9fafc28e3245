//! One table row per line of the decision semantics (BRIEF §2).

use crate::common;

use common::*;
use release_passport::api::ConditionType;
use release_passport::api::passport::Effect;
use release_passport::api::passport::EvidenceRead;
use release_passport::api::{Decision, EvidenceStatus::*};
use release_passport::engine::conditions;

fn decision(case: &Case) -> Decision {
    case.decide().status.decision.unwrap()
}

fn condition(case: &Case, type_: ConditionType) -> (String, String) {
    let status = case.decide().status;
    let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status.to_string(), c.reason.clone())
}

const EVIDENCE_RULE: &str = "    evidence: {source: health, maxAge: 15m}\n";

#[test]
fn evidence_rule_defaults_for_every_status() {
    // (items, expected effect, expected evidence status)
    let rows = vec![
        (vec![item("health", Complete, 1)], Decision::Allow, Complete),
        (
            vec![with_targets(item("health", Partial, 1), 3, 1)],
            Decision::Hold,
            Partial,
        ),
        (vec![item("health", Complete, 16)], Decision::Hold, Stale),
        (vec![], Decision::Hold, Missing),
        (vec![item("health", Missing, 1)], Decision::Hold, Missing),
        (vec![item("health", Failed, 1)], Decision::Block, Failed),
        (vec![item("health", Failed, 600)], Decision::Block, Failed),
        (vec![item("health", Pending, 1)], Decision::Hold, Pending),
        (
            vec![item("health", Complete, 1), item("health", Missing, 1)],
            Decision::Hold,
            Partial,
        ),
        (
            vec![item("health", Complete, 1), item("health", Failed, 1)],
            Decision::Block,
            Failed,
        ),
    ];
    for (items, expected, status) in rows {
        let case = Case::new(vec![one_rule(EVIDENCE_RULE)]).evidence(items.clone());
        let out = case.decide().status;
        assert_eq!(out.decision, Some(expected), "{items:?}");
        assert_eq!(out.evidence[0].status, status, "{items:?}");
        assert_eq!(
            out.trace[0].evidence,
            vec![EvidenceRead::Source("health".into())]
        );
    }
}

#[test]
fn evidence_rule_on_settings_override_defaults() {
    let rows = [
        ("onMissing: Block", vec![], Decision::Block),
        ("onMissing: Pass", vec![], Decision::Allow),
        (
            "onFailed: Hold",
            vec![item("health", Failed, 1)],
            Decision::Hold,
        ),
        (
            "onFailed: Pass",
            vec![item("health", Failed, 1)],
            Decision::Allow,
        ),
        (
            "onStale: Block",
            vec![item("health", Complete, 30)],
            Decision::Block,
        ),
        (
            "onStale: Pass",
            vec![item("health", Complete, 30)],
            Decision::Allow,
        ),
        (
            "onPartial: Pass",
            vec![item("health", Partial, 1)],
            Decision::Allow,
        ),
        (
            "onPartial: Block",
            vec![item("health", Partial, 1)],
            Decision::Block,
        ),
        (
            "onPending: Block",
            vec![item("health", Pending, 1)],
            Decision::Block,
        ),
        (
            "onPending: Pass",
            vec![item("health", Pending, 1)],
            Decision::Allow,
        ),
    ];
    for (setting, items, expected) in rows {
        let rule = format!("    evidence: {{source: health, maxAge: 15m, {setting}}}\n");
        let case = Case::new(vec![one_rule(&rule)]).evidence(items);
        assert_eq!(decision(&case), expected, "{setting}");
    }
}

#[test]
fn evidence_without_max_age_never_goes_stale() {
    let case = Case::new(vec![one_rule("    evidence: {source: health}\n")]).evidence(vec![item(
        "health",
        Complete,
        60 * 24 * 30,
    )]);
    assert_eq!(decision(&case), Decision::Allow);
}

const Q: &str = "rate(errors{$labels}[5m])";
const EXPANDED: &str = "rate(errors{service=\"checkout\"}[5m])";

#[test]
fn metric_rule_rows() {
    let rule = |extra: &str| {
        format!("    metric: {{query: '{Q}', op: '<', threshold: 0.01, maxAge: 10m{extra}}}\n")
    };
    let rows = [
        (
            "",
            vec![metric(EXPANDED, Some(0.001), 1)],
            Decision::Allow,
            Complete,
        ),
        (
            "",
            vec![metric(EXPANDED, Some(0.01), 1)],
            Decision::Block,
            Failed,
        ),
        (
            "",
            vec![metric(EXPANDED, Some(0.5), 1)],
            Decision::Block,
            Failed,
        ),
        (
            ", onFailed: Hold",
            vec![metric(EXPANDED, Some(0.5), 1)],
            Decision::Hold,
            Failed,
        ),
        ("", vec![], Decision::Hold, Missing),
        ("", vec![metric(EXPANDED, None, 1)], Decision::Hold, Missing),
        (
            "",
            vec![metric(EXPANDED, Some(f64::NAN), 1)],
            Decision::Hold,
            Missing,
        ),
        (", onNoData: Block", vec![], Decision::Block, Missing),
        (
            ", onNoData: Pass",
            vec![metric(EXPANDED, None, 1)],
            Decision::Allow,
            Missing,
        ),
        (
            "",
            vec![metric(EXPANDED, Some(0.001), 11)],
            Decision::Hold,
            Stale,
        ),
        (
            "",
            vec![metric(
                "rate(errors{service=\"other\"}[5m])",
                Some(0.001),
                1,
            )],
            Decision::Hold,
            Missing,
        ),
    ];
    for (extra, items, expected, status) in rows {
        let case = Case::new(vec![one_rule(&rule(extra))]).evidence(items.clone());
        let out = case.decide().status;
        assert_eq!(out.decision, Some(expected), "{extra} {items:?}");
        assert_eq!(out.evidence[0].status, status, "{extra} {items:?}");
        assert_eq!(out.evidence[0].query.as_deref(), Some(EXPANDED));
    }
    let mut pending = metric(EXPANDED, None, 1);
    pending.status = Pending;
    let case = Case::new(vec![one_rule(&rule(""))]).evidence(vec![pending]);
    assert_eq!(decision(&case), Decision::Hold);
    assert_eq!(condition(&case, ConditionType::Reconciling).0, "True");
}

/// A `$labels` query for a release without `scope.metricLabels` would read every service's
/// series: the rule holds, says why, and the query is never asked.
#[test]
fn an_unscoped_labels_query_holds_and_is_never_sent() {
    let rule = format!("    metric: {{query: '{Q}', op: '<', threshold: 0.01, onNoData: Pass}}\n");
    let mut case =
        Case::new(vec![one_rule(&rule)]).evidence(vec![metric("rate(errors{}[5m])", Some(0.0), 1)]);
    case.release.spec.scope.metric_labels.clear();
    let out = case.decide().status;
    assert_eq!(out.decision, Some(Decision::Hold), "{:?}", out.trace);
    assert!(
        out.trace[0]
            .message
            .starts_with("cannot be scoped: the query uses $labels"),
        "{}",
        out.trace[0].message
    );
    let compiled = vec![std::sync::Arc::new(release_passport::engine::compile(
        &case.policies[0],
    ))];
    let needs = release_passport::engine::needs::needs(&case.release, &compiled, None);
    assert!(needs.metrics.is_empty(), "never asked: {needs:?}");
    assert!(release_passport::engine::needs::unscoped(
        &compiled[0],
        &case.release
    ));
    // A query without `$labels` is scoped by what it says.
    let fixed =
        "    metric: {query: 'rate(errors{service=\"checkout\"}[5m])', op: '<', threshold: 0.01}\n";
    let case = Case::new(vec![one_rule(fixed)]).evidence(vec![metric(
        "rate(errors{service=\"checkout\"}[5m])",
        Some(0.0),
        1,
    )]);
    assert_eq!(decision(&case), Decision::Allow);
}

/// Evidence that belongs to this release (BRIEF §2): observations from before the start are
/// Stale, a metric waits out its window, and the far future is refused.
#[test]
fn provenance_rows() {
    const STARTED: &str = "2026-11-25T13:00:00Z";
    let fresh = "    evidence: {source: health, maxAge: 6h}\n";
    // (items, decision, evidence status, words in the trace)
    let rows = [
        (
            vec![item("health", Complete, 90)],
            Decision::Hold,
            Stale,
            "observed before this release started (2026-11-25T12:30:00Z < 2026-11-25T13:00:00Z)",
        ),
        (
            vec![item("health", Complete, 30)],
            Decision::Allow,
            Complete,
            "health is Complete",
        ),
        (
            vec![item("health", Failed, 90)],
            Decision::Block,
            Failed,
            "health is Failed",
        ),
        (
            vec![item("health", Complete, -1)],
            Decision::Allow,
            Complete,
            "health is Complete",
        ),
        (
            vec![item("health", Complete, -5)],
            Decision::Hold,
            Missing,
            "refused: dated 2026-11-25T14:05:00Z, further in the future than the 2m clock-skew tolerance",
        ),
        (
            vec![item("health", Complete, 90), item("health", Complete, 10)],
            Decision::Hold,
            Partial,
            "health is Partial",
        ),
    ];
    for (items, expected, status, words) in rows {
        let case = Case::new(vec![one_rule(fresh)])
            .started(STARTED)
            .evidence(items.clone());
        let out = case.decide().status;
        assert_eq!(out.decision, Some(expected), "{items:?}: {:?}", out.trace);
        assert_eq!(out.evidence[0].status, status, "{items:?}");
        assert!(
            out.trace[0].message.contains(words),
            "{words:?} in {}",
            out.trace[0].message
        );
    }
    // A connector that saw the version begin rolling out dates the start (the Kubernetes
    // connector: the version's first pod), and the decision records what it took.
    let mut rolled = item("health", Complete, 30);
    rolled.rollout_started_at = Some(t("2026-11-25T13:40:00Z"));
    let case = Case::new(vec![one_rule(fresh)]).evidence(vec![rolled]);
    let out = case.decide().status;
    assert_eq!(out.decision, Some(Decision::Hold), "{:?}", out.trace);
    assert_eq!(out.started_at, Some(t("2026-11-25T13:40:00Z")));
    // Without a known start (a file without startedAt) only the future is judged.
    let case = Case::new(vec![one_rule(fresh)]).evidence(vec![item("health", Complete, 90)]);
    assert_eq!(decision(&case), Decision::Allow);
    // Nor before its commit: with no start known, evidence from before the commit cannot
    // describe the revision (#32: 08:00 evidence allowed a release committed at 09:00), and
    // a start known to be earlier than the commit is raised to it.
    for created_at in [None, Some("2026-11-25T12:00:00Z")] {
        let mut committed =
            Case::new(vec![one_rule(fresh)]).evidence(vec![item("health", Complete, 90)]);
        if let Some(revision) = committed.release.spec.revision.as_mut() {
            revision.committed_at = Some(t(STARTED));
        }
        committed.release.metadata.creation_timestamp = created_at
            .map(|c| k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(c.parse().unwrap()));
        let out = committed.decide().status;
        assert_eq!(out.decision, Some(Decision::Hold), "{created_at:?}");
        assert_eq!(out.started_at, Some(t(STARTED)));
        assert!(
            out.trace[0].message.contains(
                "observed before this release started (2026-11-25T12:30:00Z < 2026-11-25T13:00:00Z, when its revision was committed)"
            ),
            "{}",
            out.trace[0].message
        );
    }
    // The Release's creation is its start when nothing else says.
    let mut created = Case::new(vec![one_rule(fresh)]).evidence(vec![item("health", Complete, 90)]);
    created.release.metadata.creation_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(STARTED.parse().unwrap()),
    );
    assert_eq!(decision(&created), Decision::Hold);

    // A metric rule waits until its lookback (longest range selector + range window) has passed.
    let windowed = format!("    metric: {{query: '{Q}', op: '<', threshold: 0.01, range: 30m}}\n");
    let q = format!("{EXPANDED} @range=30m,max");
    for (started, expected, words) in [
        (
            "2026-11-25T13:40:00Z",
            Decision::Hold,
            "metric window not yet elapsed: 20m of 35m since the release started",
        ),
        ("2026-11-25T13:20:00Z", Decision::Allow, "0 is below"),
    ] {
        let case = Case::new(vec![one_rule(&windowed)])
            .started(started)
            .evidence(vec![metric(&q, Some(0.0), 1)]);
        let out = case.decide();
        assert_eq!(
            out.status.decision,
            Some(expected),
            "{started}: {:?}",
            out.status.trace
        );
        assert!(
            out.status.trace[0].message.contains(words),
            "{}",
            out.status.trace[0].message
        );
        if expected == Decision::Hold {
            assert_eq!(out.status.evidence[0].status, Pending);
            assert_eq!(
                out.next_review,
                Some(t("2026-11-25T14:15:00Z")),
                "re-decided when the window has passed"
            );
        }
    }
}

/// Waiting out the lookback never turns a failing value into a hold.
#[test]
fn a_failing_value_blocks_inside_the_window() {
    let windowed = format!("    metric: {{query: '{Q}', op: '<', threshold: 0.01, range: 30m}}\n");
    let q = format!("{EXPANDED} @range=30m,max");
    let case = Case::new(vec![one_rule(&windowed)])
        .started("2026-11-25T13:40:00Z")
        .evidence(vec![metric(&q, Some(0.5), 1)]);
    assert_eq!(decision(&case), Decision::Block);
}

/// `soak`: a rule passes only once its evidence has passed without a break that long.
#[test]
fn soak_rows() {
    let soaked = "    evidence: {source: health, soak: 15m}\n";
    let case = Case::new(vec![one_rule(soaked)]).evidence(vec![item("health", Complete, 1)]);
    let first = case.decide();
    assert_eq!(first.status.decision, Some(Decision::Hold));
    assert_eq!(
        first.status.trace[0].message,
        "health is soaking: 1m of 15m passing (since 2026-11-25T13:59:00Z)"
    );
    assert_eq!(
        first.status.evidence[0].passing_since,
        Some(t("2026-11-25T13:59:00Z"))
    );
    assert_eq!(
        first.next_review,
        Some(t("2026-11-25T14:14:00Z")),
        "requeued at the soak's end"
    );
    // Decided again later from fresh observations: passing since is carried, so it passes.
    let later = case
        .clone()
        .after(first.status.clone())
        .at("2026-11-25T14:14:00Z")
        .evidence(vec![item("health", Complete, -13)]);
    let out = later.decide().status;
    assert_eq!(out.decision, Some(Decision::Allow), "{:?}", out.trace);
    assert_eq!(
        out.evidence[0].passing_since,
        Some(t("2026-11-25T13:59:00Z"))
    );
    // A failing observation in between resets it.
    let broken = case
        .clone()
        .after(first.status.clone())
        .at("2026-11-25T14:05:00Z")
        .evidence(vec![item("health", Failed, -4)]);
    let failed = broken.decide().status;
    assert_eq!(failed.decision, Some(Decision::Block));
    assert_eq!(failed.evidence[0].passing_since, None);
    let again = case
        .clone()
        .after(failed)
        .at("2026-11-25T14:14:00Z")
        .evidence(vec![item("health", Complete, -13)]);
    assert_eq!(
        again.decide().status.trace[0].message,
        "health is soaking: 1m of 15m passing (since 2026-11-25T14:13:00Z)"
    );
    // A recording may say how long it has passed; never before the release started.
    let mut recorded = item("health", Complete, 1);
    recorded.passing_since = Some(t("2026-11-25T13:30:00Z"));
    let case = Case::new(vec![one_rule(soaked)]).evidence(vec![recorded]);
    assert_eq!(decision(&case), Decision::Allow);
    let case = case.started("2026-11-25T13:50:00Z");
    assert_eq!(
        case.decide().status.trace[0].message,
        "health is soaking: 10m of 15m passing (since 2026-11-25T13:50:00Z)"
    );
    // A metric rule soaks the same way.
    let metric_soak =
        format!("    metric: {{query: '{Q}', op: '<', threshold: 0.01, soak: 10m}}\n");
    let case =
        Case::new(vec![one_rule(&metric_soak)]).evidence(vec![metric(EXPANDED, Some(0.0), 2)]);
    let out = case.decide().status;
    assert_eq!(out.decision, Some(Decision::Hold));
    assert!(
        out.trace[0]
            .message
            .ends_with("soaking: 2m of 10m passing (since 2026-11-25T13:58:00Z)"),
        "{}",
        out.trace[0].message
    );
}

#[test]
fn metric_comparisons() {
    for (op, value, expected) in [
        ("<", 1.0, Decision::Block),
        ("<=", 1.0, Decision::Allow),
        (">", 1.0, Decision::Block),
        (">=", 1.0, Decision::Allow),
        ("==", 1.0, Decision::Allow),
        ("!=", 1.0, Decision::Block),
        (">", 2.0, Decision::Allow),
    ] {
        let rule = format!("    metric: {{query: 'up', op: '{op}', threshold: 1}}\n");
        let case = Case::new(vec![one_rule(&rule)]).evidence(vec![metric("up", Some(value), 1)]);
        assert_eq!(decision(&case), expected, "{value} {op} 1");
    }
}

#[test]
fn approval_rule_rows() {
    let rule = |extra: &str| format!("    approval: {{min: 2{extra}}}\n");
    let rows = [
        ("", vec![], Decision::Hold),
        (
            "",
            vec![approval("a1", "rel", "alice", "Approve", &[])],
            Decision::Hold,
        ),
        (
            "",
            vec![
                approval("a1", "rel", "alice", "Approve", &[]),
                approval("a2", "rel", "carol", "Approve", &[]),
            ],
            Decision::Allow,
        ),
        (
            "",
            // The same person twice counts once.
            vec![
                approval("a1", "rel", "alice", "Approve", &[]),
                approval("a2", "rel", "alice", "Approve", &[]),
            ],
            Decision::Hold,
        ),
        (
            ", excludeAuthor: true",
            vec![
                approval("a1", "rel", "alice", "Approve", &[]),
                approval("a2", "rel", "bob", "Approve", &[]),
            ],
            Decision::Hold,
        ),
        (
            "",
            vec![
                approval("a1", "rel", "alice", "Approve", &[]),
                approval("a2", "rel", "bob", "Approve", &[]),
            ],
            Decision::Allow,
        ),
        (
            ", fromGroups: [leads]",
            vec![
                approval("a1", "rel", "alice", "Approve", &["leads"]),
                approval("a2", "rel", "carol", "Approve", &["sre"]),
            ],
            Decision::Hold,
        ),
        (
            ", fromGroups: [leads]",
            vec![
                approval("a1", "rel", "alice", "Approve", &["leads"]),
                approval("a2", "rel", "carol", "Approve", &["sre", "leads"]),
            ],
            Decision::Allow,
        ),
        (
            "",
            // A Reject after enough approvals still blocks.
            vec![
                approval("a1", "rel", "alice", "Approve", &[]),
                approval("a2", "rel", "carol", "Approve", &[]),
                approval("a3", "rel", "dave", "Reject", &[]),
            ],
            Decision::Block,
        ),
        (
            "",
            // Approvals of another release do not count.
            vec![
                approval("a1", "other", "alice", "Approve", &[]),
                approval("a2", "other", "carol", "Approve", &[]),
            ],
            Decision::Hold,
        ),
    ];
    for (extra, approvals, expected) in rows {
        let case = Case::new(vec![one_rule(&rule(extra))]).approvals(approvals.clone());
        // The summary counts as the rule counted: "2 of 2" beside a Hold was a contradiction.
        if expected != Decision::Block {
            let summary = case.decide().status.approvals.unwrap();
            assert_eq!(
                summary.approved >= summary.required,
                expected == Decision::Allow,
                "{extra}: {summary:?}"
            );
            assert_eq!(summary.rules.len(), 1);
            assert_eq!(summary.rules[0].approved, summary.approved);
        }
        assert_eq!(
            decision(&case),
            expected,
            "{extra} {:?}",
            approvals
                .iter()
                .map(|a| &a.spec.approver)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn author_approval_is_recorded_but_not_counted() {
    let case = Case::new(vec![one_rule(
        "    approval: {min: 1, excludeAuthor: true}\n",
    )])
    .approvals(vec![approval("a1", "rel", "bob", "Approve", &[])]);
    let approvals = case.decide().status.approvals.unwrap();
    assert_eq!(approvals.required, 1);
    assert_eq!(approvals.approved, 0);
    assert!(approvals.records[0].not_counted.is_some());
}

#[test]
fn an_approval_from_outside_the_rules_groups_is_recorded_as_not_counted() {
    let case = Case::new(vec![one_rule(
        "    approval: {min: 2, fromGroups: [leads]}\n",
    )])
    .approvals(vec![
        approval("a1", "rel", "alice", "Approve", &["leads"]),
        approval("a2", "rel", "carol", "Approve", &["sre"]),
    ]);
    let approvals = case.decide().status.approvals.unwrap();
    assert_eq!((approvals.approved, approvals.required), (1, 2));
    assert_eq!(approvals.rules[0].approvers, vec!["alice".to_string()]);
    assert_eq!(approvals.rules[0].from_groups, vec!["leads".to_string()]);
    assert_eq!(approvals.records[0].not_counted, None);
    assert_eq!(
        approvals.records[1].not_counted.as_deref(),
        Some("not in leads")
    );
}

/// An Approval dated after the moment decided did not exist then: a replay counts it only from
/// its own time, and the decision is reviewed at that time (#32: the demo's history had
/// releases allowed an hour before their approval).
#[test]
fn an_approval_counts_from_when_it_was_given() {
    let mut later = approval("a1", "rel", "alice", "Approve", &[]);
    let given: chrono::DateTime<chrono::Utc> = "2026-11-25T14:30:00Z".parse().unwrap();
    later.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-11-25T14:30:00Z".parse().unwrap(),
    ));
    let rule = "    approval: {min: 1}\n";
    let before = Case::new(vec![one_rule(rule)])
        .approvals(vec![later.clone()])
        .decide();
    assert_eq!(before.status.decision, Some(Decision::Hold));
    assert_eq!(
        before.next_review,
        Some(given),
        "reviewed when the approval appears"
    );
    let at_given = Case::new(vec![one_rule(rule)])
        .approvals(vec![later])
        .at("2026-11-25T14:30:00Z");
    assert_eq!(at_given.decide().status.decision, Some(Decision::Allow));
}

const WINDOW_RULE: &str = "    window:
      timeZone: Europe/Berlin
      freezes:
      - {name: weekend, cron: '0 18 * * FRI', duration: 62h}
      - {name: year-end, start: '2026-12-21T00:00', end: '2027-01-04T00:00'}
";

#[test]
fn window_rule_rows() {
    let rows = [
        ("2026-11-25T14:00:00Z", Decision::Allow),
        ("2026-11-27T16:59:59Z", Decision::Allow),
        ("2026-11-27T17:00:00Z", Decision::Hold),
        ("2026-11-29T12:00:00Z", Decision::Hold),
        ("2026-11-30T07:00:00Z", Decision::Allow),
        ("2026-12-17T12:00:00Z", Decision::Allow),
        // Year-end starts Monday 2026-12-21 00:00 Berlin (23:00Z the day before), inside the
        // weekend freeze; a weekday inside it holds too.
        ("2026-12-22T12:00:00Z", Decision::Hold),
        ("2027-01-03T22:59:59Z", Decision::Hold),
        ("2027-01-04T09:00:00Z", Decision::Allow),
    ];
    for (at, expected) in rows {
        assert_eq!(
            decision(&Case::new(vec![one_rule(WINDOW_RULE)]).at(at)),
            expected,
            "{at}"
        );
    }
    let rule = WINDOW_RULE.replace("      freezes:", "      onInside: Block\n      freezes:");
    assert_eq!(
        decision(&Case::new(vec![one_rule(&rule)]).at("2026-11-28T12:00:00Z")),
        Decision::Block
    );
}

#[test]
fn expression_rule_rows() {
    let rows = [
        (
            "evidence['health'].status == 'Complete'",
            "",
            Decision::Allow,
        ),
        ("evidence['health'].status == 'Failed'", "", Decision::Hold),
        (
            "evidence['health'].status == 'Failed'",
            ", onFalse: Block",
            Decision::Block,
        ),
        (
            "evidence['health'].total >= 3 && evidence['health'].passing == evidence['health'].total",
            "",
            Decision::Allow,
        ),
        (
            "release.service == 'checkout' && release.environment == 'production'",
            "",
            Decision::Allow,
        ),
        ("approvals.approved >= 1", "", Decision::Hold),
        ("'nope' in evidence", "", Decision::Hold),
        // Iterating the whole map sees every source.
        (
            "evidence.all(k, evidence[k].status == 'Complete') && size(evidence) == 2",
            "",
            Decision::Allow,
        ),
        (
            "evidence.exists(k, evidence[k].status == 'Failed')",
            ", onFalse: Pass",
            Decision::Allow,
        ),
        // Not a bool, and a runtime error: both hold, never allow.
        ("evidence['health'].total", "", Decision::Hold),
        (
            "evidence['absent'].status == 'Complete'",
            "",
            Decision::Hold,
        ),
    ];
    for (cel, extra, expected) in rows {
        let rule = format!("    expression: {{cel: \"{cel}\"{extra}}}\n");
        let case = Case::new(vec![one_rule(&rule)]).evidence(vec![
            with_targets(item("health", Complete, 1), 3, 3),
            item("ci", Complete, 1),
        ]);
        let out = case.decide().status;
        assert_eq!(out.decision, Some(expected), "{cel}: {:?}", out.trace);
        if cel.contains("'health'") {
            assert_eq!(
                out.trace[0].evidence,
                vec![EvidenceRead::Source("health".into())],
                "{cel}"
            );
            // What it names is fetched for it and shown as the passport's evidence.
            assert_eq!(out.evidence.len(), 1, "{cel}: {:?}", out.evidence);
            assert_eq!(out.evidence[0].source, "health");
            let compiled = vec![std::sync::Arc::new(release_passport::engine::compile(
                &case.policies[0],
            ))];
            let needs = release_passport::engine::needs::needs(&case.release, &compiled, None);
            assert!(needs.sources.contains("health"), "{cel}: {needs:?}");
        }
    }
}

fn two_rules() -> Vec<release_passport::api::GatePolicy> {
    vec![policy(
        "prod",
        "  rules:
  - name: health
    evidence: {source: health}
  - name: ci
    evidence: {source: ci}
",
    )]
}

#[test]
fn waiver_rows() {
    let failing = vec![item("health", Failed, 1), item("ci", Complete, 1)];
    let rows = [
        (vec![], Decision::Block),
        (
            vec![waiver("w", "rel", &["health"], "2026-11-26T00:00:00Z")],
            Decision::Allow,
        ),
        (
            vec![waiver("w", "rel", &["prod/health"], "2026-11-26T00:00:00Z")],
            Decision::Allow,
        ),
        (
            vec![waiver(
                "w",
                "rel",
                &["other/health"],
                "2026-11-26T00:00:00Z",
            )],
            Decision::Block,
        ),
        (
            vec![waiver("w", "rel", &["ci"], "2026-11-26T00:00:00Z")],
            Decision::Block,
        ),
        (
            vec![waiver("w", "rel", &["health"], "2026-11-25T13:59:59Z")],
            Decision::Block,
        ),
        (vec![waiver("w", "rel", &["health"], NOW)], Decision::Block),
        (
            vec![waiver(
                "w",
                "another-release",
                &["health"],
                "2026-11-26T00:00:00Z",
            )],
            Decision::Block,
        ),
    ];
    for (waivers, expected) in rows {
        let case = Case::new(two_rules())
            .evidence(failing.clone())
            .waivers(waivers.clone());
        assert_eq!(
            decision(&case),
            expected,
            "{:?}",
            waivers.iter().map(|w| &w.spec).collect::<Vec<_>>()
        );
    }
    let case = Case::new(two_rules())
        .evidence(failing)
        .waivers(vec![waiver(
            "w",
            "rel",
            &["health"],
            "2026-11-26T00:00:00Z",
        )]);
    let out = case.decide();
    let health = out
        .status
        .trace
        .iter()
        .find(|t| t.rule == "health")
        .unwrap();
    assert_eq!(health.effect, Effect::Waived);
    assert_eq!(health.waiver.as_deref(), Some("w"));
    assert!(out.status.waivers[0].active);
    // Ready counts passing and waived rules apart: the waived one did not pass.
    let ready = out
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Ready)
        .unwrap();
    assert_eq!(
        ready.message,
        "1 enforced rule passes, 1 waived: prod/health by w"
    );
    assert_eq!(out.status.timeline[0].message, ready.message);
    assert_eq!(
        out.next_review,
        Some(t("2026-11-26T00:00:00Z")),
        "re-decide when the waiver expires"
    );
}

/// The policy's spec.waivers bound what the engine applies, however the Waiver was made: its
/// length from creation (from the decision when it has none), and which rules may be waived.
#[test]
fn waivers_beyond_the_policy_limits_are_not_applied() {
    let failing = vec![item("health", Failed, 1), item("ci", Complete, 1)];
    let with_limits = |limits: &str| {
        let mut p = two_rules();
        p[0] = policy(
            "prod",
            &format!(
                "  waivers: {limits}\n  rules:\n  - name: health\n    evidence: {{source: health}}\n  - name: ci\n    evidence: {{source: ci}}\n"
            ),
        );
        p
    };
    let created = |mut w: release_passport::api::Waiver, at: &str| {
        w.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            at.parse().unwrap(),
        ));
        w
    };
    // (policies, waiver, decision, what the trace says)
    let rows = [
        (
            two_rules(),
            waiver("w", "rel", &["health"], "2026-12-09T14:00:00Z"),
            Decision::Block,
            "waiver w not applied: it lasts 14d, beyond GatePolicy prod's spec.waivers.maxDuration 7d",
        ),
        (
            two_rules(),
            waiver("w", "rel", &["health"], "2026-12-02T14:00:00Z"),
            Decision::Allow,
            "waived by w",
        ),
        (
            two_rules(),
            created(
                waiver("w", "rel", &["health"], "2026-12-01T00:00:00Z"),
                "2026-11-20T00:00:00Z",
            ),
            Decision::Block,
            "it lasts 11d",
        ),
        (
            with_limits("{maxDuration: 14d}"),
            waiver("w", "rel", &["health"], "2026-12-09T14:00:00Z"),
            Decision::Allow,
            "waived by w",
        ),
        (
            with_limits("{maxDuration: 1h}"),
            waiver("w", "rel", &["health"], "2026-11-25T16:00:00Z"),
            Decision::Block,
            "beyond GatePolicy prod's spec.waivers.maxDuration 1h",
        ),
        (
            with_limits("{rules: [ci]}"),
            waiver("w", "rel", &["health"], "2026-11-26T00:00:00Z"),
            Decision::Block,
            "waiver w not applied: GatePolicy prod does not let rule health be waived (spec.waivers.rules)",
        ),
        (
            with_limits("{rules: [health]}"),
            waiver("w", "rel", &["health"], "2026-11-26T00:00:00Z"),
            Decision::Allow,
            "waived by w",
        ),
    ];
    for (policies, waiver, expected, says) in rows {
        let case = Case::new(policies)
            .evidence(failing.clone())
            .waivers(vec![waiver.clone()]);
        let out = case.decide().status;
        assert_eq!(out.decision, Some(expected), "{:?}", waiver.spec);
        let health = out.trace.iter().find(|t| t.rule == "health").unwrap();
        assert!(
            health.message.contains(says),
            "{says:?} in {}",
            health.message
        );
    }
    // A policy cannot let a rule it does not have be waived.
    let compiled = release_passport::engine::compile(&with_limits("{rules: [helth]}")[0]);
    assert_eq!(compiled.errors[0].field, "spec.waivers.rules[0]");
}

#[test]
fn waiver_by_selector() {
    let mut w = waiver("w", "x", &["health"], "2026-11-26T00:00:00Z");
    w.spec.release_ref = None;
    w.spec.release_selector = Some(yaml("{services: [checkout], environments: [production]}"));
    let case = Case::new(two_rules())
        .evidence(vec![item("health", Failed, 1), item("ci", Complete, 1)])
        .waivers(vec![w.clone()]);
    assert_eq!(decision(&case), Decision::Allow);
    w.spec.release_selector = Some(yaml("{environments: [staging]}"));
    assert_eq!(decision(&case.waivers(vec![w])), Decision::Block);
}

#[test]
fn simulate_policies_are_traced_but_never_decide() {
    let simulate = policy(
        "strict",
        "  mode: Simulate\n  rules:\n  - name: never\n    evidence: {source: nothing}\n",
    );
    let enforce = one_rule(EVIDENCE_RULE);
    let case =
        Case::new(vec![enforce, simulate.clone()]).evidence(vec![item("health", Complete, 1)]);
    let out = case.decide().status;
    assert_eq!(out.decision, Some(Decision::Allow));
    assert!(
        out.trace
            .iter()
            .any(|t| t.policy == "strict" && t.effect == Effect::Hold)
    );
    // Only a Simulate policy: nothing enforces, so nothing can allow.
    let only = Case::new(vec![simulate]).decide().status;
    assert_eq!(only.decision, Some(Decision::Hold));
    assert_eq!(only.reasons[0], "no policy selects this release");
}

#[test]
fn no_policy_holds() {
    let out = Case::new(vec![]).decide().status;
    assert_eq!(out.decision, Some(Decision::Hold));
    assert_eq!(
        out.reasons,
        vec!["no policy selects this release".to_string()]
    );
    let unselected = policy(
        "staging",
        "  selector: {environments: [staging]}\n  rules:\n  - name: r\n    evidence: {source: x}\n",
    );
    assert_eq!(
        Case::new(vec![unselected]).decide().status.decision,
        Some(Decision::Hold)
    );
    let other_ns = {
        let mut p = one_rule(EVIDENCE_RULE);
        p.metadata.namespace = Some("elsewhere".into());
        p
    };
    assert_eq!(
        Case::new(vec![other_ns]).decide().status.reasons[0],
        "no policy selects this release"
    );
}

#[test]
fn selector_by_labels_and_service() {
    let by_label = policy(
        "tier",
        "  selector: {matchLabels: {tier: critical}}\n  rules:\n  - name: r\n    evidence: {source: x}\n",
    );
    let mut case = Case::new(vec![by_label]);
    assert_eq!(case.decide().selected_policies, Vec::<String>::new());
    case.release.metadata.labels = Some([("tier".to_string(), "critical".to_string())].into());
    assert_eq!(case.decide().selected_policies, vec!["tier".to_string()]);
    let by_service = policy(
        "pay",
        "  selector: {services: [payments]}\n  rules:\n  - name: r\n    evidence: {source: x}\n",
    );
    assert!(
        Case::new(vec![by_service])
            .decide()
            .selected_policies
            .is_empty()
    );
}

#[test]
fn invalid_policy_blocks_what_it_selects_and_stalls() {
    let invalid = one_rule("    evidence: {source: health, maxAge: soon}\n");
    let case = Case::new(vec![invalid]).evidence(vec![item("health", Complete, 1)]);
    let out = case.decide().status;
    assert_eq!(out.decision, Some(Decision::Block));
    assert!(
        out.reasons[0].contains("spec.rules[0].evidence.maxAge"),
        "{:?}",
        out.reasons
    );
    assert_eq!(
        condition(&case, ConditionType::Stalled),
        ("True".into(), conditions::REASON_INVALID_POLICY.into())
    );

    let bad_cel = one_rule("    expression: {cel: \"evidence[\"}\n");
    let out = Case::new(vec![bad_cel]).decide().status;
    assert_eq!(out.decision, Some(Decision::Block));
    assert!(out.reasons[0].contains("spec.rules[0].expression.cel"));

    let two_types = one_rule("    evidence: {source: a}\n    approval: {min: 1}\n");
    assert_eq!(
        Case::new(vec![two_types]).decide().status.decision,
        Some(Decision::Block)
    );
    let no_type = one_rule("    description: nothing\n");
    assert_eq!(
        Case::new(vec![no_type]).decide().status.decision,
        Some(Decision::Block)
    );
    let bad_zone = one_rule(
        "    window: {timeZone: Mars/Olympus, freezes: [{cron: '0 0 * * *', duration: 1h}]}\n",
    );
    assert_eq!(
        Case::new(vec![bad_zone]).decide().status.decision,
        Some(Decision::Block)
    );

    // An invalid Simulate policy is traced but changes nothing.
    let mut simulated = one_rule("    evidence: {source: health, maxAge: soon}\n");
    simulated.spec.mode = release_passport::api::PolicyMode::Simulate;
    simulated.metadata.name = Some("sim".into());
    let case = Case::new(vec![one_rule(EVIDENCE_RULE), simulated])
        .evidence(vec![item("health", Complete, 1)]);
    assert_eq!(decision(&case), Decision::Allow);
    assert_eq!(condition(&case, ConditionType::Stalled).0, "False");
}

#[test]
fn two_enforce_policies_must_both_pass() {
    let a = policy(
        "a",
        "  rules:\n  - name: health\n    evidence: {source: health}\n",
    );
    let b = policy("b", "  rules:\n  - name: ci\n    evidence: {source: ci}\n");
    let rows = [
        (
            vec![item("health", Complete, 1), item("ci", Complete, 1)],
            Decision::Allow,
        ),
        (vec![item("health", Complete, 1)], Decision::Hold),
        (vec![item("health", Failed, 1)], Decision::Block),
        (
            vec![item("health", Failed, 1), item("ci", Pending, 1)],
            Decision::Block,
        ),
    ];
    for (items, expected) in rows {
        let case = Case::new(vec![a.clone(), b.clone()]).evidence(items.clone());
        assert_eq!(decision(&case), expected, "{items:?}");
    }
    let out = Case::new(vec![b.clone(), a.clone()])
        .evidence(vec![item("health", Failed, 1)])
        .decide()
        .status;
    assert_eq!(out.reasons.len(), 2);
    assert!(
        out.reasons[0].starts_with("a/health"),
        "blocks come first: {:?}",
        out.reasons
    );
}

#[test]
fn policy_ref_pins_the_policy() {
    let pinned = policy(
        "pinned",
        "  selector: {environments: [nowhere]}\n  rules:\n  - name: r\n    evidence: {source: health}\n",
    );
    let other = policy(
        "other",
        "  rules:\n  - name: r\n    evidence: {source: absent}\n",
    );
    let mut case = Case::new(vec![pinned, other]).evidence(vec![item("health", Complete, 1)]);
    case.release.spec.policy_ref = Some(yaml("{name: pinned}"));
    let out = case.decide();
    assert_eq!(out.selected_policies, vec!["pinned".to_string()]);
    assert_eq!(out.status.decision, Some(Decision::Allow));
    case.release.spec.policy_ref = Some(yaml("{name: gone}"));
    assert_eq!(decision(&case), Decision::Hold);
    assert_eq!(
        condition(&case, ConditionType::Stalled),
        ("True".into(), conditions::REASON_POLICY_NOT_FOUND.into())
    );
}

#[test]
fn conditions_follow_the_decision() {
    let allow =
        Case::new(vec![one_rule(EVIDENCE_RULE)]).evidence(vec![item("health", Complete, 1)]);
    assert_eq!(
        condition(&allow, ConditionType::Ready),
        ("True".into(), conditions::REASON_ALLOWED.into())
    );
    assert_eq!(condition(&allow, ConditionType::Reconciling).0, "False");
    assert_eq!(condition(&allow, ConditionType::Stalled).0, "False");
    let hold = allow.clone().evidence(vec![]);
    assert_eq!(
        condition(&hold, ConditionType::Ready),
        ("False".into(), conditions::REASON_HELD.into())
    );
    let block = allow.clone().evidence(vec![item("health", Failed, 1)]);
    assert_eq!(
        condition(&block, ConditionType::Ready),
        ("False".into(), conditions::REASON_BLOCKED.into())
    );
    let status = allow.decide().status;
    assert_eq!(status.observed_generation, Some(3));
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(3))
    );
}

#[test]
fn next_review_is_the_earliest_self_change() {
    // Evidence observed 5 minutes ago with maxAge 15m goes stale in 10 minutes.
    let case = Case::new(vec![one_rule(EVIDENCE_RULE)]).evidence(vec![item("health", Complete, 5)]);
    let next = case.decide().next_review.unwrap();
    assert_eq!(next, t("2026-11-25T14:10:00.001Z"));
    assert_eq!(
        case.clone()
            .at("2026-11-25T14:10:00.001Z")
            .decide()
            .status
            .decision,
        Some(Decision::Hold)
    );
    assert_eq!(
        case.at("2026-11-25T14:10:00Z").decide().status.decision,
        Some(Decision::Allow)
    );
    // A freeze window opens Friday 18:00 Berlin.
    let window = Case::new(vec![one_rule(WINDOW_RULE)]);
    assert_eq!(window.decide().next_review, Some(t("2026-11-27T17:00:00Z")));
    // Nothing time-bound: no review needed.
    let plain = Case::new(vec![one_rule("    evidence: {source: health}\n")])
        .evidence(vec![item("health", Complete, 1)]);
    assert_eq!(plain.decide().next_review, None);
}

#[test]
fn previous_status_keeps_transition_times_and_timeline() {
    let case = Case::new(vec![one_rule(EVIDENCE_RULE)]).evidence(vec![item("health", Complete, 1)]);
    let first = case.decide().status;
    let compiled: Vec<_> = case
        .policies
        .iter()
        .map(|p| std::sync::Arc::new(release_passport::engine::compile(p)))
        .collect();
    let later = common::t("2026-11-25T14:05:00Z");
    let again = release_passport::engine::evaluate(&release_passport::engine::Input {
        release: &case.release,
        policies: &compiled,
        approvals: &[],
        waivers: &[],
        evidence: &case.evidence,
        previous: Some(&first),
        previous_release: None,
        now: later,
        clock_skew: release_passport::engine::provenance::DEFAULT_CLOCK_SKEW,
    })
    .status;
    assert_eq!(
        again.conditions, first.conditions,
        "nothing changed: same conditions, same times"
    );
    assert_eq!(again.timeline, first.timeline);
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&first).unwrap()
    );
}

#[test]
fn an_expired_observation_is_stale_even_without_max_age() {
    let mut fresh = item("health", Complete, 1);
    fresh.expires_at = Some(t("2026-11-25T14:05:00Z"));
    let case = Case::new(vec![one_rule("    evidence: {source: health}\n")]).evidence(vec![fresh]);
    let out = case.decide();
    assert_eq!(out.status.decision, Some(Decision::Allow));
    assert_eq!(
        out.next_review,
        Some(t("2026-11-25T14:05:00Z")),
        "re-decide when it expires"
    );
    let later = case.at("2026-11-25T14:05:00Z").decide().status;
    assert_eq!(later.decision, Some(Decision::Hold));
    assert_eq!(later.evidence[0].status, Stale);
}

const WATCHED: &str = "  rules:
  - name: healthy
    evidence: {source: workload-health}
  postDeployWatch:
    duration: 30m
    rules:
    - name: errors-after-promotion
      metric: {query: 'rate(errors{$labels}[5m])', op: '<', threshold: 0.01}
";

#[test]
fn post_deploy_watch_starts_on_promotion_and_fails_into_a_rollback_recommendation() {
    use release_passport::api::passport::WatchPhase;
    let errors = |v: f64, at: i64| metric(EXPANDED, Some(v), at);
    let base = Case::new(vec![policy("prod", WATCHED)]);
    // Not promoted yet: the workload is not healthy.
    let before = base
        .clone()
        .evidence(vec![item("workload-health", Pending, 1)])
        .decide()
        .status;
    assert_eq!(before.watch.as_ref().unwrap().phase, WatchPhase::NotStarted);
    // Allowed and healthy: the watch starts now and ends in 30 minutes.
    let start = base
        .clone()
        .evidence(vec![item("workload-health", Complete, 1), errors(0.001, 1)])
        .decide();
    let w = start.status.watch.clone().unwrap();
    assert_eq!((w.phase, w.started_at), (WatchPhase::Watching, Some(now())));
    assert_eq!(start.next_review, Some(t("2026-11-25T14:30:00Z")));
    // Ten minutes later the error rate jumps: the watch fails, rollback is recommended, and the
    // decision is untouched (the release is already out).
    let compiled: Vec<_> = base
        .policies
        .iter()
        .map(|p| std::sync::Arc::new(release_passport::engine::compile(p)))
        .collect();
    let decide = |evidence: Vec<release_passport::engine::EvidenceItem>,
                  previous: &release_passport::api::ReleasePassportStatus,
                  at: &str| {
        release_passport::engine::evaluate(&release_passport::engine::Input {
            release: &base.release,
            policies: &compiled,
            approvals: &[],
            waivers: &[],
            evidence: &evidence,
            previous: Some(previous),
            previous_release: None,
            now: t(at),
            clock_skew: release_passport::engine::provenance::DEFAULT_CLOCK_SKEW,
        })
        .status
    };
    let failed = decide(
        vec![item("workload-health", Complete, 1), errors(0.2, -9)],
        &start.status,
        "2026-11-25T14:10:00Z",
    );
    assert_eq!(failed.decision, Some(Decision::Allow));
    let w = failed.watch.clone().unwrap();
    assert_eq!(w.phase, WatchPhase::Failed);
    assert!(
        w.message
            .unwrap()
            .contains("prod/errors-after-promotion failed")
    );
    assert!(failed.rollback.as_ref().unwrap().recommended);
    // A failed watch stays failed, even once the errors go away.
    let later = decide(
        vec![item("workload-health", Complete, 1), errors(0.001, -20)],
        &failed,
        "2026-11-25T14:20:00Z",
    );
    assert_eq!(later.watch.unwrap().phase, WatchPhase::Failed);
    // A quiet watch passes at its end.
    let passed = decide(
        vec![item("workload-health", Complete, 1), errors(0.001, -29)],
        &start.status,
        "2026-11-25T14:30:00Z",
    );
    assert_eq!(passed.watch.unwrap().phase, WatchPhase::Passed);
    assert!(!passed.rollback.unwrap().recommended);
}

#[test]
fn a_policy_can_require_rollback_readiness() {
    use release_passport::engine::{EvidenceItem, Input, PreviousRelease, compile, evaluate};
    let p = policy(
        "prod",
        "  rules:\n  - name: rollback-ready\n    evidence: {source: rollback-ready}\n",
    );
    let compiled = vec![std::sync::Arc::new(compile(&p))];
    let mut case = Case::new(vec![p]);
    let decide_with =
        |case: &Case, previous: Option<&PreviousRelease>, evidence: &[EvidenceItem]| {
            evaluate(&Input {
                release: &case.release,
                policies: &compiled,
                approvals: &[],
                waivers: &[],
                evidence,
                previous: None,
                previous_release: previous,
                now: now(),
                clock_skew: release_passport::engine::provenance::DEFAULT_CLOCK_SKEW,
            })
            .status
        };
    let seen = |status, summary: &str| EvidenceItem {
        summary: Some(summary.into()),
        ..item("rollback-revision", status, 1)
    };
    let present = seen(
        Complete,
        "ReplicaSet shop/web-5d8 (revision 4) still runs 1.0.0",
    );
    let decide = |case: &Case, previous: Option<&PreviousRelease>| {
        decide_with(case, previous, std::slice::from_ref(&present))
    };
    let none = decide(&case, None);
    assert_eq!(none.decision, Some(Decision::Hold));
    assert!(
        none.reasons[0].contains("no previous release is named"),
        "{:?}",
        none.reasons
    );
    case.release.spec.previous = Some("web-1-0-0".into());
    let good = PreviousRelease {
        name: "web-1-0-0".into(),
        version: "1.0.0".into(),
        revision: "1.0.0".into(),
        decision: Some(Decision::Allow),
    };
    let ready = decide(&case, Some(&good));
    assert_eq!(ready.decision, Some(Decision::Allow));
    let rollback = ready.rollback.unwrap();
    assert_eq!(rollback.revision.as_deref(), Some("1.0.0"));
    assert!(
        rollback.reason.contains("revision 4"),
        "{}",
        rollback.reason
    );
    // Allowed, but nothing confirms the revision still exists: not ready.
    let unconfirmed = decide_with(&case, Some(&good), &[]);
    assert_eq!(unconfirmed.decision, Some(Decision::Hold));
    assert!(
        unconfirmed
            .rollback
            .unwrap()
            .reason
            .contains("no connector has confirmed"),
    );
    // The revision was pruned: not ready, and the reason says where it was looked for.
    let pruned = seen(
        Failed,
        "no ReplicaSet or ControllerRevision in scope runs 1.0.0 any more",
    );
    let gone = decide_with(&case, Some(&good), std::slice::from_ref(&pruned));
    assert_eq!(gone.decision, Some(Decision::Hold));
    assert!(gone.rollback.unwrap().reason.contains("revision is gone"));
    // One connector confirming is enough (Argo CD history still holds it).
    let either = decide_with(&case, Some(&good), &[pruned, present.clone()]);
    assert!(either.rollback.unwrap().ready);
    // An expired confirmation no longer counts.
    let mut expired = present.clone();
    expired.expires_at = Some(now() - chrono::Duration::minutes(1));
    assert!(
        !decide_with(&case, Some(&good), &[expired])
            .rollback
            .unwrap()
            .ready
    );
    let held = PreviousRelease {
        decision: Some(Decision::Hold),
        ..good
    };
    assert_eq!(decide(&case, Some(&held)).decision, Some(Decision::Hold));
}

/// A passport stays under 64 KiB whatever the evidence count, and the decision and the counts
/// still cover every rule.
#[test]
fn a_passport_stays_small_with_hundreds_of_rules() {
    for failing in [0usize, 400] {
        let mut rules = String::new();
        let mut items = Vec::new();
        for i in 0..400 {
            rules.push_str(&format!(
                "  - name: check-{i:03}\n    evidence: {{source: source-{i:03}}}\n"
            ));
            let status = if i < failing { Failed } else { Complete };
            let mut it = item(&format!("source-{i:03}"), status, 1);
            it.summary = Some("x".repeat(2000));
            items.push(it);
        }
        let case = Case::new(vec![policy("big", &format!("  rules:\n{rules}"))]).evidence(items);
        let status = case.decide().status;
        let passport = release_passport::decide::passport_for(&case.release, &case.decide());
        let bytes = serde_json::to_vec(&passport).unwrap().len();
        assert!(bytes < 64 * 1024, "{bytes} bytes with {failing} failing");
        assert_eq!(
            status.decision,
            Some(if failing > 0 {
                Decision::Block
            } else {
                Decision::Allow
            })
        );
        let complete = 400 - failing;
        assert_eq!(
            status.evidence_summary.map(|c| c.to_string()),
            Some(format!("{complete}/400"))
        );
        assert!(
            status
                .trace
                .last()
                .unwrap()
                .message
                .contains("more rules not listed"),
            "{:?}",
            status.trace.last()
        );
        assert!(status.reasons.len() <= 20);
    }
}

/// A freeze as `passport freeze` writes it holds every release of its namespace with the reason
/// while its window is open, and not once it is ended.
#[test]
fn a_freeze_holds_while_on_and_not_once_ended() {
    let allow = policy(
        "open",
        "  rules:\n  - name: always\n    expression: {cel: 'true'}\n",
    );
    let started = t("2026-11-25T13:00:00Z");
    let frozen = release_passport::freeze::policy(
        "shop",
        "payments outage INC-4711",
        "alice",
        started,
        Some(chrono::Duration::hours(4)),
    );
    let case = Case::new(vec![allow.clone(), frozen.clone()]);
    let out = case.decide().status;
    assert_eq!(out.decision, Some(Decision::Hold));
    assert!(
        out.reasons[0].starts_with(
            "freeze-1795611600/emergency-freeze: inside freeze window payments outage INC-4711 until 2026-11-25T17:00:00Z"
        ),
        "{:?}",
        out.reasons
    );
    let record = release_passport::freeze::Freeze::of(&frozen).unwrap();
    let patch = release_passport::freeze::end_patch(&record, "bob", t("2026-11-25T13:30:00Z"));
    let mut ended = serde_json::to_value(&frozen).unwrap();
    json_patch_merge(&mut ended, &patch);
    let ended: release_passport::api::GatePolicy = serde_json::from_value(ended).unwrap();
    assert_eq!(decision(&Case::new(vec![allow, ended])), Decision::Allow);
}

/// RFC 7386 merge, as the API server applies `passport freeze --end`'s patch.
fn json_patch_merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match (target, patch) {
        (serde_json::Value::Object(t), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    json_patch_merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// A metric judged against its own baseline (BRIEF §2, #35): the release's samples since its
/// start (once the query's `[5m]` has left the old version behind) against the 30 minutes
/// before, or against the previous version at the same time.
mod compared {
    use super::*;

    const STARTED: &str = "2026-11-25T13:00:00Z";
    const MINE: &str = "rate(errors{service=\"checkout\"}[5m]) @samples=2026-11-25T13:05:00Z+30m";
    const BEFORE: &str = "rate(errors{service=\"checkout\"}[5m]) @samples=2026-11-25T12:30:00Z+30m";

    fn rule(extra: &str) -> release_passport::api::GatePolicy {
        one_rule(&format!(
            "    metric: {{query: '{Q}', unit: ratio, compare: {{window: 30m, worse: higher, tolerancePercent: 20, toleranceAbsolute: 0.001, significance: 0.05{extra}}}}}\n"
        ))
    }

    /// 60 samples around `centre`, ±5%.
    fn around(centre: f64) -> Vec<f64> {
        (0..60)
            .map(|i| centre * (0.95 + 0.1 * f64::from(i) / 59.0))
            .collect()
    }

    fn case(extra: &str, mine: Vec<f64>, before: Vec<f64>) -> Case {
        Case::new(vec![rule(&format!(", baseline: before{extra}"))])
            .started(STARTED)
            .evidence(vec![samples(MINE, mine, 20), samples(BEFORE, before, 20)])
    }

    #[test]
    fn rows() {
        // (release centre, baseline centre, decision, evidence status, the trace's words)
        let rows = [
            (
                0.0081,
                0.001,
                Decision::Block,
                Failed,
                "0.81% since 2026-11-25T13:05:00Z vs 0.1% in the 30m before: 8.1× higher, significantly worse — p < 0.001 (Mann-Whitney, 60 vs 60 samples)",
            ),
            (
                0.0011,
                0.001,
                Decision::Allow,
                Complete,
                "0.11% since 2026-11-25T13:05:00Z vs 0.1% in the 30m before: 10% higher, within the tolerance (20% and 0.1%) — p < 0.001 (Mann-Whitney, 60 vs 60 samples)",
            ),
            (0.0008, 0.001, Decision::Allow, Complete, "20% lower"),
        ];
        for (mine, before, decision, status, words) in rows {
            let out = case("", around(mine), around(before)).decide().status;
            assert_eq!(
                out.decision,
                Some(decision),
                "{mine} vs {before}: {:?}",
                out.trace
            );
            assert_eq!(out.evidence[0].status, status);
            assert_eq!(out.evidence[0].query.as_deref(), Some(MINE));
            assert!(
                out.trace[0].message.contains(words),
                "{}",
                out.trace[0].message
            );
        }
        // The passport keeps the summary, never the samples.
        let out = case("", around(0.0081), around(0.001)).decide().status;
        assert_eq!(
            out.evidence[0].summary.as_deref(),
            Some("median 0.81% vs 0.1% (8.1×), p < 0.001, 60 vs 60 samples")
        );
        // Typed, for the truth screen's chart and Radar: the limit is the baseline moved by the
        // larger tolerance (0.1 points beats 20% of 0.1%).
        let c = out.evidence[0].comparison.as_ref().unwrap();
        assert!(
            (c.limit - (c.baseline_median + 0.001)).abs() < 1e-12,
            "{c:?}"
        );
        assert_eq!(
            (c.release_samples, c.baseline_samples, c.baseline.as_str()),
            (60, 60, "the 30m before")
        );
        assert!(c.p_value.is_some_and(|p| p < 0.001));
        assert!(c.tolerance_used().is_some_and(|u| u > 5.0), "{c:?}");
        let recorded = serde_json::to_string(&out).unwrap();
        assert!(!recorded.contains("samples\":"), "{recorded}");
    }

    #[test]
    fn pending_until_the_window_and_its_samples_are_in() {
        let early = case("", around(0.0081), around(0.001)).at("2026-11-25T13:20:00Z");
        let out = early.decide();
        assert_eq!(out.status.decision, Some(Decision::Hold));
        assert_eq!(out.status.evidence[0].status, Pending);
        assert_eq!(
            out.status.trace[0].message,
            "comparison window not yet elapsed: 15m of 30m since 2026-11-25T13:05:00Z"
        );
        assert_eq!(out.next_review, Some(t("2026-11-25T13:35:00Z")));
        // Samples read before the window closed are not the whole window.
        let read_early = Case::new(vec![rule(", baseline: before")])
            .started(STARTED)
            .evidence(vec![
                samples(MINE, around(0.0081), 40),
                samples(BEFORE, around(0.001), 40),
            ]);
        let out = read_early.decide().status;
        assert_eq!(out.decision, Some(Decision::Hold));
        assert_eq!(
            out.trace[0].message,
            "waiting for the samples up to 2026-11-25T13:35:00Z"
        );
    }

    #[test]
    fn too_few_samples_take_the_no_data_effect() {
        let few = around(0.0081)[..5].to_vec();
        let out = case("", few.clone(), around(0.001)).decide().status;
        assert_eq!(out.decision, Some(Decision::Hold));
        assert_eq!(out.evidence[0].status, Missing);
        assert!(
            out.trace[0]
                .message
                .ends_with("too few samples to judge (5 vs 60 samples, at least 10 each)"),
            "{}",
            out.trace[0].message
        );
        let out = case(", minSamples: 5", few, around(0.001)).decide().status;
        assert_eq!(out.decision, Some(Decision::Block), "{:?}", out.trace);
        let block = Case::new(vec![one_rule(&format!(
            "    metric: {{query: '{Q}', onNoData: Block, compare: {{baseline: before, window: 30m, worse: higher}}}}\n"
        ))])
        .started(STARTED);
        assert_eq!(
            block.decide().status.decision,
            Some(Decision::Hold),
            "no samples read yet: the window's samples are awaited"
        );
    }

    /// The canary form: the same window, the version label set to each side's version.
    #[test]
    fn against_the_previous_version() {
        let v = |version: &str| {
            format!(
                "rate(errors{{service=\"checkout\",version=\"{version}\"}}[5m]) @samples=2026-11-25T13:05:00Z+30m"
            )
        };
        let canary = |mine: f64| {
            Case::new(vec![rule(", baseline: previousVersion")])
                .started(STARTED)
                .after_version("0.9.0")
                .evidence(vec![
                    samples(&v("1.0.0"), around(mine), 20),
                    samples(&v("0.9.0"), around(0.001), 20),
                ])
        };
        let out = canary(0.0081).decide().status;
        assert_eq!(out.decision, Some(Decision::Block), "{:?}", out.trace);
        assert!(
            out.trace[0]
                .message
                .contains("vs 0.1% for 0.9.0 at the same time: 8.1× higher"),
            "{}",
            out.trace[0].message
        );
        assert_eq!(
            canary(0.001).decide().status.decision,
            Some(Decision::Allow)
        );
        // What the connectors are asked: both versions, the same window.
        let c = canary(0.001);
        let compiled = vec![std::sync::Arc::new(release_passport::engine::compile(
            &c.policies[0],
        ))];
        let needs = release_passport::engine::needs::needs(&c.release, &compiled, Some("0.9.0"));
        let asked: Vec<String> = needs.metrics.iter().map(|m| m.query.to_string()).collect();
        assert_eq!(asked, [v("0.9.0"), v("1.0.0")]);
        // No previous release: nothing to compare with.
        let alone = Case::new(vec![rule(", baseline: previousVersion")]).started(STARTED);
        let out = alone.decide().status;
        assert_eq!(out.decision, Some(Decision::Hold));
        assert_eq!(
            out.trace[0].message,
            "no previous release (spec.previous) to compare with"
        );
    }

    /// The simulator replays passports, which keep what a comparison found and never the
    /// samples: a candidate's tolerance is judged from the recorded medians, its test from the
    /// recorded p-value when taken in the same direction.
    #[test]
    fn a_recorded_comparison_replays_in_the_simulator() {
        let decided = case("", around(0.0081), around(0.001)).decide().status;
        assert_eq!(decided.decision, Some(Decision::Block));
        let passport: release_passport::api::ReleasePassport =
            serde_json::from_value(serde_json::json!({
                "apiVersion": "releasepassport.io/v1alpha1",
                "kind": "ReleasePassport",
                "metadata": {"name": "rel", "namespace": "shop"},
                "spec": {"releaseRef": {"name": "rel"}, "service": "checkout", "version": "1.0.0",
                         "environment": "production", "metricLabels": {"service": "checkout"}},
                "status": decided,
            }))
            .unwrap();
        // The rule as recorded, changed by `change`, replayed.
        let would = |change: &dyn Fn(&mut release_passport::api::policy::MetricCompare)| {
            let mut candidate = rule(", baseline: before");
            change(
                candidate.spec.rules[0]
                    .metric
                    .as_mut()
                    .unwrap()
                    .compare
                    .as_mut()
                    .unwrap(),
            );
            let replays = release_passport::simulate::replay(&candidate, [&passport], None);
            (replays[0].would, replays[0].why.clone().unwrap_or_default())
        };
        let (same, why) = would(&|_| {});
        assert_eq!(same, Decision::Block, "{why}");
        assert!(
            why.contains(
                "8.1× higher, significantly worse — p < 0.001 (Mann-Whitney, 60 vs 60 samples)"
            ),
            "{why}"
        );
        let (tolerant, why) = would(&|c| {
            c.tolerance_percent = Some(1000.0);
            c.tolerance_absolute = None;
        });
        assert_eq!(tolerant, Decision::Allow, "{why}");
        let (elsewhere, why) =
            would(&|c| c.window = release_passport::api::DurationString("45m".into()));
        assert_eq!(elsewhere, Decision::Hold, "{why}");
        assert!(
            why.ends_with(
                "@samples=2026-11-25T13:05:00Z+45m: a replay cannot judge another window"
            ),
            "{why}"
        );
        let (other_way, why) =
            would(&|c| c.worse = release_passport::api::policy::WorseWhen::Lower);
        assert_eq!(other_way, Decision::Hold, "{why}");
        assert!(
            why.ends_with("no test in this direction was recorded to reuse (60 vs 60 samples)"),
            "{why}"
        );
    }

    #[test]
    fn the_before_baseline_asks_both_windows() {
        let c = case("", Vec::new(), Vec::new());
        let compiled = vec![std::sync::Arc::new(release_passport::engine::compile(
            &c.policies[0],
        ))];
        let needs = release_passport::engine::needs::needs(&c.release, &compiled, None);
        let asked: Vec<String> = needs.metrics.iter().map(|m| m.query.to_string()).collect();
        assert_eq!(asked, [BEFORE, MINE]);
    }

    #[test]
    fn a_comparison_is_checked_field_by_field() {
        let errors = |metric: &str| {
            let p = one_rule(&format!("    metric: {metric}\n"));
            release_passport::engine::compile(&p)
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        };
        for (metric, expected) in [
            (
                "{query: 'up', op: '<', threshold: 1, compare: {baseline: before, window: 30m, worse: higher}}",
                "spec.rules[0].metric: sets op and threshold, or compare",
            ),
            (
                "{query: 'up', compare: {baseline: previousVersion, window: 30m, worse: higher}}",
                "spec.rules[0].metric.compare.baseline: previousVersion needs $labels in the query: the version matcher goes there",
            ),
            (
                "{query: 'up', range: 5m, compare: {baseline: before, window: 30m, worse: higher}}",
                "spec.rules[0].metric.range: does not apply to compare (its windows are compare.window)",
            ),
            (
                "{query: 'up', compare: {baseline: before, window: 30m, worse: higher, significance: 1.5}}",
                "spec.rules[0].metric.compare.significance: must be between 0 and 1",
            ),
            (
                "{query: 'up{$labels}', compare: {baseline: previousVersion, window: 30m, worse: higher, versionLabel: 'not a label'}}",
                "spec.rules[0].metric.compare.versionLabel: must be a Prometheus label name",
            ),
        ] {
            let found = errors(metric);
            assert!(found.iter().any(|e| e == expected), "{metric}: {found:?}");
        }
    }
}

/// The comparison docs/policies.md shows is a rule that compiles as shown.
#[test]
fn the_documented_comparison_compiles() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/policies.md")).unwrap();
    let section = doc.split("## Judged against the baseline").nth(1).unwrap();
    let block = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let indented: String = block.lines().map(|l| format!("  {l}\n")).collect();
    let p = policy("documented", &format!("  rules:\n{indented}"));
    let compiled = release_passport::engine::compile(&p);
    assert!(compiled.errors.is_empty(), "{:?}", compiled.errors);
    assert!(matches!(
        &compiled.rules[0].kind,
        release_passport::engine::compile::RuleKind::Metric(m)
            if matches!(m.judge, release_passport::engine::compile::MetricJudge::Compare(_))
    ));
}
