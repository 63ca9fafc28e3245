//! The Alertmanager connector against a real Alertmanager (Debian's `prometheus-alertmanager`,
//! installed by `make test`): alerts posted to its API v2 as Prometheus posts them, a silence
//! made through the same API, an inhibition from its configuration; the hub asks, the engine
//! decides. Label values that would widen a matcher if they were not quoted stay one value.

use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use release_passport::api::{Connector, Decision, Keyed};
use serde_json::{Value, json};

use crate::common::peer::{Peer, Wired, scoped_release};
use crate::common::yaml;

/// Warnings of a service are muted while a critical alert of the same service fires.
const CONFIG: &str = "route: {receiver: team}
receivers: [{name: team}]
inhibit_rules:
- source_matchers: ['severity=\"critical\"']
  target_matchers: ['severity=\"warning\"']
  equal: [service]
";

struct Alertmanager(Peer);

impl Alertmanager {
    /// On port 0, its address read back from its log; no cluster gossip.
    fn start() -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, CONFIG).unwrap();
        let mut command = Command::new("prometheus-alertmanager");
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .args([
                "--web.listen-address=127.0.0.1:0",
                "--cluster.listen-address=",
            ]);
        Alertmanager(Peer::on_port_zero(dir, command, |line| {
            let (_, addr) = line
                .contains("msg=\"Listening on\"")
                .then_some(line)?
                .rsplit_once("address=127.0.0.1:")?;
            addr.trim().parse().ok()
        }))
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let (status, _, answer) = crate::common::demo::try_send(
            self.0.port,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &body.to_string(),
        )
        .unwrap();
        assert_eq!(status, 200, "POST {path}: {answer}");
        serde_json::from_str(&answer).unwrap_or(Value::Null)
    }

    /// Fires alerts as Prometheus does (`POST /api/v2/alerts`, postableAlerts).
    fn fire(&self, alerts: &[Value]) {
        let now = Utc::now();
        let alerts: Vec<Value> = alerts
            .iter()
            .map(|labels| {
                json!({"labels": labels, "annotations": {"summary": "from the test"},
                       "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
                       "generatorURL": "http://prometheus.example/graph"})
            })
            .collect();
        self.post("/api/v2/alerts", &json!(alerts));
    }

    /// Silences alerts with `name=value` (`POST /api/v2/silences`); the silence's id.
    fn silence(&self, name: &str, value: &str) -> String {
        let now = Utc::now();
        let answer = self.post(
            "/api/v2/silences",
            &json!({"matchers": [{"name": name, "value": value, "isRegex": false, "isEqual": true}],
                    "startsAt": now.to_rfc3339(), "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
                    "createdBy": "carol", "comment": "known disk alarm"}),
        );
        answer["silenceID"].as_str().unwrap().to_string()
    }

    fn connector(&self, name: &str, source: &str, alerts: &str) -> Connector {
        yaml(&format!(
            "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: {name}, namespace: shop}}
spec: {{type: Alertmanager, endpoint: 'http://127.0.0.1:{}', source: {source}, timeout: 5s, alerts: {alerts}}}
",
            self.0.port
        ))
    }
}

/// Critical and warning alerts block; page-only alerts (`countSuppressed`) hold.
const POLICY: &str = "  - name: no-alerts
    evidence: {source: alerts, maxAge: 10m}
  - name: nothing-muted
    evidence: {source: all-alerts, maxAge: 10m, onFailed: Hold}
";

#[tokio::test]
async fn firing_silenced_and_inhibited_alerts_decide_as_the_rule_says() {
    let am = Alertmanager::start();
    let hostile = "search\", service=~\".*";
    let quoted = "we\\ird\"\nname";
    am.fire(&[
        json!({"alertname": "CheckoutErrors", "severity": "critical", "service": "checkout"}),
        json!({"alertname": "CheckoutLatency", "severity": "warning", "service": "checkout"}),
        json!({"alertname": "CatalogDiskFull", "severity": "warning", "service": "catalog"}),
        json!({"alertname": "CatalogInfo", "severity": "info", "service": "catalog"}),
        json!({"alertname": "OddOne", "severity": "critical", "service": quoted}),
    ]);
    let silence = am.silence("alertname", "CatalogDiskFull");
    let counted = am.connector(
        "alertmanager",
        "alerts",
        "{matchers: ['severity=~\"critical|warning\"']}",
    );
    let everything = am.connector("alertmanager-all", "all-alerts", "{countSuppressed: true}");

    let services = [
        ("checkout", "checkout"),
        ("catalog", "catalog"),
        ("search", "search"),
        ("injected", hostile),
        ("odd", quoted),
        ("unscoped", ""),
    ];
    let wired = Wired::new(
        &[counted.clone(), everything.clone()],
        POLICY,
        services
            .iter()
            .map(|(name, service)| scoped_release(name, service))
            .collect(),
    );
    assert_eq!(
        wired.plan[&counted.key()].len(),
        services.len(),
        "one question per distinct scope"
    );
    // Alertmanager's inhibitor learns of the critical alert on its own time: ask until the
    // warning it mutes shows as inhibited.
    let mut last = String::new();
    let mut settled = None;
    for _ in 0..300 {
        let now = Utc::now();
        wired.refresh(&counted, now).await;
        wired.refresh(&everything, now).await;
        last = format!("{:?}", wired.decide(0, now).trace);
        if last.contains("CheckoutLatency (warning") {
            settled = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = settled.unwrap_or_else(|| panic!("{last}\n{}", am.0.log()));

    // The decision, what the rule's trace entry says, and the evidence item's summary.
    let read = |i: usize, rule: &str, source: &str| {
        let status = wired.decide(i, now);
        let entry = status
            .trace
            .iter()
            .find(|t| t.rule.ends_with(rule))
            .unwrap();
        let item = status.evidence.iter().find(|e| e.source == source).unwrap();
        (
            status.decision.unwrap(),
            entry.message.clone(),
            item.summary.clone().unwrap_or_default(),
        )
    };
    // checkout: the critical alert blocks, named in the trace; the warning it inhibits is
    // named, not counted.
    let (decision, why, _) = read(0, "no-alerts", "alerts");
    assert_eq!(decision, Decision::Block, "{why}");
    assert!(
        why.contains("1 alert firing: CheckoutErrors (critical, since ")
            && why.contains("not counted: CheckoutLatency (warning, since ")
            && why.contains("inhibited)"),
        "{why}"
    );
    // catalog: its warning is silenced (named with the silence) and its info alert is not
    // asked about, so nothing counts and the first rule passes; the second counts the
    // silenced alert and holds.
    let (decision, _, summary) = read(1, "no-alerts", "alerts");
    assert!(
        summary.starts_with("no alert firing for alerts {service=\"catalog\",severity=~\"critical|warning\"} — not counted: CatalogDiskFull (warning, since ")
            && summary.contains(&format!("silenced by {silence})")),
        "{summary}"
    );
    assert!(!summary.contains("CatalogInfo"), "{summary}");
    assert_eq!(decision, Decision::Hold);
    let (_, muted, _) = read(1, "nothing-muted", "all-alerts");
    assert!(muted.contains("2 alerts firing"), "{muted}");
    // search: nothing fires.
    let status = wired.decide(2, now);
    assert_eq!(status.decision, Some(Decision::Allow), "{:?}", status.trace);
    // A label value written to widen the matcher is one quoted value: it matches nothing.
    let status = wired.decide(3, now);
    assert_eq!(status.decision, Some(Decision::Allow), "{:?}", status.trace);
    // A value with a backslash, a quote and a line break matches exactly its own alert.
    let (decision, why, _) = read(4, "no-alerts", "alerts");
    assert_eq!(decision, Decision::Block);
    assert!(why.contains("OddOne (critical"), "{why}");
    // A release without metricLabels is never asked about the whole fleet.
    let (decision, why, summary) = read(5, "no-alerts", "alerts");
    assert_eq!(decision, Decision::Hold, "{why}");
    assert!(summary.contains("not scoped"), "{summary}");
}
