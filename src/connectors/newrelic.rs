//! New Relic: metric rules answered by NRQL through NerdGraph (`POST {endpoint}/graphql`, the
//! user key in the `API-Key` header). The NRQL travels as a GraphQL variable, never spliced
//! into the GraphQL text; `$labels` becomes `` `key` = 'value' AND … `` with the value quoted as
//! NRQL reads a string, so a label value cannot end its string and add a condition.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::kind::{About, Answers, Upstream};
use super::metric_backend::{MetricBackend, QueryResult, Reply, windowless};
use super::{AnswerError, FetchError, http};
use crate::engine::labels::quoted_with;
use crate::engine::metric::MetricQuery;

/// The GraphQL asked: one account's NRQL results, the NRQL given as a variable.
const NERDGRAPH: &str = "query($account: Int!, $nrql: Nrql!) { actor { account(id: $account) { nrql(query: $nrql) { results } } } }";

/// `$labels` in NRQL: `` `k1` = 'v1' AND `k2` = 'v2' ``, sorted by key (the keys are label
/// names, so backticks are all they need).
pub fn conditions(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("`{k}` = {}", quoted_with(v, '\'')))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The NRQL a metric question sends.
pub fn nrql(metric: &MetricQuery) -> Result<String, FetchError> {
    windowless(metric, "SINCE 10 minutes ago", conditions)
}

/// The value of a NerdGraph NRQL answer (pure): every number of every result row, the
/// largest; no row or no number is no data; a GraphQL error is a failed query.
pub fn parse(body: &Value) -> Result<QueryResult, AnswerError> {
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        let messages: Vec<&str> = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .collect();
        if !messages.is_empty() {
            return Ok(QueryResult::Failed(messages.join("; ")));
        }
    }
    let results = body
        .pointer("/data/actor/account/nrql/results")
        .and_then(Value::as_array)
        .ok_or(AnswerError::Missing(
            "data.actor.account.nrql.results (not a NerdGraph NRQL answer)",
        ))?;
    let values: Vec<f64> = results
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|row| row.values().filter_map(Value::as_f64))
        .filter(|v| v.is_finite())
        .collect();
    Ok(match values.iter().copied().reduce(f64::max) {
        Some(value) => QueryResult::Value {
            value,
            series: results.len(),
        },
        None => QueryResult::NoData,
    })
}

/// The `NewRelic` connector type: answers the metric rules that name it.
pub struct NewRelic;

static ABOUT: About = About::fetched(
    "NRQL queries for metric rules (New Relic NerdGraph)",
    Answers::Metrics,
    None,
);

impl MetricBackend for NewRelic {
    const ABOUT: &'static About = &ABOUT;
    const PROBE: &'static str = "SELECT count(*) FROM Transaction SINCE 1 minute ago";

    async fn ask(
        &self,
        upstream: &Upstream<'_>,
        metric: &MetricQuery,
    ) -> Result<Reply, FetchError> {
        let account = upstream.connector.spec.new_relic.as_ref().ok_or_else(|| {
            FetchError::Config("spec.newRelic.accountId is required for New Relic".into())
        })?;
        let key = upstream.token.ok_or_else(|| {
            FetchError::Credential(
                "a New Relic user key is required (spec.credentialsSecretRef)".into(),
            )
        })?;
        let text = nrql(metric)?;
        let url = http::join(upstream.endpoint()?, &["graphql"])?;
        let body =
            json!({"query": NERDGRAPH, "variables": {"account": account.account_id, "nrql": text}});
        let json = http::post_json_lenient(
            upstream.http,
            url,
            upstream.timeout,
            &[("API-Key", key)],
            &body,
        )
        .await?;
        Ok(Reply::Answered {
            result: parse(&json)?,
            sent: Some(format!("NRQL: {text}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_inject_nrql() {
        let labels: BTreeMap<String, String> = [
            (
                "service".to_string(),
                "checkout' OR `service` = 'catalog".to_string(),
            ),
            ("env".to_string(), "prod\\'\n".to_string()),
        ]
        .into();
        assert_eq!(
            conditions(&labels),
            r"`env` = 'prod\\\'\n' AND `service` = 'checkout\' OR `service` = \'catalog'"
        );
        let q = MetricQuery::from("SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE $labels SINCE 10 minutes ago")
            .scoped(&[("appName".to_string(), "checkout".to_string())].into())
            .unwrap()
            .unwrap();
        assert_eq!(
            nrql(&q).unwrap(),
            "SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE `appName` = 'checkout' SINCE 10 minutes ago"
        );
    }

    /// NerdGraph's NRQL answer and its error form (docs.newrelic.com, "NerdGraph tutorial:
    /// Query your data using NRQL"; GraphQL errors in a 200 body per the GraphQL spec).
    #[test]
    fn parses_nerdgraph_answers() {
        let one =
            json!({"data": {"actor": {"account": {"nrql": {"results": [{"percentage": 0.42}]}}}}});
        assert_eq!(
            parse(&one),
            Ok(QueryResult::Value {
                value: 0.42,
                series: 1
            })
        );
        let faceted = json!({"data": {"actor": {"account": {"nrql": {"results": [
            {"facet": "a", "appName": "a", "average.duration": 0.2},
            {"facet": "b", "appName": "b", "average.duration": 0.7}]}}}}});
        assert_eq!(
            parse(&faceted),
            Ok(QueryResult::Value {
                value: 0.7,
                series: 2
            })
        );
        let none = json!({"data": {"actor": {"account": {"nrql": {"results": [{"average.duration": null}]}}}}});
        assert_eq!(parse(&none), Ok(QueryResult::NoData));
        let refused = json!({"errors": [{"message": "NRQL Syntax Error: Error at line 1 position 8"}],
                             "data": {"actor": {"account": {"nrql": null}}}});
        assert_eq!(
            parse(&refused),
            Ok(QueryResult::Failed(
                "NRQL Syntax Error: Error at line 1 position 8".into()
            ))
        );
        assert!(parse(&json!({"data": {}})).is_err());
    }
}
