//! The GatePolicy reconciler: validates each policy and reports, on its status, whether it is
//! valid and how many releases it selects. An invalid policy gets `Stalled` and an Event naming
//! the field; it still blocks what it selects (the Release reconciler sees it too).

use std::sync::Arc;

use kube::Resource;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use tracing::warn;

use crate::api::policy::GatePolicyStatus;
use crate::api::{ConditionStatus, ConditionType};
use crate::api::{GatePolicy, Keyed, namespace_of};
use crate::engine::compile::describe_errors;
use crate::engine::conditions::{self, Desired};

use super::context::Context;
use super::error::Error;

const KIND: &str = "GatePolicy";

/// How many unscoped releases a policy's status names.
const UNSCOPED_LISTED: usize = 20;

/// The status a policy should have (pure).
pub fn desired_status(
    policy: &GatePolicy,
    matched: u32,
    unscoped_releases: Vec<String>,
    errors: &[crate::engine::FieldError],
    now: chrono::DateTime<chrono::Utc>,
) -> GatePolicyStatus {
    let previous = policy
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let invalid = !errors.is_empty();
    let message = if invalid {
        describe_errors(errors)
    } else {
        String::new()
    };
    let desired = vec![
        Desired {
            type_: ConditionType::Ready,
            status: !invalid,
            reason: if invalid {
                conditions::REASON_INVALID_POLICY
            } else {
                conditions::REASON_VALID
            },
            message: message.clone(),
        },
        Desired {
            type_: ConditionType::Stalled,
            status: invalid,
            reason: if invalid {
                conditions::REASON_INVALID_POLICY
            } else {
                conditions::REASON_VALID
            },
            message,
        },
    ];
    GatePolicyStatus {
        matched_releases: Some(matched),
        unscoped_releases,
        rule_count: Some(u32::try_from(policy.spec.rules.len()).unwrap_or(u32::MAX)),
        observed_generation: policy.metadata.generation,
        conditions: conditions::merge(previous, desired, policy.metadata.generation, now),
    }
}

#[tracing::instrument(name = "reconcile", skip_all, fields(kind = KIND, object = %guard.key()))]
pub async fn reconcile(
    guard: Arc<DeserializeGuard<GatePolicy>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let _timer = ctx.metrics.time(KIND);
    ctx.stores.wait_ready().await;
    let result = match &guard.0 {
        Ok(policy) => reconcile_policy(policy, &ctx).await,
        // A policy that does not even deserialise cannot select anything; say why and wait.
        Err(invalid) => {
            warn!(policy = ?invalid.metadata.name, "invalid GatePolicy: {}", invalid.error);
            Ok(())
        }
    };
    match &result {
        Ok(()) => ctx.metrics.reconciled(KIND, "success"),
        Err(e) => {
            ctx.metrics.reconciled(KIND, "error");
            ctx.metrics.error(KIND, e.step(), e.category());
        }
    }
    result.map(|()| Action::await_change())
}

async fn reconcile_policy(policy: &GatePolicy, ctx: &Context) -> Result<(), Error> {
    let ns = namespace_of(&policy.metadata);
    let name = policy.metadata.name.as_deref().unwrap_or_default();
    let compiled = ctx.policies.get(policy);
    let releases = ctx.stores.valid_releases(Some(ns));
    let matched: Vec<_> = releases
        .iter()
        .filter(|r| crate::engine::policy_applies(policy, r))
        .collect();
    let mut unscoped: Vec<String> = matched
        .iter()
        .filter(|r| crate::engine::needs::unscoped(&compiled, r))
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    unscoped.sort();
    unscoped.truncate(UNSCOPED_LISTED);
    let status = desired_status(
        policy,
        u32::try_from(matched.len()).unwrap_or(u32::MAX),
        unscoped,
        &compiled.errors,
        (ctx.clock)(),
    );
    if policy.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let became_invalid = !compiled.errors.is_empty()
        && policy.status.as_ref().is_none_or(|s| {
            s.conditions
                .iter()
                .all(|c| !(c.type_ == ConditionType::Stalled && c.status == ConditionStatus::True))
                || s.observed_generation != policy.metadata.generation
        });
    let api: Api<GatePolicy> = Api::namespaced(ctx.client.clone(), ns);
    let value = serde_json::to_value(&status).map_err(|source| Error::Serialize {
        what: "policy status",
        source,
    })?;
    let seen = policy.metadata.resource_version.as_deref();
    let written = super::apply::apply_status(
        ctx,
        &api,
        (name, seen),
        super::error::Write::PolicyStatus,
        value,
    )
    .await?;
    // Announced with the status write that records it, so a lagging cache announces it once.
    if became_invalid && written > 0 {
        let event = Event {
            type_: EventType::Warning,
            reason: "InvalidPolicy".into(),
            note: Some(
                crate::text::clip_bytes(&describe_errors(&compiled.errors), 1000).into_owned(),
            ),
            action: "Validate".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &policy.object_ref(&())).await {
            warn!(policy = %name, "could not publish an Event: {e}");
        } else {
            ctx.metrics.wrote("events");
        }
    }
    Ok(())
}

pub fn error_policy(
    guard: Arc<DeserializeGuard<GatePolicy>>,
    error: &Error,
    _ctx: Arc<Context>,
) -> Action {
    let key = guard.key();
    warn!(policy = %key, category = error.category(), "reconcile failed: {error}");
    Action::requeue(super::retry::backoff(1, &key))
}
