//! `passport evaluate` end to end: the real binary on the examples and on broken inputs.

use std::path::Path;
use std::process::{Command, Output};

const AT: &str = "2026-11-25T14:00:00Z";

fn passport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passport"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// `passport evaluate` of the manifests in `dir` at [`AT`], written as `format`.
fn evaluate_dir(dir: &Path, format: &str) -> Output {
    passport(&[
        "evaluate",
        "-f",
        dir.to_str().unwrap(),
        "--at",
        AT,
        "-o",
        format,
    ])
}

fn decisions(out: &Output) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = match v["kind"].as_str() {
        Some("List") => v["items"].as_array().unwrap().clone(),
        _ => vec![v],
    };
    items
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["status"]["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn examples_decide_as_documented() {
    let out = passport(&["evaluate", "-f", "examples/shop", "--at", AT, "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a Block exits 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = [
        ("checkout-staging-2-4-0", "Allow"),
        ("checkout-production-2-3-1", "Allow"),
        ("payments-staging-5-1-0", "Hold"),
        ("payments-production-5-0-2", "Hold"),
        ("catalog-staging-1-12-0", "Block"),
        ("catalog-production-1-11-4", "Allow"),
    ];
    let got = decisions(&out);
    assert_eq!(
        got,
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["metadata"]["name"] == n)
            .unwrap()
            .clone()
    };
    // Each decision's reason is readable in the trace.
    let stale = by_name("payments-staging-5-1-0");
    assert!(
        stale["status"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("workload-health is Stale")
    );
    let approvals = by_name("payments-production-5-0-2");
    assert!(
        approvals["status"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("1 of 2 approvals from payments-leads")
    );
    let simulated = approvals["status"]["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["mode"] == "Simulate")
        .unwrap();
    assert_eq!(
        simulated["effect"], "Block",
        "the simulated stricter p99 would block, and is only traced"
    );
    let blocked = by_name("catalog-staging-1-12-0");
    assert!(
        blocked["status"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("error-rate: 8.3% is above 5%")
    );
    let waived = by_name("catalog-production-1-11-4");
    let entry = waived["status"]["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["rule"] == "gitops-synced")
        .unwrap();
    assert_eq!(entry["effect"], "Waived");
    assert_eq!(entry["waiver"], "catalog-hpa-drift");
    let allowed = by_name("checkout-production-2-3-1");
    assert_eq!(allowed["status"]["evidenceSummary"], "6/6");
    assert_eq!(allowed["status"]["rollback"]["ready"], true);
    assert_eq!(allowed["status"]["rollback"]["revision"], "2.3.0");
    assert_eq!(
        allowed["metadata"]["labels"]["releasepassport.io/service"],
        "checkout"
    );
}

#[test]
fn exit_codes_follow_the_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    for f in [
        "policies.yaml",
        "approvals.yaml",
        "waivers.yaml",
        "evidence.yaml",
        "history.yaml",
    ] {
        std::fs::copy(shop.join(f), dir.path().join(f)).unwrap();
    }
    let releases = std::fs::read_to_string(shop.join("releases.yaml")).unwrap();
    let docs: Vec<&str> = releases.split("\n---\n").collect();
    let only = |names: &[&str]| {
        let keep: Vec<&str> = docs
            .iter()
            .copied()
            .filter(|d| names.iter().any(|n| d.contains(&format!("name: {n}\n"))))
            .collect();
        std::fs::write(dir.path().join("releases.yaml"), keep.join("\n---\n")).unwrap();
        passport(&["evaluate", "-f", dir.path().to_str().unwrap(), "--at", AT])
            .status
            .code()
    };
    assert_eq!(
        only(&["checkout-staging-2-4-0", "checkout-production-2-3-1"]),
        Some(0)
    );
    assert_eq!(
        only(&["checkout-staging-2-4-0", "payments-staging-5-1-0"]),
        Some(2)
    );
    assert_eq!(
        only(&["payments-staging-5-1-0", "catalog-staging-1-12-0"]),
        Some(1)
    );
}

#[test]
fn table_and_yaml_outputs() {
    let out = passport(&["evaluate", "-f", "examples/shop", "--at", AT]);
    let table = String::from_utf8(out.stdout).unwrap();
    let header = table.lines().next().unwrap();
    for col in [
        "NAME", "SERVICE", "VERSION", "ENV", "DECISION", "EVIDENCE", "REASON",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.contains("checkout-production-2-3-1")
                && l.contains("Allow")
                && l.contains("6/6"))
    );
    let out = passport(&["evaluate", "-f", "examples/shop", "--at", AT, "-o", "yaml"]);
    let v: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"][0]["apiVersion"], "releasepassport.io/v1alpha1");
    assert_eq!(v["items"][0]["kind"], "ReleasePassport");
}

#[test]
fn evidence_flag_and_default_time() {
    let out = passport(&[
        "evaluate",
        "-f",
        "examples/shop/policies.yaml",
        "-f",
        "examples/shop/releases.yaml",
        "--evidence",
        "examples/shop/evidence.yaml",
        "-o",
        "json",
    ]);
    // Decided now, long after the recording: the evidence is stale, so nothing is allowed.
    let got = decisions(&out);
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|(_, d)| d != "Allow"), "{got:?}");
}

/// Writes `text` to a file and evaluates it: (exit code, stderr).
fn broken(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.yaml");
    std::fs::write(&path, text).unwrap();
    let out = passport(&["evaluate", "-f", path.to_str().unwrap()]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code(), stderr)
}

const RELEASE: &str = "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {name: web}
spec: {service: web, version: '1', environment: prod}
";

#[test]
fn broken_inputs_name_file_document_and_field() {
    let rows: Vec<(String, &str)> = vec![
        (format!("{RELEASE}---\nkind: [unclosed"), "document 2: malformed YAML"),
        (format!("{RELEASE}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\n"), "document 2 (Deployment/x): apiVersion"),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: Widget\nmetadata: {{name: x}}\n"), "document 2 (Widget/x): kind: unknown kind \"Widget\""),
        ("apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: web}\nspec: {service: web, environment: prod}\n".into(), "document 1 (Release/web): spec.version: Required value"),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    evidence: {{source: x, maxAge: 10 minutes}}\n"), "document 2 (GatePolicy/p): spec.rules[0].evidence.maxAge"),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    expression: {{cel: \"evidence[\"}}\n"), "document 2 (GatePolicy/p): spec.rules[0].expression.cel: does not compile"),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    evidence: {{source: x}}\n    approval: {{min: 1}}\n"), "document 2 (GatePolicy/p): spec.rules[0]: a rule sets exactly one of"),
        // Found by fuzzing: the CEL parser's recursion counter underflowed (a panic) past its limit.
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    expression: {{cel: \"din{}\"}}\n", "(".repeat(120)), "document 2 (GatePolicy/p): spec.rules[0].expression.cel: nested 120 deep; at most 12"),
        // ... its error recovery grew exponentially with the nesting of a malformed expression ...
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    expression: {{cel: \"{}\"}}\n", "e(0---1-".repeat(13)), "document 2 (GatePolicy/p): spec.rules[0].expression.cel: nested 13 deep; at most 12"),
        // ... and evaluation recursed once per level of the tree: 100 chained `+` overflowed a stack.
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    expression: {{cel: \"1{} > 0\"}}\n", " + 1".repeat(100)), "document 2 (GatePolicy/p): spec.rules[0].expression.cel: does not compile: 102 levels deep; at most 32"),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n  - name: r\n    metric: {{query: up, op: '~', threshold: 1}}\n"), "document 2 (GatePolicy/p): spec.rules[0].metric.op: Unsupported value: \"~\": supported values: \"<\", \"<=\""),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: a}}\nspec: {{releaseRef: {{name: web}}, decision: Maybe, approver: alice}}\n"), "document 2 (Approval/a): spec.decision: Unsupported value: \"Maybe\""),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: Waiver\nmetadata: {{name: w}}\nspec: {{releaseRef: {{name: web}}, rules: [r], reason: '  ', expiresAt: '2030-01-01T00:00:00Z', approver: alice}}\n"), "document 2 (Waiver/w): spec.reason: reason is required"),
        (format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: Waiver\nmetadata: {{name: w}}\nspec: {{releaseRef: {{name: web}}, rules: [r], reason: known, approver: alice}}\n"), "document 2 (Waiver/w): spec.expiresAt: Required value"),
        ("apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: Web_App}\nspec: {service: web, version: '1', environment: prod}\n".into(), "document 1 (Release/Web_App): metadata.name"),
        (format!("{RELEASE}---\nkind: EvidenceRecording\nreleases:\n  web:\n  - {{source: ci, status: Complete, obsevedAt: now}}\n"), "document 2 (EvidenceRecording): releases.web[0].obsevedAt: unknown field `obsevedAt`"),
        (format!("{RELEASE}---\nkind: EvidenceRecording\nreleases:\n  web:\n  - {{source: ci, status: Great}}\n"), "releases.web[0].status: unknown variant `Great`"),
    ];
    for (text, expected) in rows {
        let (code, stderr) = broken(&text);
        assert_eq!(code, Some(3), "{stderr}");
        assert!(stderr.contains("input.yaml: "), "names the file: {stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr}"
        );
    }
}

/// `evaluate` refuses what the API server refuses, in its words and with its bounds: the schema's
/// types, lengths, counts, patterns and enums come before any CEL rule, as on the server. Before,
/// 10,000 rules took minutes (the rules' CEL compares them pairwise) and were then accepted; a
/// service name of 64 characters, a 1 MiB comment and a namespace no cluster allows were accepted;
/// a number where a string belongs tripped a CEL `size()` error.
#[test]
fn the_schema_is_applied_before_cel_with_the_servers_bounds() {
    let policy = |rules: usize| {
        let rules: String = (0..rules)
            .map(|i| format!("  - name: r{i}\n    approval: {{min: 1}}\n"))
            .collect();
        format!(
            "{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: p}}\nspec:\n  rules:\n{rules}"
        )
    };
    let release = |spec: &str, meta: &str| {
        format!(
            "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {{name: web{meta}}}\nspec: {{{spec}}}\n"
        )
    };
    let rows: Vec<(String, &str)> = vec![
        (
            policy(10_000),
            "document 2 (GatePolicy/p): spec.rules: Too many: 10000: must have at most 64 items",
        ),
        (
            policy(65),
            "spec.rules: Too many: 65: must have at most 64 items",
        ),
        (
            release(
                &format!(
                    "service: {}, version: '1', environment: prod",
                    "s".repeat(64)
                ),
                "",
            ),
            "document 1 (Release/web): spec.service: Too long: may not be more than 63 bytes",
        ),
        (
            release("service: web, version: 1.0, environment: prod", ""),
            "spec.version: Invalid value: \"number\": spec.version in body must be of type string: \"number\"",
        ),
        (
            release(
                "service: web, version: '1', environment: prod",
                ", namespace: Shop_NS",
            ),
            "metadata.namespace: Invalid value: \"Shop_NS\"",
        ),
        (
            release(
                "service: web, version: '1', environment: prod, scope: {namespaces: web}",
                "",
            ),
            "spec.scope.namespaces: Invalid value: \"string\": spec.scope.namespaces in body must be of type array",
        ),
        (
            format!(
                "{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: a}}\nspec: {{releaseRef: {{name: web}}, decision: Approve, approver: alice, comment: {}}}\n",
                "x".repeat(1 << 20)
            ),
            "document 2 (Approval/a): spec.comment: Too long: may not be more than 1024 bytes",
        ),
        (
            format!(
                "{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: a}}\nspec: {{releaseRef: {{name: web}}, decision: Maybe, approver: alice}}\n"
            ),
            "document 2 (Approval/a): spec.decision: Unsupported value: \"Maybe\": supported values: \"Approve\", \"Reject\"",
        ),
    ];
    for (text, expected) in rows {
        let (code, stderr) = broken(&text);
        assert_eq!(code, Some(3), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr}"
        );
    }
}

/// A directory walk reads each file once: a link to a folder above (`ln -s . d/a`) made it decide
/// the same file 41 times, and two such links kept it busy for over a minute. The same object in
/// two files is refused naming both (kubectl apply would keep the last without a word).
#[test]
fn a_walk_reads_each_file_once_and_refuses_an_object_defined_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("release.yaml"), RELEASE).unwrap();
    std::os::unix::fs::symlink(".", d.join("a")).unwrap();
    std::os::unix::fs::symlink(".", d.join("b")).unwrap();
    std::os::unix::fs::symlink("release.yaml", d.join("same.yaml")).unwrap();
    let out = passport(&["evaluate", "-f", d.to_str().unwrap(), "-o", "json"]);
    assert_eq!(
        decisions(&out),
        [("web".to_string(), "Hold".to_string())],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(d.join("copy.yaml"), RELEASE).unwrap();
    let out = passport(&["evaluate", "-f", d.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("copy.yaml") || stderr.contains("release.yaml"),
        "names the file: {stderr}"
    );
    assert!(
        stderr.contains("Release default/web is defined twice: here and in")
            && stderr.contains("release.yaml")
            && stderr.contains("copy.yaml"),
        "names both files: {stderr}"
    );
}

/// kubectl's default strict field validation refuses a field the CRD does not declare; so does
/// every file reader, naming file, document and field (a typo of `maxAge` once dropped the limit).
#[test]
fn unknown_fields_are_refused_in_every_kind() {
    let doc = |kind: &str, body: &str| {
        format!("{RELEASE}---\napiVersion: releasepassport.io/v1alpha1\nkind: {kind}\n{body}")
    };
    let rows = [
        (
            doc(
                "GatePolicy",
                "metadata: {name: p}\nspec:\n  rules:\n  - name: r\n    evidence: {source: workload-health, maxAg: 6h}\n",
            ),
            "document 2 (GatePolicy/p): spec.rules[0].evidence.maxAg: unknown field",
        ),
        (
            "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: web}\nspec: {service: web, version: '1', environment: prod, scop: {metricLabels: {app: web}}}\n".to_string(),
            "document 1 (Release/web): spec.scop: unknown field",
        ),
        (
            doc(
                "Approval",
                "metadata: {name: a}\nspec: {releaseRef: {name: web}, decision: Approve, approver: alice, group: [x]}\n",
            ),
            "document 2 (Approval/a): spec.group: unknown field",
        ),
        (
            doc(
                "Waiver",
                "metadata: {name: w}\nspec: {releaseRef: {name: web, namespce: x}, rules: [r], reason: known, expiresAt: '2030-01-01T00:00:00Z', approver: alice}\n",
            ),
            "document 2 (Waiver/w): spec.releaseRef.namespce: unknown field",
        ),
        (
            doc(
                "Connector",
                "metadata: {name: c}\nspec: {type: Kubernetes, refreshIntervall: 1m}\n",
            ),
            "document 2 (Connector/c): spec.refreshIntervall: unknown field",
        ),
        (
            doc(
                "Release",
                "metadata: {name: other, lables: {a: b}}\nspec: {service: web, version: '2', environment: prod}\n",
            ),
            "document 2 (Release/other): metadata.lables: unknown field",
        ),
        (
            format!("{RELEASE}---\nkind: EvidenceRecording\nreleses: {{}}\n"),
            "document 2 (EvidenceRecording): releses: unknown field `releses`",
        ),
    ];
    for (text, expected) in &rows {
        let (code, stderr) = broken(text);
        assert_eq!(code, Some(3), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr}"
        );
    }
    // --lenient keeps the object and says what it kept.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.yaml");
    std::fs::write(&path, &rows[0].0).unwrap();
    let out = passport(&["evaluate", "--lenient", "-f", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "held, not refused: {stderr}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("spec.rules[0].evidence.maxAg: unknown field (kept: --lenient)"),
        "{stderr}"
    );
    for command in [
        &["simulate", "--policy"][..],
        &["attest", "--release", "web", "-f"],
        &["demo", "--no-serve", "--examples"],
    ] {
        let mut args = command.to_vec();
        args.push(path.to_str().unwrap());
        let out = passport(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("spec.rules[0].evidence.maxAg: unknown field"),
            "{command:?}: {stderr}"
        );
        assert_ne!(out.status.code(), Some(0), "{command:?}: {stderr}");
    }
}

/// Deep flow nesting cost the YAML parser time that grew with the square of the depth (100,000
/// brackets took 50 s before it said "recursion limit"); an input past the size cap was read whole.
#[test]
fn oversized_and_deeply_nested_inputs_are_refused_before_parsing() {
    let deep = format!(
        "{RELEASE}---\nkind: GatePolicy\nx: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (code, stderr) = broken(&deep);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("input.yaml: nested deeper than 256 brackets at line 7"),
        "{stderr}"
    );
    let huge = format!("{RELEASE}# {}\n", "x".repeat(16 << 20));
    let (code, stderr) = broken(&huge);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("bytes; inputs are read up to 16777216 bytes"),
        "{stderr}"
    );
}

#[test]
fn hostile_inputs_never_panic() {
    let rows = [
        String::from_utf8_lossy(&[0xff, 0xfe, 0x00, 0x41]).to_string(),
        "[".repeat(10_000),
        "a: &a [*a, *a]\nb: *a\n".into(),
        format!("{RELEASE}spec: {{service: web, version: '1', environment: prod, revision: {{committedAt: yesterday}}}}\n"),
        "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {name: p}\nspec: {rules: [{name: r, metric: {query: up, op: '<', threshold: 1e999}}]}\n".into(),
        "--- \n...\n".into(),
    ];
    for text in rows {
        let (code, stderr) = broken(&text);
        assert_eq!(
            code,
            Some(3),
            "{}: {stderr}",
            text.chars().take(60).collect::<String>()
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
}

#[test]
fn missing_file_and_no_release() {
    let out = passport(&["evaluate", "-f", "does/not/exist.yaml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist.yaml"));
    let out = passport(&["evaluate", "-f", "examples/shop/policies.yaml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Release found"));
}

/// What people type (comments, reasons, descriptions, a rule's message, an author) is
/// redacted of credentials in every output format: the shop with a secret pasted into each.
#[test]
fn free_text_people_type_never_shows_a_pasted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let pasted = [
        (
            "approvals.yaml",
            "comment: Canary looked clean for an hour.",
            "comment: 'Canary clean, password: hunter2-a1'",
        ),
        (
            "waivers.yaml",
            "reason: >-",
            "reason: >-\n    token=tk-waiver-77",
        ),
        (
            "policies.yaml",
            "description: Every staging release",
            "description: DB_PASSWORD=pg-desc-5 Every staging release",
        ),
        (
            "policies.yaml",
            "message: synthetic journeys",
            "message: https://ci:msg-pw-3@ci.example synthetic journeys",
        ),
        (
            "releases.yaml",
            "author: bob}",
            "author: 'bob sk-AbCdEf0123456789GhIjKlMn'}",
        ),
    ];
    for entry in std::fs::read_dir("examples/shop").unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let file = file.as_str();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (f, from, to) in &pasted {
            if *f == file {
                assert!(text.contains(from), "{file} no longer has {from:?}");
                text = text.replacen(from, to, 1);
            }
        }
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    let secrets = [
        "hunter2-a1",
        "tk-waiver-77",
        "pg-desc-5",
        "msg-pw-3",
        "sk-AbCdEf",
    ];
    for format in ["table", "json", "yaml"] {
        let out = evaluate_dir(dir.path(), format);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("[redacted]") || format == "table",
            "{format}: {text}"
        );
        for secret in secrets {
            assert!(!text.contains(secret), "{format} shows {secret}: {text}");
        }
    }
}

/// A comparison decided offline from a recording of both windows' samples, as the controller
/// would have decided it live: eight times the errors of the 30 minutes before blocks.
#[test]
fn a_comparison_decides_from_recorded_samples() {
    let dir = tempfile::tempdir().unwrap();
    let around = |centre: f64| {
        (0..60)
            .map(|i| (centre * (0.95 + 0.1 * f64::from(i) / 59.0)).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let q = "sum(rate(http_requests_total{code=~\"5..\",service=\"cart\"}[5m])) / sum(rate(http_requests_total{service=\"cart\"}[5m]))";
    std::fs::write(
        dir.path().join("cart.yaml"),
        format!(
            r#"apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: cart-2-0-0, namespace: shop}}
spec:
  service: cart
  version: 2.0.0
  environment: production
  scope: {{metricLabels: {{service: cart}}}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: versus-before, namespace: shop}}
spec:
  rules:
  - name: error-rate
    metric:
      query: 'sum(rate(http_requests_total{{code=~"5..",$labels}}[5m])) / sum(rate(http_requests_total{{$labels}}[5m]))'
      unit: ratio
      compare: {{baseline: before, window: 30m, worse: higher, tolerancePercent: 20, significance: 0.05}}
---
apiVersion: releasepassport.io/v1alpha1
kind: EvidenceRecording
startedAt:
  shop/cart-2-0-0: "2026-11-25T13:00:00Z"
releases:
  shop/cart-2-0-0:
  - source: error-rate
    status: Complete
    observedAt: "2026-11-25T13:59:00Z"
    query: '{q} @samples=2026-11-25T13:05:00Z+30m'
    samples: [{mine}]
  - source: error-rate
    status: Complete
    observedAt: "2026-11-25T13:59:00Z"
    query: '{q} @samples=2026-11-25T12:30:00Z+30m'
    samples: [{before}]
"#,
            mine = around(0.0081),
            before = around(0.001),
        ),
    )
    .unwrap();
    let out = evaluate_dir(dir.path(), "json");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a Block exits 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = v["status"]["trace"][0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "0.81% since 2026-11-25T13:05:00Z vs 0.1% in the 30m before: 8.1× higher, significantly worse — p < 0.001 (Mann-Whitney, 60 vs 60 samples)"
    );
    assert_eq!(
        v["status"]["evidence"][0]["comparison"]["releaseSamples"],
        60
    );
}

/// Recorded alerts decide offline as the connector's would: the shipped alert policy
/// (examples/connectors/alertmanager.yaml) blocks on a firing alert and holds on a muted one.
#[test]
fn recorded_alerts_decide_with_the_shipped_alert_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recorded.yaml"),
        r#"apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {name: checkout-2-3-1, namespace: shop}
spec: {service: checkout, version: 2.3.1, environment: production, scope: {metricLabels: {service: checkout}}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {name: catalog-1-12-0, namespace: shop}
spec: {service: catalog, version: 1.12.0, environment: production, scope: {metricLabels: {service: catalog}}}
---
apiVersion: releasepassport.io/v1alpha1
kind: EvidenceRecording
releases:
  shop/checkout-2-3-1:
  - {source: alerts, status: Failed, observedAt: "2026-11-25T13:59:00Z", connector: alertmanager, value: 1,
     summary: "1 alert firing: CheckoutErrors (critical, since 2026-11-25T13:40:00Z)"}
  - {source: any-alerts, status: Failed, observedAt: "2026-11-25T13:59:00Z", value: 1}
  shop/catalog-1-12-0:
  - {source: alerts, status: Complete, observedAt: "2026-11-25T13:59:00Z", value: 0}
  - {source: any-alerts, status: Failed, observedAt: "2026-11-25T13:59:00Z", value: 1,
     summary: "1 alert firing: CatalogDiskFull (warning, silenced by 5e1)"}
"#,
    )
    .unwrap();
    let out = passport(&[
        "evaluate",
        "-f",
        "examples/connectors/alertmanager.yaml",
        "-f",
        dir.path().to_str().unwrap(),
        "--at",
        AT,
        "-o",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a Block exits 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = decisions(&out);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("catalog-1-12-0".to_string(), "Hold".to_string()),
            ("checkout-2-3-1".to_string(), "Block".to_string())
        ]
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CheckoutErrors (critical, since 2026-11-25T13:40:00Z)"));
}
