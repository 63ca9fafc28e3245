//! A release's smoke and verification Jobs (read by the `Kubernetes` connector, evidence source
//! `jobs`): the Jobs of the Release's scope that carry its version — `app.kubernetes.io/version`
//! on the Job or its Pod template, or the version as the image tag — and did not finish before
//! the release started.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, ListParams};

use super::FetchError;
use super::cluster_read::{api_error, runs_version};
use super::query::WorkloadScope;
use crate::api::EvidenceStatus;
use crate::api::passport::Targets;
use crate::text::count;

/// How one Job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    /// Its `Failed` condition's reason and message.
    Failed(String),
    /// It finished before the release started: it describes an earlier attempt.
    Earlier,
}

fn condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        // Kubernetes' own JobCondition: its status is the API's text, not one of our types.
        .find(|c| c.type_ == type_ && matches!(c.status.as_str(), "True"))
}

/// Whether `job` carries `version`: its own `app.kubernetes.io/version` label, or its Pod
/// template's, or the version as its image's tag.
pub fn carries(job: &Job, version: &str) -> bool {
    let own = job
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/version"));
    own.is_some_and(|v| v == version)
        || job
            .spec
            .as_ref()
            .is_some_and(|s| runs_version(&s.template, version))
}

/// How `job` stands for a release that started at `since` (pure).
pub fn job_state(job: &Job, since: Option<DateTime<Utc>>) -> JobState {
    let failed = condition(job, "Failed");
    let finished_at = failed
        .and_then(|c| c.last_transition_time.as_ref())
        .or_else(|| job.status.as_ref()?.completion_time.as_ref())
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0));
    let done = condition(job, "Complete");
    if (failed.is_some() || done.is_some())
        && finished_at
            .zip(since)
            .is_some_and(|(finished, since)| finished < since)
    {
        return JobState::Earlier;
    }
    match (failed, done) {
        (Some(c), _) => {
            let why = match (c.reason.as_deref(), c.message.as_deref()) {
                (Some(r), Some(m)) => format!("{r}: {m}"),
                (Some(r), None) => r.to_string(),
                (None, Some(m)) => m.to_string(),
                (None, None) => "failed".to_string(),
            };
            JobState::Failed(why)
        }
        (None, Some(_)) => JobState::Succeeded,
        (None, None) => JobState::Running,
    }
}

/// The evidence the Jobs of a release make (pure): Failed when one failed (named, with its
/// reason), Pending while one runs, Complete when every one succeeded, Missing when none counts.
pub fn summarise(jobs: &[(String, JobState)], version: &str) -> (EvidenceStatus, Targets, String) {
    let counted: Vec<&(String, JobState)> = jobs
        .iter()
        .filter(|(_, s)| *s != JobState::Earlier)
        .collect();
    let targets = Targets {
        total: u32::try_from(counted.len()).unwrap_or(u32::MAX),
        passing: u32::try_from(
            counted
                .iter()
                .filter(|(_, s)| *s == JobState::Succeeded)
                .count(),
        )
        .unwrap_or(u32::MAX),
    };
    let earlier: Vec<&str> = jobs
        .iter()
        .filter(|(_, s)| *s == JobState::Earlier)
        .map(|(n, _)| n.as_str())
        .collect();
    let not_counted = if earlier.is_empty() {
        String::new()
    } else {
        format!(
            " (not counted, finished before the release started: {})",
            earlier.join(", ")
        )
    };
    let named = |wanted: fn(&JobState) -> bool| {
        counted
            .iter()
            .filter(|(_, s)| wanted(s))
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let failed: Vec<String> = counted
        .iter()
        .filter_map(|(n, s)| match s {
            JobState::Failed(why) => Some(format!("{n} ({why})")),
            _ => None,
        })
        .collect();
    let (status, summary) = if counted.is_empty() {
        (
            EvidenceStatus::Missing,
            format!("no Job in scope carries {version}"),
        )
    } else if !failed.is_empty() {
        (
            EvidenceStatus::Failed,
            format!("failed: {}", failed.join("; ")),
        )
    } else if targets.passing < targets.total {
        (
            EvidenceStatus::Pending,
            format!("running: {}", named(|s| *s == JobState::Running)),
        )
    } else {
        (
            EvidenceStatus::Complete,
            format!(
                "{} succeeded at {version}: {}",
                count(counted.len(), "Job", "Jobs"),
                named(|s| *s == JobState::Succeeded)
            ),
        )
    };
    (status, targets, format!("{summary}{not_counted}"))
}

/// Lists the Jobs of `scope` and judges those that carry `version`.
pub async fn fetch(
    client: &Client,
    scope: &WorkloadScope,
    version: &str,
    since: Option<DateTime<Utc>>,
) -> Result<(EvidenceStatus, Targets, String), FetchError> {
    let params = ListParams::default().labels(&scope.selector);
    let mut jobs = Vec::new();
    for ns in &scope.namespaces {
        for job in Api::<Job>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(api_error)?
        {
            if carries(&job, version) {
                let name = format!("Job {ns}/{}", job.metadata.name.clone().unwrap_or_default());
                jobs.push((name, job_state(&job, since)));
            }
        }
    }
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(summarise(&jobs, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(labels: serde_json::Value, image: &str, status: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": "smoke", "labels": labels},
            "spec": {"template": {"spec": {"containers": [{"name": "t", "image": image}], "restartPolicy": "Never"}}},
            "status": status
        }))
        .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_job_carries_the_version_by_label_or_image() {
        let by_label = job(
            json!({"app.kubernetes.io/version": "2.3.1"}),
            "tests:latest",
            json!({}),
        );
        assert!(carries(&by_label, "2.3.1"));
        assert!(!carries(&by_label, "2.3.0"));
        let by_image = job(json!({}), "registry/smoke:2.3.1", json!({}));
        assert!(carries(&by_image, "2.3.1"));
        assert!(!carries(
            &job(json!({}), "registry/smoke", json!({})),
            "2.3.1"
        ));
    }

    #[test]
    fn states_from_conditions_and_the_release_start() {
        let since = Some(at("2026-12-07T10:00:00Z"));
        let complete = json!({"completionTime": "2026-12-07T10:05:00Z", "succeeded": 1,
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]});
        let failed = json!({"failed": 3, "conditions": [{"type": "Failed", "status": "True",
            "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit",
            "lastTransitionTime": "2026-12-07T10:06:00Z"}]});
        let old = json!({"completionTime": "2026-12-07T09:00:00Z",
            "conditions": [{"type": "Complete", "status": "True"}]});
        let j = |s| job(json!({}), "smoke:1", s);
        assert_eq!(job_state(&j(complete), since), JobState::Succeeded);
        assert_eq!(
            job_state(&j(failed), since),
            JobState::Failed(
                "BackoffLimitExceeded: Job has reached the specified backoff limit".into()
            )
        );
        assert_eq!(job_state(&j(old.clone()), since), JobState::Earlier);
        assert_eq!(job_state(&j(old), None), JobState::Succeeded);
        assert_eq!(
            job_state(&j(json!({"active": 1})), since),
            JobState::Running
        );
        let not_yet = json!({"conditions": [{"type": "Failed", "status": "False"}]});
        assert_eq!(job_state(&j(not_yet), since), JobState::Running);
    }

    #[test]
    fn summaries() {
        let s = |jobs: &[(&str, JobState)]| {
            let jobs: Vec<(String, JobState)> = jobs
                .iter()
                .map(|(n, s)| (n.to_string(), s.clone()))
                .collect();
            let (status, targets, summary) = summarise(&jobs, "2.3.1");
            (status, (targets.passing, targets.total), summary)
        };
        use JobState::*;
        assert_eq!(
            s(&[]),
            (
                EvidenceStatus::Missing,
                (0, 0),
                "no Job in scope carries 2.3.1".into()
            )
        );
        assert_eq!(
            s(&[("smoke", Succeeded), ("verify", Succeeded)]),
            (
                EvidenceStatus::Complete,
                (2, 2),
                "2 Jobs succeeded at 2.3.1: smoke, verify".into()
            )
        );
        assert_eq!(
            s(&[("smoke", Succeeded), ("verify", Running)]),
            (EvidenceStatus::Pending, (1, 2), "running: verify".into())
        );
        assert_eq!(
            s(&[
                ("smoke", Failed("BackoffLimitExceeded".into())),
                ("verify", Running)
            ]),
            (
                EvidenceStatus::Failed,
                (0, 2),
                "failed: smoke (BackoffLimitExceeded)".into()
            )
        );
        assert_eq!(
            s(&[("smoke-old", Earlier)]),
            (
                EvidenceStatus::Missing,
                (0, 0),
                "no Job in scope carries 2.3.1 (not counted, finished before the release started: smoke-old)".into()
            )
        );
        assert_eq!(
            s(&[("smoke-old", Earlier), ("smoke", Succeeded)]).0,
            EvidenceStatus::Complete
        );
    }
}
