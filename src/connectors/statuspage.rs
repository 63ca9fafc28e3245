//! StatusPage: a third party's public status, from the common `/api/v2/status.json` shape.

use std::time::Duration;

use serde_json::Value;

use super::{AnswerError, FetchError, http};
use crate::api::EvidenceStatus;
use futures::future::BoxFuture;

use super::kind::{About, Answer, Answers, ConnectorKind, Upstream, not_asked};
use super::query::Query;
use crate::api::Release;

/// The evidence status and summary a status page reports (pure).
pub fn parse(body: &Value) -> Result<(EvidenceStatus, String), AnswerError> {
    let status = body
        .get("status")
        .ok_or(AnswerError::Missing("status object"))?;
    let indicator = status
        .get("indicator")
        .and_then(Value::as_str)
        .ok_or(AnswerError::Missing("status.indicator"))?;
    let description = status
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or(indicator);
    let page = body.pointer("/page/name").and_then(Value::as_str);
    let summary = match page {
        Some(p) => format!("{p}: {description} ({indicator})"),
        None => format!("{description} ({indicator})"),
    };
    let evidence = match indicator {
        "none" => EvidenceStatus::Complete,
        "minor" => EvidenceStatus::Partial,
        "maintenance" => EvidenceStatus::Pending,
        "major" | "critical" => EvidenceStatus::Failed,
        other => {
            return Err(AnswerError::Unknown {
                field: "indicator",
                value: other.to_string(),
            });
        }
    };
    Ok((evidence, summary))
}

pub async fn fetch(
    client: &reqwest::Client,
    endpoint: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(EvidenceStatus, String), FetchError> {
    let url = http::join(endpoint, &["api", "v2", "status.json"])?;
    let body = http::get_json(client, url, token, timeout, &[]).await?;
    Ok(parse(&body)?)
}

/// The `StatusPage` connector type: a third party's Statuspage-compatible status.
pub struct StatusPage;

static ABOUT: About = About::fetched("Third-party status pages", Answers::ThirdPartyStatus, None);

impl ConnectorKind for StatusPage {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn evidence_queries(&self, _release: &Release) -> Vec<Query> {
        vec![Query::StatusPage]
    }

    fn probe(&self) -> Option<Query> {
        Some(Query::StatusPage)
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            if *query != Query::StatusPage {
                return Err(not_asked(query));
            }
            let (status, summary) = fetch(
                upstream.http,
                upstream.endpoint()?,
                upstream.token,
                upstream.timeout,
            )
            .await?;
            Ok(Answer::new(status, summary))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_indicators() {
        let page = |i: &str| json!({"page":{"id":"x","name":"Cards","url":"https://status.example"},"status":{"indicator":i,"description":"d"}});
        assert_eq!(
            parse(&page("none")).map(|p| p.0),
            Ok(EvidenceStatus::Complete)
        );
        assert_eq!(
            parse(&page("minor")).map(|p| p.0),
            Ok(EvidenceStatus::Partial)
        );
        assert_eq!(
            parse(&page("major")).map(|p| p.0),
            Ok(EvidenceStatus::Failed)
        );
        assert_eq!(
            parse(&page("critical")).map(|p| p.0),
            Ok(EvidenceStatus::Failed)
        );
        assert_eq!(
            parse(&page("none")).map(|p| p.1),
            Ok("Cards: d (none)".to_string())
        );
        assert!(parse(&page("purple")).is_err());
        assert!(parse(&json!({"status": {}})).is_err());
    }
}
