//! The real `passport controller` binary over HTTP against a Kubernetes API emulator (kmock's
//! KubernetesEmulator, extended in tests/emulator/kube_emulator.py), with real watch streams and
//! `kubectl` as the client. `make test` installs kmock; this tier never skips.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Cluster {
    emulator: Child,
    controller: Option<Child>,
    dir: tempfile::TempDir,
    probe_port: u16,
    api_port: u16,
    console_port: u16,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(c) = &mut self.controller {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.emulator.kill();
        let _ = self.emulator.wait();
    }
}

impl Cluster {
    fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let port = free_port();
        let mut emulator = Command::new("python3")
            .arg(root.join("tests/emulator/kube_emulator.py"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the emulator tier");
        let mut line = String::new();
        BufReader::new(emulator.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("READY"),
            "the Kubernetes emulator did not start (is kmock installed? `make test` installs it): {line:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kubeconfig"),
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: \"http://127.0.0.1:{port}\"}}\n  name: emu\ncontexts:\n- context: {{cluster: emu, user: e2e}}\n  name: emu\ncurrent-context: emu\nusers:\n- name: e2e\n  user: {{token: e2e}}\n"
            ),
        )
        .unwrap();
        Cluster {
            emulator,
            controller: None,
            dir,
            probe_port: free_port(),
            api_port: free_port(),
            console_port: free_port(),
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn start_controller(&mut self, namespace: &str) {
        let log = std::fs::File::create(self.dir.path().join("controller.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_passport"))
            .args([
                "controller",
                "--probe-addr",
                &format!("127.0.0.1:{}", self.probe_port),
            ])
            .args(["--webhook-addr", &format!("127.0.0.1:{}", self.api_port)])
            // The console, behind an auth proxy on loopback.
            .args([
                "--console-addr",
                &format!("127.0.0.1:{}", self.console_port),
                "--auth-proxy",
                "127.0.0.1/32",
            ])
            .args(["--lease-namespace", namespace, "--identity", "e2e-replica"])
            .env("KUBECONFIG", self.kubeconfig())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.controller = Some(child);
        self.wait_for("the controller to be ready", || {
            self.http("/readyz").0 == 200
        });
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("controller.log")).unwrap_or_default()
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl is needed for this tier");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn apply(&self, yaml: &str) {
        let out = self.kubectl(&["apply", "--validate=false", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&all, None);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    fn http(&self, path: &str) -> (u16, String) {
        api_get(self.probe_port, path, None)
    }

    fn wait_for(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out waiting for {what}\ncontroller log:\n{}",
            self.log()
        );
    }

    fn decision(&self, ns: &str, name: &str) -> Option<String> {
        self.get_json(&["releasepassport", "-n", ns, name])
            .and_then(|v| v["status"]["decision"].as_str().map(str::to_string))
    }

    fn wait_decision(&self, ns: &str, name: &str, expected: &str) {
        self.wait_for(&format!("{ns}/{name} to be {expected}"), || {
            self.decision(ns, name).as_deref() == Some(expected)
        });
    }
}

fn policy(ns: &str, min: u32) -> String {
    format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: prod, namespace: {ns}}}
spec:
  selector: {{environments: [production]}}
  rules:
  - name: approved
    approval: {{min: {min}, excludeAuthor: true}}
"
    )
}

fn release(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: {ns}}}
spec: {{service: web, version: 1.0.0, environment: production, revision: {{author: bob}}}}
"
    )
}

#[test]
fn releases_become_passports_and_follow_changes() {
    let ns = "e2e-lifecycle";
    let mut cluster = Cluster::start();
    cluster.start_controller(ns);
    cluster.apply(&format!("{}---\n{}", policy(ns, 1), release(ns, "web")));
    cluster.wait_decision(ns, "web", "Hold");
    let passport = cluster.get_json(&["rp", "-n", ns, "web"]).unwrap();
    assert_eq!(
        passport["status"]["reasons"][0],
        "prod/approved: 0 of 1 approvals, author bob excluded"
    );
    assert_eq!(
        passport["metadata"]["ownerReferences"][0]["kind"],
        "Release"
    );
    assert_eq!(passport["status"]["evidenceSummary"], "0/0");

    // An approval arrives: Hold → Allow, mirrored on the Release, with an Event.
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: web-alice, namespace: {ns}}}\nspec: {{releaseRef: {{name: web}}, decision: Approve, approver: alice}}\n"
    ));
    cluster.wait_decision(ns, "web", "Allow");
    cluster.wait_for("the Release status to mirror the decision", || {
        cluster
            .get_json(&["release", "-n", ns, "web"])
            .is_some_and(|r| r["status"]["decision"] == "Allow")
    });
    let ready = cluster.get_json(&["rp", "-n", ns, "web"]).unwrap()["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap();
    assert_eq!(ready["status"], "True");
    let events = cluster
        .get_json(&["events.v1.events.k8s.io", "-n", ns])
        .unwrap();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "DecisionAllow"),
        "{events}"
    );

    // Editing the policy changes the decision.
    cluster.apply(&policy(ns, 2));
    cluster.wait_decision(ns, "web", "Hold");
    let passport = cluster.get_json(&["rp", "-n", ns, "web"]).unwrap();
    assert_eq!(
        passport["status"]["reasons"][0],
        "prod/approved: 1 of 2 approvals, author bob excluded"
    );

    // Every kind answers to the `passport` category.
    let all = cluster.kubectl(&["get", "passport", "-n", ns, "-o", "name"], None);
    let names = String::from_utf8_lossy(&all.stdout).to_string();
    for expected in [
        "release.releasepassport.io/web",
        "releasepassport.releasepassport.io/web",
        "gatepolicy.releasepassport.io/prod",
        "approval.releasepassport.io/web-alice",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from `kubectl get passport`: {names}"
        );
    }

    // The policy reports what it selects.
    cluster.wait_for("the policy status", || {
        cluster
            .get_json(&["gp", "-n", ns, "prod"])
            .is_some_and(|p| p["status"]["matchedReleases"] == 1)
    });

    // Probes, metrics and the Lease.
    let (status, metrics) = cluster.http("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("passport_reconciles_total{kind=\"Release\",result=\"success\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("passport_leader 1"));
    // The service is called web too: it may appear as `service`, never as an object's name.
    assert!(
        metrics
            .lines()
            .filter(|l| l.contains("web"))
            .all(|l| l.contains(r#"service="web""#)),
        "no object names in metric labels: {metrics}"
    );
    assert!(!metrics.contains("name=") && !metrics.contains("release="));
    let lease = cluster
        .get_json(&[
            "leases.v1.coordination.k8s.io",
            "-n",
            ns,
            "release-passport",
        ])
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "e2e-replica");

    // Deleting the Release collects its passport (ownerReference).
    let out = cluster.kubectl(&["delete", "release", "-n", ns, "web"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.wait_for("the passport to be collected", || {
        cluster.get_json(&["rp", "-n", ns, "web"]).is_none()
    });

    // SIGTERM drains and exits cleanly.
    let mut controller = cluster.controller.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &controller.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = controller.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the controller did not stop on SIGTERM:\n{}",
            cluster.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}\n{}", cluster.log());
    assert!(cluster.log().contains("draining in-flight reconciles"));
}

#[test]
fn an_invalid_policy_stalls_without_stopping_the_controller() {
    let ns = "e2e-invalid";
    let mut cluster = Cluster::start();
    // A Prometheus Service with no Connector: offered as a detected candidate.
    let service = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"prometheus-operated\",\"namespace\":\"monitoring\",\"labels\":{\"operated-prometheus\":\"true\"}},\"spec\":{\"ports\":[{\"name\":\"web\",\"port\":9090}]}}";
    let out = cluster.kubectl(
        &[
            "create",
            "--raw",
            "/api/v1/namespaces/monitoring/services",
            "-f",
            "-",
        ],
        Some(service),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.start_controller(ns);
    cluster.wait_for(
        "the Prometheus Service to be offered as a candidate",
        || {
            cluster
                .http("/metrics")
                .1
                .contains("passport_connector_candidates{connector_type=\"Prometheus\"} 1")
        },
    );
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: broken, namespace: {ns}}}
spec:
  selector: {{services: [web]}}
  rules:
  - name: odd
    expression: {{cel: \"evidence[\"}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: api-policy, namespace: {ns}}}
spec:
  selector: {{services: [api]}}
  rules:
  - name: always
    expression: {{cel: \"true\"}}
---
{}---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: api, namespace: {ns}}}
spec: {{service: api, version: 2.0.0, environment: production}}
",
        release(ns, "web")
    ));
    cluster.wait_decision(ns, "web", "Block");
    cluster.wait_decision(ns, "api", "Allow");
    cluster.wait_for("the policy to report Stalled", || {
        cluster
            .get_json(&["gp", "-n", ns, "broken"])
            .is_some_and(|p| {
                p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Stalled"
                            && c["status"] == "True"
                            && c["message"]
                                .as_str()
                                .unwrap_or("")
                                .contains("spec.rules[0].expression.cel")
                    })
                })
            })
    });
    let events = cluster
        .get_json(&["events.v1.events.k8s.io", "-n", ns])
        .unwrap();
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "InvalidPolicy" && e["type"] == "Warning")
    );
    // Fixing the policy unblocks the release.
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: broken, namespace: {ns}}}\nspec:\n  selector: {{services: [web]}}\n  rules:\n  - name: odd\n    expression: {{cel: \"release.service == 'web'\"}}\n"
    ));
    cluster.wait_decision(ns, "web", "Allow");
}

/// A status page on loopback whose indicator the test can flip; it echoes any bearer token in
/// its 401 answer, as careless upstreams do.
fn status_page(indicator: std::sync::Arc<std::sync::Mutex<&'static str>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let token = request
                .lines()
                .find_map(|l| {
                    l.strip_prefix("authorization: Bearer ")
                        .or_else(|| l.strip_prefix("Authorization: Bearer "))
                })
                .unwrap_or("")
                .trim()
                .to_string();
            let now = *indicator.lock().unwrap();
            let (status, body) = if now == "deny" {
                ("401 Unauthorized", format!("token {token} is not valid"))
            } else {
                (
                    "200 OK",
                    format!(
                        "{{\"page\":{{\"name\":\"Cards\"}},\"status\":{{\"indicator\":\"{now}\",\"description\":\"{now}\"}}}}"
                    ),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn connector_evidence_flows_into_passports_and_no_secret_leaks() {
    let ns = "e2e-connectors";
    let secret_value = "e2e-5ecret-t0ken-value";
    let indicator = std::sync::Arc::new(std::sync::Mutex::new("none"));
    let port = status_page(std::sync::Arc::clone(&indicator));
    let mut cluster = Cluster::start();
    cluster.start_controller(ns);
    cluster.create_secret(ns, "cards-token", "token", secret_value);
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: cards, namespace: {ns}}}
spec: {{type: StatusPage, endpoint: 'http://127.0.0.1:{port}', source: card-provider, refreshInterval: 1s, timeout: 2s,
        credentialsSecretRef: {{name: cards-token, key: token}}}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: prod, namespace: {ns}}}
spec:
  rules:
  - name: provider-up
    evidence: {{source: card-provider, maxAge: 1m}}
---
{}",
        release(ns, "web")
    ));
    cluster.wait_decision(ns, "web", "Allow");
    let passport = cluster.get_json(&["rp", "-n", ns, "web"]).unwrap();
    assert_eq!(passport["status"]["evidence"][0]["connector"], "cards");
    assert_eq!(
        passport["status"]["evidence"][0]["summary"],
        "Cards: none (none)"
    );
    cluster.wait_for("the connector to report Healthy", || {
        cluster
            .get_json(&["conn", "-n", ns, "cards"])
            .is_some_and(|c| {
                c["status"]["health"] == "Healthy" && c["status"]["lastSuccessAt"].is_string()
            })
    });

    // The provider has an outage: the next refresh re-triggers the release, which blocks.
    *indicator.lock().unwrap() = "major";
    cluster.wait_decision(ns, "web", "Block");

    // The upstream now refuses the token and echoes it: nothing we write or log may contain it.
    *indicator.lock().unwrap() = "deny";
    cluster.wait_for("the connector to ask for credentials", || {
        cluster
            .get_json(&["conn", "-n", ns, "cards"])
            .is_some_and(|c| c["status"]["health"] == "CredentialRequired")
    });
    let everything = [
        cluster.kubectl(&["get", "passport", "-n", ns, "-o", "json"], None),
        cluster.kubectl(
            &["get", "events.v1.events.k8s.io", "-n", ns, "-o", "json"],
            None,
        ),
    ];
    for out in everything {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            !text.contains(secret_value),
            "the secret leaked into the API: {text}"
        );
    }
    assert!(
        !cluster.log().contains(secret_value),
        "the secret leaked into the log"
    );
    let (_, metrics) = cluster.http("/metrics");
    assert!(!metrics.contains(secret_value));
    // Nor into any console page or export.
    let user = [("X-Forwarded-User", "auditor")];
    cluster.wait_for("the console to list the connector", || {
        http_get(cluster.console_port, "/console/integrations", &user)
            .1
            .contains("cards")
    });
    for path in [
        "/console",
        "/console/releases",
        "/console/gate",
        "/console/radar",
        "/console/metrics",
        "/console/integrations",
        "/console/reports",
        "/settings",
        "/api/v1/passports",
        "/api/v1/export/passports.json",
        "/api/v1/export/passports.csv",
        "/api/v1/export/passports.md",
        "/api/v1/export/events.csv",
    ] {
        let (status, body) = http_get(cluster.console_port, path, &user);
        assert_eq!(status, 200, "{path}");
        assert!(
            !body.contains(secret_value),
            "the secret leaked into {path}"
        );
    }
}

fn base64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Cluster {
    /// `passport ARGS…` against this cluster, running (wait for it with `wait_with_output`).
    fn passport(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_passport"))
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn gate(&self, args: &[&str]) -> std::process::Child {
        self.passport(&[&["gate"], args].concat())
    }
}

#[test]
fn gate_answers_with_exit_codes() {
    let ns = "e2e-gate";
    let mut cluster = Cluster::start();
    cluster.start_controller(ns);
    let failed = r#"{"status":"Failed","by":"qa","summary":"pen test found a critical issue"}"#;
    cluster.apply(&format!(
        "{}---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: pen-test, namespace: {ns}}}
spec:
  selector: {{services: [api]}}
  rules:
  - name: pen-test
    evidence: {{source: pen-test}}
---
{}---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata:
  name: api
  namespace: {ns}
  annotations: {{evidence.releasepassport.io/pen-test: '{failed}'}}
spec: {{service: api, version: 2.0.0, environment: staging}}
",
        policy(ns, 1).replace("environments: [production]", "services: [web]"),
        release(ns, "web")
    ));
    cluster.wait_decision(ns, "web", "Hold");
    cluster.wait_decision(ns, "api", "Block");

    // Hold, then an approval arrives while the gate waits: exit 0.
    let waiting = cluster.gate(&[
        "--release",
        &format!("{ns}/web"),
        "--wait",
        "--timeout",
        "30s",
        "--poll",
        "200ms",
    ]);
    std::thread::sleep(Duration::from_millis(600));
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: web-alice, namespace: {ns}}}\nspec: {{releaseRef: {{name: web}}, decision: Approve, approver: alice}}\n"
    ));
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{ns}/web: Allow")));

    // Block: exit 1 at once, with the trace.
    let out = cluster
        .gate(&[
            "--release",
            &format!("{ns}/api"),
            "--wait",
            "--timeout",
            "30s",
        ])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pen-test is Failed: recorded by qa: pen test found a critical issue"),
        "{text}"
    );

    // Still held at the timeout: exit 2.
    cluster.apply(&policy(ns, 2).replace("environments: [production]", "services: [web]"));
    cluster.wait_decision(ns, "web", "Hold");
    let started = Instant::now();
    let out = cluster
        .gate(&[
            "--release",
            &format!("{ns}/web"),
            "--wait",
            "--timeout",
            "2s",
            "--poll",
            "200ms",
        ])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 of 2 approvals"));

    // Without --wait a Hold answers at once; JSON for machines.
    let out = cluster
        .gate(&["--release", &format!("{ns}/web"), "-o", "json"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "Hold");

    // An unknown release is an error, not a Hold.
    let out = cluster
        .gate(&["--release", &format!("{ns}/nope")])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn passport_cli(&self, args: &[&str]) -> Output {
        self.passport(args).wait_with_output().unwrap()
    }

    fn create_secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        self.create_core(
            ns,
            "secrets",
            &serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": ns},
                "data": {key: base64(value)},
            }),
        );
    }

    /// `kubectl create --raw`: kubectl would send a built-in kind as protobuf, which the
    /// emulator does not read.
    fn create_core(&self, ns: &str, plural: &str, object: &Value) {
        let out = self.kubectl(
            &[
                "create",
                "--raw",
                &format!("/api/v1/namespaces/{ns}/{plural}"),
                "-f",
                "-",
            ],
            Some(&object.to_string()),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn approve_reject_and_waive_from_the_cli() {
    let ns = "e2e-cli";
    let mut cluster = Cluster::start();
    cluster.start_controller(ns);
    cluster.apply(&format!("{}---\n{}", policy(ns, 1), release(ns, "web")));
    cluster.wait_decision(ns, "web", "Hold");

    // Approve as the kubeconfig user (the emulator's SelfSubjectReview says "e2e").
    let out = cluster.passport_cli(&[
        "approve",
        &format!("{ns}/web"),
        "--comment",
        "looks good",
        "--group",
        "approvers",
    ]);
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Allow");
    let approvals = cluster.get_json(&["approvals", "-n", ns]).unwrap();
    let spec = &approvals["items"][0]["spec"];
    assert_eq!(
        (spec["approver"].as_str(), spec["comment"].as_str()),
        (Some("e2e"), Some("looks good"))
    );
    let out = cluster.passport_cli(&["approve", &format!("{ns}/web"), "--group", "payments-leads"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a group you are not in is refused"
    );

    // A Reject blocks; a waiver of the approval rule lifts it.
    let out = cluster.passport_cli(&["reject", &format!("{ns}/web"), "--comment", "no"]);
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Block");
    let out = cluster.passport_cli(&[
        "waive",
        &format!("{ns}/web"),
        "--rule",
        "prod/approved",
        "--reason",
        "the rejection is about a different change",
        "--expires",
        "2h",
    ]);
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Allow");

    // Bad input: clear errors, exit 3, nothing created.
    for (args, expected) in [
        (
            vec![
                "waive",
                "e2e-cli/web",
                "--rule",
                "r",
                "--reason",
                "x",
                "--expires",
                "2020-01-01T00:00:00Z",
            ],
            "already past",
        ),
        (
            vec![
                "waive",
                "e2e-cli/web",
                "--rule",
                "r",
                "--reason",
                "x",
                "--expires",
                "30d",
            ],
            "beyond the longest waiver",
        ),
        (
            vec![
                "waive",
                "e2e-cli/web",
                "--rule",
                "r",
                "--reason",
                " ",
                "--expires",
                "1h",
            ],
            "--reason is required",
        ),
        (vec!["approve", "e2e-cli/nope"], "does not exist"),
    ] {
        let out = cluster.passport_cli(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        cluster.get_json(&["waivers", "-n", ns]).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// (status, body) of a GET on a controller listener, with an optional bearer token;
/// status 0 while nothing listens yet, so callers can wait for start-up.
fn api_get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("Authorization", b.as_str()))
        .collect();
    http_get(port, path, &headers)
}

fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    common::demo::try_request(port, path, headers)
        .map_or((0, String::new()), |(status, _, body)| (status, body))
}

#[test]
fn the_http_gate_answers_only_authenticated_readers() {
    let ns = "e2e-http-gate";
    let mut cluster = Cluster::start();
    cluster.start_controller(ns);
    cluster.apply(&format!("{}---\n{}", policy(ns, 1), release(ns, "web")));
    cluster.wait_decision(ns, "web", "Hold");
    let path = format!("/api/v1/gate/{ns}/web");
    assert_eq!(
        api_get(cluster.api_port, &path, None),
        (401, r#"{"error":"unauthenticated"}"#.to_string())
    );
    assert_eq!(api_get(cluster.api_port, &path, Some("forged")).0, 401);
    assert_eq!(
        api_get(cluster.api_port, &path, Some("user-nobody")),
        (403, r#"{"error":"forbidden"}"#.to_string())
    );
    // An unknown release is only revealed to an authenticated caller.
    assert_eq!(
        api_get(cluster.api_port, &format!("/api/v1/gate/{ns}/nope"), None).0,
        401
    );
    assert_eq!(
        api_get(
            cluster.api_port,
            &format!("/api/v1/gate/{ns}/nope"),
            Some("user-ci")
        )
        .0,
        404
    );
    let (status, body) = api_get(cluster.api_port, &path, Some("user-ci"));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["exitCode"].as_u64()),
        (Some("Hold"), Some(2))
    );
    assert_eq!(
        v["reasons"][0],
        "prod/approved: 0 of 1 approvals, author bob excluded"
    );
}

/// `passport attest --key-secret` reads the signing key through the API (as the kubeconfig
/// user), never prints it, and a missing Secret is a clear error with exit 3.
#[test]
fn attestations_are_signed_with_a_key_from_a_secret() {
    let ns = "e2e-attest";
    let cluster = Cluster::start();
    let keys = cluster.dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let out = cluster.passport_cli(&["keygen", "--out-dir", keys.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let private = std::fs::read_to_string(keys.join("passport.key")).unwrap();
    cluster.create_secret(ns, "signing", "passport.key", &private);
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop");
    let attest = |secret: &str| {
        cluster.passport_cli(&[
            "attest",
            "-f",
            shop.to_str().unwrap(),
            "--release",
            "shop/checkout-production-2-3-1",
            "--key-secret",
            secret,
        ])
    };
    let out = attest(&format!("{ns}/signing"));
    common::demo::assert_ok(&out);
    let signed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !signed.contains(private.trim()),
        "the key leaked into the attestation"
    );
    let file = cluster.dir.path().join("signed.json");
    std::fs::write(&file, &signed).unwrap();
    let ok = cluster.passport_cli(&[
        "verify",
        file.to_str().unwrap(),
        "--public-key",
        keys.join("passport.pub").to_str().unwrap(),
    ]);
    common::demo::assert_ok(&ok);

    let missing = attest(&format!("{ns}/nope"));
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains(&format!("Secret {ns}/nope does not exist"))
    );
    let wrong_key = attest(&format!("{ns}/signing:other"));
    assert_eq!(wrong_key.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&wrong_key.stderr).contains("has no key \"other\""));
}

/// `passport controller --console-addr` serves the console from its own caches: the passport the
/// controller wrote shows up, follows a change, and nobody gets in without the proxy's identity.
#[test]
fn the_controller_serves_the_console_from_its_caches() {
    let ns = "e2e-console";
    let mut cluster = Cluster::start();
    cluster.start_controller(ns);
    cluster.apply(&format!("{}---\n{}", policy(ns, 1), release(ns, "web")));
    cluster.wait_decision(ns, "web", "Hold");
    let as_alice = [("X-Forwarded-User", "alice"), ("X-Forwarded-Groups", "sre")];
    let page = format!("/console/releases/{ns}/web");
    cluster.wait_for("the console to show the held passport", || {
        let (status, body) = http_get(cluster.console_port, &page, &as_alice);
        status == 200 && body.contains("badge hold") && body.contains("0 of 1 approvals")
    });
    assert_eq!(http_get(cluster.console_port, &page, &[]).0, 401);
    assert_eq!(
        http_get(cluster.console_port, "/api/v1/passports", &[]).0,
        401
    );

    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: web-alice, namespace: {ns}}}\nspec: {{releaseRef: {{name: web}}, decision: Approve, approver: alice}}\n"
    ));
    cluster.wait_decision(ns, "web", "Allow");
    cluster.wait_for("the console to follow the decision", || {
        let (_, body) = http_get(cluster.console_port, &page, &as_alice);
        body.contains("badge allow")
    });
    let (status, log) = http_get(cluster.console_port, "/api/v1/export/events.csv", &as_alice);
    assert_eq!(status, 200);
    assert!(log.contains(&format!("approval,{ns},web,alice")), "{log}");
    let (_, settings) = http_get(cluster.console_port, "/settings", &as_alice);
    assert!(
        settings.contains("this replica holds the Lease"),
        "{settings}"
    );
    assert!(
        settings.contains(&format!(
            "http://release-passport-gate.{ns}:{}/api/v1/gate/",
            cluster.api_port
        )),
        "pipelines are shown the leader's Service: {settings}"
    );

    // `passport console` on its own: it only watches (read-only), and shows the same passport.
    let console_port = free_port();
    let mut standalone = cluster.passport(&[
        "console",
        "--addr",
        &format!("127.0.0.1:{console_port}"),
        "--auth-proxy",
        "127.0.0.1/32",
        "--controller-namespace",
        ns,
    ]);
    cluster.wait_for("passport console to show the allowed passport", || {
        let (_, body) = http_get(console_port, &page, &as_alice);
        body.contains("badge allow")
    });
    let (_, read_only) = http_get(console_port, "/settings", &as_alice);
    assert!(read_only.contains("console (read-only)"), "{read_only}");

    // Rollups the leader's retention wrote later reach every console without a restart.
    cluster.create_core(
        ns,
        "configmaps",
        &serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "release-passport-rollups", "namespace": ns},
            "binaryData": {"rollups.json.gz": rollups_base64("legacy-billing")},
        }),
    );
    for port in [console_port, cluster.console_port] {
        cluster.wait_for("the console to show the retained service", || {
            let (_, body) = http_get(port, "/console/metrics", &as_alice);
            body.contains("legacy-billing/production")
        });
    }
    let _ = standalone.kill();
    let _ = standalone.wait();
    assert!(
        settings.contains("folded into daily rollups once older than"),
        "{settings}"
    );
    // The delivery metrics: by service and environment, never by release.
    let (_, metrics) = cluster.http("/metrics");
    assert!(
        metrics.contains(
            r#"passport_holds_total{service="web",environment="production",reason="approval"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"passport_verdicts_total{service="web",environment="production",decision="Allow"} 1"#
    ));
    assert!(!metrics.contains("release=\""), "{metrics}");
}

/// A rollups ConfigMap's payload holding one promotion of `service` yesterday, as retention
/// would have folded it.
fn rollups_base64(service: &str) -> String {
    use release_passport::controller::retention::{Stored, encode};
    use release_passport::metrics::delivery::Record;
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let record = Record {
        service: service.into(),
        environment: "production".into(),
        version: "1.0.0".into(),
        created: Some(yesterday),
        promoted_at: Some(yesterday),
        committed_at: None,
        failed: false,
        hotfix: false,
        decision: Some(release_passport::api::Decision::Allow),
        dwell: None,
        approval_waits: Vec::new(),
        evidence: (1, 1),
        holding: Vec::new(),
    };
    let mut stored = Stored::default();
    stored.rollups.add(&record, yesterday.date_naive());
    base64(encode(&stored).unwrap())
}
