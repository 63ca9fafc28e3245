//! The InfluxDB connector against a real InfluxDB (Debian's `influxdb`, 1.x, installed by
//! `make test`): points written over its line protocol, metric rules answered by InfluxQL with
//! `$labels` expanded in InfluxQL's own quoting; a label value written to widen the WHERE clause
//! stays one string.

use std::process::Command;

use chrono::Utc;
use release_passport::api::{Connector, Decision, Keyed};

use crate::common::peer::{Peer, Wired, scoped_release};
use crate::common::yaml;

struct InfluxDb(Peer);

impl InfluxDb {
    /// On port 0 (its RPC port too), the address read back from its log.
    fn start() -> InfluxDb {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let config = dir.path().join("influxdb.conf");
        std::fs::write(
            &config,
            format!(
                "reporting-disabled = true
bind-address = \"127.0.0.1:0\"
[meta]
  dir = \"{d}/meta\"
[data]
  dir = \"{d}/data\"
  wal-dir = \"{d}/wal\"
[http]
  bind-address = \"127.0.0.1:0\"
  log-enabled = false
[monitor]
  store-enabled = false
"
            ),
        )
        .unwrap();
        let mut command = Command::new("influxd");
        command.arg("-config").arg(&config);
        InfluxDb(Peer::on_port_zero(dir, command, |line| {
            let (_, addr) = line
                .contains("msg=\"Listening on HTTP\"")
                .then_some(line)?
                .split_once("addr=127.0.0.1:")?;
            addr.split_whitespace().next()?.parse().ok()
        }))
    }

    fn post(&self, path: &str, body: &str) {
        let (status, _, answer) =
            crate::common::demo::try_send(self.0.port, "POST", path, &[], body).unwrap();
        assert!(
            (200..300).contains(&status),
            "POST {path}: {status} {answer}"
        );
    }
}

#[tokio::test]
async fn influxql_rules_decide_and_label_values_stay_strings() {
    let db = InfluxDb::start();
    db.post("/query?q=CREATE%20DATABASE%20shop", "");
    let at = Utc::now().timestamp() - 60;
    // Line protocol: a tag value escapes commas, spaces and equals signs, nothing else.
    db.post(
        "/write?db=shop&precision=s",
        &format!(
            "errors,service=checkout value=0.002 {at}\n\
             errors,service=catalog value=0.08 {at}\n\
             errors,service=o'brien value=0.001 {at}\n"
        ),
    );
    let connector: Connector = yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: influx, namespace: shop}}
spec: {{type: InfluxDB, endpoint: 'http://127.0.0.1:{}', influxdb: {{database: shop}}, timeout: 5s}}
",
        db.0.port
    ));
    let policy = "  - name: error-rate
    metric:
      connector: influx
      query: SELECT last(\"value\") FROM \"errors\" WHERE $labels AND time > now() - 1h
      op: '<'
      threshold: 0.01
      maxAge: 10m
";
    let services = [
        ("checkout", "checkout"),
        ("catalog", "catalog"),
        ("quoted", "o'brien"),
        ("injected", "nobody' OR \"service\" = 'catalog"),
        ("absent", "search"),
    ];
    let wired = Wired::new(
        std::slice::from_ref(&connector),
        policy,
        services
            .iter()
            .map(|(name, service)| scoped_release(name, service))
            .collect(),
    );
    assert_eq!(
        wired.plan[&connector.key()].len(),
        services.len(),
        "one InfluxQL query per scope"
    );
    let now = Utc::now();
    wired.refresh(&connector, now).await;
    let expected = [
        (Decision::Allow, "value 0.002"),
        (Decision::Block, "value 0.08"),
        (Decision::Allow, "value 0.001"),
        // Quoted as one string, the value names no series: no data, not catalog's 0.08.
        (Decision::Hold, "no data"),
        (Decision::Hold, "no data"),
    ];
    for (i, ((service, _), (decision, says))) in services.iter().zip(expected).enumerate() {
        let status = wired.decide(i, now);
        let summary = status.evidence[0].summary.clone().unwrap_or_default();
        assert_eq!(
            status.decision,
            Some(decision),
            "{service}: {summary}\n{:?}\n{}",
            status.trace,
            db.0.log()
        );
        assert!(summary.contains(says), "{service}: {summary}");
    }
}
