//! Prometheus: instant queries over the HTTP API (`/api/v1/query`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{FetchError, http};
use crate::api::EvidenceStatus;

/// What one query returned.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    /// A value (the largest, when several series came back) and how many series there were.
    Value { value: f64, series: usize },
    /// An empty result, or only NaN: the metric has no data.
    NoData,
    /// Prometheus refused the query (bad PromQL, timeout inside Prometheus).
    Failed(String),
}

impl QueryResult {
    /// The evidence status and a one-line summary.
    pub fn status(&self) -> (EvidenceStatus, Option<f64>, String) {
        match self {
            QueryResult::Value { value, series: 1 } => (
                EvidenceStatus::Complete,
                Some(*value),
                format!("value {value}"),
            ),
            QueryResult::Value { value, series } => (
                EvidenceStatus::Complete,
                Some(*value),
                format!("value {value} (the largest of {series} series)"),
            ),
            QueryResult::NoData => (
                EvidenceStatus::Missing,
                None,
                "no data (empty result or NaN)".into(),
            ),
            QueryResult::Failed(e) => (EvidenceStatus::Failed, None, format!("query failed: {e}")),
        }
    }
}

/// Reads the Prometheus API's JSON (pure).
pub fn parse(body: &Value) -> Result<QueryResult, String> {
    match body.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some("error") => {
            let kind = body
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("error");
            let message = body.get("error").and_then(Value::as_str).unwrap_or("");
            return Ok(QueryResult::Failed(format!("{kind}: {message}")));
        }
        _ => return Err("not a Prometheus API response (no status)".into()),
    }
    let data = body.get("data").ok_or("no data field")?;
    let sample = |pair: &Value| -> Option<f64> { pair.get(1)?.as_str()?.parse::<f64>().ok() };
    let values: Vec<f64> = match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => data
            .get("result")
            .and_then(Value::as_array)
            .ok_or("vector without result")?
            .iter()
            .filter_map(|s| s.get("value").and_then(sample))
            .collect(),
        Some("scalar") => data.get("result").and_then(sample).into_iter().collect(),
        Some("matrix") => data
            .get("result")
            .and_then(Value::as_array)
            .ok_or("matrix without result")?
            .iter()
            .filter_map(|s| s.get("values")?.as_array()?.last().and_then(sample))
            .collect(),
        Some(other) => return Err(format!("unsupported resultType {other:?}")),
        None => return Err("no resultType".into()),
    };
    let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    Ok(match finite.iter().copied().reduce(f64::max) {
        Some(value) => QueryResult::Value {
            value,
            series: finite.len(),
        },
        None => QueryResult::NoData,
    })
}

/// Runs one instant query at `at`.
pub async fn query(
    client: &reqwest::Client,
    endpoint: &str,
    promql: &str,
    token: Option<&str>,
    timeout: Duration,
    at: DateTime<Utc>,
) -> Result<QueryResult, FetchError> {
    let mut url = http::join(endpoint, &["api", "v1", "query"])?;
    url.query_pairs_mut()
        .append_pair("query", promql)
        .append_pair("time", &at.timestamp().to_string());
    let body = http::get_json_lenient(client, url, token, timeout).await?;
    parse(&body).map_err(FetchError::Upstream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_api_shapes() {
        let one = json!({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.7e9,"0.002"]}]}});
        assert_eq!(
            parse(&one),
            Ok(QueryResult::Value {
                value: 0.002,
                series: 1
            })
        );
        let many = json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1.7e9,"0.1"]},{"metric":{"a":"2"},"value":[1.7e9,"NaN"]},{"metric":{"a":"3"},"value":[1.7e9,"0.3"]}]}});
        assert_eq!(
            parse(&many),
            Ok(QueryResult::Value {
                value: 0.3,
                series: 2
            })
        );
        let empty = json!({"status":"success","data":{"resultType":"vector","result":[]}});
        assert_eq!(parse(&empty), Ok(QueryResult::NoData));
        let nan = json!({"status":"success","data":{"resultType":"scalar","result":[1.7e9,"NaN"]}});
        assert_eq!(parse(&nan), Ok(QueryResult::NoData));
        let bad = json!({"status":"error","errorType":"bad_data","error":"parse error at char 5"});
        assert_eq!(
            parse(&bad),
            Ok(QueryResult::Failed(
                "bad_data: parse error at char 5".into()
            ))
        );
        assert!(parse(&json!({"hello": 1})).is_err());
        assert!(
            parse(&json!({"status":"success","data":{"resultType":"string","result":[0,"x"]}}))
                .is_err()
        );
    }
}
