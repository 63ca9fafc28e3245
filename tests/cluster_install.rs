//! What a user sees on a real API server (tests/common/cluster.rs): the install manifests and the
//! chart install, `kubectl get`, `kubectl explain`, admission with our messages, and kstatus (what
//! Flux judges health with) over passports the real controller writes.

use std::path::Path;
use std::process::Command;

use crate::common::cluster::{ControlPlane, Options, tool};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn config_default_installs_on_a_real_server() {
    // The shared control plane was installed with `kubectl apply -k config/default`; again is a no-op.
    let plane = ControlPlane::shared();
    let out = plane.kubectl_ok(
        &[
            "apply",
            "-k",
            root().join("config/default").to_str().unwrap(),
        ],
        None,
    );
    // kubectl's client-side apply re-sends a ValidatingAdmissionPolicy's atomic `validations`
    // list every time ("configured"; its generation does not move); everything else is unchanged.
    assert!(
        out.lines()
            .filter(|l| !l.starts_with("validatingadmissionpolicy."))
            .all(|l| l.ends_with(" unchanged")),
        "a second apply changes nothing:\n{out}"
    );
    let crds = plane.get_json(&["crd"]).unwrap();
    let ours: Vec<&str> = crds["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .filter(|n| n.ends_with(".releasepassport.io"))
        .collect();
    assert_eq!(ours.len(), 7, "{ours:?}");
    plane.kubectl_ok(
        &[
            "get",
            "validatingadmissionpolicy,validatingadmissionpolicybinding",
            "-o",
            "name",
        ],
        None,
    );
    plane.kubectl_ok(
        &[
            "get",
            "deployment/release-passport-controller",
            "-n",
            "release-passport-system",
        ],
        None,
    );
}

#[test]
fn helm_lints_and_installs_the_chart_on_an_empty_cluster() {
    let chart = root().join("charts/release-passport");
    let lint = Command::new(tool("helm"))
        .args(["lint", "--strict"])
        .arg(&chart)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let plane = ControlPlane::start(Options::default());
    let home = plane.dir().join("helm-home");
    let install = Command::new(tool("helm"))
        .args([
            "install",
            "release-passport",
            "--namespace",
            "release-passport-system",
            "--create-namespace",
            "--set",
            "console.enabled=true",
        ])
        .arg(&chart)
        .arg("--kubeconfig")
        .arg(plane.kubeconfig())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "helm install: {}{}",
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr)
    );
    let deployment = plane
        .get_json(&[
            "deployment",
            "-n",
            "release-passport-system",
            "-l",
            "app.kubernetes.io/name=release-passport",
        ])
        .unwrap();
    assert_eq!(deployment["items"].as_array().unwrap().len(), 1);
    plane.kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/releasepassports.releasepassport.io",
        ],
        None,
    );
}

const GROUP: &str = "apiVersion: releasepassport.io/v1alpha1";

/// A waiver expiry the shipped admission policy accepts (within seven days of the server clock).
fn in_two_days() -> String {
    (chrono::Utc::now() + chrono::Duration::days(2))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn kubectl_prints_our_columns_kinds_and_docs() {
    let plane = ControlPlane::shared();
    let ns = plane.namespace("kubectl-columns");
    plane.apply(&format!(
        "{GROUP}
kind: Release
metadata: {{name: web-1-2-0, namespace: {ns}}}
spec: {{service: web, version: 1.2.0, environment: production}}
---
{GROUP}
kind: ReleasePassport
metadata: {{name: web-1-2-0, namespace: {ns}}}
spec: {{releaseRef: {{name: web-1-2-0}}, service: web, version: 1.2.0, environment: production}}
---
{GROUP}
kind: GatePolicy
metadata: {{name: prod, namespace: {ns}}}
spec:
  rules:
  - name: ci
    evidence: {{source: ci}}
---
{GROUP}
kind: Connector
metadata: {{name: k8s, namespace: {ns}}}
spec: {{type: Kubernetes}}
---
{GROUP}
kind: Approval
metadata: {{name: web-alice, namespace: {ns}}}
spec: {{releaseRef: {{name: web-1-2-0}}, decision: Approve, approver: admin}}
---
{GROUP}
kind: Waiver
metadata: {{name: web-ci, namespace: {ns}}}
spec: {{releaseRef: {{name: web-1-2-0}}, rules: [prod/ci], reason: flaky runner, expiresAt: '{}', approver: admin}}
",
        in_two_days()
    ));
    plane.kubectl_ok(
        &[
            "patch",
            "rp",
            "web-1-2-0",
            "-n",
            &ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"decision":"Hold","evidenceSummary":"7/8"}}"#,
        ],
        None,
    );
    // The server's Table, as `kubectl get rp` prints it.
    let table = plane.kubectl_ok(&["get", "rp", "-n", &ns], None);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "SERVICE", "VERSION", "ENV", "DECISION", "EVIDENCE", "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        row[..6],
        ["web-1-2-0", "web", "1.2.0", "production", "Hold", "7/8"],
        "{table}"
    );
    // Every kind answers to the `passport` category.
    let names = plane.kubectl_ok(&["get", "passport", "-n", &ns, "-o", "name"], None);
    for expected in [
        "release.releasepassport.io/web-1-2-0",
        "releasepassport.releasepassport.io/web-1-2-0",
        "gatepolicy.releasepassport.io/prod",
        "connector.releasepassport.io/k8s",
        "approval.releasepassport.io/web-alice",
        "waiver.releasepassport.io/web-ci",
    ] {
        assert!(names.contains(expected), "{expected} missing:\n{names}");
    }
    // Our field docs, from the CRD's schema.
    let explained = plane.kubectl_ok(&["explain", "gatepolicy.spec.rules.evidence"], None);
    for doc in ["maxAge", "onMissing", "source"] {
        assert!(explained.contains(doc), "{doc}:\n{explained}");
    }
    let maxlen = plane.kubectl_ok(&["explain", "gatepolicy.spec.rules"], None);
    assert!(
        maxlen.contains("At most 64 items"),
        "size bounds are documented:\n{maxlen}"
    );
}

/// What `kubectl apply` says when the server refuses `yaml`.
fn refused(plane: &ControlPlane, yaml: &str) -> String {
    let out = plane.kubectl(&["apply", "-f", "-"], Some(yaml));
    assert!(!out.status.success(), "accepted:\n{yaml}");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn the_server_refuses_bad_specs_with_our_messages() {
    let plane = ControlPlane::shared();
    let ns = plane.namespace("admission");
    let expiry = in_two_days();
    let waiver = |spec: &str| {
        format!(
            "{GROUP}\nkind: Waiver\nmetadata: {{name: w, namespace: {ns}}}\nspec: {{releaseRef: {{name: web}}, rules: [p/r], approver: admin, {spec}}}\n"
        )
    };
    let e = refused(plane, &waiver(&format!("expiresAt: '{expiry}'")));
    assert!(e.contains("spec.reason: Required value"), "{e}");
    let e = refused(
        plane,
        &waiver(&format!("reason: ' ', expiresAt: '{expiry}'")),
    );
    assert!(e.contains("reason is required"), "{e}");
    let e = refused(plane, &waiver("reason: flaky"));
    assert!(e.contains("spec.expiresAt: Required value"), "{e}");
    let policy = |rules: &str| {
        format!(
            "{GROUP}\nkind: GatePolicy\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  rules:\n{rules}"
        )
    };
    let e = refused(
        plane,
        &policy("  - name: two\n    evidence: {source: ci}\n    approval: {min: 1}\n"),
    );
    assert!(
        e.contains("exactly one of evidence, metric, approval, window, expression"),
        "{e}"
    );
    let e = refused(
        plane,
        &policy(
            "  - name: a\n    evidence: {source: ci}\n  - name: a\n    evidence: {source: x}\n",
        ),
    );
    assert!(e.contains("unique"), "{e}");
    let e = refused(
        plane,
        &format!(
            "{GROUP}\nkind: Connector\nmetadata: {{name: alerts, namespace: {ns}}}\nspec: {{type: Alertmanager, endpoint: 'http://am:9093', alerts: {{matchers: ['severity=critical']}}}}\n"
        ),
    );
    assert!(
        e.contains("spec.alerts.matchers") && e.contains("double-quoted value"),
        "{e}"
    );
    // And a good one is accepted.
    plane.apply(&policy(
        "  - name: a\n    evidence: {source: ci}\n  - name: b\n    evidence: {source: x}\n",
    ));
}
