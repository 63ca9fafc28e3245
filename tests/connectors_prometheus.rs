//! The Prometheus connector against a real Prometheus (Debian's `prometheus` package, installed
//! by `make test`), its TSDB filled by `promtool tsdb create-blocks-from openmetrics` with series
//! generated here: a healthy and a failing error rate, and a series with a gap; and, for the
//! comparison with a baseline, error rates that step up at a release's start.

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use release_passport::api::{Connector, Decision, GatePolicy, Keyed, Release};
use release_passport::connectors::hub::{self, Hub, HubSource};
use release_passport::connectors::query::Query;
use release_passport::engine::{self, Input, needs::needs};
use release_passport::evidence::{EvidenceSource, gather};

use crate::common::peer::{Peer, Wired, decided, scoped_release};
use crate::common::{refresh_healthy, store_of, yaml};

fn tool(name: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{name} not found: `make test` installs Debian's prometheus package");
}

/// One sample per minute for an hour ending at `end`.
fn openmetrics(end: i64) -> String {
    let mut out = String::from("# TYPE http_requests counter\n");
    for minute in 0..=60i64 {
        let t = end - (60 - minute) * 60;
        let series: [(&str, &str, i64); 6] = [
            ("checkout", "200", 6000),
            ("checkout", "500", 12), // 0.2 % errors
            ("catalog", "200", 6000),
            ("catalog", "500", 540), // 8.3 % errors
            ("search", "200", 6000), // reports only for the first half hour: a gap now
            ("search", "500", 6),
        ];
        for (service, code, per_minute) in series {
            if service == "search" && minute > 30 {
                continue;
            }
            let _ = writeln!(
                out,
                "http_requests_total{{service=\"{service}\",code=\"{code}\"}} {} {t}",
                per_minute * minute
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

/// A real Prometheus over a TSDB of `series` (OpenMetrics text).
fn start(series: &str) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let metrics = dir.path().join("series.om");
    std::fs::write(&metrics, series).unwrap();
    let out = Command::new(tool("promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&metrics)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global: {scrape_interval: 1m}\n").unwrap();
    let command = |port: u16| {
        let mut command = Command::new(tool("prometheus"));
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=100y");
        command
    };
    Peer::on_quiet_port(dir, command, |port| Peer::answers(port, "/-/ready"))
}

/// The Prometheus Connector of namespace `shop`, pointed at a Prometheus API on `port`.
fn connector(port: u16) -> Connector {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: prometheus, namespace: shop}}
spec: {{type: Prometheus, endpoint: 'http://127.0.0.1:{port}', timeout: 5s}}
"
    ))
}

#[tokio::test]
async fn thresholds_pass_fail_and_no_data_become_the_right_evidence() {
    let end = (Utc::now().timestamp() / 60) * 60 - 120;
    let at = DateTime::from_timestamp(end, 0).unwrap();
    let prom = start(&openmetrics(end));
    let connector = connector(prom.port);
    let policy = crate::common::policy(
        "prod",
        "  rules:
  - name: error-rate
    metric:
      query: sum(rate(http_requests_total{$labels,code=~\"5..\"}[5m])) / sum(rate(http_requests_total{$labels}[5m]))
      op: '<'
      threshold: 0.01
      maxAge: 10m
  - name: error-rate-last-hour
    metric:
      query: sum(rate(http_requests_total{$labels,code=~\"5..\"}[5m])) / sum(rate(http_requests_total{$labels}[5m]))
      range: 1h
      aggregate: max
      op: '<'
      threshold: 0.01
",
    );
    let policies = vec![Arc::new(engine::compile(&policy))];
    let releases: Vec<(Release, _)> = ["checkout", "catalog", "search"]
        .into_iter()
        .map(|s| {
            let r = scoped_release(s, s);
            let n = needs(&r, &policies, None);
            (r, n)
        })
        .collect();
    let store = store_of(std::slice::from_ref(&connector));
    let connectors = store.state();
    let plan = hub::plan(&connectors, &releases);
    let mut queries = plan[&connector.key()].clone();
    assert_eq!(queries.len(), 6, "an instant and a range query per service");
    let malformed = Query::Metric("sum(rate(http_requests_total[5m]".into());
    queries.insert(malformed.clone());

    let hub = Arc::new(Hub::new().unwrap());
    refresh_healthy(&hub, &connector, &queries, at).await;
    let bad = hub.observation(&connector.key(), &malformed).unwrap();
    assert!(
        bad.summary
            .as_deref()
            .unwrap()
            .contains("query failed: bad_data"),
        "{bad:?}"
    );

    let sources: Vec<Box<dyn EvidenceSource>> = vec![Box::new(HubSource {
        hub: Arc::clone(&hub),
        connectors: store,
        passports: None,
    })];
    let decide =
        |release: &Release, needs, now| decided(&sources, &policies, (release, needs), now);
    let expected = [
        ("checkout", Decision::Allow, "is below 0.01"),
        ("catalog", Decision::Block, "is above 0.01"),
        ("search", Decision::Hold, "no data"),
    ];
    for ((release, needs), (service, decision, why)) in releases.iter().zip(expected) {
        let status = decide(release, needs, at);
        assert_eq!(
            status.decision,
            Some(decision),
            "{service}: {:?}",
            status.trace
        );
        assert!(
            status.trace[0].message.contains(why),
            "{service}: {}",
            status.trace[0].message
        );
    }
    let value = decide(&releases[1].0, &releases[1].1, at).evidence[0]
        .value
        .unwrap();
    assert!((value - 0.0826).abs() < 0.002, "catalog error rate {value}");
    // Eleven minutes later with no refresh, the observation is older than maxAge: Hold, not Allow.
    let later = at + chrono::Duration::minutes(11);
    assert_eq!(
        decide(&releases[0].0, &releases[0].1, later).decision,
        Some(Decision::Hold)
    );
    drop(prom);
}

/// 100 minutes of one sample a minute ending at `end`: each (service, version) serves 6,000
/// requests a minute with `before` errors a minute until `step`, `after` from then on, give or
/// take one (so samples vary as real ones do).
fn stepped(end: i64, step: i64, series: &[(&str, &str, i64, i64)]) -> String {
    let mut out = String::from("# TYPE http_requests counter\n");
    for minute in 0..=100i64 {
        let t = end - (100 - minute) * 60;
        for (i, (service, version, before, after)) in series.iter().enumerate() {
            let errors: i64 = (0..=minute)
                .map(|m| {
                    let base = if end - (100 - m) * 60 < step {
                        *before
                    } else {
                        *after
                    };
                    base + (m * 7 + i as i64) % 3 - 1
                })
                .sum();
            for (code, total) in [("200", 6000 * minute), ("500", errors)] {
                let _ = writeln!(
                    out,
                    "http_requests_total{{service=\"{service}\",version=\"{version}\",code=\"{code}\"}} {total} {t}"
                );
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// A release judged against its own baseline on a real Prometheus: eight times the errors
/// blocks (though under any threshold a team would set), a small rise within tolerance passes,
/// the comparison waits for its window, too few samples hold, and the canary form compares two
/// version series over the same window.
#[tokio::test]
async fn comparisons_against_the_baseline_on_a_real_prometheus() {
    let end = (Utc::now().timestamp() / 60) * 60 - 120;
    let at = DateTime::from_timestamp(end, 0).unwrap();
    let started = at - chrono::Duration::minutes(40);
    let prom = start(&stepped(
        end,
        started.timestamp(),
        &[
            ("cart", "2.0.0", 6, 48),    // 0.1 % → 0.8 %
            ("wishlist", "2.0.0", 6, 6), // 0.1 % throughout
            ("api", "1.0.0", 6, 6),      // the stable version beside the canary
            ("api", "1.1.0", 48, 48),    // the canary: 0.8 %
        ],
    ));
    let connector = connector(prom.port);
    let policy = |baseline: &str, min_samples: u32| -> GatePolicy {
        yaml(&format!(
            "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: prod, namespace: shop}}
spec:
  rules:
  - name: error-rate
    metric:
      query: sum(rate(http_requests_total{{$labels,code=~\"5..\"}}[5m])) / sum(rate(http_requests_total{{$labels}}[5m]))
      unit: ratio
      compare: {{baseline: {baseline}, window: 30m, worse: higher, tolerancePercent: 20, toleranceAbsolute: 0.001, significance: 0.05, minSamples: {min_samples}}}
"
        ))
    };
    let released = |service: &str, version: &str| -> Release {
        yaml(&format!(
            "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: {service}, namespace: shop}}
spec: {{service: {service}, version: '{version}', environment: production, startedAt: '{}', scope: {{metricLabels: {{service: {service}}}}}}}
",
            started.to_rfc3339()
        ))
    };
    let before = vec![Arc::new(engine::compile(&policy("before", 10)))];
    let canary = vec![Arc::new(engine::compile(&policy("previousVersion", 10)))];
    let previous = engine::PreviousRelease {
        name: "api-1-0-0".into(),
        version: "1.0.0".into(),
        revision: "1.0.0".into(),
        decision: Some(Decision::Allow),
    };
    type Policies = Vec<Arc<engine::CompiledPolicy>>;
    let cases: Vec<(Release, &Policies, Option<&engine::PreviousRelease>)> = vec![
        (released("cart", "2.0.0"), &before, None),
        (released("wishlist", "2.0.0"), &before, None),
        (released("api", "1.1.0"), &canary, Some(&previous)),
    ];
    let releases: Vec<(Release, _)> = cases
        .iter()
        .map(|(r, p, prev)| (r.clone(), needs(r, p, prev.map(|p| p.version.as_str()))))
        .collect();
    let store = store_of(std::slice::from_ref(&connector));
    let plan = hub::plan(&store.state(), &releases);
    let queries = plan[&connector.key()].clone();
    assert_eq!(queries.len(), 6, "two windows per release: {queries:?}");
    let hub = Arc::new(Hub::new().unwrap());
    refresh_healthy(&hub, &connector, &queries, at).await;
    let sources: Vec<Box<dyn EvidenceSource>> = vec![Box::new(HubSource {
        hub: Arc::clone(&hub),
        connectors: store,
        passports: None,
    })];
    let decide = |i: usize, policies: &[Arc<engine::CompiledPolicy>], now| {
        let (release, needs) = &releases[i];
        let evidence = gather(&sources, release, needs, now);
        engine::evaluate(&Input {
            release,
            policies,
            approvals: &[],
            waivers: &[],
            evidence: &evidence,
            previous: None,
            previous_release: cases[i].2,
            now,
            clock_skew: release_passport::engine::provenance::DEFAULT_CLOCK_SKEW,
        })
        .status
    };
    let expected = [
        (
            0,
            Decision::Block,
            "× higher, significantly worse — p < 0.001 (Mann-Whitney, 61 vs 61 samples)",
        ),
        (1, Decision::Allow, "within the tolerance (20% and 0.1%)"),
        (
            2,
            Decision::Block,
            "for 1.0.0 at the same time: 7.94× higher, significantly worse",
        ),
    ];
    for (i, decision, words) in expected {
        let status = decide(i, cases[i].1, at);
        assert_eq!(
            status.decision,
            Some(decision),
            "{}: {:?}",
            cases[i].0.spec.service,
            status.trace
        );
        assert!(
            status.trace[0].message.contains(words),
            "{}",
            status.trace[0].message
        );
    }
    // Before the release's window has passed: Pending, whatever the samples so far say.
    let early = decide(0, &before, started + chrono::Duration::minutes(20));
    assert_eq!(early.decision, Some(Decision::Hold));
    assert!(
        early.trace[0]
            .message
            .starts_with("comparison window not yet elapsed: 15m of 30m"),
        "{}",
        early.trace[0].message
    );
    // Asking for more samples than the window holds: too few to judge, the no-data effect.
    let strict = vec![Arc::new(engine::compile(&policy("before", 500)))];
    let few = decide(0, &strict, at);
    assert_eq!(few.decision, Some(Decision::Hold));
    assert!(
        few.trace[0]
            .message
            .ends_with("(61 vs 61 samples, at least 500 each)"),
        "{}",
        few.trace[0].message
    );
    drop(prom);
}

/// VictoriaMetrics (Debian's `victoria-metrics`) on a quiet port.
fn victoria_metrics() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let command = |port: u16| {
        let mut command = Command::new("victoria-metrics");
        command
            .arg(format!("-storageDataPath={}", data.display()))
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"));
        command
    };
    Peer::on_quiet_port(dir, command, |port| Peer::answers(port, "/health"))
}

/// A Prometheus-compatible store needs no connector type of its own: the Prometheus connector
/// asks VictoriaMetrics' Prometheus API, and `$labels` stays one quoted value there too.
#[tokio::test]
async fn victoriametrics_answers_the_prometheus_connector() {
    let vm = victoria_metrics();
    let at = (Utc::now().timestamp() - 120) * 1000;
    let (status, _, body) = crate::common::demo::try_send(
        vm.port,
        "POST",
        "/api/v1/import/prometheus",
        &[],
        &format!(
            "error_ratio{{service=\"checkout\"}} 0.002 {at}\nerror_ratio{{service=\"catalog\"}} 0.08 {at}\n"
        ),
    )
    .unwrap();
    assert_eq!(status, 204, "{body}");
    // Searchable now rather than after VictoriaMetrics' own flush interval.
    crate::common::demo::try_send(vm.port, "GET", "/internal/force_flush", &[], "").unwrap();
    let connector = connector(vm.port);
    let wired = Wired::new(
        std::slice::from_ref(&connector),
        "  - name: error-rate
    metric: {query: 'max(error_ratio{$labels})', op: '<', threshold: 0.01}
",
        vec![
            scoped_release("checkout", "checkout"),
            scoped_release("catalog", "catalog"),
            scoped_release("injected", "x\"} or error_ratio{service=\"catalog"),
        ],
    );
    // What was imported becomes searchable on VictoriaMetrics' own time: ask until it is.
    let mut decisions = Vec::new();
    for _ in 0..150 {
        let now = Utc::now();
        wired.refresh(&connector, now).await;
        decisions = (0..3).map(|i| wired.decide(i, now).decision).collect();
        if decisions[0] == Some(Decision::Allow) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        decisions,
        vec![
            Some(Decision::Allow),
            Some(Decision::Block),
            // One quoted value that names no series: no data, not catalog's 0.08.
            Some(Decision::Hold)
        ]
    );
}
