//! `passport simulate` end to end: a stricter candidate replayed over passports recorded by
//! `passport evaluate`, with a known answer.

use crate::common;

use common::demo::passport;

const CANDIDATE: &str = r#"apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {name: stricter-staging-errors, namespace: shop}
spec:
  mode: Simulate
  selector: {environments: [staging]}
  rules:
    - name: error-rate
      metric:
        query: sum(rate(http_requests_total{$labels,code=~"5.."}[5m])) / sum(rate(http_requests_total{$labels}[5m]))
        op: "<"
        threshold: 0.003
"#;

#[test]
fn replays_a_candidate_over_recorded_passports() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = passport(&[
        "evaluate",
        "-f",
        "examples/shop",
        "--at",
        "2026-11-25T14:00:00Z",
        "-o",
        "yaml",
    ]);
    std::fs::write(dir.path().join("recorded.yaml"), &recorded.stdout).unwrap();
    std::fs::write(dir.path().join("candidate.yaml"), CANDIDATE).unwrap();
    let out = passport(&[
        "simulate",
        "--policy",
        dir.path().join("candidate.yaml").to_str().unwrap(),
        "--from",
        dir.path().join("recorded.yaml").to_str().unwrap(),
        "-o",
        "json",
    ]);
    common::demo::assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let releases = v[0]["releases"].as_array().unwrap();
    let got: Vec<(String, String, String)> = releases
        .iter()
        .map(|r| {
            (
                r["release"].as_str().unwrap().into(),
                r["recorded"].as_str().unwrap().into(),
                r["would"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "shop/catalog-staging-1-12-0".to_string(),
                "Block".to_string(),
                "Block".to_string()
            ),
            (
                "shop/checkout-staging-2-4-0".into(),
                "Allow".into(),
                "Block".into()
            ),
            (
                "shop/payments-staging-5-1-0".into(),
                "Hold".into(),
                "Allow".into()
            ),
        ],
        "only staging releases are selected; production is left out"
    );
    assert_eq!(
        v[0]["summary"],
        "would have blocked 2 and held 0 of 3 (allowed 1); 2 decisions differ from what was recorded"
    );
    // --since leaves out decisions older than the window (these are from 2026-11-25).
    let out = passport(&[
        "simulate",
        "--policy",
        dir.path().join("candidate.yaml").to_str().unwrap(),
        "--from",
        dir.path().join("recorded.yaml").to_str().unwrap(),
        "--since",
        "1h",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("of 0 (allowed 0)"));
}

#[test]
fn bad_inputs_are_errors() {
    let out = passport(&[
        "simulate",
        "--policy",
        "examples/shop/releases.yaml",
        "--from",
        "examples/shop",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no GatePolicy"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, evidence: {source: x, maxAge: never}}]}\n").unwrap();
    let out = passport(&[
        "simulate",
        "--policy",
        dir.path().join("p.yaml").to_str().unwrap(),
        "--from",
        "examples/shop",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.rules[0].evidence.maxAge"));
}
