//! Our outbound shapes read by the peers' own libraries (npm, in tests/console): the
//! CloudEvents SDK for JavaScript receives our signed Webhook events over HTTP, and the Adaptive
//! Cards library parses our Teams cards. The golden files in tests/golden/notify pin what we
//! send; these tests say the receivers read it as meant. (GitHub's own signer and schema drive
//! the deployment protection receiver in notify_cluster.rs.)

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use chrono::{DateTime, Utc};
use release_passport::api::notifier::{NotifierEvent, NotifierType};
use release_passport::api::{Decision, ObjectKey};
use release_passport::notify::payload::{self, Target};
use release_passport::notify::{Message, ReleaseFacts, Subject};
use serde_json::Value;

fn peers() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    for package in ["cloudevents", "adaptivecards", "@octokit/webhooks-methods"] {
        assert!(
            dir.join("node_modules").join(package).exists(),
            "npm package {package} missing: run `make test` (it runs npm ci in tests/console)"
        );
    }
    dir.join("peers")
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Messages as the controller makes them: a decision change, a failed watch, an expiring
/// waiver and an unhealthy connector, with text a renderer could misread.
fn messages() -> Vec<Message> {
    let release = ReleaseFacts {
        service: "checkout".into(),
        version: "2.3.1".into(),
        environment: "production".into(),
        commit: Some("9f2c4e1b7a0d".into()),
        project: Some("acme/shop".into()),
    };
    let passport = Subject::Passport(ObjectKey::new("shop", "checkout-production-2-3-1"));
    vec![
        Message {
            event: NotifierEvent::DecisionChanged,
            subject: passport.clone(),
            decision: Some(Decision::Block),
            previous: Some(Decision::Hold),
            title: "checkout 2.3.1 → production: Block".into(),
            reason: "production-standard/error-rate: 5xx ratio 0.031 > 0.01 <!channel> [x](javascript:alert(1)) **bold** ü ✓".into(),
            release: Some(release.clone()),
            link: Some("https://passport.example/console/releases/shop/checkout-production-2-3-1".into()),
            at: at("2026-12-02T10:00:00Z"),
        },
        Message {
            event: NotifierEvent::WatchFailed,
            subject: passport,
            decision: Some(Decision::Hold),
            previous: Some(Decision::Allow),
            title: "checkout 2.3.1 in production: watch failed, roll back".into(),
            reason: "post-deploy p99 latency 812 ms > 500 ms".into(),
            release: Some(release),
            link: None,
            at: at("2026-12-02T11:00:00Z"),
        },
        Message {
            event: NotifierEvent::WaiverExpiring,
            subject: Subject::Waiver(ObjectKey::new("shop", "catalog-hpa-drift")),
            decision: None,
            previous: None,
            title: "Waiver shop/catalog-hpa-drift expires in 3 h".into(),
            reason: "Flux reports drift on the HPA's replica count (OPS-2231)".into(),
            release: None,
            link: None,
            at: at("2026-12-02T12:00:00Z"),
        },
        Message {
            event: NotifierEvent::ConnectorUnhealthy,
            subject: Subject::Connector(ObjectKey::new("shop", "prometheus")),
            decision: None,
            previous: None,
            title: "Connector shop/prometheus is Unreachable".into(),
            reason: "connect: connection refused".into(),
            release: None,
            link: None,
            at: at("2026-12-02T13:00:00Z"),
        },
    ]
}

fn request(type_: NotifierType, credential: &str, message: &Message) -> payload::Request {
    let notifier = ObjectKey::new("shop", "team");
    let target = Target {
        notifier: &notifier,
        type_,
        url: Some("http://receiver.example/events"),
        credential,
        credential_key: "key",
        check_run: false,
    };
    payload::request(&target, message, at("2026-12-02T14:00:00Z")).unwrap()
}

/// The CloudEvents SDK's HTTP binding reads every event we send as a valid CloudEvents 1.0
/// event, and the signature checks with the shared key; a tampered body is refused.
#[test]
fn the_cloudevents_sdk_receives_our_signed_events() {
    let mut receiver: Child = Command::new("node")
        .arg(peers().join("cloudevents-receiver.mjs"))
        .arg("hmac-5ecret")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is needed for the peers tier");
    let mut reports = BufReader::new(receiver.stdout.take().unwrap());
    let mut next = || {
        let mut line = String::new();
        reports.read_line(&mut line).unwrap();
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    };
    let port = next()["port"].as_u64().unwrap();
    let post = |request: &payload::Request, body: &[u8]| -> u16 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
        let headers: String = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        write!(
            stream,
            "POST /events HTTP/1.1\r\nhost: receiver.example\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    for message in messages() {
        let request = request(NotifierType::Webhook, "hmac-5ecret", &message);
        let status = post(&request, &request.body);
        let report = next();
        assert_eq!(status, 202, "{report}");
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["specversion"], "1.0");
        assert!(
            report["type"]
                .as_str()
                .unwrap()
                .starts_with("io.releasepassport."),
            "{report}"
        );
        assert_eq!(
            report["id"].as_str().unwrap(),
            message.id(&ObjectKey::new("shop", "team")),
            "the id a receiver deduplicates on"
        );
    }
    // The receiver's checks are real: a body changed after signing is refused.
    let request = request(NotifierType::Webhook, "hmac-5ecret", &messages()[0]);
    let mut tampered = request.body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(post(&request, &tampered), 400);
    assert_eq!(next()["ok"], false);
    let _ = receiver.kill();
    let _ = receiver.wait();
}

/// The Adaptive Cards library parses every Teams card we send without a warning or a
/// validation event; a card with a misspelt element is reported (the check can fail).
#[test]
fn the_adaptive_cards_library_parses_our_teams_cards() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = messages()
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let request = request(
                NotifierType::MSTeams,
                "https://hooks.example/workflows/teams",
                message,
            );
            let file = dir.path().join(format!("card-{i}.json"));
            std::fs::write(&file, &request.body).unwrap();
            file
        })
        .collect();
    let mut broken: Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    broken["attachments"][0]["content"]["body"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "TextBlok", "text": "x"}));
    let misspelt = dir.path().join("misspelt.json");
    std::fs::write(&misspelt, broken.to_string()).unwrap();
    files.push(misspelt);
    let out = Command::new("node")
        .arg(peers().join("adaptive-card.cjs"))
        .args(&files)
        .output()
        .expect("node is needed for the peers tier");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), files.len());
    let (misspelt, ours) = reports.split_last().unwrap();
    for report in ours {
        assert_eq!(report["cards"], 1, "{report}");
        assert_eq!(report["version"], "1.4", "{report}");
        assert_eq!(report["events"], serde_json::json!([]), "{report}");
        assert_eq!(report["validation"], serde_json::json!([]), "{report}");
    }
    assert!(
        misspelt["events"].to_string().contains("TextBlok"),
        "{misspelt}"
    );
}
