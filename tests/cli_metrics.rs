//! `passport metrics` end to end: hand-checked figures from a recorded history, the 90-day demo
//! history as a table and CSV, and bad input as a clear error with exit 3.

use crate::common;

use common::demo::passport;

/// `passport metrics -f tests/metrics/web.yaml … -o json`, parsed. The file has no recordedAt,
/// so the window ends now: look back far enough.
fn web_metrics(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "metrics",
        "-f",
        "tests/metrics/web.yaml",
        "--since",
        "3650d",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = passport(&args);
    common::demo::assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn figures_from_recorded_history() {
    let v = web_metrics(&[]);
    let all = &v["all"];
    assert_eq!(all["deployments"], 3);
    // Lead times: 2h, 4h, 1h → 2h.
    assert_eq!(all["leadTimeMedian"], 7200);
    assert!((all["changeFailRate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(all["recoveryMedian"], 3 * 3600);
    assert!((all["reworkRate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(all["dwellMedian"], 40 * 60);
    assert!((all["evidenceCompleteness"].as_f64().unwrap() - 8.0 / 9.0).abs() < 1e-9);
    assert_eq!(v["targets"]["shop/web/production"]["deployments"], 3);
    // Another service: nothing.
    let v = web_metrics(&["--service", "api"]);
    assert_eq!(v["all"]["deployments"], 0);
    assert!(v["all"]["changeFailRate"].is_null());
}

#[test]
fn the_demo_history_as_a_table_and_csv() {
    let out = passport(&["metrics", "-f", "examples/history", "--since", "120d"]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    for target in [
        "shop/checkout/production",
        "shop/payments/staging",
        "shop/catalog/production",
    ] {
        assert!(table.contains(target), "{table}");
    }
    assert!(table.contains("Top hold reasons"), "{table}");
    let out = passport(&[
        "metrics",
        "-f",
        "examples/history",
        "--since",
        "120d",
        "-o",
        "csv",
        "--env",
        "production",
    ]);
    let csv = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("target,releases,deploys,per_day,lead_time,fail_rate"),
        "{csv}"
    );
    assert_eq!(
        lines.len(),
        1 + 1 + 3,
        "header, all, three production targets: {csv}"
    );
    assert!(
        !csv.contains(",'-"),
        "missing figures are empty cells: {csv}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.yaml");
    std::fs::write(&bad, "kind: ReleasePassport\napiVersion: releasepassport.io/v1alpha1\nmetadata: {name: x}\nspec: [not, a, map]\n").unwrap();
    let out = passport(&["metrics", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.yaml") && stderr.contains("spec"),
        "{stderr}"
    );
}
