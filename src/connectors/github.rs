//! GitHub Actions: the workflow runs of a release's commit (`GET /repos/{owner}/{repo}/actions/runs?head_sha=`).

use std::time::Duration;

use serde_json::Value;

use super::{AnswerError, FetchError, http};
use crate::api::EvidenceStatus;
use futures::future::BoxFuture;

use super::kind::{About, Answer, Answers, ConnectorKind, Upstream, not_asked};
use super::query::Query;
use crate::api::Release;

/// The evidence status of a commit's runs of `workflow` (name or file; empty: any) (pure).
pub fn parse(body: &Value, workflow: &str) -> Result<(EvidenceStatus, String), AnswerError> {
    let runs = body
        .get("workflow_runs")
        .and_then(Value::as_array)
        .ok_or(AnswerError::Missing("workflow_runs"))?;
    let matches = |run: &Value| {
        workflow.is_empty()
            || run.get("name").and_then(Value::as_str) == Some(workflow)
            || run
                .get("path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.ends_with(&format!("/{workflow}")) || p == workflow)
    };
    let latest = runs.iter().filter(|r| matches(r)).max_by_key(|r| {
        (
            r.get("run_number").and_then(Value::as_u64),
            r.get("run_attempt").and_then(Value::as_u64),
        )
    });
    let Some(run) = latest else {
        let which = if workflow.is_empty() {
            "any workflow".to_string()
        } else {
            format!("workflow {workflow}")
        };
        return Ok((
            EvidenceStatus::Missing,
            format!("no run of {which} for this commit"),
        ));
    };
    let name = run
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("workflow");
    let number = run.get("run_number").and_then(Value::as_u64).unwrap_or(0);
    let status = run
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let conclusion = run.get("conclusion").and_then(Value::as_str);
    let evidence = match (status, conclusion) {
        ("completed", Some("success")) => EvidenceStatus::Complete,
        ("completed", Some("failure" | "timed_out" | "startup_failure" | "action_required")) => {
            EvidenceStatus::Failed
        }
        ("completed", _) => EvidenceStatus::Missing,
        _ => EvidenceStatus::Pending,
    };
    Ok((
        evidence,
        format!("{name} run {number}: {}", conclusion.unwrap_or(status)),
    ))
}

pub async fn fetch(
    client: &reqwest::Client,
    endpoint: &str,
    (project, commit, workflow): (&str, &str, &str),
    token: Option<&str>,
    timeout: Duration,
) -> Result<(EvidenceStatus, String), FetchError> {
    let (owner, repo) = project.split_once('/').ok_or_else(|| {
        FetchError::Config(format!("scope.project {project:?} is not owner/repository"))
    })?;
    let mut url = http::join(endpoint, &["repos", owner, repo, "actions", "runs"])?;
    url.query_pairs_mut()
        .append_pair("head_sha", commit)
        .append_pair("per_page", "100");
    let headers = [
        ("Accept", "application/vnd.github+json"),
        ("X-GitHub-Api-Version", "2022-11-28"),
    ];
    let body = http::get_json(client, url, token, timeout, &headers).await?;
    Ok(parse(&body, workflow)?)
}

/// The `GitHubActions` connector type: the workflow runs at a release's commit.
pub struct GitHubActions;

static ABOUT: About = About::fetched(
    "GitHub Actions workflow runs for a release's commit",
    Answers::Ci,
    Some("ci"),
);

impl ConnectorKind for GitHubActions {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    /// Nothing to ask until the release names its project and commit.
    fn evidence_queries(&self, release: &Release) -> Vec<Query> {
        let commit = release
            .spec
            .revision
            .as_ref()
            .and_then(|r| r.commit.as_deref());
        let (Some(project), Some(commit)) = (release.spec.scope.project.as_deref(), commit) else {
            return Vec::new();
        };
        vec![Query::Pipeline {
            project: project.to_string(),
            commit: commit.to_string(),
            pipeline: release.spec.scope.pipeline.clone().unwrap_or_default(),
        }]
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            let Query::Pipeline {
                project,
                commit,
                pipeline,
            } = query
            else {
                return Err(not_asked(query));
            };
            let (status, summary) = fetch(
                upstream.http,
                upstream.endpoint()?,
                (project, commit, pipeline),
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

    fn runs(list: Value) -> Value {
        json!({"total_count": 2, "workflow_runs": list})
    }

    #[test]
    fn picks_the_latest_run_of_the_workflow() {
        let body = runs(json!([
            {"id": 1, "name": "release", "path": ".github/workflows/release.yaml", "run_number": 7, "status": "completed", "conclusion": "failure"},
            {"id": 2, "name": "release", "path": ".github/workflows/release.yaml", "run_number": 8, "status": "completed", "conclusion": "success"},
            {"id": 3, "name": "lint", "path": ".github/workflows/lint.yaml", "run_number": 9, "status": "in_progress", "conclusion": null}
        ]));
        assert_eq!(
            parse(&body, "release.yaml").map(|r| r.0),
            Ok(EvidenceStatus::Complete)
        );
        assert_eq!(
            parse(&body, "lint").map(|r| r.0),
            Ok(EvidenceStatus::Pending)
        );
        assert_eq!(
            parse(&body, "").map(|r| r.0),
            Ok(EvidenceStatus::Pending),
            "any workflow: the latest"
        );
        assert_eq!(
            parse(&body, "deploy.yaml").map(|r| r.0),
            Ok(EvidenceStatus::Missing)
        );
        let failed = runs(
            json!([{"name": "release", "path": ".github/workflows/release.yaml", "run_number": 3, "status": "completed", "conclusion": "timed_out"}]),
        );
        assert_eq!(
            parse(&failed, "release").map(|r| r.0),
            Ok(EvidenceStatus::Failed)
        );
        assert!(parse(&json!({"message": "Not Found"}), "").is_err());
    }
}
