//! `passport demo` end to end: the real binary serves the console on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes
)]

use std::process::Command;

mod common;

use common::demo::{get, start};

#[test]
fn demo_prints_decisions_and_serves_the_console() {
    let demo = start(&[]);
    assert!(
        demo.stdout.contains("Decisions as of 2026-11-25T14:00:00Z"),
        "{}",
        demo.stdout
    );
    for (name, decision) in [
        ("catalog-staging-1-12-0", "Block"),
        ("payments-production-5-0-2", "Hold"),
        ("checkout-production-2-3-1", "Allow"),
    ] {
        assert!(
            demo.stdout
                .lines()
                .any(|l| l.contains(name) && l.contains(decision)),
            "{name} {decision}:\n{}",
            demo.stdout
        );
    }

    let (status, headers, body) = get(demo.port, "/console");
    assert_eq!(status, 200);
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    assert!(headers.contains("x-content-type-options: nosniff"));
    assert!(
        body.contains("payments-production-5-0-2") && body.contains("Needs approval"),
        "{body}"
    );
    let (_, _, list) = get(
        demo.port,
        "/console/releases?service=checkout&environment=production",
    );
    assert!(
        list.contains("checkout-production-2-3-1") && list.contains("5/5"),
        "{list}"
    );
    assert!(
        body.contains("<strong>6</strong>allowed (latest)"),
        "one per service and environment: {body}"
    );
    assert!(
        body.contains("<strong>1</strong>blocked"),
        "superseded history is not pending"
    );

    let (status, _, body) = get(
        demo.port,
        "/console/releases/shop/payments-production-5-0-2",
    );
    assert_eq!(status, 200);
    for text in [
        "Decision trace",
        "two-person-rule",
        "1 of 2 approvals from payments-leads",
        "Simulated (never changes the decision)",
        "not counted",
    ] {
        assert!(body.contains(text), "{text} missing");
    }
    let (status, _, body) = get(
        demo.port,
        "/console/releases/shop/checkout-production-2-3-1",
    );
    assert_eq!(status, 200);
    assert!(body.contains("previous release checkout-production-2-3-0 (2.3.0) was allowed"));

    let (status, headers, body) = get(demo.port, "/api/v1/passports/shop/catalog-staging-1-12-0");
    assert_eq!(status, 200);
    assert!(headers.contains("application/json"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"]["decision"], "Block");

    assert_eq!(get(demo.port, "/console/releases/shop/nope").0, 404);
    assert_eq!(get(demo.port, "/nope").0, 404);
    assert_eq!(get(demo.port, "/console/assets/console.css").0, 200);
    assert_eq!(get(demo.port, "/healthz").0, 200);
}

#[test]
fn hostile_strings_render_as_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop.yaml"),
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {name: evil, namespace: shop}
spec: {service: '<script>alert(1)</script>', version: '\"><img src=x onerror=alert(2)>', environment: prod}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {name: p, namespace: shop}
spec:
  rules:
  - name: r
    evidence: {source: '<b>bold</b>'}
",
    )
    .unwrap();
    let demo = start(&["--examples", dir.path().to_str().unwrap()]);
    for path in ["/console", "/console/releases/shop/evil"] {
        let (status, _, body) = get(demo.port, path);
        assert_eq!(status, 200);
        assert!(!body.contains("<script>alert(1)"), "{path}: {body}");
        assert!(!body.contains("<img src=x"), "{path}");
        assert!(!body.contains("<b>bold"), "{path}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
    }
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_passport"))
        .args(["demo", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 127.0.0.1:") && stderr.contains("--port"),
        "{stderr}"
    );
}
