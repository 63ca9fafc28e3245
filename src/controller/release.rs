//! The Release reconciler: dereference → gather evidence → evaluate (pure) → apply.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use serde_json::json;
use tracing::{info, warn};

use crate::api::{API_VERSION, Decision, Keyed, ObjectKey, Release, ReleasePassport, namespace_of};
use crate::api::{Condition, ConditionStatus, ConditionType};
use crate::decide::{self, passport_for};
use crate::engine::{self, conditions};

use super::apply;
use super::context::Context;
use super::error::{Error, Write};
use super::lookup::CacheLookup;
use crate::text::clip_bytes;

const KIND: &str = "Release";

/// What one reconcile did, for tests and logs.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    pub writes: u32,
    pub requeue_at: Option<DateTime<Utc>>,
}

/// The controller entry point: invalid objects stall and wait; valid ones are decided. One span
/// per reconcile, so every line it logs names the Release.
#[tracing::instrument(name = "reconcile", skip_all, fields(kind = KIND, object = %guard.key()))]
pub async fn reconcile(
    guard: Arc<DeserializeGuard<Release>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let _timer = ctx.metrics.time(KIND);
    ctx.stores.wait_ready().await;
    let result = match &guard.0 {
        Ok(release) => reconcile_release(release, &ctx)
            .await
            .map(|o| action(o.requeue_at, (ctx.clock)())),
        Err(invalid) => stall_invalid(invalid, &ctx)
            .await
            .map(|()| Action::await_change()),
    };
    match &result {
        Ok(_) => {
            ctx.metrics.reconciled(KIND, "success");
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&guard.key());
            }
        }
        Err(e) => {
            ctx.metrics.reconciled(KIND, "error");
            ctx.metrics.error(KIND, e.step(), e.category());
        }
    }
    result
}

/// Requeue at the earliest moment the decision can change by itself; otherwise wait for a change.
fn action(requeue_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Action {
    match requeue_at {
        Some(at) => Action::requeue(
            (at - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_secs(1)),
        ),
        None => Action::await_change(),
    }
}

/// Decides one release and writes what changed.
pub async fn reconcile_release(release: &Release, ctx: &Context) -> Result<Outcome, Error> {
    let now = (ctx.clock)();
    let inputs = decide::gather(&CacheLookup(ctx), release, now);
    let fresher = caught_up(ctx, release, inputs.passport.as_deref());
    let current = fresher.as_ref().or(inputs.passport.as_deref());
    let evaluation = decide::evaluate(
        release,
        &inputs,
        current.and_then(|p| p.status.as_ref()),
        now,
    );
    let decision = evaluation.status.decision.unwrap_or(Decision::Hold);
    let desired = passport_for(release, &evaluation);
    // The object must exist before its status; the status, the Release mirror and the Event
    // are independent, so they go out together: two round trips on the critical path.
    let mut writes = apply::passport_object(ctx, current, &desired).await?;
    let release_status = apply::release_status(release, &desired);
    let previous = current
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.decision);
    // The cache can lag our own last write (a reconcile triggered by it sees the old status):
    // what this process last decided settles it, so a change is announced once.
    let key = release.key();
    let (remembered, counts) = ctx.decisions.record(&key, decision);
    ctx.metrics.set_decisions(&counts);
    let changed = previous != Some(decision) && remembered != Some(decision);
    let (status_writes, mirror_writes, ()) = tokio::join!(
        apply::passport_status(ctx, current, &desired),
        apply::release(ctx, release, &release_status),
        async {
            if changed {
                announce(ctx, release, &desired, &evaluation, previous, decision).await;
            }
        }
    );
    writes += status_writes? + mirror_writes?;

    let watch_failed = |s: Option<&crate::api::ReleasePassportStatus>| {
        s.and_then(|s| s.watch.as_ref())
            .is_some_and(|w| w.phase == crate::api::passport::WatchPhase::Failed)
    };
    if watch_failed(Some(&evaluation.status))
        && !watch_failed(current.and_then(|p| p.status.as_ref()))
    {
        let message = evaluation
            .status
            .watch
            .as_ref()
            .and_then(|w| w.message.clone())
            .unwrap_or_default();
        warn!(release = %key, "post-deploy watch failed: {message}");
        publish(
            ctx,
            release,
            Event {
                type_: EventType::Warning,
                reason: "WatchFailed".into(),
                note: Some(clip_bytes(&message, 1000).into_owned()),
                action: "Watch".into(),
                secondary: Some(desired.object_ref(&())),
            },
        )
        .await;
    }
    if let Some(stalled) = evaluation
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Stalled && c.status == ConditionStatus::True)
    {
        warn!(release = %key, reason = %stalled.reason, "stalled: {}", stalled.message);
    }
    Ok(Outcome {
        decision,
        writes,
        requeue_at: evaluation.next_review,
    })
}

/// Logs, counts and publishes a decision change.
async fn announce(
    ctx: &Context,
    release: &Release,
    desired: &crate::api::ReleasePassport,
    evaluation: &engine::Evaluation,
    previous: Option<Decision>,
    decision: Decision,
) {
    let now = (ctx.clock)();
    ctx.metrics.delivery.decided(desired);
    ctx.metrics
        .decision_changes
        .get_or_create(&crate::metrics::DecisionLabels {
            decision: decision.as_str(),
        })
        .inc();
    for e in &evaluation.status.evidence {
        if let Some(at) = e.observed_at {
            ctx.metrics
                .evidence_age
                .observe((now - at).num_seconds().max(0) as f64);
        }
    }
    let key = release.key();
    let headline = evaluation
        .status
        .reasons
        .first()
        .cloned()
        .unwrap_or_else(|| "every enforced rule passes".into());
    info!(release = %key, passport = %key, from = ?previous, to = %decision, "decision changed: {headline}");
    let note = match previous {
        Some(p) => format!("{p} → {decision}: {headline}"),
        None => format!("{decision}: {headline}"),
    };
    publish(
        ctx,
        release,
        Event {
            type_: if decision == Decision::Block {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: format!("Decision{decision}"),
            note: Some(clip_bytes(&note, 1000).into_owned()),
            action: "Decide".into(),
            secondary: Some(desired.object_ref(&())),
        },
    )
    .await;
}

/// The passport as this process last wrote it, if the cache has not caught up with that write
/// yet (a reconcile triggered by our own write), else the cached one: the engine then continues
/// from what it decided, not from an older status, and an unchanged decision writes nothing.
fn caught_up(
    ctx: &Context,
    release: &Release,
    cached: Option<&ReleasePassport>,
) -> Option<ReleasePassport> {
    let ours: ReleasePassport = serde_json::from_value(ctx.written.newer(
        Write::PassportStatus.resource(),
        namespace_of(&release.metadata),
        release.metadata.name.as_deref().unwrap_or_default(),
        cached.and_then(|c| c.metadata.resource_version.as_deref()),
    )?)
    .ok()?;
    // The passport of this Release, not of an earlier one of the same name.
    let owner = ours.metadata.owner_references.as_ref()?.first()?;
    (Some(&owner.uid) == release.metadata.uid.as_ref()).then_some(ours)
}

/// A Release that does not deserialise: say so on its status and in an Event, then wait for a fix.
async fn stall_invalid(
    invalid: &kube::core::error_boundary::InvalidObject,
    ctx: &Context,
) -> Result<(), Error> {
    let ns = namespace_of(&invalid.metadata);
    let Some(name) = invalid.metadata.name.as_deref() else {
        return Ok(());
    };
    // Dynamic, because the stored object is exactly what does not deserialise into a Release.
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &ApiResource::erase::<Release>(&()));
    let message = format!(
        "spec is invalid: {}",
        invalid_field(&api, name, invalid).await
    );
    warn!(release = %ObjectKey::new(ns, name), "invalid Release: {message}");
    let now = (ctx.clock)();
    let condition = |type_, holds| Condition {
        type_,
        status: ConditionStatus::of(holds),
        reason: conditions::REASON_INVALID_RELEASE.into(),
        message: message.clone(),
        last_transition_time: now,
        observed_generation: invalid.metadata.generation,
    };
    let status = json!({
        "observedGeneration": invalid.metadata.generation,
        "conditions": [
            condition(ConditionType::Stalled, true),
            condition(ConditionType::Ready, false),
        ]
    });
    // A merge patch, not server-side apply: apply must type the stored object against the
    // schema first, and the API server answers 500 for one that no longer fits it (written
    // under an older CRD) — exactly the objects that end up here.
    // The API server validates the whole object on a status write too, so one whose spec breaks
    // the schema's rules takes no write at all until someone fixes it: then the Event says why.
    match api
        .patch_status(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({ "status": status })),
        )
        .await
    {
        Ok(_) => ctx.metrics.wrote(Write::ReleaseStatus.resource()),
        Err(kube::Error::Api(refused)) if refused.code == 422 => warn!(
            release = %ObjectKey::new(ns, name),
            "the API server takes no write to this Release until its spec is fixed: {}",
            refused.message
        ),
        Err(e) => return Err(e.into()),
    }
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(API_VERSION.into()),
        kind: Some("Release".into()),
        name: Some(name.into()),
        namespace: Some(ns.into()),
        uid: invalid.metadata.uid.clone(),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: conditions::REASON_INVALID_RELEASE.into(),
        note: Some(clip_bytes(&message, 1000).into_owned()),
        action: "Validate".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        warn!("could not publish an Event: {e}");
    }
    Ok(())
}

/// What is wrong with a stored Release, naming the field (`spec.version: invalid type: …`): the
/// watch's error says only what, so the object is read once more and deserialised with its path.
async fn invalid_field(
    api: &Api<DynamicObject>,
    name: &str,
    invalid: &kube::core::error_boundary::InvalidObject,
) -> String {
    let raw = match api.get_opt(name).await {
        Ok(Some(object)) => serde_json::to_value(object).ok(),
        _ => None,
    };
    raw.and_then(|v| serde_path_to_error::deserialize::<_, Release>(v).err())
        .map(|e| format!("{}: {}", e.path(), e.inner()))
        .unwrap_or_else(|| invalid.error.clone())
}

async fn publish(ctx: &Context, release: &Release, event: Event) {
    if let Err(e) = ctx.recorder.publish(&event, &release.object_ref(&())).await {
        warn!(release = %release.key(), "could not publish an Event: {e}");
    } else {
        ctx.metrics.wrote("events");
    }
}

/// Transient failures back off exponentially (1s … 5m) with jitter, per object.
pub fn error_policy(
    guard: Arc<DeserializeGuard<Release>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = guard.key();
    let attempt = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = super::retry::backoff(attempt, &key);
    warn!(release = %key, category = error.category(), attempt, ?delay, "reconcile failed: {error}");
    Action::requeue(delay)
}
