//! Release Passport as Pods: a real node (tests/common/node.rs) runs our image, built from the
//! Dockerfile, through every way a user installs and uses it — `kubectl apply -k config/default`,
//! the doc blocks that follow it, failover, the Argo CD PreSync gate Job (alone, and in a real
//! Argo CD sync), `helm install` — and leaves the host as it found it.
//!
//! One test, one node: starting a node costs more than every path on it, and its clean-up must
//! run however a path ends, so the paths run one after another under one guard and each failure
//! is reported by name at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::zombie_processes
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::cluster::tool;
use common::gitops::{ArgoCd, GitRepo, application_manifest};
use common::node::{
    BUSYBOX_IMAGE, NODE_IP, Node, OAUTH2_PROXY_IMAGE, PASSPORT_IMAGE, leftovers, memory_of, pods,
    wait_for,
};

const SYSTEM: &str = "release-passport-system";
const CONTROLLER: &str =
    "app.kubernetes.io/name=release-passport,app.kubernetes.io/component=controller";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A user path, run on the node.
type UserPath = fn(&Node);

#[test]
fn release_passport_runs_as_pods_on_a_real_node() {
    let node = Node::start();
    let dir = node.dir().to_path_buf();
    let image = build_image(&node);
    println!("our image: {} bytes as imported ({PASSPORT_IMAGE})", image);

    node.import_static(
        Path::new("/bin/busybox"),
        BUSYBOX_IMAGE,
        &[
            "-at",
            "/bin/busybox",
            "-link",
            "/bin/sh",
            "-link",
            "/bin/cat",
            "-link",
            "/bin/wget",
        ],
    );
    let paths: &[(&str, UserPath)] = &[
        ("kustomize install", kustomize_install),
        ("kind doc steps 3-6", kind_doc_steps),
        ("failover", failover),
        ("argocd presync gate job", presync_gate_job),
        ("smoke-test jobs", smoke_test_jobs),
        ("argocd presync hook in a real sync", argocd_presync_hook),
        ("helm install", helm_install),
        ("a burst of 1,000 Releases", burst),
        ("console behind oauth2-proxy", console_behind_oauth2_proxy),
    ];
    let mut failed = Vec::new();
    // PASSPORT_NODE_PATHS=helm,console runs only the paths whose names contain one of those
    // words, for work on one of them (each path expects the ones before it).
    let only = std::env::var("PASSPORT_NODE_PATHS").unwrap_or_default();
    for (name, path) in paths {
        if !only.is_empty() && !only.split(',').any(|w| name.contains(w)) {
            continue;
        }
        println!("--- {name}");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| path(&node)));
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    drop(node);
    let left = leftovers(&dir);
    assert!(
        left.is_empty(),
        "the node left behind:\n{}",
        left.join("\n")
    );
    assert!(
        failed.is_empty(),
        "these paths failed (see above): {failed:?}"
    );
}

/// Our image, the way the Dockerfile describes it (tests/cluster/cmd/ociimage follows its final
/// stage), around the binary this test run built; imported into the node. Returns its size.
fn build_image(node: &Node) -> u64 {
    let archive = node.dir().join("passport.tar");
    let out = Command::new(tool("ociimage"))
        .arg("dockerfile")
        .arg("-f")
        .arg(root().join("Dockerfile"))
        .arg("-from")
        .arg(format!(
            "build:/src/target/release/passport={}",
            env!("CARGO_BIN_EXE_passport")
        ))
        .args(["-ref", PASSPORT_IMAGE, "-o"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.import(&archive);
    std::fs::metadata(&archive).unwrap().len()
}

/// kubectl (and helm, and `kubectl passport`) on PATH as a user has them, for doc blocks.
fn user_path(node: &Node) -> PathBuf {
    let bin = node.dir().join("user-bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        for t in ["kubectl", "helm"] {
            std::os::unix::fs::symlink(tool(t), bin.join(t)).unwrap();
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_passport"), bin.join("kubectl-passport"))
            .unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_passport"), bin.join("passport")).unwrap();
    }
    bin
}

/// The commands of a fenced shell block in a doc, from the line that contains `from` to the one
/// that contains `to` (both included); comments dropped, continued lines joined.
fn doc_commands(doc: &str, from: &str, to: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("{doc} has no {from:?}"));
    let rest = &text[start..];
    let end = rest
        .find(to)
        .unwrap_or_else(|| panic!("{doc} has no {to:?} after {from:?}"));
    let end = end + rest[end..].find('\n').unwrap_or(rest.len() - end);
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in rest[..end].lines() {
        let line = line.trim();
        assert!(
            !line.starts_with("```"),
            "{doc}: {from:?}…{to:?} spans two blocks"
        );
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        commands.push(std::mem::take(&mut pending));
    }
    commands
}

/// Runs doc commands as a user would paste them, as the cluster's administrator. A watch
/// (`-w`) runs for a few seconds and is then stopped, as the reader would; it must have printed.
fn run_doc(node: &Node, commands: &[String]) -> String {
    let path = format!(
        "{}:{}",
        user_path(node).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut transcript = String::new();
    for command in commands {
        let watch = command
            .split_whitespace()
            .any(|w| w == "-w" || w == "--watch");
        let script = if watch {
            format!("timeout 8 {command}; [ $? = 124 ]")
        } else {
            command.clone()
        };
        let out = Command::new("bash")
            .args(["-c", &script])
            .current_dir(root())
            .env("PATH", &path)
            .env("KUBECONFIG", node.plane.kubeconfig())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        transcript.push_str(&format!("$ {command}\n{stdout}"));
        assert!(
            out.status.success() && (!watch || !stdout.trim().is_empty()),
            "doc command failed: {command}\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!("{transcript}");
    transcript
}

fn lease_holder(node: &Node) -> Option<String> {
    node.plane
        .get_json(&["lease", "release-passport", "-n", SYSTEM])?["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// The gate Service's ready endpoints, as Pod names.
fn gate_endpoints(node: &Node) -> Vec<String> {
    let slices = node
        .plane
        .get_json(&[
            "endpointslices",
            "-n",
            SYSTEM,
            "-l",
            "kubernetes.io/service-name=release-passport-gate",
        ])
        .unwrap_or_default();
    let mut names: Vec<String> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"] == true)
        .filter_map(|e| e["targetRef"]["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Two controller Pods Ready, one holding the Lease, only it labelled leader, and the gate
/// Service routing to it alone. Returns the leader's Pod name.
fn one_leader_routed(node: &Node) -> String {
    let settled = wait_for(Duration::from_secs(120), || {
        let all = pods(&node.plane, SYSTEM, CONTROLLER);
        let running: Vec<&Value> = all
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        if running.len() != 2 || !running.iter().all(|p| ready(p)) {
            return None;
        }
        let holder = lease_holder(node)?;
        let labelled: Vec<String> = running
            .iter()
            .filter(|p| p["metadata"]["labels"]["releasepassport.io/leader"] == "true")
            .map(|p| name(p))
            .collect();
        (labelled == [holder.clone()] && gate_endpoints(node) == [holder.clone()]).then_some(holder)
    });
    settled.unwrap_or_else(|| {
        panic!(
            "no single routed leader: lease {:?}, endpoints {:?}\n{}",
            lease_holder(node),
            gate_endpoints(node),
            node.describe_pods(SYSTEM)
        )
    })
}

/// The README's "In a cluster" block, verbatim: the install, the shop's policies and Releases.
fn kustomize_install(node: &Node) {
    let ns = node.plane.get_json(&["namespace", SYSTEM]);
    assert!(ns.is_none(), "{SYSTEM} exists before the install");
    let transcript = run_doc(
        node,
        &doc_commands(
            "README.md",
            "kubectl apply -k config/default",
            "kubectl explain gatepolicy",
        ),
    );
    assert!(
        transcript.contains("successfully rolled out"),
        "{transcript}"
    );
    let ns = node.plane.get_json(&["namespace", SYSTEM]).unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "the install's namespace enforces Pod Security restricted"
    );
    node.rollout(SYSTEM, "deployment/release-passport-controller");
    let leader = one_leader_routed(node);
    // Both containers run as the image's non-root user with a read-only root.
    for pod in pods(&node.plane, SYSTEM, CONTROLLER) {
        let out = node.plane.kubectl_ok(
            &[
                "exec",
                "-n",
                SYSTEM,
                &name(&pod),
                "--",
                "/usr/local/bin/passport",
                "--version",
            ],
            None,
        );
        assert!(out.contains("passport"), "{out}");
    }
    println!("leader after install: {leader}");
    // Every Release of the shop has its passport, decided by the controller in its Pod.
    let decided = wait_for(Duration::from_secs(60), || {
        let rps = node.plane.get_json(&["rp", "-n", "shop"])?;
        let items = rps["items"].as_array()?;
        (items.len() == 6 && items.iter().all(|p| p["status"]["decision"].is_string()))
            .then_some(())
    });
    assert!(
        decided.is_some(),
        "{}",
        node.plane.kubectl_ok(&["get", "rp", "-n", "shop"], None)
    );
    // The kind doc starts from a cluster without the shop.
    node.plane
        .kubectl_ok(&["delete", "namespace", "shop", "--wait=true"], None);
}

fn kind_doc_steps(node: &Node) {
    let transcript = run_doc(
        node,
        &doc_commands(
            "docs/running-on-kind.md",
            "# 3. Install",
            "get lease release-passport",
        ),
    );
    assert!(
        transcript.contains("successfully rolled out"),
        "{transcript}"
    );
    // Every Release has its passport; the approval step moved one; the deleted one is gone (the
    // garbage collector takes the passport after its Release, in its own time).
    let names = || -> Vec<String> {
        let rps = node.plane.get_json(&["rp", "-n", "shop"]).unwrap();
        rps["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    };
    let names = wait_for(Duration::from_secs(60), || {
        let names = names();
        (!names.iter().any(|n| n == "catalog-staging-1-12-0")).then_some(names)
    })
    .unwrap_or_else(|| panic!("the deleted Release's passport stayed: {:?}", names()));
    assert_eq!(names.len(), 5, "{names:?}");
    let approved = node
        .plane
        .get_json(&["rp", "-n", "shop", "checkout-production-2-3-1"])
        .unwrap();
    let approvals = &approved["status"]["approvals"];
    assert!(
        approvals.to_string().contains("kubernetes-admin")
            || approvals.to_string().contains("admin"),
        "the approval reached the passport: {approvals}"
    );
}

/// Audit events of the controller's ServiceAccount since `since` (RFC 3339) that write `resource`.
fn controller_writes(node: &Node, since: &str, resource: &str) -> Vec<Value> {
    node.plane
        .audit()
        .into_iter()
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter(|e| {
            e["requestReceivedTimestamp"]
                .as_str()
                .is_some_and(|t| t > since)
        })
        .filter(|e| {
            e["user"]["username"]
                == format!("system:serviceaccount:{SYSTEM}:release-passport-controller")
        })
        .filter(|e| e["objectRef"]["resource"] == resource)
        .filter(|e| matches!(e["verb"].as_str(), Some("create" | "update" | "patch")))
        .collect()
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The leader goes the two ways clusters lose one — its Pod deleted, its container killed — and
/// each time the standby leads within the Lease, the Deployment or kubelet brings the replica
/// back, and the world, which did not change, is not written again.
fn failover(node: &Node) {
    let first = one_leader_routed(node);
    // Decisions of the shop's Releases are settled (the doc steps made them).
    std::thread::sleep(Duration::from_secs(2));
    let since = now_rfc3339();
    node.plane.kubectl_ok(
        &["delete", "pod", "-n", SYSTEM, &first, "--wait=false"],
        None,
    );
    let second = wait_for(Duration::from_secs(60), || {
        lease_holder(node).filter(|h| *h != first)
    })
    .expect("the standby took the Lease after the leader's Pod was deleted");
    let after_delete = one_leader_routed(node);
    assert_eq!(after_delete, second);
    assert!(
        pods(&node.plane, SYSTEM, CONTROLLER)
            .iter()
            .all(|p| name(p) != first),
        "the Deployment replaced the deleted Pod"
    );

    // Kill the leader's container where it runs: the kubelet restarts it in the same Pod.
    let pod = node
        .plane
        .get_json(&["pod", "-n", SYSTEM, &second])
        .unwrap();
    let container = pod["status"]["containerStatuses"][0]["containerID"]
        .as_str()
        .unwrap()
        .trim_start_matches("containerd://")
        .to_string();
    node.kill_container(&container);
    let restarted = wait_for(Duration::from_secs(60), || {
        let pod = node.plane.get_json(&["pod", "-n", SYSTEM, &second])?;
        (pod["status"]["containerStatuses"][0]["restartCount"].as_u64()? >= 1 && ready(&pod))
            .then_some(())
    });
    assert!(
        restarted.is_some(),
        "the kubelet restarted the killed container\n{}",
        node.describe_pods(SYSTEM)
    );
    // Whoever leads now — the standby, or the restarted container, which holds its Pod's name and
    // so the Lease it held — is one process, labelled and routed alone, and renewing.
    let third = one_leader_routed(node);
    let renewed = |n: &Node| {
        n.plane
            .get_json(&["lease", "release-passport", "-n", SYSTEM])
            .unwrap()["spec"]["renewTime"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = renewed(node);
    assert!(
        wait_for(Duration::from_secs(30), || (renewed(node) != before)
            .then_some(()))
        .is_some(),
        "the Lease is renewed after the container was killed (by {third})"
    );

    // Nothing changed in the world: no passport written, no Event told twice.
    let passports = controller_writes(node, &since, "releasepassports");
    assert!(
        passports.is_empty(),
        "decisions written again after failover: {passports:?}"
    );
    let events = controller_writes(node, &since, "events");
    assert!(
        events.is_empty(),
        "Events told again after failover: {events:?}"
    );
}

/// Applies an example as shipped but for `edits` (what a user changes: the namespace, the
/// release, a deadline), waits for its Job `job` in `ns` to finish, and returns the Job's final
/// condition and its Pod's log.
fn example_job(
    node: &Node,
    example: &str,
    job: &str,
    ns: &str,
    edits: &[(&str, String)],
) -> (String, String) {
    let shipped = std::fs::read_to_string(root().join(example)).unwrap();
    let manifest = edits
        .iter()
        .fold(shipped, |m, (from, to)| m.replace(from, to));
    let _ = node
        .plane
        .kubectl(&["delete", "job", job, "-n", ns, "--wait=true"], None);
    node.plane.apply(&manifest);
    let condition = wait_for(Duration::from_secs(120), || {
        let job = node.plane.get_json(&["job", job, "-n", ns])?;
        job["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
            .and_then(|c| c["type"].as_str().map(str::to_string))
    })
    .unwrap_or_else(|| {
        panic!(
            "Job {job} of {example} did not finish\n{}",
            node.describe_pods(ns)
        )
    });
    let log = node
        .plane
        .kubectl(&["logs", "-n", ns, &format!("job/{job}")], None);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&log.stdout),
        String::from_utf8_lossy(&log.stderr)
    );
    (condition, log)
}

/// examples/gitops/argocd/presync-gate.yaml, asking about `release` in `ns` (and with `timeout`
/// in place of its 10m when given).
fn presync_job(node: &Node, ns: &str, release: &str, timeout: Option<&str>) -> (String, String) {
    let mut edits = vec![
        ("namespace: shop", format!("namespace: {ns}")),
        ("shop/checkout-production-2-3-1", format!("{ns}/{release}")),
    ];
    if let Some(t) = timeout {
        edits.push(("--timeout, 10m", format!("--timeout, {t}")));
    }
    example_job(
        node,
        "examples/gitops/argocd/presync-gate.yaml",
        "passport-gate",
        ns,
        &edits,
    )
}

/// examples/gitops/http-gate-job.yaml, asking about `release` in `ns`.
fn http_gate_job(node: &Node, ns: &str, release: &str) -> (String, String) {
    let edits = [
        ("namespace: shop", format!("namespace: {ns}")),
        (
            "/shop/checkout-production-2-3-1",
            format!("/{ns}/{release}"),
        ),
    ];
    example_job(
        node,
        "examples/gitops/http-gate-job.yaml",
        "ask-the-gate",
        ns,
        &edits,
    )
}

/// The Argo CD PreSync hook Job runs `passport gate` in a Pod of our image with its own
/// ServiceAccount: Complete on Allow, Failed on Block, Failed on Hold at its deadline.
fn presync_gate_job(node: &Node) {
    let ns = node.plane.namespace("presync");
    let failed = r#"{"status":"Failed","by":"qa","summary":"pen test found a critical issue"}"#;
    node.plane.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: open, namespace: {ns}}}
spec:
  selector: {{services: [web]}}
  rules:
  - name: always
    expression: {{cel: 'true'}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: pen-test, namespace: {ns}}}
spec:
  selector: {{services: [api]}}
  rules:
  - name: pen-test
    evidence: {{source: pen-test}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: approved, namespace: {ns}}}
spec:
  selector: {{services: [db]}}
  rules:
  - name: approved
    approval: {{min: 1}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: web, namespace: {ns}}}
spec: {{service: web, version: 1.0.0, environment: production}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata:
  name: api
  namespace: {ns}
  annotations: {{evidence.releasepassport.io/pen-test: '{failed}'}}
spec: {{service: api, version: 2.0.0, environment: production}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: db, namespace: {ns}}}
spec: {{service: db, version: 3.0.0, environment: production}}
"
    ));
    let (condition, log) = presync_job(node, &ns, "web", None);
    assert_eq!(condition, "Complete", "Allow completes the hook: {log}");
    assert!(log.contains("Allow"), "{log}");
    let (condition, log) = presync_job(node, &ns, "api", None);
    assert_eq!(condition, "Failed", "Block fails the hook: {log}");
    assert!(log.contains("Block"), "{log}");
    let (condition, log) = presync_job(node, &ns, "db", Some("15s"));
    assert_eq!(
        condition, "Failed",
        "Hold fails the hook at its timeout: {log}"
    );
    assert!(log.contains("Hold"), "{log}");

    // The HTTP gate from a Pod (docs/gitops.md): a projected token, the Service's DNS name.
    let (condition, log) = http_gate_job(node, &ns, "web");
    assert_eq!(condition, "Complete", "Allow over HTTP: {log}");
    assert!(log.contains(r#""decision":"Allow""#), "{log}");
    let (condition, log) = http_gate_job(node, &ns, "api");
    assert_eq!(condition, "Failed", "Block over HTTP: {log}");
    assert!(log.contains(r#""decision":"Block""#), "{log}");
}

/// Smoke-test Jobs that really run on the node decide their release (`jobs` evidence, read by
/// the controller in its Pod through the shipped RBAC): none yet holds, a Job that passes
/// allows, a Job that fails blocks naming it and its reason.
fn smoke_test_jobs(node: &Node) {
    let plane = &node.plane;
    let ns = plane.namespace("smoke");
    plane.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: cluster, namespace: {ns}}}
spec: {{type: Kubernetes, refreshInterval: 5s}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: smoke-tested, namespace: {ns}}}
spec:
  rules:
  - name: smoke-tests
    evidence: {{source: jobs}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: web, namespace: {ns}}}
spec: {{service: web, version: 1.0.0, environment: production, scope: {{selector: {{matchLabels: {{app: web}}}}}}}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: api, namespace: {ns}}}
spec: {{service: api, version: 2.0.0, environment: production, scope: {{selector: {{matchLabels: {{app: api}}}}}}}}
"
    ));
    let evidence = |release: &str| {
        let passport = plane.get_json(&["rp", "-n", &ns, release])?;
        let status = &passport["status"];
        let item = status["evidence"]
            .as_array()?
            .iter()
            .find(|e| e["source"] == "jobs")?
            .clone();
        Some((
            status["decision"].as_str()?.to_string(),
            item["status"].as_str()?.to_string(),
            item["summary"].as_str().unwrap_or_default().to_string(),
        ))
    };
    let settle = |release: &str, decision: &str| {
        let mut last = None;
        wait_for(Duration::from_secs(120), || {
            last = evidence(release);
            // Decided, from what the connector observed (not yet observed: no summary).
            last.clone()
                .filter(|(d, _, summary)| d == decision && !summary.is_empty())
        })
        .unwrap_or_else(|| panic!("{release}: {last:?}\n{}", node.describe_pods(&ns)))
    };
    let (_, status, summary) = settle("web", "Hold");
    assert_eq!(
        (status.as_str(), summary.as_str()),
        ("Missing", "no Job in scope carries 1.0.0")
    );
    let job = |app: &str, version: &str, script: &str| {
        format!(
            "apiVersion: batch/v1
kind: Job
metadata:
  name: smoke-{app}
  namespace: {ns}
  labels: {{app: {app}, app.kubernetes.io/version: '{version}'}}
spec:
  backoffLimit: 0
  template:
    metadata: {{labels: {{app: {app}-smoke}}}}
    spec:
      restartPolicy: Never
      containers:
      - name: smoke
        image: {BUSYBOX_IMAGE}
        imagePullPolicy: Never
        command: [/bin/sh, -c, '{script}']
"
        )
    };
    plane.apply(&job("web", "1.0.0", "echo checkout works"));
    plane.apply(&job("api", "2.0.0", "echo card flow broken; exit 1"));
    let (_, status, summary) = settle("web", "Allow");
    assert_eq!(
        (status.as_str(), summary.as_str()),
        ("Complete", "1 Job succeeded at 1.0.0: Job smoke/smoke-web")
    );
    let (_, status, summary) = settle("api", "Block");
    assert_eq!(status, "Failed");
    assert!(
        summary.starts_with("failed: Job smoke/smoke-api (BackoffLimitExceeded"),
        "{summary}"
    );
    plane.kubectl_ok(&["delete", "namespace", &ns, "--wait=true"], None);
}

/// What the Argo CD Application `checkout` says of its sync: (phase, message, revision).
fn sync_operation(node: &Node) -> (String, String, String) {
    let app = node
        .plane
        .get_json(&["application", "-n", "argocd", "checkout"])
        .unwrap_or(Value::Null);
    let op = &app["status"]["operationState"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        text(&op["phase"]),
        text(&op["message"]),
        text(&op["syncResult"]["revision"]),
    )
}

/// examples/gitops/argocd/presync-gate.yaml committed beside an application and synced by a real
/// Argo CD (v3.6.2, tests/common/gitops.rs): while the passport holds, the sync waits on the hook
/// and nothing of the application is applied; on Allow the sync goes on and applies it; on Block
/// the hook fails, the sync fails and the application stays as it was.
fn argocd_presync_hook(node: &Node) {
    let plane = &node.plane;
    let ns = plane.namespace("argocd-sync");
    let argo = ArgoCd::start(plane);
    let release = "checkout-production-2-3-1";
    // The pipeline creates the Release before it asks Argo CD to sync.
    plane.apply(&common::gated_policies(&ns));
    plane.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: {release}, namespace: {ns}}}
spec: {{service: checkout, version: 2.3.1, environment: production, revision: {{author: bob}}}}
"
    ));
    let hook = std::fs::read_to_string(root().join("examples/gitops/argocd/presync-gate.yaml"))
        .unwrap()
        .replace("namespace: shop", &format!("namespace: {ns}"))
        .replace("shop/checkout-production-2-3-1", &format!("{ns}/{release}"));
    let app = |version: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: checkout, namespace: {ns}}}\ndata: {{version: '{version}'}}\n"
        )
    };
    let repo = GitRepo::serve("shop");
    let first = repo.commit(
        "checkout 2.3.1",
        &[
            ("apps/checkout/presync-gate.yaml", &hook),
            ("apps/checkout/app.yaml", &app("2.3.1")),
        ],
    );
    plane.apply(&application_manifest(
        &repo,
        &ns,
        "{automated: {}, retry: {limit: 0}}",
    ));
    let report = |what: &str| {
        format!(
            "{what}\nsync: {:?}\n{}\n--- application-controller\n{}",
            sync_operation(node),
            node.describe_pods(&ns),
            common::node::tail(&argo.log("argocd-application-controller"))
        )
    };
    let configmap = || {
        plane
            .get_json(&["configmap", "checkout", "-n", &ns])
            .map(|c| {
                c["data"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    };

    // Hold: the sync runs its PreSync hook, which waits; the application is not applied.
    wait_for(Duration::from_secs(120), || {
        let job = plane.get_json(&["job", "passport-gate", "-n", &ns])?;
        (sync_operation(node).0 == "Running" && job["status"]["active"] == 1).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", report("the sync did not wait on the hook")));
    assert_eq!(configmap(), None, "{}", report("applied while held"));

    // Allow: the hook completes and the sync applies the application.
    plane.approve(&ns, release, "alice");
    wait_for(Duration::from_secs(120), || {
        (sync_operation(node).0 == "Succeeded" && configmap()? == "2.3.1").then_some(())
    })
    .unwrap_or_else(|| panic!("{}", report("the sync did not go on after the approval")));
    assert_eq!(sync_operation(node).2, first);

    // Block: a rejection, then a new commit; the hook fails and so does the sync.
    plane.reject(&ns, release, "carol", "card provider outage");
    let second = repo.commit(
        "checkout 2.3.1, tuned",
        &[("apps/checkout/app.yaml", &app("2.3.1-tuned"))],
    );
    // As Git's webhook to Argo CD (or `argocd app get --hard-refresh`) asks for a new look.
    plane.kubectl_ok(
        &[
            "annotate",
            "--overwrite",
            "application",
            "-n",
            "argocd",
            "checkout",
            "argocd.argoproj.io/refresh=hard",
        ],
        None,
    );
    wait_for(Duration::from_secs(120), || {
        let op = sync_operation(node);
        (op.0 == "Failed" && op.2 == second).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", report("the sync did not fail on Block")));
    // The operation says "one or more synchronization tasks completed unsuccessfully"; the task
    // that did is the hook.
    let app = plane
        .get_json(&["application", "-n", "argocd", "checkout"])
        .unwrap();
    let hook = app["status"]["operationState"]["syncResult"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == "Job" && r["name"] == "passport-gate")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(hook["hookPhase"], "Failed", "{}", report(&hook.to_string()));
    assert_eq!(
        configmap().as_deref(),
        Some("2.3.1"),
        "{}",
        report("applied on Block")
    );
    let log = plane.kubectl(&["logs", "-n", &ns, "job/passport-gate"], None);
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("Block"),
        "the hook's log says why: {}",
        String::from_utf8_lossy(&log.stdout)
    );
}

/// helm as the cluster's administrator, which must succeed; returns what it printed.
fn helm(node: &Node, args: &[&str]) -> String {
    let out = Command::new(tool("helm"))
        .args(args)
        .arg("--kubeconfig")
        .arg(node.plane.kubeconfig())
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm install` with the chart's defaults, then with the console on and OIDC values: every
/// Pod Ready through its probes, one leader routed.
fn helm_install(node: &Node) {
    // The kustomize install owns the same cluster-wide objects: take it away first, as a user would.
    node.plane.kubectl_ok(
        &[
            "delete",
            "-k",
            root().join("config/default").to_str().unwrap(),
            "--ignore-not-found",
            "--wait=true",
        ],
        None,
    );
    let helm = |args: &[&str]| helm(node, args);
    helm(&[
        "install",
        "release-passport",
        "charts/release-passport",
        "-n",
        SYSTEM,
        "--create-namespace",
        "--wait",
        "--timeout=180s",
    ]);
    node.rollout(SYSTEM, "deployment/release-passport-controller");
    one_leader_routed(node);
    // The chart's own test asks the gate through its Service from a Pod.
    let tested = helm(&[
        "test",
        "release-passport",
        "-n",
        SYSTEM,
        "--logs",
        "--timeout=120s",
    ]);
    assert!(tested.contains("Succeeded"), "{tested}");
    assert!(
        tested.contains("404"),
        "the gate answered the test's question: {tested}"
    );
    helm(&[
        "upgrade",
        "release-passport",
        "charts/release-passport",
        "-n",
        SYSTEM,
        "--set",
        "console.enabled=true",
        "--set",
        "console.oidc.issuer=https://issuer.example",
        "--set",
        "console.oidc.audience=release-passport",
        "--set",
        "console.authProxy={127.0.0.1/32}",
        "--wait",
        "--timeout=180s",
    ]);
    node.rollout(SYSTEM, "deployment/release-passport-controller");
    one_leader_routed(node);
}

/// 1,000 Releases at once against the chart's install: every one decided, and the controller
/// containers stay within the chart's memory limit with margin — no OOM kill, no restart, no
/// probe failure. The figures are the cgroup's own.
fn burst(node: &Node) {
    const RELEASES: usize = 1000;
    let ns = node.plane.namespace("burst");
    let mut yaml = format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: approved, namespace: {ns}}}
spec:
  rules:
  - name: approved
    approval: {{min: 1}}
"
    );
    for i in 0..RELEASES {
        yaml.push_str(&format!(
            "---\napiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {{name: svc-{i}, namespace: {ns}}}\nspec: {{service: svc-{i}, version: 1.0.{i}, environment: production}}\n"
        ));
    }
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    node.plane.kubectl_ok(&["create", "-f", "-"], Some(&yaml));
    let decided = wait_for(Duration::from_secs(300), || {
        let rps = node.plane.get_json(&["rp", "-n", &ns])?;
        let n = rps["items"]
            .as_array()?
            .iter()
            .filter(|p| p["status"]["decision"] == "Hold")
            .count();
        (n == RELEASES).then_some(())
    });
    assert!(
        decided.is_some(),
        "not every Release of the burst was decided"
    );
    let limit = 256 * 1024 * 1024;
    for pod in pods(&node.plane, SYSTEM, CONTROLLER) {
        let status = &pod["status"]["containerStatuses"][0];
        let id = status["containerID"]
            .as_str()
            .unwrap()
            .trim_start_matches("containerd://");
        let memory = memory_of(id).unwrap_or_else(|| panic!("no memory cgroup for {}", name(&pod)));
        println!(
            "{}: usage {:.1} MiB, peak {:.1} MiB, limit {:.1} MiB, OOM kills {}",
            name(&pod),
            memory.usage as f64 / 1048576.0,
            memory.peak as f64 / 1048576.0,
            memory.limit as f64 / 1048576.0,
            memory.oom_kills
        );
        assert_eq!(memory.limit, limit, "the chart's limit is the container's");
        assert!(
            memory.peak < limit * 3 / 4,
            "{} peaked at {} bytes, within a quarter of its limit",
            name(&pod),
            memory.peak
        );
        assert_eq!(memory.oom_kills, 0);
        assert_eq!(status["restartCount"], 0, "{} restarted", name(&pod));
    }
    let events = node.plane.get_json(&["events", "-n", SYSTEM]).unwrap();
    let unhealthy: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["metadata"]["creationTimestamp"]
                .as_str()
                .is_some_and(|t| t >= since.as_str())
        })
        .filter(|e| e["reason"] == "Unhealthy" || e["reason"] == "OOMKilling")
        .collect();
    assert!(unhealthy.is_empty(), "probe failures: {unhealthy:?}");
    node.plane
        .kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}

/// The npm oidc-provider issuer of tests/console/issuer.mjs, on the node's address.
struct Issuer {
    child: std::process::Child,
    url: String,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn issuer(node: &Node, redirect: &str, post_logout: &str) -> Issuer {
    use std::io::BufRead;
    let mut child = Command::new("node")
        .arg(root().join("tests/console/issuer.mjs"))
        .args([NODE_IP, redirect, post_logout])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(node.dir().join("issuer.log")).unwrap())
        .spawn()
        .expect("node runs the issuer (make deps installs tests/console's packages)");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = serde_json::from_str::<Value>(&line)
        .unwrap_or_else(|e| panic!("issuer.mjs: {line:?}: {e}"))["issuer"]
        .as_str()
        .unwrap()
        .to_string();
    Issuer { child, url }
}

/// A person signs in through Chromium (tests/console/proxy-signin.mjs) and logs out.
fn sign_in(host: &str, ip: &str, user: &str) -> Value {
    let out = Command::new("node")
        .arg(root().join("tests/console/proxy-signin.mjs"))
        .args([host, ip, user])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "proxy-signin.mjs: {text}{}: {e}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        result["error"].is_null(),
        "{user} could not sign in: {result}"
    );
    result
}

/// The console in its Pods behind oauth2-proxy (the chart's sidecar, our oauth2-proxy image) and
/// the npm oidc-provider as the issuer: Chromium signs in through the proxy; a restricted viewer
/// sees only their namespaces; Logout ends the session at the proxy and at the issuer; identity
/// headers from any other Pod are refused.
fn console_behind_oauth2_proxy(node: &Node) {
    const HOST: &str = "passport.example.test";
    node.import_static(
        &tool("oauth2-proxy"),
        OAUTH2_PROXY_IMAGE,
        &["-at", "/bin/oauth2-proxy"],
    );
    let idp = issuer(
        node,
        &format!("http://{HOST}/oauth2/callback"),
        &format!("http://{HOST}/console/signed-out"),
    );
    let authority = idp.url.trim_start_matches("http://");
    node.plane.kubectl_ok(
        &[
            "create",
            "secret",
            "generic",
            "release-passport-oauth2-proxy",
            "-n",
            SYSTEM,
            "--from-literal=client-id=console",
            "--from-literal=client-secret=console-secret",
            "--from-literal=cookie-secret=0123456789abcdef0123456789abcdef",
        ],
        None,
    );
    let values = node.dir().join("console-values.yaml");
    std::fs::write(
        &values,
        format!(
            "console:
  enabled: true
  oidc: {{issuer: '{issuer}', audience: console}}
  signOutUrl: '/oauth2/sign_out?rd={end_session}'
  groupNamespaces: ['sre=*', 'shop-devs=shop']
  oauth2Proxy:
    enabled: true
    extraArgs: ['--redirect-url=http://{HOST}/oauth2/callback', '--cookie-secure=false', '--code-challenge-method=S256', '--whitelist-domain={authority}']
",
            issuer = idp.url,
            end_session = format!("{}/session/end", idp.url).replace(':', "%3A").replace('/', "%2F"),
        ),
    )
    .unwrap();
    helm(
        node,
        &[
            "upgrade",
            "release-passport",
            "charts/release-passport",
            "-n",
            SYSTEM,
            "--reuse-values",
            "-f",
            values.to_str().unwrap(),
            "--wait",
            "--timeout=180s",
        ],
    );
    node.rollout(SYSTEM, "deployment/release-passport-controller");
    one_leader_routed(node);

    // What there is to see: the shop, and a team alice is not part of.
    let shop = node.plane.namespace("shop");
    node.plane.kubectl_ok(
        &[
            "apply",
            "-n",
            &shop,
            "-f",
            "examples/shop/policies.yaml",
            "-f",
            "examples/shop/releases.yaml",
        ],
        None,
    );
    let hidden = node.plane.namespace("hidden-team");
    node.plane.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {{name: vault-9-9-9, namespace: {hidden}}}\nspec: {{service: vault-svc, version: 9.9.9, environment: production}}\n"
    ));
    let decided = wait_for(Duration::from_secs(60), || {
        node.plane.get_json(&["rp", "-n", &hidden, "vault-9-9-9"])?["status"]["decision"]
            .as_str()
            .map(str::to_string)
    });
    assert!(decided.is_some(), "the hidden team's release was decided");
    let ip = node
        .plane
        .get_json(&["service", "release-passport-console", "-n", SYSTEM])
        .unwrap()["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();

    let alice = sign_in(HOST, &ip, "alice");
    println!(
        "alice signed in, logged out at {}, then sent to {}",
        alice["loggedOutAt"], alice["afterLogout"]
    );
    for page in ["overview", "releases"] {
        let text = alice[page].as_str().unwrap();
        assert!(text.contains("alice"), "alice is signed in: {text}");
        assert!(
            !text.contains("vault-svc") && !text.contains("hidden-team"),
            "alice sees only shop: {text}"
        );
    }
    assert!(
        alice["releases"].as_str().unwrap().contains("checkout"),
        "{alice}"
    );
    assert!(
        alice["loggedOutAt"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/session/end", idp.url)),
        "Logout ended the session at the issuer: {alice}"
    );
    assert_eq!(
        alice["afterLogoutHasLogin"], true,
        "after Logout the console asks for a login again: {alice}"
    );
    let bob = sign_in(HOST, &ip, "bob");
    assert!(
        bob["releases"].as_str().unwrap().contains("vault-svc"),
        "sre sees every namespace: {bob}"
    );

    // Another Pod speaking to the console directly, with identity headers: refused.
    let console_pod = pods(&node.plane, SYSTEM, CONTROLLER)
        .into_iter()
        .find_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .unwrap();
    let script = format!(
        "wget -S -O- --header 'X-Forwarded-User: bob' --header 'X-Forwarded-Groups: sre' http://{console_pod}:8083/console/releases 2>&1; true"
    );
    let forged = node.plane.namespace("forger");
    node.plane.kubectl_ok(
        &[
            "run",
            "forge",
            "-n",
            &forged,
            "--image",
            BUSYBOX_IMAGE,
            "--image-pull-policy=Never",
            "--restart=Never",
            "--command",
            "--",
            "sh",
            "-c",
            &script,
        ],
        None,
    );
    let log = wait_for(Duration::from_secs(60), || {
        let pod = node.plane.get_json(&["pod", "forge", "-n", &forged])?;
        (pod["status"]["phase"] == "Succeeded").then_some(())?;
        Some(
            node.plane
                .kubectl_ok(&["logs", "forge", "-n", &forged], None),
        )
    })
    .unwrap_or_else(|| {
        panic!(
            "the forging Pod did not finish\n{}",
            node.describe_pods(&forged)
        )
    });
    println!(
        "a forging Pod was answered: {}",
        log.lines()
            .find(|l| l.contains("HTTP/"))
            .unwrap_or_default()
            .trim()
    );
    assert!(
        log.contains("401"),
        "identity headers from another Pod are refused: {log}"
    );
    assert!(!log.contains("vault-svc"), "{log}");
}
