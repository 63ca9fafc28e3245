//! The fleet the controller benchmarks decide, in memory (benches/controller.rs) and on the real
//! control plane (benches/cluster.rs): releases of `SERVICES` services, one GatePolicy per service
//! with three rules (CI evidence from an annotation, one approval, a CEL expression).
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

pub const SERVICES: usize = 100;

pub fn service(i: usize) -> String {
    format!("svc-{:03}", i % SERVICES)
}

/// Release `i` of the fleet in `namespace` (a production release, CI evidence Complete).
pub fn release(namespace: &str, i: usize) -> Value {
    json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
        "metadata": {
            "name": format!("{}-r{i:05}", service(i)), "namespace": namespace,
            "labels": {"team": format!("team-{}", i % 7)},
            "annotations": {"evidence.releasepassport.io/ci": r#"{"status":"Complete","by":"ci-bot","summary":"pipeline green"}"#}
        },
        "spec": {
            "service": service(i), "version": format!("1.{}.0", i / SERVICES),
            "environment": "production",
            "revision": {"commit": format!("{i:012x}"), "author": "bob"},
            "scope": {"namespaces": ["shop-prod"], "metricLabels": {"service": service(i)}}
        }
    })
}

/// The GatePolicy of service `i`: CI evidence, one approval (not by the author), a CEL rule.
pub fn policy(namespace: &str, i: usize) -> Value {
    json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "GatePolicy",
        "metadata": {"name": format!("policy-{i:03}"), "namespace": namespace},
        "spec": {
            "selector": {"services": [service(i)], "environments": ["production"]},
            "rules": [
                {"name": "ci-passed", "evidence": {"source": "ci"}},
                {"name": "approved", "approval": {"min": 1, "excludeAuthor": true}},
                {"name": "team-known", "expression": {"cel": "has(release.labels.team)"}}
            ]
        }
    })
}

/// The `p`-quantile (0.5 = median) of `samples`, nearest rank.
pub fn quantile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
