//! What every metric backend shares (Prometheus, InfluxDB, New Relic, Datadog): it answers the
//! metric rules routed to it (`queries::metric_connector`), asks each question once in its own
//! language, and reports a [`QueryResult`]; the evidence item — status, value, samples, the
//! recorded query, and the text actually sent beside the value — is made here, once.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::FetchError;
use super::kind::{About, Answer, Asked, ConnectorKind, Upstream, not_asked};
use super::queries::metric_queries;
use super::query::Query;
use crate::api::EvidenceStatus;
use crate::engine::metric::MetricQuery;

/// What one query returned.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    /// A value (the largest, when several series came back) and how many series there were.
    Value { value: f64, series: usize },
    /// An empty result, or only NaN: the metric has no data.
    NoData,
    /// The backend refused the query (bad PromQL, InfluxQL or NRQL, a timeout inside it).
    Failed(String),
    /// A comparison's samples over its window (every series' finite samples, oldest first).
    Samples { samples: Vec<f64>, series: usize },
}

impl QueryResult {
    /// Each series' finite samples reduced by `aggregate`, then the largest across series
    /// (the worst); no sample at all is no data.
    pub fn reduced(
        series: impl IntoIterator<Item = Vec<f64>>,
        aggregate: crate::api::policy::Aggregate,
    ) -> Self {
        use crate::api::policy::Aggregate;
        let per_series: Vec<f64> = series
            .into_iter()
            .filter_map(|samples| {
                let samples: Vec<f64> = samples.into_iter().filter(|v| v.is_finite()).collect();
                match aggregate {
                    Aggregate::Max => samples.iter().copied().reduce(f64::max),
                    Aggregate::Min => samples.iter().copied().reduce(f64::min),
                    Aggregate::Avg => (!samples.is_empty())
                        .then(|| samples.iter().sum::<f64>() / samples.len() as f64),
                    Aggregate::Last => samples.last().copied(),
                }
            })
            .collect();
        match per_series.iter().copied().reduce(f64::max) {
            Some(value) => QueryResult::Value {
                value,
                series: per_series.len(),
            },
            None => QueryResult::NoData,
        }
    }

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
            QueryResult::Samples { samples, series } => (
                EvidenceStatus::Complete,
                None,
                format!(
                    "{} from {}",
                    crate::text::count(samples.len(), "sample", "samples"),
                    crate::text::count(*series, "series", "series")
                ),
            ),
        }
    }
}

/// What a backend made of one question.
pub enum Reply {
    /// It was asked: what came back, and the text sent in the backend's own language when that
    /// is not the recorded form (`InfluxQL: SELECT …`), shown beside the value.
    Answered {
        result: QueryResult,
        sent: Option<String>,
    },
    /// It could not be asked as the release scopes it: why (never sent).
    NotAsked(String),
}

/// One metric backend: what it is, what tells whether it answers, and how it asks.
pub trait MetricBackend: Send + Sync {
    const ABOUT: &'static About;

    /// What is asked when no rule asks anything yet, to tell whether it answers.
    const PROBE: &'static str;

    fn ask(
        &self,
        upstream: &Upstream<'_>,
        metric: &MetricQuery,
    ) -> impl Future<Output = Result<Reply, FetchError>> + Send;
}

/// `metric` in a backend whose window is written in the query itself (`example`), with
/// `$labels` as `render` makes them: `metric.range` and `metric.compare` are Prometheus's, and
/// asking them of it is a configuration error naming them.
pub fn windowless(
    metric: &MetricQuery,
    example: &str,
    render: impl FnOnce(&BTreeMap<String, String>) -> String,
) -> Result<String, FetchError> {
    if metric.range.is_some() || metric.samples.is_some() {
        return Err(FetchError::Config(format!(
            "metric.range and metric.compare are asked of Prometheus only: this backend's \
             rules write their window in the query ({example})"
        )));
    }
    Ok(metric.expanded(render))
}

impl<T: MetricBackend> ConnectorKind for T {
    fn about(&self) -> &'static About {
        T::ABOUT
    }

    fn queries(&self, asked: &Asked<'_>) -> Vec<Query> {
        metric_queries(asked)
    }

    fn probe(&self) -> Option<Query> {
        Some(Query::Metric(T::PROBE.into()))
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            let Query::Metric(metric) = query else {
                return Err(not_asked(query));
            };
            let recorded = Some(metric.to_string());
            let (result, sent) = match self.ask(upstream, metric).await? {
                Reply::Answered { result, sent } => (result, sent),
                Reply::NotAsked(why) => {
                    return Ok(Answer {
                        query: recorded,
                        ..Answer::new(EvidenceStatus::Missing, why)
                    });
                }
            };
            let (status, value, summary) = result.status();
            let samples = match result {
                QueryResult::Samples { samples, .. } => samples,
                _ => Vec::new(),
            };
            let summary = match sent {
                Some(sent) => format!("{summary} ({sent})"),
                None => summary,
            };
            Ok(Answer {
                value,
                query: recorded,
                samples,
                ..Answer::new(status, summary)
            })
        })
    }
}
