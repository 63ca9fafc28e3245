//! Notifiers and GitHub deployment protection rules, end to end: the real `passport
//! controller` (leader and standby) on the real control plane, telling receivers on loopback
//! that answer as Slack, a CloudEvents endpoint and GitHub's REST API do — one that fails first,
//! one that never answers.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::cluster::{ControlPlane, eventually};
use crate::common::controller::{self, Controller};

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Statuses to answer, in order, per path prefix.
type Script = Vec<(String, VecDeque<u16>)>;

/// Receivers on one loopback port: it records every request and answers with the next
/// scripted status for its path prefix (then 200/201); `/hang` never answers.
#[derive(Clone, Default)]
struct Receivers {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Script>>,
    port: u16,
}

impl Receivers {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = Receivers {
            port: listener.local_addr().unwrap().port(),
            ..Receivers::default()
        };
        let shared = r.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || shared.serve(stream));
            }
        });
        r
    }

    fn serve(&self, stream: std::net::TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        self.got.lock().unwrap().push(Received {
            path: path.clone(),
            headers,
            body,
        });
        if path.starts_with("/hang") {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        let scripted = self
            .script
            .lock()
            .unwrap()
            .iter_mut()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .and_then(|(_, statuses)| statuses.pop_front());
        let status = scripted.unwrap_or(if path.starts_with("/api") { 201 } else { 200 });
        let body = if status < 300 { "ok" } else { "try later" };
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    fn fail_first(&self, prefix: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .push((prefix.to_string(), statuses.iter().copied().collect()));
    }

    fn at(&self, prefix: &str) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn wait(what: &str, replicas: &[&Controller], check: impl FnMut() -> bool) {
    if !eventually(check) {
        let logs: Vec<String> = replicas.iter().map(|c| c.log()).collect();
        panic!("timed out waiting for {what}\n{}", logs.join("\n-----\n"));
    }
}

fn secret(ns: &str, name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {ns}}}\nstringData: {{{key}: {value:?}}}\n"
    )
}

fn setup(ns: &str, receivers: &Receivers, hang: &Receivers) -> String {
    let mut yaml = vec![
        secret(
            ns,
            "slack",
            "url",
            &receivers.url("/services/T0/B0/slack-5ecret"),
        ),
        secret(ns, "hook", "key", "hmac-5ecret"),
        secret(ns, "github", "token", "ghs_github5ecret"),
        secret(ns, "stuck", "url", &hang.url("/hang/stuck-5ecret")),
    ];
    yaml.push(format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Notifier
metadata: {{name: team-slack, namespace: {ns}}}
spec:
  type: Slack
  credentialsSecretRef: {{name: slack, key: url}}
  selector: {{environments: [production]}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Notifier
metadata: {{name: events, namespace: {ns}}}
spec:
  type: Webhook
  url: {}
  credentialsSecretRef: {{name: hook, key: key}}
  events: [DecisionChanged, WatchFailed]
---
apiVersion: releasepassport.io/v1alpha1
kind: Notifier
metadata: {{name: commits, namespace: {ns}}}
spec:
  type: GitHubStatus
  url: {}
  credentialsSecretRef: {{name: github, key: token}}
---
apiVersion: releasepassport.io/v1alpha1
kind: Notifier
metadata: {{name: stuck, namespace: {ns}}}
spec:
  type: Slack
  credentialsSecretRef: {{name: stuck, key: url}}
",
        receivers.url("/events"),
        receivers.url("/api"),
    ));
    yaml.join("---\n")
}

/// The gated policies and a production Release `web` by bob, awaiting an approval.
fn gated(ns: &str) -> String {
    format!(
        "{}---
apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: web, namespace: {ns}}}
spec:
  service: web
  version: 1.0.0
  environment: production
  revision: {{author: bob, commit: 0123456789abcdef0123456789abcdef01234567}}
  scope: {{project: acme/shop}}
",
        crate::common::gated_policies(ns)
    )
}

fn decision(plane: &ControlPlane, ns: &str) -> Option<String> {
    plane
        .get_json(&["releasepassport", "-n", ns, "web"])
        .and_then(|v| v["status"]["decision"].as_str().map(str::to_string))
}

fn metrics(c: &Controller) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", c.probe_port)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

const SECRETS: [&str; 4] = [
    "slack-5ecret",
    "hmac-5ecret",
    "ghs_github5ecret",
    "stuck-5ecret",
];

#[test]
fn notifiers_tell_each_decision_once_through_a_leader_change() {
    let plane = ControlPlane::shared();
    let ns = plane.namespace("e2e-notify");
    let identity = plane.controller_identity(&ns);
    let receivers = Receivers::start();
    let hang = Receivers::start();
    // The CloudEvents receiver is down for the first delivery: it is retried.
    receivers.fail_first("/events", &[503]);
    plane.apply(&setup(&ns, &receivers, &hang));
    let flags = [
        "--lease-ttl",
        "4s",
        "--console-url",
        "https://passport.example",
    ];
    let (a, b) = (format!("{ns}-a"), format!("{ns}-b"));
    let leader = Controller::start(&identity, &ns, &a, &flags);
    leader.wait("the first replica to lead", Controller::leads);
    let mut standby = Controller::start(&identity, &ns, &b, &flags);

    let applied = Instant::now();
    plane.apply(&gated(&ns));
    wait("the Hold", &[&leader], || {
        decision(plane, &ns).as_deref() == Some("Hold")
    });
    let held_after = applied.elapsed();

    wait(
        "Slack, the CloudEvent (after a 503) and the commit status",
        &[&leader],
        || {
            receivers.at("/services").len() == 1
                && receivers.at("/events").len() == 2
                && receivers.at("/api").len() == 1
        },
    );
    let slack = receivers.at("/services")[0].json();
    assert_eq!(
        slack["blocks"][0]["text"]["text"],
        "web 1.0.0 → production: Hold"
    );
    assert!(
        slack
            .to_string()
            .contains("https://passport.example/console/releases/"),
        "{slack}"
    );
    let event = receivers.at("/events").pop().unwrap();
    assert_eq!(
        event.headers["content-type"],
        "application/cloudevents+json"
    );
    // What the receiver verifies: our HMAC over timestamp and body, with the shared key.
    release_passport::connectors::webhook::verify(
        b"hmac-5ecret",
        event
            .headers
            .get("x-passport-timestamp")
            .map(String::as_str),
        event
            .headers
            .get("x-passport-signature")
            .map(String::as_str),
        &event.body,
        chrono::Utc::now(),
    )
    .unwrap();
    let ce = event.json();
    assert_eq!(
        (
            ce["specversion"].as_str(),
            ce["type"].as_str(),
            ce["data"]["decision"].as_str()
        ),
        (
            Some("1.0"),
            Some("io.releasepassport.decision.changed"),
            Some("Hold")
        )
    );
    // The retry is the same event: same id.
    assert_eq!(receivers.at("/events")[0].json()["id"], ce["id"]);
    let status = &receivers.at("/api")[0];
    assert_eq!(
        status.path,
        "/api/repos/acme/shop/statuses/0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(status.headers["authorization"], "Bearer ghs_github5ecret");
    assert_eq!(
        (
            status.json()["state"].as_str(),
            status.json()["context"].as_str()
        ),
        (Some("pending"), Some("release-passport/production"))
    );

    // A receiver that never answers (each attempt waits out the 10 s request timeout) holds its
    // own delivery only: the approval is decided well inside one such attempt.
    let approved = Instant::now();
    plane.approve(&ns, "web", "alice");
    wait("the Allow", &[&leader], || {
        decision(plane, &ns).as_deref() == Some("Allow")
    });
    let allowed_after = approved.elapsed();
    assert!(
        allowed_after < Duration::from_secs(8) && held_after < Duration::from_secs(20),
        "decisions waited on a receiver: Hold after {held_after:?}, Allow after {allowed_after:?}"
    );
    wait("every receiver told of the Allow", &[&leader], || {
        receivers.at("/services").len() == 2
            && receivers.at("/events").len() == 3
            && receivers.at("/api").len() == 2
    });
    assert_eq!(
        receivers.at("/api")[1].json()["state"],
        "success",
        "{:?}",
        receivers.at("/api")
    );
    // Recorded on the passport (the truth screen shows it) and in each Notifier's status.
    wait("the records", &[&leader], || {
        plane.get_json(&["rp", "-n", &ns, "web"]).is_some_and(|p| {
            let told = p["status"]["notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            ["team-slack", "events", "commits"].iter().all(|n| {
                told.iter()
                    .any(|t| t["notifier"] == *n && t["decision"] == "Allow")
            })
        })
    });
    wait("the stuck notifier's timeout", &[&leader], || {
        plane
            .get_json(&["notifier", "-n", &ns, "stuck"])
            .is_some_and(|n| {
                n["status"]["lastError"]
                    .as_str()
                    .is_some_and(|e| e.contains("did not answer"))
            })
    });
    let table = plane.kubectl_ok(&["get", "ntf", "-n", &ns], None);
    assert!(
        table.contains("TYPE") && table.contains("READY") && table.contains("LAST-DELIVERY"),
        "{table}"
    );
    let notifiers = plane.kubectl_ok(&["get", "ntf", "-n", &ns, "-o", "json"], None);
    let ready = |name: &str| {
        plane.get_json(&["ntf", "-n", &ns, name]).unwrap()["status"]["conditions"][0]["status"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(ready("team-slack").as_deref(), Some("True"));
    assert_eq!(ready("stuck").as_deref(), Some("False"));
    let m = metrics(&leader);
    assert!(
        m.contains(r#"passport_notifications_total{notifier_type="Slack",result="delivered"} 2"#),
        "{m}"
    );
    assert!(
        m.contains(r#"passport_notifications_total{notifier_type="Webhook",result="retried"} 1"#)
    );

    // The leader goes; the standby takes over, plans from what is recorded, and tells nothing
    // twice (it does try the stuck receiver again: it never accepted).
    let hung_before = hang.at("/hang").len();
    drop(leader);
    standby.wait("the standby to lead", Controller::leads);
    wait("the new leader to plan", &[&standby], || {
        hang.at("/hang").len() > hung_before
    });
    assert_eq!(
        receivers.at("/services").len(),
        2,
        "a new leader told Slack again"
    );
    assert_eq!(receivers.at("/events").len(), 3);
    assert_eq!(receivers.at("/api").len(), 2);

    // No secret reached a payload, a status, or the log.
    let payloads: Vec<String> = receivers
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).to_string())
        .collect();
    let passport = plane.kubectl_ok(&["get", "rp", "-n", &ns, "web", "-o", "json"], None);
    for s in SECRETS {
        assert!(payloads.iter().all(|p| !p.contains(s)), "{s} in a payload");
        assert!(
            !notifiers.contains(s) && !passport.contains(s),
            "{s} in a status"
        );
        assert!(!standby.log().contains(s), "{s} in the log");
    }
    let _ = standby.terminate();
}

#[test]
fn a_github_protection_rule_waits_for_the_passport() {
    let plane = ControlPlane::shared();
    let ns = plane.namespace("e2e-protection");
    let identity = plane.controller_identity(&ns);
    let github = Receivers::start();
    plane.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: github-app, namespace: {ns}}}\nstringData: {{webhookSecret: hook-5ecret, token: ghs_app5ecret, apiUrl: {:?}}}\n",
        github.url("")
    ));
    plane.apply(&gated(&ns));
    let c = Controller::start(
        &identity,
        &ns,
        &format!("{ns}-a"),
        &[
            "--github-app-secret",
            "github-app",
            "--console-url",
            "https://passport.example",
        ],
    );
    c.wait("leading", Controller::leads);
    wait("the Hold", &[&c], || {
        decision(plane, &ns).as_deref() == Some("Hold")
    });
    let port = c.port(controller::WEBHOOKS);
    let callback = github.url("/repos/acme/shop/actions/runs/42/deployment_protection_rule");
    let body = serde_json::json!({
        "action": "requested", "environment": "production", "event": "push",
        "deployment_callback_url": callback,
        "deployment": {"id": 1001, "sha": "0123456789abcdef0123456789abcdef01234567",
                       "created_at": chrono::Utc::now().to_rfc3339()},
        "repository": {"full_name": "acme/shop"},
        "installation": {"id": 7}
    })
    .to_string();
    // One delivery of `body` as GitHub sends it; the answer's status code.
    let deliver_body = |delivery: &str, body: &str, signature: &str| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "POST /github/deployment-protection HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-github-event: deployment_protection_rule\r\nx-github-delivery: {delivery}\r\nx-hub-signature-256: {signature}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        let _ = stream.read_to_string(&mut out);
        out.split_whitespace().nth(1).unwrap_or("").to_string()
    };
    let deliver = |delivery: &str, signature: &str| deliver_body(delivery, &body, signature);
    let signed = release_passport::controller::github::sign(b"hook-5ecret", body.as_bytes());
    let forged = release_passport::controller::github::sign(b"guess", body.as_bytes());
    assert_eq!(
        deliver("d-forged", &forged),
        "401",
        "a forged delivery is refused"
    );
    assert_eq!(deliver("d-1", &signed), "202");
    assert_eq!(
        deliver("d-1", &signed),
        "401",
        "a replayed delivery is refused"
    );
    assert_eq!(
        deliver("d-2", &signed),
        "401",
        "the same signed body under a new delivery id is a replay too"
    );

    // Held: kept waiting (in the ConfigMap beside the Lease), no answer.
    wait("the request to be kept", &[&c], || {
        plane
            .get_json(&["configmap", "-n", &ns, "release-passport-github-protection"])
            .is_some_and(|cm| {
                cm["data"]["pending.json"]
                    .as_str()
                    .is_some_and(|t| t.contains("d-1"))
            })
    });
    assert!(
        github.at("/repos").is_empty(),
        "a held release was answered"
    );

    plane.approve(&ns, "web", "alice");
    wait("the approval callback", &[&c], || {
        !github.at("/repos").is_empty()
    });
    wait("the request to be answered", &[&c], || {
        plane
            .get_json(&["configmap", "-n", &ns, "release-passport-github-protection"])
            .is_some_and(|cm| {
                let kept: Value =
                    serde_json::from_str(cm["data"]["pending.json"].as_str().unwrap_or("{}"))
                        .unwrap();
                kept["waiting"].as_array().is_some_and(Vec::is_empty)
                    && kept["answered"][0]["deployment"] == 1001
            })
    });
    assert_eq!(
        deliver("d-3", &signed),
        "401",
        "an answered request delivered again is refused, not answered twice"
    );
    let answers = github.at("/repos");
    assert_eq!(answers.len(), 1, "exactly one answer: {answers:?}");
    let answer = answers[0].json();
    assert_eq!(answer["state"], "approved");
    assert_eq!(answer["environment_name"], "production");
    assert!(
        answer["comment"]
            .as_str()
            .unwrap()
            .contains("https://passport.example/console/releases/"),
        "{answer}"
    );
    assert_eq!(answers[0].headers["authorization"], "Bearer ghs_app5ecret");

    // GitHub's own parts, schema and signer (tests/console/peers/github-protection.mjs): the
    // receiver keeps what @octokit/webhooks-schemas accepts and @octokit/webhooks-methods
    // signed, once, whatever the delivery id.
    let peers = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/peers");
    let out = std::process::Command::new("node")
        .arg(peers.join("github-protection.mjs"))
        .args([
            "hook-5ecret",
            &github.url(""),
            "4242",
            &chrono::Utc::now().to_rfc3339(),
        ])
        .output()
        .expect("node is needed for the peers tier");
    assert!(
        out.status.success(),
        "GitHub's schema refused the delivery: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let octokit: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(octokit["schema"], "ok");
    let (body, signature) = (
        octokit["body"].as_str().unwrap(),
        octokit["signature"].as_str().unwrap(),
    );
    assert_eq!(deliver_body("octokit-1", body, signature), "202");
    assert_eq!(deliver_body("octokit-2", body, signature), "401");
    assert!(!c.log().contains("ghs_app5ecret") && !c.log().contains("hook-5ecret"));
}
