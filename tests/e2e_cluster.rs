//! The real `passport controller` binary over HTTP against a real control plane
//! (kube-apiserver, etcd and kube-controller-manager from tests/cluster, see
//! tests/common/cluster.rs), with `kubectl` from the same build as the client. Each test works in
//! a namespace of its own, and its controller runs with a ServiceAccount token bound by exactly
//! the shipped RBAC (config/rbac): a permission it lacks fails the test.

use crate::common;
use crate::common::cluster::ControlPlane;
use crate::common::controller::{self, Controller};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One test's share of the control plane: its namespace, its controller's identity and, once
/// started, the controller and the ports it bound.
struct Cluster {
    plane: &'static ControlPlane,
    ns: String,
    identity: PathBuf,
    controller: Option<Controller>,
    dir: tempfile::TempDir,
    probe_port: u16,
    api_port: u16,
    console_port: u16,
}

impl Cluster {
    fn start(ns: &str) -> Self {
        let plane = ControlPlane::shared();
        let ns = plane.namespace(ns);
        let identity = plane.controller_identity(&ns);
        Cluster {
            plane,
            ns,
            identity,
            controller: None,
            dir: tempfile::tempdir().unwrap(),
            probe_port: 0,
            api_port: 0,
            console_port: 0,
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.plane.kubeconfig()
    }

    /// The controller, watching this test's namespace, as its own ServiceAccount, with the
    /// console behind an auth proxy on loopback.
    fn start_controller(&mut self) {
        self.start_controller_with(&[]);
    }

    /// The same, with more flags.
    fn start_controller_with(&mut self, extra: &[&str]) {
        let flags = [
            &[
                "--console-addr",
                "127.0.0.1:0",
                "--auth-proxy",
                "127.0.0.1/32",
            ][..],
            extra,
        ]
        .concat();
        let controller = Controller::start(&self.identity, &self.ns, "e2e-replica", &flags);
        self.probe_port = controller.probe_port;
        self.api_port = controller.port(controller::WEBHOOKS);
        self.console_port = controller.port(controller::CONSOLE);
        self.controller = Some(controller);
    }

    fn log(&self) -> String {
        self.controller
            .as_ref()
            .map(Controller::log)
            .unwrap_or_default()
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.plane.kubectl(args, stdin)
    }

    fn apply(&self, yaml: &str) {
        self.plane.apply(yaml);
    }

    fn get_json(&self, args: &[&str]) -> Option<Value> {
        self.plane.get_json(args)
    }

    fn http(&self, path: &str) -> (u16, String) {
        api_get(self.probe_port, path, None)
    }

    fn wait_for(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
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

    /// What Flux's health check (kstatus) says of a passport as the server holds it.
    fn kstatus(&self, name: &str) -> String {
        let object = self
            .get_json(&["rp", "-n", &self.ns, name])
            .unwrap()
            .to_string();
        let out = Command::new(common::cluster::tool("kstatus"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(object.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    /// The API server refused the controller nothing: the shipped RBAC covers every request it
    /// made (the audit log records each of its writes with the answer).
    fn assert_least_privilege_held(&self) {
        let user = format!(
            "system:serviceaccount:{0}:release-passport-controller-{0}",
            self.ns
        );
        let refused: Vec<String> = self
            .plane
            .audit()
            .iter()
            .filter(|e| e["user"]["username"] == user.as_str())
            .filter(|e| e["responseStatus"]["code"] == 403)
            .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
            .collect();
        assert!(refused.is_empty(), "the shipped RBAC refused: {refused:?}");
        assert!(
            !self.log().contains("forbidden"),
            "the controller was refused something:\n{}",
            self.log()
        );
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
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
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
    assert!(
        cluster.kstatus("web").starts_with("InProgress\t"),
        "Flux waits on a held passport: {}",
        cluster.kstatus("web")
    );

    // An approval arrives: Hold → Allow, mirrored on the Release, with an Event.
    cluster.approve("web", "alice");
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
    assert!(
        cluster.kstatus("web").starts_with("Current\t"),
        "Flux sees an allowed passport as healthy: {}",
        cluster.kstatus("web")
    );
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

    // One watch per kind on the leader with its console on: the controllers, the console and
    // the notifier share them. The audit log names every watch the controller opened; the
    // streams open now are those started and not yet complete (a watch that ends and resumes,
    // as watches do, is one stream).
    let controller = format!("system:serviceaccount:{ns}:release-passport-controller-{ns}");
    let watches: Vec<serde_json::Value> = cluster
        .plane
        .audit()
        .into_iter()
        .filter(|e| {
            e["verb"] == "watch"
                && e["objectRef"]["namespace"] == ns
                && e["user"]["username"] == controller.as_str()
        })
        .collect();
    let complete: std::collections::BTreeSet<&str> = watches
        .iter()
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter_map(|e| e["auditID"].as_str())
        .collect();
    let mut open: Vec<&str> = watches
        .iter()
        .filter(|e| e["stage"] == "ResponseStarted")
        .filter(|e| {
            e["auditID"]
                .as_str()
                .is_some_and(|id| !complete.contains(id))
        })
        .filter_map(|e| e["objectRef"]["resource"].as_str())
        .collect();
    open.sort();
    assert_eq!(
        open,
        [
            "approvals",
            "configmaps",
            "connectors",
            "gatepolicies",
            "notifiers",
            "releasepassports",
            "releases",
            "waivers"
        ],
        "one watch stream per kind (the rollups ConfigMap is the eighth)"
    );

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
    let status = cluster.controller.as_mut().unwrap().terminate();
    assert!(status.success(), "{status:?}\n{}", cluster.log());
    assert!(cluster.log().contains("draining in-flight reconciles"));
    cluster.assert_least_privilege_held();
}

#[test]
fn an_invalid_policy_stalls_without_stopping_the_controller() {
    let ns = "e2e-invalid";
    let mut cluster = Cluster::start(ns);
    // A Prometheus Service with no Connector: offered as a detected candidate.
    cluster.apply(&format!(
        "apiVersion: v1
kind: Service
metadata:
  name: prometheus-operated
  namespace: {ns}
  labels: {{operated-prometheus: \"true\"}}
spec:
  ports: [{{name: web, port: 9090}}]
"
    ));
    cluster.start_controller();
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
    // A Release naming a policy that does not exist is Stalled: Flux's kstatus says Failed.
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: orphan, namespace: {ns}}}
spec: {{service: orphan, version: 1.0.0, environment: production, policyRef: {{name: missing}}}}
"
    ));
    cluster.wait_decision(ns, "orphan", "Hold");
    cluster.wait_for("kstatus to call the stalled passport Failed", || {
        cluster.kstatus("orphan").starts_with("Failed\t")
    });
    // Fixing the policy unblocks the release.
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: broken, namespace: {ns}}}\nspec:\n  selector: {{services: [web]}}\n  rules:\n  - name: odd\n    expression: {{cel: \"release.service == 'web'\"}}\n"
    ));
    cluster.wait_decision(ns, "web", "Allow");
    cluster.assert_least_privilege_held();
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

/// A Datadog connector reads its two keys from one Secret, as the Datadog Operator lays it out
/// (`api-key`, `app-key`): without the application key it asks for it, naming the key; once it
/// is there, the metric rule decides; neither key is written anywhere.
#[test]
fn a_datadog_connector_reads_both_keys_from_its_secret() {
    let ns = "e2e-datadog";
    let addr = crate::connectors_http::datadog_in_background();
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
    cluster.create_secret(ns, "datadog-secret", "api-key", "dd-api");
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: datadog, namespace: {ns}}}
spec: {{type: Datadog, endpoint: 'http://{addr}', refreshInterval: 1s, timeout: 2s,
        credentialsSecretRef: {{name: datadog-secret, key: api-key}}}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: prod, namespace: {ns}}}
spec:
  rules:
  - name: error-rate
    metric: {{connector: datadog, query: 'sum:trace.http.request.errors{{$labels}}.as_rate()', op: '<', threshold: 0.01}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: web, namespace: {ns}}}
spec: {{service: web, version: 1.0.0, environment: production, scope: {{metricLabels: {{service: checkout}}}}}}
"
    ));
    cluster.wait_for("the connector to ask for its application key", || {
        cluster
            .get_json(&["conn", "-n", ns, "datadog"])
            .is_some_and(|c| {
                c["status"]["health"] == "CredentialRequired"
                    && c["status"]["lastError"]
                        .as_str()
                        .is_some_and(|e| e.contains("has no key \"app-key\""))
            })
    });
    cluster.plane.kubectl_ok(
        &[
            "patch",
            "secret",
            "datadog-secret",
            "-n",
            ns,
            "--type",
            "merge",
            "-p",
            r#"{"stringData":{"app-key":"dd-app"}}"#,
        ],
        None,
    );
    cluster.wait_decision(ns, "web", "Allow");
    cluster.wait_for("the connector to report Healthy", || {
        cluster
            .get_json(&["conn", "-n", ns, "datadog"])
            .is_some_and(|c| c["status"]["health"] == "Healthy")
    });
    let written = cluster.kubectl(&["get", "passport", "-n", ns, "-o", "json"], None);
    let written = String::from_utf8_lossy(&written.stdout);
    for key in ["dd-api", "dd-app"] {
        assert!(!written.contains(key), "{key} was written: {written}");
        assert!(!cluster.log().contains(key), "{key} was logged");
    }
}

#[test]
fn connector_evidence_flows_into_passports_and_no_secret_leaks() {
    let ns = "e2e-connectors";
    let secret_value = "e2e-5ecret-t0ken-value";
    let indicator = std::sync::Arc::new(std::sync::Mutex::new("none"));
    let port = status_page(std::sync::Arc::clone(&indicator));
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
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
    for path in crate::common::demo::CONSOLE_ROUTES {
        let (status, body) = http_get(cluster.console_port, path, &user);
        assert_eq!(status, 200, "{path}");
        assert!(
            !body.contains(secret_value),
            "the secret leaked into {path}"
        );
    }
    cluster.assert_least_privilege_held();
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
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
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
    let mut waiting = cluster.gate(&[
        "--release",
        &format!("{ns}/web"),
        "--wait",
        "--timeout",
        "30s",
        "--poll",
        "200ms",
    ]);
    // The gate says on stderr when it starts waiting; approve only then.
    let mut stderr = std::io::BufReader::new(waiting.stderr.take().unwrap());
    let mut said = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut said).unwrap();
    assert!(
        said.starts_with(&format!("{ns}/web: Hold; waiting up to 30s")),
        "{said}"
    );
    cluster.approve("web", "alice");
    let out = waiting.wait_with_output().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{said}",
        String::from_utf8_lossy(&out.stdout),
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
    cluster.assert_least_privilege_held();
}

impl Cluster {
    fn passport_cli(&self, args: &[&str]) -> Output {
        self.passport(args).wait_with_output().unwrap()
    }

    /// `passport ARGS…` with someone else's kubeconfig, to completion.
    fn passport_as(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_passport"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .output()
            .unwrap()
    }

    fn approve(&self, release: &str, user: &str) {
        self.plane.approve(&self.ns, release, user);
    }

    fn approver(&self, user: &str, groups: &[&str]) -> PathBuf {
        self.plane.approver(&self.ns, user, groups)
    }

    fn kubectl_ok_delete(&self, kind: &str, name: &str) {
        self.plane
            .kubectl_ok(&["delete", kind, name, "-n", &self.ns], None);
    }

    fn create_secret(&self, ns: &str, name: &str, key: &str, value: &str) {
        self.plane.kubectl_ok(
            &[
                "create",
                "secret",
                "generic",
                name,
                "-n",
                ns,
                &format!("--from-literal={key}={value}"),
            ],
            None,
        );
    }
}

#[test]
fn approve_reject_and_waive_from_the_cli() {
    let ns = "e2e-cli";
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
    cluster.apply(&format!("{}---\n{}", policy(ns, 1), release(ns, "web")));
    cluster.wait_decision(ns, "web", "Hold");

    // Approve as the kubeconfig user: alice, as the real server's SelfSubjectReview says.
    let alice = cluster.approver("alice", &["approvers"]);
    let out = cluster.passport_as(
        &alice,
        &[
            "approve",
            &format!("{ns}/web"),
            "--comment",
            "looks good",
            "--group",
            "approvers",
        ],
    );
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Allow");
    let approvals = cluster.get_json(&["approvals", "-n", ns]).unwrap();
    let spec = &approvals["items"][0]["spec"];
    assert_eq!(
        (spec["approver"].as_str(), spec["comment"].as_str()),
        (Some("alice"), Some("looks good"))
    );
    let out = cluster.passport_as(
        &alice,
        &["approve", &format!("{ns}/web"), "--group", "payments-leads"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "a group you are not in is refused"
    );

    // The shipped ValidatingAdmissionPolicy: nobody approves in another's name, whatever
    // their RBAC (kubectl --as impersonates alice, as an approver with a stolen form would be).
    let forged = format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: web-forged, namespace: {ns}}}\nspec: {{releaseRef: {{name: web}}, decision: Approve, approver: bob}}\n"
    );
    let out = cluster.kubectl(&["--as=alice", "create", "-f", "-"], Some(&forged));
    assert!(!out.status.success());
    let refused = String::from_utf8_lossy(&out.stderr);
    assert!(
        refused.contains("ValidatingAdmissionPolicy") && refused.contains("spec.approver"),
        "{refused}"
    );
    let own = forged
        .replace("web-forged", "web-own")
        .replace("approver: bob", "approver: alice");
    let out = cluster.kubectl(&["--as=alice", "create", "-f", "-"], Some(&own));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.kubectl_ok_delete("approval", "web-own");

    // A Reject blocks; a waiver of the approval rule lifts it. The Reject goes through kubectl:
    // the same binary on PATH as `kubectl-passport` is a kubectl plugin.
    let plugins = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_passport"),
        plugins.path().join("kubectl-passport"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        plugins.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = |args: &[&str]| {
        Command::new(common::cluster::tool("kubectl"))
            .args(args)
            .env("KUBECONFIG", &alice)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    let listed = kubectl(&["plugin", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("kubectl-passport"),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let help = kubectl(&["passport", "reject", "--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("Usage: kubectl passport reject"),
        "{}",
        String::from_utf8_lossy(&help.stdout)
    );
    let out = kubectl(&[
        "passport",
        "reject",
        &format!("{ns}/web"),
        "--comment",
        "no",
    ]);
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Block");
    let out = cluster.passport_as(
        &alice,
        &[
            "waive",
            &format!("{ns}/web"),
            "--rule",
            "prod/approved",
            "--reason",
            "the rejection is about a different change",
            "--expires",
            "2h",
        ],
    );
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Allow");

    // Bad input: clear errors, exit 3, nothing created.
    for (args, expected) in [
        (
            vec![
                "waive",
                "e2e-cli/web",
                "--rule",
                "prod/approved",
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
                "prod/approved",
                "--reason",
                "x",
                "--expires",
                "30d",
            ],
            "beyond the longest waiver allowed (7d",
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
        (
            vec![
                "waive",
                "e2e-cli/web",
                "--rule",
                "r",
                "--reason",
                "x",
                "--expires",
                "1h",
            ],
            "no GatePolicy that decides this release has a rule \"r\"",
        ),
        (vec!["approve", "e2e-cli/nope"], "does not exist"),
    ] {
        let out = cluster.passport_as(&alice, &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Made any other way, a waiver beyond the policy's limits is refused by the API server
    // (release-passport-waiver-limits, with the namespace's GatePolicies as parameters).
    // Each is refused with the words given.
    let refuse = |name: &str, rule: &str, lasts: chrono::Duration, words: &str| {
        let expires =
            (chrono::Utc::now() + lasts).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let waiver = format!(
            "apiVersion: releasepassport.io/v1alpha1\nkind: Waiver\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{releaseRef: {{name: web}}, rules: [{rule}], reason: x, expiresAt: '{expires}', approver: alice}}\n"
        );
        let out = cluster.kubectl(&["--as=alice", "create", "-f", "-"], Some(&waiver));
        let refused = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && refused.contains(words),
            "{refused}"
        );
    };
    refuse(
        "web-long",
        "prod/approved",
        chrono::Duration::days(8),
        "the longest GatePolicy prod allows",
    );
    cluster.apply(&format!(
        "{}  waivers: {{maxDuration: 1d12h, rules: []}}\n",
        policy(ns, 1)
    ));
    refuse(
        "web-unwaivable",
        "approved",
        chrono::Duration::hours(1),
        "does not let approved be waived",
    );
    let out = cluster.passport_as(
        &alice,
        &[
            "waive",
            &format!("{ns}/web"),
            "--rule",
            "approved",
            "--reason",
            "x",
            "--expires",
            "1h",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not let rule approved be waived"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        cluster.get_json(&["waivers", "-n", ns]).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    cluster.assert_least_privilege_held();
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
    let mut cluster = Cluster::start(ns);
    cluster.start_controller_with(&[
        "--webhook-max-connections",
        "16",
        "--webhook-header-read-timeout",
        "1s",
    ]);
    cluster.apply(&format!("{}---\n{}", policy(ns, 1), release(ns, "web")));
    // Two pipelines' ServiceAccounts: ci may read passports here, nobody may not.
    cluster.apply(&format!(
        "apiVersion: v1
kind: ServiceAccount
metadata: {{name: ci, namespace: {ns}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: nobody, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: gate-reader, namespace: {ns}}}
rules:
- apiGroups: [releasepassport.io]
  resources: [releasepassports]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: ci-gate-reader, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: gate-reader}}
subjects: [{{kind: ServiceAccount, name: ci, namespace: {ns}}}]
"
    ));
    cluster.wait_decision(ns, "web", "Hold");
    let ci = cluster.plane.token(ns, "ci", Some("release-passport"));
    let nobody = cluster.plane.token(ns, "nobody", Some("release-passport"));
    // Valid tokens, but for the API server or another service: not for the gate.
    let ci_for_the_api_server = cluster.plane.token(ns, "ci", None);
    let ci_for_another_service = cluster.plane.token(ns, "ci", Some("vault"));

    let path = format!("/api/v1/gate/{ns}/web");
    assert_eq!(
        api_get(cluster.api_port, &path, None),
        (401, r#"{"error":"unauthenticated"}"#.to_string())
    );
    assert_eq!(api_get(cluster.api_port, &path, Some("forged")).0, 401);
    for wrong_audience in [&ci_for_the_api_server, &ci_for_another_service] {
        assert_eq!(
            api_get(cluster.api_port, &path, Some(wrong_audience)),
            (401, r#"{"error":"unauthenticated"}"#.to_string())
        );
    }
    assert_eq!(
        api_get(cluster.api_port, &path, Some(&nobody)),
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
            Some(&ci)
        )
        .0,
        404
    );
    let (status, body) = api_get(cluster.api_port, &path, Some(&ci));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["exitCode"].as_u64()),
        (Some("Hold"), Some(2))
    );
    assert_eq!(
        v["reasons"][0],
        "prod/approved: 0 of 1 approvals, author bob excluded"
    );
    // The gate asked the real API server: its TokenReviews are in the audit log.
    let reviews: Vec<Value> = cluster
        .plane
        .audit()
        .into_iter()
        .filter(|e| {
            e["objectRef"]["resource"] == "tokenreviews"
                && e["user"]["username"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(&format!("release-passport-controller-{ns}")))
        })
        .collect();
    assert!(!reviews.is_empty(), "the gate asked the API server");

    // A pipeline polling the gate costs one TokenReview per REVIEW_TTL, not one per poll.
    // Counted once a later write (a marker ConfigMap) is in the audit log, so every review
    // made before it is there too.
    let mut markers = 0;
    let mut gate_reviews = |cluster: &Cluster| {
        markers += 1;
        let marker = format!("gate-marker-{markers}");
        cluster
            .plane
            .kubectl_ok(&["create", "configmap", &marker, "-n", ns], None);
        cluster
            .plane
            .wait(&format!("{marker} in the audit log"), || {
                cluster
                    .plane
                    .audit()
                    .iter()
                    .any(|e| e["objectRef"]["name"] == marker.as_str())
            });
        cluster
            .plane
            .audit()
            .into_iter()
            .filter(|e| {
                e["objectRef"]["resource"] == "tokenreviews"
                    && e["user"]["username"]
                        .as_str()
                        .is_some_and(|u| u.ends_with(&format!("release-passport-controller-{ns}")))
            })
            .count()
    };
    let before = gate_reviews(&cluster);
    for _ in 0..5 {
        assert_eq!(api_get(cluster.api_port, &path, Some(&ci)).0, 200);
    }
    assert_eq!(
        gate_reviews(&cluster),
        before,
        "answered from the TokenReview cache"
    );
    // Failed attempts from one address: after FAILURES_ALLOWED in a minute, 429 and no review.
    let mut statuses = Vec::new();
    for i in 0..15 {
        statuses.push(api_get(cluster.api_port, &path, Some(&format!("forged-{i}"))).0);
    }
    assert!(
        statuses.contains(&401) && statuses.ends_with(&[429, 429, 429]),
        "{statuses:?}"
    );
    let limited = gate_reviews(&cluster);
    let (status, body) = api_get(cluster.api_port, &path, Some("forged-again"));
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too many failed attempts"), "{body}");
    assert_eq!(
        gate_reviews(&cluster),
        limited,
        "a locked-out address costs no review"
    );

    // The listener's own limits (--webhook-*): a half-open connection is closed after the
    // header timeout, connections past the cap are closed on arrival, and the gate answers.
    use std::io::{Read, Write};
    let mut held: Vec<std::net::TcpStream> = (0..40)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", cluster.api_port)).ok())
        .collect();
    for s in &mut held {
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let started = Instant::now();
    for s in &mut held {
        let mut buf = [0u8; 512];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) => {
                    break !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
            }
        };
        assert!(closed, "a half-open connection to the gate was kept");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by the 1s header timeout"
    );
    // (This address is still locked out by the forgeries above: the answer is that 429.)
    let (status, _) = api_get(cluster.api_port, &path, Some(&ci));
    assert_eq!(status, 429, "the gate answers after them");
    cluster.assert_least_privilege_held();
}

/// `passport attest --key-secret` reads the signing key through the API (as the kubeconfig
/// user), never prints it, and a missing Secret is a clear error with exit 3.
#[test]
fn attestations_are_signed_with_a_key_from_a_secret() {
    let ns = "e2e-attest";
    let cluster = Cluster::start(ns);
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
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
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

    cluster.approve("web", "alice");
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
        settings.contains(&format!("http://release-passport-gate.{ns}:")),
        "pipelines are shown the leader's Service: {settings}"
    );

    // `passport console` on its own: it only watches (read-only), and shows the same passport.
    let mut standalone = cluster.passport(&[
        "console",
        "--addr",
        "127.0.0.1:0",
        "--auth-proxy",
        "127.0.0.1/32",
        "--controller-namespace",
        ns,
    ]);
    let console_port = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(standalone.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        line.trim()
            .strip_prefix("Console: http://127.0.0.1:")
            .and_then(|rest| rest.split('/').next()?.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("passport console said {line:?}"))
    };
    cluster.wait_for("passport console to show the allowed passport", || {
        let (_, body) = http_get(console_port, &page, &as_alice);
        body.contains("badge allow")
    });
    let (_, read_only) = http_get(console_port, "/settings", &as_alice);
    assert!(read_only.contains("console (read-only)"), "{read_only}");

    // Rollups the leader's retention wrote later reach every console without a restart.
    let rollups = cluster.dir.path().join("rollups.json.gz");
    std::fs::write(&rollups, rollups_bytes("legacy-billing")).unwrap();
    cluster.plane.kubectl_ok(
        &[
            "create",
            "configmap",
            "release-passport-rollups",
            "-n",
            ns,
            &format!("--from-file=rollups.json.gz={}", rollups.display()),
        ],
        None,
    );
    for port in [console_port, cluster.console_port] {
        cluster.wait_for("the console to show the retained service", || {
            let (_, body) = http_get(port, "/console/metrics", &as_alice);
            body.contains("legacy-billing/production")
        });
    }
    // A deleted Release and its collected passport leave both consoles: each snapshot reads
    // only what the watches changed, deletions included.
    cluster.kubectl_ok_delete("release", "web");
    for port in [console_port, cluster.console_port] {
        cluster.wait_for("the console to drop the deleted release", || {
            let (status, _) = http_get(port, &page, &as_alice);
            let (_, list) = http_get(port, "/console/releases", &as_alice);
            status == 404 && !list.contains(&format!("/console/releases/{ns}/web\""))
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
    cluster.assert_least_privilege_held();
}

/// A rollups ConfigMap's payload holding one promotion of `service` yesterday, as retention
/// would have folded it.
fn rollups_bytes(service: &str) -> Vec<u8> {
    use release_passport::cluster::history::{Stored, encode};
    use release_passport::metrics::delivery::Record;
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let record = Record {
        namespace: "shop".into(),
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
    encode(&stored).unwrap()
}

/// Stop the line (BRIEF §2): `passport freeze` holds every release of the namespace within one
/// reconcile, the console shows it on every page, and ending it lets the release through; the
/// freeze stays as a record.
#[test]
fn a_freeze_stops_the_line_and_ending_it_lets_releases_through() {
    let ns = "e2e-freeze";
    let mut cluster = Cluster::start(ns);
    cluster.start_controller();
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: open, namespace: {ns}}}\nspec:\n  rules:\n  - name: always\n    expression: {{cel: 'true'}}\n---\n{}",
        release(ns, "web")
    ));
    cluster.wait_decision(ns, "web", "Allow");

    // A policy whose metric query uses $labels names the releases it cannot scope (web sets no
    // scope.metricLabels); it is Simulate, so it decides nothing here.
    cluster.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: errors, namespace: {ns}}}\nspec:\n  mode: Simulate\n  rules:\n  - name: error-rate\n    metric: {{query: 'rate(errors{{$labels}}[5m])', op: '<', threshold: 0.01}}\n"
    ));
    cluster.wait_for("the policy to name the release it cannot scope", || {
        cluster
            .get_json(&["gatepolicy", "-n", ns, "errors"])
            .is_some_and(|p| p["status"]["unscopedReleases"] == serde_json::json!(["web"]))
    });

    let out = cluster.passport_cli(&[
        "freeze",
        "--namespace",
        ns,
        "--reason",
        "payments outage INC-4711",
        "--until",
        "2h",
    ]);
    common::demo::assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("Froze namespace {ns}")), "{said}");
    cluster.wait_decision(ns, "web", "Hold");
    let passport = cluster
        .get_json(&["releasepassport", "-n", ns, "web"])
        .unwrap();
    let reason = passport["status"]["reasons"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("emergency-freeze") && reason.contains("payments outage INC-4711"),
        "{reason}"
    );

    let user = [("X-Forwarded-User", "sre")];
    cluster.wait_for("the console's freeze banner", || {
        let (_, body) = http_get(cluster.console_port, "/console/releases", &user);
        body.contains(&format!("Line stopped in {ns}")) && body.contains("payments outage INC-4711")
    });

    // Ending it closes the window now; the policy stays as the record of who froze what.
    let out = cluster.passport_cli(&["freeze", "--namespace", ns, "--end"]);
    common::demo::assert_ok(&out);
    cluster.wait_decision(ns, "web", "Allow");
    let freezes = cluster
        .get_json(&[
            "gatepolicies",
            "-n",
            ns,
            "-l",
            "releasepassport.io/freeze=true",
        ])
        .unwrap();
    let record = &freezes["items"][0]["metadata"]["annotations"];
    assert!(
        record["releasepassport.io/frozen-by"].is_string()
            && record["releasepassport.io/unfrozen-by"].is_string(),
        "{record}"
    );
    cluster.wait_for("the Gate page to list the ended freeze", || {
        let (_, gate) = http_get(cluster.console_port, "/console/gate", &user);
        gate.contains("payments outage INC-4711") && gate.contains("Ended")
    });

    // Bad input: a clear error, nothing created.
    let out = cluster.passport_cli(&["freeze", "--namespace", ns, "--end"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no freeze is active"));
    let out = cluster.passport_cli(&["freeze", "--namespace", ns, "--reason", " "]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reason is required"));
}
