//! Kubernetes: the Deployments, StatefulSets, DaemonSets and Pods in a Release's scope — rollout
//! complete for the release version, ready replicas, crash loops — and the rollback target: a
//! ReplicaSet or StatefulSet ControllerRevision that still runs the previous version — and the
//! release's Jobs (`jobs.rs`). Reads only the namespaces and selector the Release names.

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::Client;
use kube::api::{Api, ListParams};

use futures::future::BoxFuture;

use super::FetchError;
use super::cluster_read::{api_error, runs_version};
use super::kind::{
    About, Answer, Answers, Asked, ConnectorKind, Upstream, not_asked, outside_allowed,
};
use super::queries::workload_scope;
use super::query::{Query, WorkloadScope};
use crate::api::passport::Targets;
use crate::api::{EvidenceStatus, Release};
use crate::engine::needs::RollbackNeed;

/// How one workload stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadState {
    /// Not (yet) running the release version.
    OtherVersion,
    Progressing,
    /// Rolled out, but not every replica is ready.
    NotReady,
    Done,
    Failed,
}

pub fn deployment_state(d: &Deployment, version: &str) -> WorkloadState {
    if !runs_version(&d.spec.template, version) {
        return WorkloadState::OtherVersion;
    }
    let Some(status) = &d.status else {
        return WorkloadState::Progressing;
    };
    let deadline = status.conditions.iter().flatten().any(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline {
        return WorkloadState::Failed;
    }
    let want = d.spec.replicas.unwrap_or(1);
    let generation_seen =
        status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    if !generation_seen
        || status.updated_replicas.unwrap_or(0) < want
        || status.replicas.unwrap_or(0) > want
    {
        WorkloadState::Progressing
    } else if status.available_replicas.unwrap_or(0) < want
        || status.ready_replicas.unwrap_or(0) < want
    {
        WorkloadState::NotReady
    } else {
        WorkloadState::Done
    }
}

pub fn statefulset_state(s: &StatefulSet, version: &str) -> WorkloadState {
    if !runs_version(&s.spec.template, version) {
        return WorkloadState::OtherVersion;
    }
    let Some(status) = &s.status else {
        return WorkloadState::Progressing;
    };
    let want = s.spec.replicas.unwrap_or(1);
    let revision_done =
        status.update_revision.is_none() || status.current_revision == status.update_revision;
    if status.updated_replicas.unwrap_or(0) < want || !revision_done {
        WorkloadState::Progressing
    } else if status.ready_replicas.unwrap_or(0) < want {
        WorkloadState::NotReady
    } else {
        WorkloadState::Done
    }
}

pub fn daemonset_state(d: &DaemonSet, version: &str) -> WorkloadState {
    if !runs_version(&d.spec.template, version) {
        return WorkloadState::OtherVersion;
    }
    let Some(status) = &d.status else {
        return WorkloadState::Progressing;
    };
    if status.updated_number_scheduled.unwrap_or(0) < status.desired_number_scheduled {
        WorkloadState::Progressing
    } else if status.number_available.unwrap_or(0) < status.desired_number_scheduled {
        WorkloadState::NotReady
    } else {
        WorkloadState::Done
    }
}

/// Pods crash-looping and their restarts.
pub fn crash_loops(pods: &[Pod]) -> (Vec<String>, i32) {
    let mut looping = Vec::new();
    let mut restarts = 0;
    for pod in pods {
        for cs in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            restarts += cs.restart_count;
            let waiting = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            if waiting == Some("CrashLoopBackOff") {
                looping.push(pod.metadata.name.clone().unwrap_or_default());
            }
        }
    }
    (looping, restarts)
}

/// Combines workload states and crash loops into evidence (pure).
pub fn summarise(
    states: &[(String, WorkloadState)],
    crash_looping: &[String],
    restarts: i32,
    version: &str,
) -> (EvidenceStatus, Targets, String) {
    let total = u32::try_from(states.len()).unwrap_or(u32::MAX);
    let done = u32::try_from(
        states
            .iter()
            .filter(|(_, s)| *s == WorkloadState::Done)
            .count(),
    )
    .unwrap_or(0);
    let targets = Targets {
        total,
        passing: done,
    };
    let names = |wanted: WorkloadState| {
        states
            .iter()
            .filter(|(_, s)| *s == wanted)
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if states.is_empty() {
        return (
            EvidenceStatus::Missing,
            targets,
            "no workload in scope".into(),
        );
    }
    if !crash_looping.is_empty() {
        return (
            EvidenceStatus::Failed,
            targets,
            format!("crash-looping: {}", crash_looping.join(", ")),
        );
    }
    if states.iter().any(|(_, s)| *s == WorkloadState::Failed) {
        return (
            EvidenceStatus::Failed,
            targets,
            format!("rollout failed: {}", names(WorkloadState::Failed)),
        );
    }
    if states
        .iter()
        .any(|(_, s)| matches!(s, WorkloadState::Progressing | WorkloadState::OtherVersion))
    {
        let waiting = states
            .iter()
            .filter(|(_, s)| matches!(s, WorkloadState::Progressing | WorkloadState::OtherVersion))
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return (
            EvidenceStatus::Pending,
            targets,
            format!("rolling out {version}: {waiting}"),
        );
    }
    if done < total {
        return (
            EvidenceStatus::Partial,
            targets,
            format!(
                "{done}/{total} workloads ready at {version}; not ready: {}",
                names(WorkloadState::NotReady)
            ),
        );
    }
    (
        EvidenceStatus::Complete,
        targets,
        format!("{done}/{total} workloads rolled out at {version}, {restarts} restarts"),
    )
}

/// Reads the workloads of `scope` and whether they run `version`.
/// When `version` began rolling out in a scope: the creation of its first pod still there.
pub fn rollout_started(pods: &[Pod], version: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    pods.iter()
        .filter(|p| {
            let template = PodTemplateSpec {
                metadata: Some(p.metadata.clone()),
                spec: p.spec.clone(),
            };
            runs_version(&template, version)
        })
        .filter_map(|p| crate::api::common::created_at(&p.metadata))
        .min()
}

/// The workloads of a scope at `version`: status, targets, summary, and when the version began
/// rolling out there.
pub async fn fetch(
    client: &Client,
    scope: &WorkloadScope,
    version: &str,
) -> Result<
    (
        EvidenceStatus,
        Targets,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
    FetchError,
> {
    let params = ListParams::default().labels(&scope.selector);
    let mut states = Vec::new();
    let mut pods = Vec::new();
    for ns in &scope.namespaces {
        for d in Api::<Deployment>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(api_error)?
        {
            states.push((
                format!("Deployment/{}", d.metadata.name.clone().unwrap_or_default()),
                deployment_state(&d, version),
            ));
        }
        for s in Api::<StatefulSet>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(api_error)?
        {
            states.push((
                format!(
                    "StatefulSet/{}",
                    s.metadata.name.clone().unwrap_or_default()
                ),
                statefulset_state(&s, version),
            ));
        }
        for d in Api::<DaemonSet>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(api_error)?
        {
            states.push((
                format!("DaemonSet/{}", d.metadata.name.clone().unwrap_or_default()),
                daemonset_state(&d, version),
            ));
        }
        pods.extend(
            Api::<Pod>::namespaced(client.clone(), ns)
                .list(&params)
                .await
                .map_err(api_error)?
                .items,
        );
    }
    let (looping, restarts) = crash_loops(&pods);
    let (status, targets, summary) = summarise(&states, &looping, restarts, version);
    Ok((status, targets, summary, rollout_started(&pods, version)))
}

/// The first retained revision that still runs `version` (pure): `(kind/name, revision)`.
pub fn retained<'a>(
    templates: impl IntoIterator<Item = (String, Option<String>, Option<&'a PodTemplateSpec>)>,
    version: &str,
) -> Option<(String, Option<String>)> {
    templates
        .into_iter()
        .find(|(_, _, t)| t.is_some_and(|t| runs_version(t, version)))
        .map(|(name, revision, _)| (name, revision))
}

/// Lists the ReplicaSets and ControllerRevisions of a scope and looks for the previous version.
pub async fn fetch_retained(
    client: &Client,
    scope: &WorkloadScope,
    version: &str,
) -> Result<(EvidenceStatus, String), FetchError> {
    let params = ListParams::default().labels(&scope.selector);
    let mut candidates: Vec<(String, Option<String>, Option<PodTemplateSpec>)> = Vec::new();
    let revision_of = |m: &kube::api::ObjectMeta| {
        m.annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .cloned()
    };
    for ns in &scope.namespaces {
        for rs in Api::<ReplicaSet>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(api_error)?
        {
            let name = format!(
                "ReplicaSet {ns}/{}",
                rs.metadata.name.clone().unwrap_or_default()
            );
            candidates.push((name, revision_of(&rs.metadata), rs.spec.template));
        }
        for cr in Api::<ControllerRevision>::namespaced(client.clone(), ns)
            .list(&params)
            .await
            .map_err(api_error)?
        {
            let template = cr
                .data
                .0
                .pointer("/spec/template")
                .cloned()
                .and_then(|t| serde_json::from_value(t).ok());
            let name = format!(
                "ControllerRevision {ns}/{}",
                cr.metadata.name.clone().unwrap_or_default()
            );
            candidates.push((name, cr.revision.map(|r| r.to_string()), template));
        }
    }
    let found = retained(
        candidates
            .iter()
            .map(|(n, r, t)| (n.clone(), r.clone(), t.as_ref())),
        version,
    );
    Ok(match found {
        Some((name, revision)) => (
            EvidenceStatus::Complete,
            match revision {
                Some(r) => format!("{name} (revision {r}) still runs {version}"),
                None => format!("{name} still runs {version}"),
            },
        ),
        None => (
            EvidenceStatus::Failed,
            format!(
                "no ReplicaSet or ControllerRevision in scope runs {version} any more ({} checked; revisionHistoryLimit may have pruned it)",
                candidates.len()
            ),
        ),
    })
}

/// The `Kubernetes` connector type.
pub struct Kubernetes;

static ABOUT: About = About::fetched(
    "Workloads, pods and smoke-test Jobs in a release's scope (rollout, readiness, crash loops, retained revisions, Jobs at its version)",
    Answers::Workloads,
    Some("workload-health"),
);

impl ConnectorKind for Kubernetes {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn evidence_queries(&self, release: &Release) -> Vec<Query> {
        vec![Query::Workloads {
            scope: workload_scope(release),
            version: release.spec.version.clone(),
        }]
    }

    fn rollback_queries(&self, release: &Release, previous: &RollbackNeed) -> Vec<Query> {
        vec![Query::RollbackWorkloads {
            scope: workload_scope(release),
            version: previous.version.clone(),
        }]
    }

    /// The release's Jobs, when a policy reads `jobs`; those that finished before the pipeline
    /// said the release started (else before the Release was made) describe an earlier attempt.
    fn fixed_source_queries(&self, asked: &Asked<'_>) -> Vec<Query> {
        if !asked.needs.sources.contains(crate::engine::JOBS_SOURCE) {
            return Vec::new();
        }
        let release = asked.release;
        vec![Query::Jobs {
            scope: workload_scope(release),
            version: release.spec.version.clone(),
            since: release
                .spec
                .started_at
                .or_else(|| crate::api::common::created_at(&release.metadata)),
        }]
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            match query {
                Query::Workloads { scope, version } => {
                    let namespaces = scope.namespaces.iter().map(String::as_str);
                    if let Some(refused) = outside_allowed(upstream.connector, namespaces) {
                        return Ok(refused);
                    }
                    let (status, targets, summary, started) =
                        fetch(upstream.cluster()?, scope, version).await?;
                    let mut answer = Answer::new(status, summary).with_targets(targets);
                    answer.rollout_started_at = started;
                    Ok(answer)
                }
                Query::Jobs {
                    scope,
                    version,
                    since,
                } => {
                    let namespaces = scope.namespaces.iter().map(String::as_str);
                    if let Some(refused) = outside_allowed(upstream.connector, namespaces) {
                        return Ok(refused);
                    }
                    let (status, targets, summary) =
                        super::jobs::fetch(upstream.cluster()?, scope, version, *since).await?;
                    Ok(Answer::new(status, summary).with_targets(targets))
                }
                Query::RollbackWorkloads { scope, version } => {
                    let namespaces = scope.namespaces.iter().map(String::as_str);
                    if let Some(refused) = outside_allowed(upstream.connector, namespaces) {
                        return Ok(refused);
                    }
                    let (status, summary) =
                        fetch_retained(upstream.cluster()?, scope, version).await?;
                    Ok(Answer::new(status, summary))
                }
                other => Err(not_asked(other)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(image: &str, created: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "creationTimestamp": created},
            "spec": {"containers": [{"name": "app", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn the_rollout_starts_with_the_versions_first_pod() {
        let pods = [
            pod("shop/web:1.0.0", "2026-11-25T10:00:00Z"),
            pod("shop/web:1.1.0", "2026-11-25T13:05:00Z"),
            pod("shop/web:1.1.0", "2026-11-25T13:00:00Z"),
        ];
        assert_eq!(
            rollout_started(&pods, "1.1.0").map(|t| t.to_rfc3339()),
            Some("2026-11-25T13:00:00+00:00".to_string())
        );
        assert_eq!(rollout_started(&pods, "2.0.0"), None);
    }
}
