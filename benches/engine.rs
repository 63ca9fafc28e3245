//! One passport with 10 rules over 20 evidence items: deciding vs. parsing the same inputs.
//! `cargo bench --bench engine`; figures go to docs/BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use release_passport::api::{Approval, GatePolicy, Release};
use release_passport::engine::{self, EvidenceItem, Input};

const RELEASE: &str = r#"{"apiVersion":"releasepassport.io/v1alpha1","kind":"Release",
 "metadata":{"name":"checkout-production-2-3-1","namespace":"shop","generation":2},
 "spec":{"service":"checkout","version":"2.3.1","environment":"production",
  "revision":{"commit":"41d0c2f99e3a","author":"bob"},
  "scope":{"namespaces":["shop-prod"],"metricLabels":{"service":"checkout","env":"production"}}}}"#;

/// The evidence sources the policy reads and the recording holds.
const SOURCES: [&str; 6] = [
    "health",
    "gitops",
    "ci",
    "journeys",
    "provider",
    "security-scan",
];

fn policy_json() -> String {
    let mut rules = Vec::new();
    for source in SOURCES {
        rules.push(format!(
            r#"{{"name":"{source}-ok","evidence":{{"source":"{source}","maxAge":"15m"}}}}"#
        ));
    }
    rules.push(r#"{"name":"errors","metric":{"query":"sum(rate(http_requests_total{$labels,code=~\"5..\"}[5m]))","op":"<","threshold":0.01,"maxAge":"10m"}}"#.into());
    rules.push(r#"{"name":"latency","metric":{"query":"histogram_quantile(0.99, rate(http_request_duration_seconds_bucket{$labels}[5m]))","op":"<","threshold":0.5}}"#.into());
    rules.push(r#"{"name":"approved","approval":{"min":1,"excludeAuthor":true}}"#.into());
    rules.push(r#"{"name":"journeys-cover","expression":{"cel":"'journeys' in evidence && evidence['journeys'].passing == evidence['journeys'].total"}}"#.into());
    format!(
        r#"{{"apiVersion":"releasepassport.io/v1alpha1","kind":"GatePolicy","metadata":{{"name":"prod","namespace":"shop"}},"spec":{{"rules":[{}]}}}}"#,
        rules.join(",")
    )
}

fn evidence_json() -> String {
    let mut items = Vec::new();
    for (i, source) in SOURCES.iter().enumerate() {
        for target in 0..3 {
            items.push(format!(
                r#"{{"source":"{source}","status":"Complete","observedAt":"2026-11-25T13:5{i}:0{target}Z","connector":"c","summary":"target {target} ok","targets":{{"total":1,"passing":1}}}}"#
            ));
        }
    }
    items.push(r#"{"source":"errors","status":"Complete","observedAt":"2026-11-25T13:58:00Z","query":"sum(rate(http_requests_total{env=\"production\",service=\"checkout\",code=~\"5..\"}[5m]))","value":0.002}"#.into());
    items.push(r#"{"source":"latency","status":"Complete","observedAt":"2026-11-25T13:58:00Z","query":"histogram_quantile(0.99, rate(http_request_duration_seconds_bucket{env=\"production\",service=\"checkout\"}[5m]))","value":0.21}"#.into());
    format!("[{}]", items.join(","))
}

const APPROVAL: &str = r#"[{"apiVersion":"releasepassport.io/v1alpha1","kind":"Approval","metadata":{"name":"a","namespace":"shop"},
 "spec":{"releaseRef":{"name":"checkout-production-2-3-1"},"decision":"Approve","approver":"alice"}}]"#;

struct Inputs {
    release: Release,
    policy: GatePolicy,
    evidence: Vec<EvidenceItem>,
    approvals: Vec<Approval>,
}

fn parse(policy: &str, evidence: &str) -> Inputs {
    Inputs {
        release: serde_json::from_str(RELEASE).expect("release"),
        policy: serde_json::from_str(policy).expect("policy"),
        evidence: serde_json::from_str(evidence).expect("evidence"),
        approvals: serde_json::from_str(APPROVAL).expect("approval"),
    }
}

fn evaluate(
    inputs: &Inputs,
    compiled: &[std::sync::Arc<engine::CompiledPolicy>],
    now: DateTime<Utc>,
) -> engine::Evaluation {
    engine::evaluate(&Input {
        release: &inputs.release,
        policies: compiled,
        approvals: &inputs.approvals,
        waivers: &[],
        evidence: &inputs.evidence,
        previous: None,
        previous_release: None,
        now,
        clock_skew: release_passport::engine::provenance::DEFAULT_CLOCK_SKEW,
    })
}

fn benches(c: &mut Criterion) {
    let (policy, evidence) = (policy_json(), evidence_json());
    let inputs = parse(&policy, &evidence);
    assert_eq!(inputs.policy.spec.rules.len(), 10);
    assert_eq!(inputs.evidence.len(), 20);
    let compiled = vec![std::sync::Arc::new(engine::compile(&inputs.policy))];
    let now: DateTime<Utc> = "2026-11-25T14:00:00Z".parse().expect("time");
    let decide =
        |compiled: &[std::sync::Arc<engine::CompiledPolicy>]| evaluate(&inputs, compiled, now);
    assert_eq!(
        decide(&compiled).status.decision,
        Some(release_passport::api::Decision::Allow)
    );

    let mut group = c.benchmark_group("engine");
    group.bench_function("decide (10 rules, 20 items, compiled policy)", |b| {
        b.iter(|| black_box(decide(black_box(&compiled))))
    });
    group.bench_function("compile policy + decide", |b| {
        b.iter(|| {
            black_box(decide(&[std::sync::Arc::new(engine::compile(black_box(
                &inputs.policy,
            )))]))
        })
    });
    group.bench_function("parse the same inputs from JSON", |b| {
        b.iter(|| black_box(parse(black_box(&policy), black_box(&evidence))))
    });
    group.finish();
}

/// One metric rule judged against its baseline: 1,000 samples per window, a Mann-Whitney U test
/// (the normal approximation: that many samples always take it).
const COMPARED: &str = r#"{"apiVersion":"releasepassport.io/v1alpha1","kind":"GatePolicy","metadata":{"name":"prod","namespace":"shop"},
 "spec":{"rules":[{"name":"errors","metric":{"query":"sum(rate(http_requests_total{$labels,code=~\"5..\"}[5m]))","unit":"ratio",
  "compare":{"baseline":"before","window":"8h","worse":"higher","tolerancePercent":20,"significance":0.05}}}]}}"#;

fn compared_evidence() -> String {
    let sample = |centre: f64, i: u32| centre * (0.9 + 0.2 * f64::from((i * 7919) % 1000) / 1000.0);
    let side = |window: &str, centre: f64| {
        let samples: Vec<String> = (0..1000)
            .map(|i| format!("{}", sample(centre, i)))
            .collect();
        format!(
            r#"{{"source":"m","status":"Complete","observedAt":"2026-11-25T14:00:00Z","query":"sum(rate(http_requests_total{{env=\"production\",service=\"checkout\",code=~\"5..\"}}[5m])) @samples={window}","samples":[{}]}}"#,
            samples.join(",")
        )
    };
    format!(
        "[{},{}]",
        side("2026-11-25T05:05:00Z+8h", 0.0081),
        side("2026-11-24T21:00:00Z+8h", 0.001)
    )
}

fn comparison(c: &mut Criterion) {
    let evidence = compared_evidence();
    let mut inputs = parse(COMPARED, &evidence);
    inputs.release.spec.started_at = Some("2026-11-25T05:00:00Z".parse().expect("start"));
    let compiled = vec![std::sync::Arc::new(engine::compile(&inputs.policy))];
    assert!(compiled[0].errors.is_empty(), "{:?}", compiled[0].errors);
    let now: DateTime<Utc> = "2026-11-25T14:00:00Z".parse().expect("time");
    let decide = || evaluate(&inputs, &compiled, now);
    let out = decide().status;
    assert_eq!(
        out.decision,
        Some(release_passport::api::Decision::Block),
        "{:?}",
        out.trace
    );
    assert!(
        out.trace[0].message.contains("1000 vs 1000 samples"),
        "{}",
        out.trace[0].message
    );
    let mut group = c.benchmark_group("comparison");
    group.bench_function("decide (1 compare rule, 1,000 samples per window)", |b| {
        b.iter(|| black_box(decide()))
    });
    group.bench_function("parse the same inputs from JSON", |b| {
        b.iter(|| black_box(parse(black_box(COMPARED), black_box(&evidence))))
    });
    group.finish();
}

criterion_group!(engine_benches, benches, comparison);
criterion_main!(engine_benches);
