//! Prometheus: instant and range queries over the HTTP API (`/api/v1/query`, `query_range`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AnswerError, FetchError, http};

use super::kind::{About, Answers, Looks, Upstream};
use super::metric_backend::{MetricBackend, QueryResult, Reply};
use crate::engine::compile::MAX_SAMPLES;
use crate::engine::metric::{MetricQuery, MetricRange};

/// The series of a successful range query; `Err` with what any other answer reads as.
fn matrix(body: &Value) -> Result<&Vec<Value>, Result<QueryResult, AnswerError>> {
    if body.get("status").and_then(Value::as_str) != Some("success") {
        return Err(parse(body));
    }
    body.pointer("/data/result")
        .and_then(Value::as_array)
        .ok_or(Err(AnswerError::Missing("result in the matrix")))
}

/// Every finite sample of a range query's matrix, oldest first across series (pure): what a
/// comparison judges. An empty matrix is no data.
pub fn matrix_samples(body: &Value) -> Result<QueryResult, AnswerError> {
    let series = match matrix(body) {
        Ok(series) => series,
        Err(other) => return other,
    };
    let mut timed: Vec<(f64, f64)> = series
        .iter()
        .filter_map(|s| s.get("values")?.as_array())
        .flatten()
        .filter_map(|p| {
            let at = p.get(0)?.as_f64()?;
            let v = p.get(1)?.as_str()?.parse::<f64>().ok()?;
            v.is_finite().then_some((at, v))
        })
        .collect();
    if timed.is_empty() {
        return Ok(QueryResult::NoData);
    }
    timed.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(QueryResult::Samples {
        samples: timed.into_iter().map(|(_, v)| v).collect(),
        series: series.len(),
    })
}

/// The step a comparison's range query samples at: 30 s (about one scrape apart), coarser when
/// the window would give more than [`MAX_SAMPLES`] samples.
pub fn sample_step(window: chrono::Duration) -> i64 {
    let seconds = window.num_seconds().max(1);
    let per = i64::try_from(MAX_SAMPLES).unwrap_or(i64::MAX);
    (seconds + per - 1).div_euclid(per).max(30)
}

/// Reads the Prometheus API's JSON (pure).
pub fn parse(body: &Value) -> Result<QueryResult, AnswerError> {
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
        _ => {
            return Err(AnswerError::Missing(
                "status (not a Prometheus API response)",
            ));
        }
    }
    let data = body.get("data").ok_or(AnswerError::Missing("data"))?;
    let sample = |pair: &Value| -> Option<f64> { pair.get(1)?.as_str()?.parse::<f64>().ok() };
    let values: Vec<f64> = match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => data
            .get("result")
            .and_then(Value::as_array)
            .ok_or(AnswerError::Missing("result in the vector"))?
            .iter()
            .filter_map(|s| s.get("value").and_then(sample))
            .collect(),
        Some("scalar") => data.get("result").and_then(sample).into_iter().collect(),
        Some("matrix") => data
            .get("result")
            .and_then(Value::as_array)
            .ok_or(AnswerError::Missing("result in the matrix"))?
            .iter()
            .filter_map(|s| s.get("values")?.as_array()?.last().and_then(sample))
            .collect(),
        Some(other) => {
            return Err(AnswerError::Unknown {
                field: "resultType",
                value: other.to_string(),
            });
        }
        None => return Err(AnswerError::Missing("resultType")),
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

/// Reduces a range query's matrix to one value per `aggregate`, across every series (pure).
pub fn aggregate_matrix(
    body: &Value,
    aggregate: crate::api::policy::Aggregate,
) -> Result<QueryResult, AnswerError> {
    let series = match matrix(body) {
        Ok(series) => series,
        Err(other) => return other,
    };
    let samples = series.iter().map(|s| {
        s.get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get(1)?.as_str()?.parse::<f64>().ok())
            .collect()
    });
    Ok(QueryResult::reduced(samples, aggregate))
}

/// Runs one metric question at `at`: an instant query, or a range query over its window.
pub async fn query(
    client: &reqwest::Client,
    endpoint: &str,
    metric: &MetricQuery,
    token: Option<&str>,
    timeout: Duration,
    at: DateTime<Utc>,
) -> Result<QueryResult, FetchError> {
    let promql = metric.promql();
    let promql = promql.as_str();
    if let Some(window) = &metric.samples {
        // Only what has happened: a window still running is read up to now.
        let end = window.to().min(at);
        if end < window.from {
            return Ok(QueryResult::NoData);
        }
        let mut url = http::join(endpoint, &["api", "v1", "query_range"])?;
        url.query_pairs_mut()
            .append_pair("query", promql)
            .append_pair("start", &window.from.timestamp().to_string())
            .append_pair("end", &end.timestamp().to_string())
            .append_pair("step", &sample_step(window.length).to_string());
        let body = http::get_json_lenient(client, url, token, timeout, &[]).await?;
        return Ok(matrix_samples(&body)?);
    }
    if let Some(MetricRange {
        window, aggregate, ..
    }) = &metric.range
    {
        let (window, aggregate) = (*window, *aggregate);
        let step = (window.as_secs() / 60).max(15);
        let mut url = http::join(endpoint, &["api", "v1", "query_range"])?;
        url.query_pairs_mut()
            .append_pair("query", promql)
            .append_pair(
                "start",
                &(at.timestamp() - window.as_secs() as i64).to_string(),
            )
            .append_pair("end", &at.timestamp().to_string())
            .append_pair("step", &step.to_string());
        let body = http::get_json_lenient(client, url, token, timeout, &[]).await?;
        return Ok(aggregate_matrix(&body, aggregate)?);
    }
    let mut url = http::join(endpoint, &["api", "v1", "query"])?;
    url.query_pairs_mut()
        .append_pair("query", promql)
        .append_pair("time", &at.timestamp().to_string());
    let body = http::get_json_lenient(client, url, token, timeout, &[]).await?;
    Ok(parse(&body)?)
}

/// The `Prometheus` connector type: answers metric rules, not evidence sources.
pub struct Prometheus;

static ABOUT: About = About::fetched(
    "PromQL instant and range queries for metric rules",
    Answers::Metrics,
    None,
)
.looking(Looks {
    name: "Prometheus",
    // The operator's, the Helm chart's, the common convention.
    selectors: &[
        "operated-prometheus=true",
        "app.kubernetes.io/name=prometheus",
        "app=prometheus",
    ],
    port: 9090,
});

impl MetricBackend for Prometheus {
    const ABOUT: &'static About = &ABOUT;
    const PROBE: &'static str = "vector(1)";

    async fn ask(
        &self,
        upstream: &Upstream<'_>,
        metric: &MetricQuery,
    ) -> Result<Reply, FetchError> {
        let result = query(
            upstream.http,
            upstream.endpoint()?,
            metric,
            upstream.token,
            upstream.timeout,
            upstream.now,
        )
        .await?;
        Ok(Reply::Answered { result, sent: None })
    }
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
        assert_eq!(
            parse(&json!({"hello": 1})),
            Err(AnswerError::Missing(
                "status (not a Prometheus API response)"
            ))
        );
        assert_eq!(
            parse(&json!({"status":"success","data":{"resultType":"string","result":[0,"x"]}})),
            Err(AnswerError::Unknown {
                field: "resultType",
                value: "string".into()
            })
        );
        assert_eq!(
            parse(&json!({"status":"success"})),
            Err(AnswerError::Missing("data"))
        );
    }

    /// A comparison reads every finite sample, oldest first across series; none is no data.
    #[test]
    fn matrix_samples_in_time_order() {
        let m = json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[1,"0.1"],[3,"0.3"]]},
            {"metric":{"a":"2"},"values":[[2,"0.2"],[4,"NaN"],[5,"+Inf"]]}]}});
        assert_eq!(
            matrix_samples(&m),
            Ok(QueryResult::Samples {
                samples: vec![0.1, 0.2, 0.3],
                series: 2
            })
        );
        let empty = json!({"status":"success","data":{"resultType":"matrix","result":[]}});
        assert_eq!(matrix_samples(&empty), Ok(QueryResult::NoData));
        let bad = json!({"status":"error","errorType":"bad_data","error":"x"});
        assert_eq!(
            matrix_samples(&bad),
            Ok(QueryResult::Failed("bad_data: x".into()))
        );
    }

    #[test]
    fn the_sample_step_keeps_a_window_under_the_cap() {
        let m = chrono::Duration::minutes;
        assert_eq!(sample_step(m(30)), 30);
        assert_eq!(sample_step(m(24 * 60)), 87);
        assert!(m(24 * 60).num_seconds() / sample_step(m(24 * 60)) <= MAX_SAMPLES as i64);
    }

    #[test]
    fn range_aggregation() {
        use crate::api::policy::Aggregate;
        let m = json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[1,"0.1"],[2,"0.4"],[3,"0.2"]]},
            {"metric":{"a":"2"},"values":[[1,"0.3"],[2,"NaN"],[3,"0.3"]]}]}});
        assert_eq!(
            aggregate_matrix(&m, Aggregate::Max),
            Ok(QueryResult::Value {
                value: 0.4,
                series: 2
            })
        );
        assert_eq!(
            aggregate_matrix(&m, Aggregate::Last),
            Ok(QueryResult::Value {
                value: 0.3,
                series: 2
            })
        );
        assert_eq!(
            aggregate_matrix(&m, Aggregate::Min),
            Ok(QueryResult::Value {
                value: 0.3,
                series: 2
            }),
            "the worst series' minimum"
        );
        let empty = json!({"status":"success","data":{"resultType":"matrix","result":[]}});
        assert_eq!(
            aggregate_matrix(&empty, Aggregate::Avg),
            Ok(QueryResult::NoData)
        );
    }
}
