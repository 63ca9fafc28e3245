//! `/metrics` as Prometheus reads it: the exposition (OpenMetrics, as prometheus-client writes
//! it) of the example shop's delivery metrics passes the reference parser (PyPI
//! prometheus_client; `make test` installs it) and carries service and environment labels only
//! — no release name anywhere.

use std::io::Write;
use std::process::{Command, Stdio};

use release_passport::decide::decide_all;
use release_passport::metrics::Metrics;
use release_passport::metrics::delivery::{Record, Rollups};

#[test]
fn the_exposition_parses_and_has_no_per_release_label() {
    let bundle = release_passport::examples::bundle().unwrap();
    let at = bundle.recorded_at.unwrap();
    let decided = decide_all(&bundle, at);
    let metrics = Metrics::new();
    let mut counts = release_passport::metrics::DecisionCounts::default();
    for d in &decided {
        metrics.delivery.decided(&d.passport);
        if let Some(decision) = d.passport.status.as_ref().and_then(|s| s.decision) {
            counts.moved(None, decision);
        }
    }
    metrics.set_decisions(&counts);
    let records: Vec<Record> = decided
        .iter()
        .map(|d| Record::from_passport(&d.passport))
        .collect();
    metrics
        .delivery
        .set_figures(&Rollups::fold(&records, at.date_naive()), at.date_naive());
    metrics.refreshed(
        release_passport::api::ConnectorType::Prometheus,
        Some(release_passport::api::ConnectorHealth::Healthy),
    );
    let text = metrics.encode();

    for family in [
        "passport_verdicts_total",
        "passport_holds_total",
        "passport_change_lead_time_seconds_bucket",
        "passport_deployment_frequency_per_day",
        "passport_change_fail_rate",
        "passport_evidence_completeness",
        "passport_connector_refreshes_total",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    assert!(text.contains(r#"passport_holds_total{service="payments",environment="production",reason="approval"} 1"#), "{text}");
    for d in &decided {
        let name = d.release.metadata.name.as_deref().unwrap();
        assert!(
            !text.contains(name),
            "release name {name} in a label:\n{text}"
        );
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(labels) = line
            .split_once('{')
            .map(|(_, rest)| rest.split('}').next().unwrap())
        {
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let key = pair.split('=').next().unwrap();
                assert!(
                    [
                        "namespace",
                        "service",
                        "environment",
                        "decision",
                        "reason",
                        "kind",
                        "result",
                        "category",
                        "resource",
                        "connector_type",
                        "le"
                    ]
                    .contains(&key),
                    "unexpected label {key} in {line}"
                );
            }
        }
    }

    // We serve OpenMetrics; the reference parser (Python prometheus_client) reads it strictly.
    let parser = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\nfams = list(text_string_to_metric_families(sys.stdin.read()))\nprint(len(fams), sum(len(f.samples) for f in fams))\n";
    let mut python = Command::new("python3")
        .args(["-c", parser])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the exposition (make test installs prometheus_client):\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = String::from_utf8_lossy(&out.stdout);
    let families: usize = counts.split_whitespace().next().unwrap().parse().unwrap();
    assert!(families >= 10, "{counts}");
}
