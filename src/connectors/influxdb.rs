//! InfluxDB: metric rules answered by InfluxQL over the `/query` API (InfluxDB 1.x; 2.x and
//! 3.x serve it too). `$labels` becomes `"key" = 'value' AND …`, each tag key a quoted
//! identifier and each value a quoted string, escaped as InfluxQL's scanner unescapes them, so a
//! label value can never end its string and add a condition of its own.

use std::collections::BTreeMap;

use serde_json::Value;

use super::kind::{About, Answers, Looks, Upstream};
use super::metric_backend::{MetricBackend, QueryResult, Reply, windowless};
use super::{AnswerError, FetchError, http};
use crate::api::policy::Aggregate;
use crate::engine::labels::quoted_with;
use crate::engine::metric::MetricQuery;

/// `$labels` in InfluxQL: `"k1" = 'v1' AND "k2" = 'v2'`, sorted by key.
pub fn conditions(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{} = {}", quoted_with(k, '"'), quoted_with(v, '\'')))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The InfluxQL a metric question sends.
pub fn influxql(metric: &MetricQuery) -> Result<String, FetchError> {
    windowless(metric, "WHERE time > now() - 30m", conditions)
}

/// The value of a `/query` answer (pure): each series' latest number, the largest across
/// series; no series is no data; an error InfluxDB reports is a failed query.
pub fn parse(body: &Value) -> Result<QueryResult, AnswerError> {
    if let Some(e) = body.get("error").and_then(Value::as_str) {
        return Ok(QueryResult::Failed(e.to_string()));
    }
    let result = body
        .get("results")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .ok_or(AnswerError::Missing(
            "results (not an InfluxDB /query answer)",
        ))?;
    if let Some(e) = result.get("error").and_then(Value::as_str) {
        return Ok(QueryResult::Failed(e.to_string()));
    }
    let series = result
        .get("series")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    // Each row's first number after its time; a series' latest counts.
    let rows = series.iter().map(|s| {
        s.get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .filter_map(|row| row.iter().skip(1).find_map(Value::as_f64))
            .collect()
    });
    Ok(QueryResult::reduced(rows, Aggregate::Last))
}

/// The `InfluxDB` connector type: answers the metric rules that name it.
pub struct InfluxDb;

static ABOUT: About = About::fetched(
    "InfluxQL queries for metric rules (InfluxDB /query)",
    Answers::Metrics,
    None,
)
.looking(Looks {
    name: "InfluxDB",
    // The InfluxData Helm charts', the common convention.
    selectors: &["app.kubernetes.io/name=influxdb", "app=influxdb"],
    port: 8086,
});

impl MetricBackend for InfluxDb {
    const ABOUT: &'static About = &ABOUT;
    const PROBE: &'static str = "SHOW MEASUREMENTS LIMIT 1";

    async fn ask(
        &self,
        upstream: &Upstream<'_>,
        metric: &MetricQuery,
    ) -> Result<Reply, FetchError> {
        let spec = upstream.connector.spec.influxdb.as_ref().ok_or_else(|| {
            FetchError::Config("spec.influxdb.database is required for InfluxDB".into())
        })?;
        let text = influxql(metric)?;
        let mut url = http::join(upstream.endpoint()?, &["query"])?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs
                .append_pair("db", &spec.database)
                .append_pair("q", &text)
                .append_pair("epoch", "s");
            if let Some(rp) = &spec.retention_policy {
                pairs.append_pair("rp", rp);
            }
        }
        // InfluxDB 1.8+ and 2.x read `Token USER:PASSWORD` or `Token API-TOKEN`.
        let authorization = upstream.token.map(|t| format!("Token {t}"));
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let json =
            http::get_json_lenient(upstream.http, url, None, upstream.timeout, &headers).await?;
        Ok(Reply::Answered {
            result: parse(&json)?,
            sent: Some(format!("InfluxQL: {text}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A value written to end its string and widen the WHERE clause stays one string.
    #[test]
    fn labels_cannot_inject_influxql() {
        let labels: BTreeMap<String, String> = [
            ("service".to_string(), "checkout' OR 1=1 --".to_string()),
            ("env".to_string(), "prod\\'\n".to_string()),
            ("we\"ird".to_string(), "x".to_string()),
        ]
        .into();
        assert_eq!(
            conditions(&labels),
            r#""env" = 'prod\\\'\n' AND "service" = 'checkout\' OR 1=1 --' AND "we\"ird" = 'x'"#
        );
        let q = MetricQuery::from(
            r#"SELECT mean("value") FROM "errors" WHERE $labels AND time > now() - 5m"#,
        )
        .scoped(&[("service".to_string(), "checkout".to_string())].into())
        .unwrap()
        .unwrap();
        assert_eq!(
            influxql(&q).unwrap(),
            r#"SELECT mean("value") FROM "errors" WHERE "service" = 'checkout' AND time > now() - 5m"#
        );
        let mut ranged = q.clone();
        ranged.range = Some(crate::engine::metric::MetricRange {
            written: "30m".into(),
            window: std::time::Duration::from_secs(1800),
            aggregate: crate::api::policy::Aggregate::Max,
        });
        assert!(matches!(influxql(&ranged), Err(FetchError::Config(_))));
    }

    /// The shapes of `/query` answers (InfluxDB 1.x API reference, "Query HTTP endpoint").
    #[test]
    fn parses_the_query_answers() {
        let one = json!({"results": [{"statement_id": 0, "series": [{"name": "errors",
            "columns": ["time", "mean"], "values": [[1700000000, 0.01], [1700000060, 0.002]]}]}]});
        assert_eq!(
            parse(&one),
            Ok(QueryResult::Value {
                value: 0.002,
                series: 1
            })
        );
        let grouped = json!({"results": [{"statement_id": 0, "series": [
            {"name": "errors", "tags": {"pod": "a"}, "columns": ["time", "mean"], "values": [[1, 0.1], [2, null]]},
            {"name": "errors", "tags": {"pod": "b"}, "columns": ["time", "mean"], "values": [[1, 0.3]]}]}]});
        assert_eq!(
            parse(&grouped),
            Ok(QueryResult::Value {
                value: 0.3,
                series: 2
            })
        );
        let empty = json!({"results": [{"statement_id": 0}]});
        assert_eq!(parse(&empty), Ok(QueryResult::NoData));
        let bad = json!({"results": [{"statement_id": 0, "error": "database not found: shop"}]});
        assert_eq!(
            parse(&bad),
            Ok(QueryResult::Failed("database not found: shop".into()))
        );
        let refused = json!({"error": "error parsing query: found OR, expected ;"});
        assert!(matches!(parse(&refused), Ok(QueryResult::Failed(_))));
        assert!(parse(&json!({"status": "success"})).is_err());
    }
}
