//! Datadog: metric rules answered by the metrics query API (`GET {endpoint}/api/v1/query`, the
//! API key as `DD-API-KEY` and the application key as `DD-APPLICATION-KEY`). `$labels` becomes
//! a tag filter, `service:checkout,env:production`; Datadog's query syntax has no quoting, so a
//! label value that is not a plain tag value is never sent: the question is not asked, and the
//! evidence says why.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::kind::{About, Answers, Upstream};
use super::metric_backend::{MetricBackend, QueryResult, Reply};
use super::{AnswerError, FetchError, http};
use crate::api::policy::Aggregate;
use crate::engine::metric::MetricQuery;

/// The window an instant question reads (its latest point counts).
const INSTANT_WINDOW: Duration = Duration::from_secs(300);

/// Whether `value` can stand in a tag filter as it is: Datadog's tag characters (letters,
/// digits, `_ - : . /`), nothing that would end the filter or start another.
pub fn is_tag_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '/'))
}

/// `$labels` as a Datadog tag filter: `k1:v1,k2:v2`, sorted by key.
pub fn tags(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Why a metric question cannot be asked of Datadog as the release scopes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unaskable {
    #[error("metric.compare is asked of Prometheus only")]
    Compare,
    #[error(
        "not asked: spec.scope.metricLabels.{key} is {value:?}, not a Datadog tag value \
         (letters, digits and _ - : . / only)"
    )]
    NotATag { key: String, value: String },
}

/// The query a metric question sends, or why it cannot be asked of Datadog.
pub fn query_text(metric: &MetricQuery) -> Result<String, Unaskable> {
    if metric.samples.is_some() {
        return Err(Unaskable::Compare);
    }
    if let Some((key, value)) = metric.labels.iter().find(|(_, v)| !is_tag_value(v)) {
        return Err(Unaskable::NotATag {
            key: key.clone(),
            value: value.clone(),
        });
    }
    Ok(metric.expanded(tags))
}

/// The value of a `/api/v1/query` answer (pure): each series' points reduced by `aggregate`,
/// the largest across series; no point is no data; an error Datadog reports is a failed query.
pub fn parse(body: &Value, aggregate: Aggregate) -> Result<QueryResult, AnswerError> {
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        let messages: Vec<&str> = errors.iter().filter_map(Value::as_str).collect();
        return Ok(QueryResult::Failed(messages.join("; ")));
    }
    match body.get("status").and_then(Value::as_str) {
        Some("ok") => {}
        Some("error") => {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("error");
            return Ok(QueryResult::Failed(error.to_string()));
        }
        Some(other) => {
            return Err(AnswerError::Unknown {
                field: "status",
                value: other.to_string(),
            });
        }
        None => return Err(AnswerError::Missing("status (not a Datadog query answer)")),
    }
    let series = body
        .get("series")
        .and_then(Value::as_array)
        .ok_or(AnswerError::Missing("series"))?;
    let points = series.iter().map(|s| {
        s.get("pointlist")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get(1)?.as_f64())
            .collect()
    });
    Ok(QueryResult::reduced(points, aggregate))
}

/// The `Datadog` connector type: answers the metric rules that name it.
pub struct Datadog;

static ABOUT: About = About::fetched(
    "Metric queries for metric rules (Datadog metrics query API)",
    Answers::Metrics,
    None,
);

impl MetricBackend for Datadog {
    const ABOUT: &'static About = &ABOUT;
    const PROBE: &'static str = "avg:datadog.estimated_usage.hosts{*}";

    async fn ask(
        &self,
        upstream: &Upstream<'_>,
        metric: &MetricQuery,
    ) -> Result<Reply, FetchError> {
        let (Some(api_key), Some(application_key)) = (upstream.token, upstream.second) else {
            return Err(FetchError::Credential(
                "Datadog needs an API key and an application key (spec.credentialsSecretRef)"
                    .into(),
            ));
        };
        let text = match query_text(metric) {
            Ok(text) => text,
            Err(why) => return Ok(Reply::NotAsked(why.to_string())),
        };
        let (window, aggregate) = match &metric.range {
            Some(r) => (r.window, r.aggregate),
            None => (INSTANT_WINDOW, Aggregate::Last),
        };
        let to = upstream.now.timestamp();
        let from = to - i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        let mut url = http::join(upstream.endpoint()?, &["api", "v1", "query"])?;
        url.query_pairs_mut()
            .append_pair("from", &from.to_string())
            .append_pair("to", &to.to_string())
            .append_pair("query", &text);
        let headers = [
            ("DD-API-KEY", api_key),
            ("DD-APPLICATION-KEY", application_key),
        ];
        let json =
            http::get_json_lenient(upstream.http, url, None, upstream.timeout, &headers).await?;
        Ok(Reply::Answered {
            result: parse(&json, aggregate)?,
            sent: Some(format!("Datadog: {text}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_values_that_are_not_tags_are_never_sent() {
        let scoped = |value: &str| {
            MetricQuery::from("sum:trace.http.request.errors{$labels}.as_rate()")
                .scoped(&[("service".to_string(), value.to_string())].into())
                .unwrap()
                .unwrap()
        };
        assert_eq!(
            query_text(&scoped("checkout")).unwrap(),
            "sum:trace.http.request.errors{service:checkout}.as_rate()"
        );
        assert_eq!(
            query_text(&scoped("team-a/web.v2")).unwrap(),
            "sum:trace.http.request.errors{service:team-a/web.v2}.as_rate()"
        );
        for hostile in ["checkout,env:prod", "x} or sum:other{*", "a b", ""] {
            let why = query_text(&scoped(hostile)).unwrap_err().to_string();
            assert!(why.contains("not a Datadog tag value"), "{hostile}: {why}");
        }
    }

    /// The shapes of `GET /api/v1/query` (Datadog API reference, "Query timeseries points"):
    /// `status`, `series[].pointlist` of `[milliseconds, value]`, errors as `{"errors": [...]}`.
    #[test]
    fn parses_the_query_answers() {
        let answer = json!({"status": "ok", "res_type": "time_series", "query": "q",
            "from_date": 1700000000000_i64, "to_date": 1700000300000_i64,
            "series": [
                {"metric": "errors", "scope": "service:a", "pointlist": [[1700000000000_i64, 0.1], [1700000060000_i64, 0.3], [1700000120000_i64, null]]},
                {"metric": "errors", "scope": "service:b", "pointlist": [[1700000000000_i64, 0.2]]}]});
        assert_eq!(
            parse(&answer, Aggregate::Last),
            Ok(QueryResult::Value {
                value: 0.3,
                series: 2
            })
        );
        assert_eq!(
            parse(&answer, Aggregate::Avg),
            Ok(QueryResult::Value {
                value: 0.2,
                series: 2
            })
        );
        let empty = json!({"status": "ok", "series": []});
        assert_eq!(parse(&empty, Aggregate::Last), Ok(QueryResult::NoData));
        let refused = json!({"errors": ["Error parsing query: unable to parse x{: Rule 'scope_expr' didn't match"]});
        assert!(matches!(
            parse(&refused, Aggregate::Last),
            Ok(QueryResult::Failed(_))
        ));
        let failed = json!({"status": "error", "error": "Rate limit of 300 requests in 3600 seconds reached"});
        assert!(matches!(
            parse(&failed, Aggregate::Last),
            Ok(QueryResult::Failed(_))
        ));
        assert!(parse(&json!({"data": []}), Aggregate::Last).is_err());
    }
}
