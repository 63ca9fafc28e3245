//! Delivery metrics on a hand-checked history of one service: promotions, a failed watch, a
//! rollback (redeploying the version before), a hotfix, a release never promoted, a window
//! boundary, and retention having folded the oldest passports away.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use release_passport::api::Decision;
use release_passport::metrics::delivery::{Record, Rollups, Scope};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn promoted(version: &str, at: &str, committed: Option<&str>) -> Record {
    Record {
        namespace: "shop".into(),
        service: "web".into(),
        environment: "prod".into(),
        version: version.into(),
        created: Some(t(at) - Duration::minutes(30)),
        promoted_at: Some(t(at)),
        committed_at: committed.map(t),
        failed: false,
        hotfix: false,
        decision: Some(Decision::Allow),
        dwell: None,
        approval_waits: Vec::new(),
        evidence: (3, 3),
        holding: Vec::new(),
    }
}

/// 1.0 ok · 2.0 watch failed · 3.0 recovers · 4.0 then rolled back to 3.0 · hotfix 5.0 ·
/// 6.0 never promoted.
fn history() -> Vec<Record> {
    let mut failed = promoted("2.0", "2026-11-02T10:00:00Z", Some("2026-11-02T06:00:00Z"));
    failed.failed = true;
    let mut hotfix = promoted("5.0", "2026-11-07T10:00:00Z", None);
    hotfix.hotfix = true;
    let mut held = promoted("6.0", "2026-11-08T09:00:00Z", None);
    held.promoted_at = None;
    held.decision = Some(Decision::Hold);
    held.holding = vec!["prod/approved".into()];
    held.evidence = (1, 3);
    held.dwell = None;
    held.approval_waits = vec![600];
    vec![
        promoted("1.0", "2026-11-01T10:00:00Z", Some("2026-11-01T08:00:00Z")),
        failed,
        promoted("3.0", "2026-11-02T13:00:00Z", Some("2026-11-02T12:00:00Z")),
        promoted("4.0", "2026-11-05T09:00:00Z", Some("2026-11-05T08:00:00Z")),
        promoted("3.0", "2026-11-05T12:00:00Z", None),
        hotfix,
        held,
    ]
}

const FALLBACK: &str = "2026-11-10";

#[test]
fn the_five_dora_metrics_and_the_gate_figures() {
    let rollups = Rollups::fold(&history(), day(FALLBACK));
    let f = rollups.figures(&Scope::default(), day("2026-11-01"), day("2026-11-10"));
    assert_eq!((f.releases, f.deployments), (7, 6));
    assert!(
        (f.deployment_frequency - 0.6).abs() < 1e-9,
        "6 promotions in 10 days"
    );
    // Lead times 2h, 4h, 1h, 1h → median 1.5h.
    assert_eq!(f.lead_time_median, Some(Duration::minutes(90)));
    // Failed: 2.0 (watch), 4.0 (rolled back), the second 3.0 (superseded by the hotfix).
    assert_eq!(f.change_fail_rate, Some(0.5));
    // Recoveries: 2.0→3.0 3h, 4.0→3.0 3h, 3.0→5.0 46h → median 3h.
    assert_eq!(f.recovery_median, Some(Duration::hours(3)));
    assert_eq!(
        f.rework_rate,
        Some(0.5),
        "3.0, the rollback and the hotfix were unplanned"
    );
    assert_eq!(f.rollback_rate, Some(1.0 / 6.0));
    assert_eq!(f.held, 1);
    assert_eq!(f.approval_wait_median, Some(Duration::minutes(10)));
    assert_eq!(f.evidence_completeness, Some(19.0 / 21.0));
    assert_eq!(
        rollups.hold_reasons(&Scope::default(), day("2026-11-01"), day("2026-11-10"), 5),
        vec![("prod/approved".to_string(), 1)]
    );
}

#[test]
fn a_window_counts_only_its_days() {
    let rollups = Rollups::fold(&history(), day(FALLBACK));
    // 11-02..11-05: 2.0, 3.0, 4.0, 3.0 promoted; 2.0 failed, and 4.0 and the second 3.0 were
    // found failed later (their failure counts on their own day).
    let f = rollups.figures(&Scope::default(), day("2026-11-02"), day("2026-11-05"));
    assert_eq!(f.deployments, 4);
    assert_eq!(f.change_fail_rate, Some(0.75));
    assert!((f.deployment_frequency - 1.0).abs() < 1e-9);
    let series = rollups.daily_deployments(&Scope::default(), day("2026-11-01"), day("2026-11-03"));
    assert_eq!(
        series.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        vec![1, 2, 0]
    );
    // Another service's scope sees nothing.
    let other = Scope {
        namespace: None,
        service: Some("api".into()),
        environment: None,
    };
    assert_eq!(
        rollups
            .figures(&other, day("2026-11-01"), day("2026-11-10"))
            .deployments,
        0
    );
}

#[test]
fn no_deployments_and_one_deployment() {
    let none = Rollups::fold(&[], day(FALLBACK));
    let f = none.figures(&Scope::default(), day("2026-11-01"), day("2026-11-30"));
    assert_eq!(f.deployments, 0);
    assert_eq!(f.deployment_frequency, 0.0);
    assert_eq!(
        (f.change_fail_rate, f.lead_time_median, f.recovery_median),
        (None, None, None)
    );
    let one = Rollups::fold(
        &[promoted(
            "1.0",
            "2026-11-03T10:00:00Z",
            Some("2026-11-03T09:30:00Z"),
        )],
        day(FALLBACK),
    );
    let f = one.figures(&Scope::default(), day("2026-11-01"), day("2026-11-30"));
    assert_eq!(f.deployments, 1);
    assert_eq!(f.change_fail_rate, Some(0.0));
    assert_eq!(f.lead_time_median, Some(Duration::minutes(30)));
    assert_eq!(f.recovery_median, None);
}

#[test]
fn rollups_still_answer_after_retention_deleted_the_passports() {
    let all = history();
    let full = Rollups::fold(&all, day(FALLBACK));
    // Retention folds the four oldest into the kept rollups and deletes them; the live view
    // continues from there with the passports that remain.
    let mut kept = Rollups::fold(&all[..4], day(FALLBACK));
    let stored = serde_json::to_string(&kept).unwrap();
    kept = serde_json::from_str(&stored).unwrap();
    for r in &all[4..] {
        kept.add(r, day(FALLBACK));
    }
    assert_eq!(kept, full);
    let window = (day("2026-11-01"), day("2026-11-10"));
    assert_eq!(
        kept.figures(&Scope::default(), window.0, window.1),
        full.figures(&Scope::default(), window.0, window.1)
    );
}

#[test]
fn a_passport_becomes_a_record() {
    let p: release_passport::api::ReleasePassport = serde_yaml_ng::from_str(
        r#"
apiVersion: releasepassport.io/v1alpha1
kind: ReleasePassport
metadata: {name: web-2-0, namespace: shop, creationTimestamp: "2026-11-02T09:00:00Z"}
spec:
  releaseRef: {name: web-2-0}
  service: web
  version: "2.0"
  environment: prod
  revision: {commit: abc, committedAt: "2026-11-02T06:00:00Z"}
status:
  decision: Allow
  timeline:
    - {at: "2026-11-02T09:00:00Z", decision: Hold, message: waiting}
    - {at: "2026-11-02T09:40:00Z", decision: Allow, message: ok}
  watch: {phase: Failed, duration: 30m, startedAt: "2026-11-02T10:00:00Z", rules: [errors]}
"#,
    )
    .unwrap();
    let r = Record::from_passport(&p);
    assert_eq!(
        r.promoted_at,
        Some(t("2026-11-02T10:00:00Z")),
        "promotion = the watch start"
    );
    assert_eq!(r.committed_at, Some(t("2026-11-02T06:00:00Z")));
    assert!(r.failed);
    assert_eq!(r.dwell, Some(Duration::minutes(40)));
}
