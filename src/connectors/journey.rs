//! HTTP journey checks: a short script of synthetic requests, each with an expected status,
//! body text and latency budget. A failing journey is failing evidence, not a broken connector.

use std::time::{Duration, Instant};

use crate::api::EvidenceStatus;
use crate::api::connector::{Journey, JourneyStep};
use crate::api::passport::Targets;

use super::{FetchError, http};
use futures::future::BoxFuture;

use super::kind::{About, Answer, Answers, ConnectorKind, Upstream, not_asked};
use super::query::Query;
use crate::api::Release;

/// The outcome of one journey run.
#[derive(Clone, Debug, PartialEq)]
pub struct JourneyResult {
    pub status: EvidenceStatus,
    pub targets: Targets,
    pub summary: String,
}

/// Why a journey step failed (the journey's evidence says it, after the step's name).
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// The request could not be made or answered: the endpoint, the network, the body.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("method: {0}")]
    Method(#[from] axum::http::method::InvalidMethod),
    #[error("expected HTTP {expected}, got {got}")]
    Status { expected: u16, got: u16 },
    #[error("the body does not contain {0:?}")]
    BodyLacks(String),
    #[error("took {took}ms, budget {budget}ms")]
    OverBudget { took: u128, budget: u128 },
}

async fn step(
    client: &reqwest::Client,
    endpoint: &str,
    s: &JourneyStep,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Duration, StepError> {
    let path: Vec<&str> = s
        .path
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let url = http::join(endpoint, &path)?;
    let method = reqwest::Method::from_bytes(s.method.as_deref().unwrap_or("GET").as_bytes())?;
    let budget = s
        .latency_budget
        .as_ref()
        .and_then(|d| d.parse().ok())
        .and_then(|d| d.to_std().ok());
    let mut request = client
        .request(method, url)
        .timeout(budget.map_or(timeout, |b| {
            b.min(timeout).max(Duration::from_millis(1)) + Duration::from_millis(250)
        }));
    for (k, v) in &s.headers {
        request = request.header(k, v);
    }
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(body) = &s.body {
        request = request.body(body.clone());
    }
    let started = Instant::now();
    let response = request.send().await.map_err(|e| http::classify(&e))?;
    let status = response.status().as_u16();
    let body = http::read_bounded(response).await?;
    let took = started.elapsed();
    let expected = s.expect_status.unwrap_or(200);
    if status != expected {
        return Err(StepError::Status {
            expected,
            got: status,
        });
    }
    if let Some(text) = &s.body_contains
        && !String::from_utf8_lossy(&body).contains(text.as_str())
    {
        return Err(StepError::BodyLacks(text.clone()));
    }
    if let Some(b) = budget
        && took > b
    {
        return Err(StepError::OverBudget {
            took: took.as_millis(),
            budget: b.as_millis(),
        });
    }
    Ok(took)
}

/// Runs the steps in order; the first failure ends the journey.
pub async fn run(
    client: &reqwest::Client,
    endpoint: &str,
    journey: &Journey,
    token: Option<&str>,
    timeout: Duration,
) -> Result<JourneyResult, FetchError> {
    if journey.steps.is_empty() {
        return Err(FetchError::Config("spec.journey.steps is empty".into()));
    }
    let total = u32::try_from(journey.steps.len()).unwrap_or(u32::MAX);
    let mut passed = 0u32;
    let mut slowest = Duration::ZERO;
    for s in &journey.steps {
        match step(client, endpoint, s, token, timeout).await {
            Ok(took) => {
                passed += 1;
                slowest = slowest.max(took);
            }
            Err(why) => {
                return Ok(JourneyResult {
                    status: EvidenceStatus::Failed,
                    targets: Targets {
                        total,
                        passing: passed,
                    },
                    summary: format!("step {} failed: {why}", s.name),
                });
            }
        }
    }
    Ok(JourneyResult {
        status: EvidenceStatus::Complete,
        targets: Targets {
            total,
            passing: passed,
        },
        summary: format!(
            "{passed}/{total} steps passed (slowest {}ms)",
            slowest.as_millis()
        ),
    })
}

/// The `HTTP` connector type: a synthetic journey of HTTP steps.
pub struct HttpJourney;

static ABOUT: About = About::fetched(
    "Synthetic HTTP journeys",
    Answers::Journeys,
    Some("journeys"),
);

impl ConnectorKind for HttpJourney {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn evidence_queries(&self, _release: &Release) -> Vec<Query> {
        vec![Query::Journey]
    }

    fn probe(&self) -> Option<Query> {
        Some(Query::Journey)
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            if *query != Query::Journey {
                return Err(not_asked(query));
            }
            let journey = upstream.connector.spec.journey.as_ref().ok_or_else(|| {
                FetchError::Config("spec.journey is required for an HTTP connector".into())
            })?;
            let result = run(
                upstream.http,
                upstream.endpoint()?,
                journey,
                upstream.token,
                upstream.timeout,
            )
            .await?;
            Ok(Answer::new(result.status, result.summary).with_targets(result.targets))
        })
    }
}
