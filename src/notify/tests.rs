use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::payload::{self, Target};
use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap()
}

fn notifier(type_: &str, on: &[&str], status: Value) -> Notifier {
    serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "Notifier",
        "metadata": {"name": "team", "namespace": "shop", "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"type": type_, "url": "https://hooks.example/in",
                 "credentialsSecretRef": {"name": "hook", "key": "url"},
                 "selector": {"environments": ["production"]}, "events": on},
        "status": status
    }))
    .unwrap()
}

fn passport(
    name: &str,
    decision: &str,
    decided: &str,
    notifications: Value,
) -> Arc<ReleasePassport> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"releaseRef": {"name": name}, "service": "checkout", "version": "1.8.0",
                     "environment": "production", "revision": {"commit": "0123456789abcdef0123"}},
            "status": {"decision": decision,
                       "reasons": ["prod/approved: 0 of 1 approvals <!channel> [x](https://evil.example) token=ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
                       "timeline": [{"at": decided, "decision": decision, "message": "held"}],
                       "notifications": notifications}
        }))
        .unwrap(),
    )
}

fn release(name: &str) -> Arc<Release> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"service": "checkout", "version": "1.8.0", "environment": "production",
                     "scope": {"project": "acme/shop"}}
        }))
        .unwrap(),
    )
}

fn plan_of(n: &Notifier, passports: &[Arc<ReleasePassport>]) -> Vec<Due> {
    let owned: Vec<Arc<Release>> = passports
        .iter()
        .map(|p| release(p.metadata.name.as_deref().unwrap()))
        .collect();
    let releases: BTreeMap<ObjectKey, &Release> =
        owned.iter().map(|r| (r.key(), r.as_ref())).collect();
    plan(
        n,
        &World {
            passports,
            releases: &releases,
            waivers: &[],
            connectors: &[],
            console: Some("https://passport.example/"),
            now: t("2026-12-02T10:00:00Z"),
        },
    )
}

#[test]
fn a_decision_is_told_once_per_notifier_and_decision() {
    let n = notifier("Slack", &["DecisionChanged"], json!({}));
    let held = passport("web", "Hold", "2026-12-02T09:00:00Z", json!([]));
    let due = plan_of(&n, std::slice::from_ref(&held));
    assert_eq!(due.len(), 1);
    // What a pass keys deliveries by, before writing any message, is the delivery's own key.
    let releases = BTreeMap::from([(held.key(), release("web").as_ref().clone())]);
    let by_ref: BTreeMap<ObjectKey, &Release> =
        releases.iter().map(|(k, r)| (k.clone(), r)).collect();
    let world = World {
        passports: std::slice::from_ref(&held),
        releases: &by_ref,
        waivers: &[],
        connectors: &[],
        console: Some("https://passport.example/"),
        now: t("2026-12-02T10:00:00Z"),
    };
    let owed = owed(&n, &world);
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].key, due[0].key());
    let Record::Passport(record) = &due[0].record else {
        panic!("a passport record")
    };
    assert_eq!(
        (record.decision, record.event),
        (Decision::Hold, NotifierEvent::DecisionChanged)
    );
    assert_eq!(
        due[0].message.link.as_deref(),
        Some("https://passport.example/console/releases/shop/web")
    );
    // Recorded: nothing more is owed; the next decision is owed again, saying what it was.
    let told = json!([{"notifier": "team", "type": "Slack", "event": "DecisionChanged",
                       "decision": "Hold", "at": "2026-12-02T09:00:05Z"}]);
    assert!(
        plan_of(
            &n,
            &[passport(
                "web",
                "Hold",
                "2026-12-02T09:00:00Z",
                told.clone()
            )]
        )
        .is_empty()
    );
    let allowed = plan_of(
        &n,
        &[passport(
            "web",
            "Allow",
            "2026-12-02T09:30:00Z",
            told.clone(),
        )],
    );
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0].message.previous, Some(Decision::Hold));
    // Another notifier's record is not this one's.
    let other = notifier("Slack", &["DecisionChanged"], json!({}));
    let mut other = other.clone();
    other.metadata.name = Some("other".into());
    assert_eq!(
        plan_of(
            &other,
            &[passport("web", "Hold", "2026-12-02T09:00:00Z", told)]
        )
        .len(),
        1
    );
}

#[test]
fn a_notifier_tells_only_what_it_selects_and_what_happened_since_it_was_made() {
    let n = notifier("Slack", &["DecisionChanged"], json!({}));
    let before = passport("old", "Hold", "2026-11-30T09:00:00Z", json!([]));
    assert!(plan_of(&n, &[before]).is_empty());
    let mut staging = (*passport("st", "Hold", "2026-12-02T09:00:00Z", json!([]))).clone();
    staging.spec.environment = "staging".into();
    assert!(plan_of(&n, &[Arc::new(staging)]).is_empty());
    let mut undecided = (*passport("u", "Hold", "2026-12-02T09:00:00Z", json!([]))).clone();
    undecided.status = None;
    assert!(plan_of(&n, &[Arc::new(undecided)]).is_empty());
}

#[test]
fn a_failed_watch_is_told_once() {
    let n = notifier("Webhook", &["WatchFailed"], json!({}));
    let mut p = (*passport("web", "Block", "2026-12-02T09:00:00Z", json!([]))).clone();
    assert!(
        plan_of(&n, &[Arc::new(p.clone())]).is_empty(),
        "no watch yet"
    );
    if let Some(s) = p.status.as_mut() {
        s.watch = serde_json::from_value(json!({"phase": "Failed", "duration": "30m",
            "message": "error rate 4% over 1%"}))
        .unwrap();
    }
    let due = plan_of(&n, &[Arc::new(p.clone())]);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].message.reason, "error rate 4% over 1%");
    if let Some(s) = p.status.as_mut() {
        s.notifications = serde_json::from_value(json!([{"notifier": "team", "type": "Webhook",
            "event": "WatchFailed", "decision": "Block", "at": "2026-12-02T09:00:05Z"}]))
        .unwrap();
    }
    assert!(plan_of(&n, &[Arc::new(p)]).is_empty());
}

#[test]
fn waivers_are_told_within_their_lead_time_and_connectors_once_per_spell() {
    let n = notifier(
        "Slack",
        &["WaiverExpiring", "ConnectorUnhealthy"],
        json!({}),
    );
    let waiver: Arc<Waiver> = Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "Waiver",
            "metadata": {"name": "skip-soak", "namespace": "shop"},
            "spec": {"releaseRef": {"name": "web"}, "rules": ["soak"], "reason": "hotfix",
                     "expiresAt": "2026-12-02T12:00:00Z", "approver": "alice"}
        }))
        .unwrap(),
    );
    let connector: Arc<Connector> = Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "Connector",
            "metadata": {"name": "prom", "namespace": "shop"},
            "spec": {"type": "Prometheus", "endpoint": "http://prom:9090"},
            "status": {"health": "Unreachable", "lastError": "connection refused"}
        }))
        .unwrap(),
    );
    let passports = [passport("web", "Allow", "2026-12-02T09:00:00Z", json!([]))];
    let releases = BTreeMap::new();
    let world = |now: &str| World {
        passports: &passports,
        releases: &releases,
        waivers: std::slice::from_ref(&waiver),
        connectors: std::slice::from_ref(&connector),
        console: None,
        now: t(now),
    };
    let early = plan(&n, &world("2026-12-01T10:00:00Z"));
    assert_eq!(
        early.len(),
        1,
        "only the connector, the waiver is 26 h away"
    );
    let due = plan(&n, &world("2026-12-02T10:00:00Z"));
    assert_eq!(due.len(), 2);
    assert!(
        due[0].message.title.contains("expires in 2h"),
        "{}",
        due[0].message.title
    );
    assert!(due[1].message.title.ends_with("is Unreachable"));
    let told: Vec<Announced> = due
        .iter()
        .filter_map(|d| match &d.record {
            Record::Announced(a) => Some(a.clone()),
            Record::Passport(_) => None,
        })
        .collect();
    let mut after = n.clone();
    after.status = Some(crate::api::notifier::NotifierStatus {
        announced: told.clone(),
        ..Default::default()
    });
    assert!(plan(&after, &world("2026-12-02T10:00:00Z")).is_empty());
    // Expired and healthy again: both leave the list, so the next spell is told.
    let mut healthy = (*connector).clone();
    if let Some(s) = healthy.status.as_mut() {
        s.health = Some(ConnectorHealth::Healthy);
    }
    let kept = announced_now(
        &after,
        None,
        std::slice::from_ref(&waiver),
        &[Arc::new(healthy)],
        t("2026-12-02T13:00:00Z"),
    );
    assert!(kept.is_empty(), "{kept:?}");
    let kept = announced_now(
        &after,
        None,
        std::slice::from_ref(&waiver),
        std::slice::from_ref(&connector),
        t("2026-12-02T10:00:00Z"),
    );
    assert_eq!(kept, told);
}

#[test]
fn records_are_bounded_newest_last() {
    let mut p = (*passport("web", "Hold", "2026-12-02T09:00:00Z", json!([]))).clone();
    for i in 0..(MAX_RECORDS + 3) {
        let record = Notified {
            notifier: format!("n{i}"),
            type_: NotifierType::Slack,
            event: NotifierEvent::DecisionChanged,
            decision: Decision::Hold,
            at: t("2026-12-02T09:00:00Z"),
        };
        let list = records_now(&p, &record);
        if let Some(s) = p.status.as_mut() {
            s.notifications = list;
        }
    }
    let list = &p.status.as_ref().unwrap().notifications;
    assert_eq!(list.len(), MAX_RECORDS);
    assert_eq!(
        list.last().unwrap().notifier,
        format!("n{}", MAX_RECORDS + 2)
    );
}

fn golden(name: &str, actual: &Value) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/notify")
        .join(name);
    let text = format!("{}\n", serde_json::to_string_pretty(actual).unwrap());
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: UPDATE_GOLDEN=1 writes it", path.display()));
    assert_eq!(text, expected, "{name} differs from its golden file");
}

fn held_message(type_: &str) -> (Notifier, Due) {
    let n = notifier(type_, &["DecisionChanged"], json!({}));
    let told = json!([{"notifier": "team", "type": type_, "event": "DecisionChanged",
                       "decision": "Allow", "at": "2026-12-02T08:00:00Z"}]);
    let due = plan_of(&n, &[passport("web", "Hold", "2026-12-02T09:00:00Z", told)])
        .pop()
        .unwrap();
    (n, due)
}

fn body(type_: &str, check_run: bool) -> (payload::Request, Value) {
    let (n, due) = held_message(type_);
    let key = n.key();
    let target = Target {
        notifier: &key,
        type_: n.spec.type_,
        url: if type_ == "GitHubStatus" {
            Some("https://github.example/api/v3")
        } else {
            n.spec.url.as_deref()
        },
        credential: if type_ == "Slack" || type_ == "MSTeams" {
            "https://hooks.example/services/T000/B000/XXXX"
        } else {
            "s3cret-value"
        },
        credential_key: "url",
        check_run,
    };
    let request = payload::request(&target, &due.message, t("2026-12-02T10:00:00Z")).unwrap();
    let value = serde_json::from_slice(&request.body).unwrap();
    (request, value)
}

/// The exact payloads each receiver gets; none carries the credential, and text a receiver
/// would treat as markup (a Slack `<!channel>`, a Markdown link) or a token reaches it inert.
#[test]
fn payloads_are_exactly_the_receivers_shapes() {
    for (type_, check_run, file) in [
        ("Slack", false, "slack.json"),
        ("MSTeams", false, "teams.json"),
        ("Webhook", false, "cloudevent.json"),
        ("GitHubStatus", false, "github-status.json"),
        ("GitHubStatus", true, "github-check-run.json"),
    ] {
        let (request, value) = body(type_, check_run);
        golden(file, &value);
        let text = String::from_utf8(request.body.clone()).unwrap();
        assert!(
            !text.contains("s3cret-value") && !text.contains("XXXX"),
            "{file}: {text}"
        );
        assert!(
            !text.contains("ghp_abcdefghij"),
            "{file}: a token reached the receiver"
        );
        if matches!(type_, "Slack" | "MSTeams") {
            assert!(!text.contains("<!channel>"), "{file}");
        }
        if type_ == "MSTeams" {
            assert!(
                !text.contains("[x]("),
                "{file}: a Markdown link would render"
            );
        }
    }
    let (request, _) = body("GitHubStatus", false);
    assert_eq!(
        request.url,
        "https://github.example/api/v3/repos/acme/shop/statuses/0123456789abcdef0123"
    );
    assert!(
        request
            .headers
            .contains(&("authorization", "Bearer s3cret-value".into()))
    );
    let (request, _) = body("Slack", false);
    assert_eq!(request.url, "https://hooks.example/services/T000/B000/XXXX");
}

/// What a CloudEvents receiver checks: the signature over timestamp and body, with our key.
#[test]
fn webhook_deliveries_are_signed_for_the_receiver_to_verify() {
    let (request, event) = body("Webhook", false);
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("content-type"), Some("application/cloudevents+json"));
    let now = t("2026-12-02T10:00:00Z");
    let verify = |key: &[u8], body: &[u8]| {
        crate::connectors::webhook::verify(
            key,
            header(payload::TIMESTAMP_HEADER),
            header(payload::SIGNATURE_HEADER),
            body,
            now,
        )
    };
    assert!(verify(b"s3cret-value", &request.body).is_ok());
    assert!(verify(b"another", &request.body).is_err());
    let mut tampered = request.body.clone();
    tampered.push(b' ');
    assert!(verify(b"s3cret-value", &tampered).is_err());
    // The same message keeps its id across retries.
    let (_, again) = body("Webhook", false);
    assert_eq!(event["id"], again["id"]);
    assert_eq!(event["specversion"], "1.0");
}

#[test]
fn a_credential_that_is_not_a_url_is_named_not_shown() {
    let (n, due) = held_message("Slack");
    let key = n.key();
    let target = Target {
        notifier: &key,
        type_: NotifierType::Slack,
        url: None,
        credential: "xoxb-not-a-url",
        credential_key: "url",
        check_run: false,
    };
    let err = payload::request(&target, &due.message, t("2026-12-02T10:00:00Z")).unwrap_err();
    assert!(!err.to_string().contains("xoxb"), "{err}");
    assert!(err.to_string().contains("\"url\""), "{err}");
}
