//! The Release and GatePolicy reconcilers against a stateful in-memory Kubernetes API
//! (`common::fake_api`): server-side apply, status subresources, resourceVersion conflicts, and
//! every write counted.

use crate::common::world;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use kube::api::{Api, PostParams};
use kube::core::DeserializeGuard;
use release_passport::api::{Approval, Decision, GatePolicy, Release, Waiver};
use release_passport::api::{ConditionStatus, ConditionType};
use release_passport::controller::{mappers, policy, release};
use serde::de::DeserializeOwned;
use world::{World, t};

fn yaml<T: DeserializeOwned>(text: &str) -> T {
    serde_yaml_ng::from_str(text).unwrap()
}

fn release_obj(name: &str, env: &str, annotations: &str) -> Release {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata:
  name: {name}
  namespace: shop
  uid: uid-{name}
  generation: 1
  annotations: {{{annotations}}}
spec: {{service: checkout, version: 1.0.0, environment: {env}, revision: {{author: bob}}}}
"
    ))
}

fn policy_obj(name: &str, rules: &str) -> GatePolicy {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: {name}, namespace: shop, generation: 1}}
spec:
  selector: {{environments: [production]}}
  rules:
{rules}"
    ))
}

fn approval_obj(name: &str, release: &str, approver: &str, decision: &str) -> Approval {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Approval
metadata: {{name: {name}, namespace: shop}}
spec: {{releaseRef: {{name: {release}}}, decision: {decision}, approver: {approver}}}
"
    ))
}

const APPROVAL_RULE: &str = "  - name: approved\n    approval: {min: 1, excludeAuthor: true}\n";

#[tokio::test]
async fn create_decides_and_a_noop_reconcile_writes_nothing() {
    let w = World::new(
        vec![release_obj("web", "production", "")],
        vec![policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Hold);
    assert_eq!(
        out.writes, 3,
        "passport object, passport status, release status"
    );
    let passport = w.passport("web").await.unwrap();
    let status = passport.status.clone().unwrap();
    assert_eq!(status.decision, Some(Decision::Hold));
    assert_eq!(
        status.reasons,
        vec!["prod/approved: 0 of 1 approvals, author bob excluded".to_string()]
    );
    let owner = &passport.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("Release", "web", "uid-web")
    );
    assert_eq!(
        owner.controller,
        Some(true),
        "deleting the Release garbage-collects its passport"
    );
    let rel = w.release("web");
    assert_eq!(rel.status.as_ref().unwrap().decision, Some(Decision::Hold));
    assert_eq!(
        rel.status.as_ref().unwrap().passport.as_deref(),
        Some("web")
    );

    // Nothing changed: not a single write, even later in time.
    let before = w.writes.get();
    w.set_now("2026-11-25T15:00:00Z");
    let again = w.reconcile("web").await.unwrap();
    assert_eq!(again.writes, 0);
    assert_eq!(
        w.writes.get(),
        before,
        "a no-op reconcile makes zero write requests"
    );
    assert_eq!(
        again.requeue_at, None,
        "nothing time-bound: wait for a change, no polling"
    );
}

#[tokio::test]
async fn an_approval_moves_hold_to_allow_with_one_passport_write_and_an_event() {
    let w = World::new(
        vec![release_obj("web", "production", "")],
        vec![policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    w.reconcile("web").await.unwrap();
    w.apply(&approval_obj("web-alice", "web", "alice", "Approve"))
        .await;
    let before = w.writes.get();
    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Allow);
    assert_eq!(
        out.writes, 2,
        "the passport status and the release status mirror"
    );
    assert!(w.writes.get() - before >= 2);
    let status = w.passport("web").await.unwrap().status.unwrap();
    assert_eq!(status.timeline.len(), 2, "Hold then Allow");
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Ready)
        .unwrap();
    assert_eq!(ready.status, ConditionStatus::True);
    let events = w.events().await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("DecisionAllow")
                && e.note.as_deref().unwrap_or("").starts_with("Hold → Allow")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_policy_edit_changes_the_decision() {
    let w = World::new(
        vec![release_obj("web", "production", "")],
        vec![policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    w.apply(&approval_obj("web-alice", "web", "alice", "Approve"))
        .await;
    assert_eq!(w.reconcile("web").await.unwrap().decision, Decision::Allow);
    w.apply(&policy_obj(
        "prod",
        "  - name: approved\n    approval: {min: 2}\n",
    ))
    .await;
    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Hold);
    let status = w.passport("web").await.unwrap().status.unwrap();
    assert_eq!(
        status.reasons,
        vec!["prod/approved: 1 of 2 approvals".to_string()]
    );
}

#[tokio::test]
async fn a_waiver_expiry_blocks_at_the_expiry_moment() {
    let failed = r#"evidence.releasepassport.io/pen-test: '{"status":"Failed","by":"alice","summary":"critical finding"}'"#;
    let w = World::new(
        vec![release_obj("web", "production", failed)],
        vec![policy_obj(
            "prod",
            "  - name: pen-test\n    evidence: {source: pen-test}\n",
        )],
    )
    .await;
    assert_eq!(w.reconcile("web").await.unwrap().decision, Decision::Block);
    let waiver: Waiver = yaml(
        "apiVersion: releasepassport.io/v1alpha1
kind: Waiver
metadata: {name: accept-risk, namespace: shop}
spec: {releaseRef: {name: web}, rules: [pen-test], reason: fix ships tomorrow, expiresAt: '2026-11-25T14:10:00Z', approver: alice}
",
    );
    w.apply(&waiver).await;
    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Allow);
    assert_eq!(
        out.requeue_at,
        Some(t("2026-11-25T14:10:00Z")),
        "requeued for the expiry, not polled"
    );
    w.set_now("2026-11-25T14:10:00Z");
    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Block);
    let status = w.passport("web").await.unwrap().status.unwrap();
    assert!(!status.waivers[0].active);
}

#[tokio::test]
async fn an_invalid_policy_stalls_and_blocks_only_what_it_selects() {
    let bad = policy_obj(
        "broken",
        "  - name: odd\n    expression: {cel: \"evidence[\"}\n",
    );
    let w = World::new(
        vec![
            release_obj("web", "production", ""),
            release_obj("web-staging", "staging", ""),
        ],
        vec![bad, policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    let mut staging_policy =
        policy_obj("staging", "  - name: ok\n    expression: {cel: \"true\"}\n");
    staging_policy.spec.selector.environments = vec!["staging".into()];
    w.apply(&staging_policy).await;

    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Block);
    let status = w.passport("web").await.unwrap().status.unwrap();
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Stalled)
        .unwrap();
    assert_eq!(
        (stalled.status, stalled.reason.as_str()),
        (ConditionStatus::True, "InvalidPolicy")
    );
    assert_eq!(
        w.reconcile("web-staging").await.unwrap().decision,
        Decision::Allow,
        "other releases are unaffected"
    );

    // The policy itself reports why, and an Event names the field.
    let policy = Api::<GatePolicy>::namespaced(w.client.clone(), "shop")
        .get("broken")
        .await
        .unwrap();
    policy::reconcile(Arc::new(DeserializeGuard(Ok(policy))), Arc::clone(&w.ctx))
        .await
        .unwrap();
    let policy = Api::<GatePolicy>::namespaced(w.client.clone(), "shop")
        .get("broken")
        .await
        .unwrap();
    let status = policy.status.unwrap();
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Stalled)
        .unwrap();
    assert_eq!(stalled.status, ConditionStatus::True);
    assert!(
        stalled.message.contains("spec.rules[0].expression.cel"),
        "{}",
        stalled.message
    );
    assert_eq!(status.matched_releases, Some(1));
    let events = w.events().await;
    assert!(events.iter().any(|e| {
        e.reason.as_deref() == Some("InvalidPolicy")
            && e.note
                .as_deref()
                .unwrap_or("")
                .contains("spec.rules[0].expression.cel")
    }));
    // A valid policy's status says so and is written once.
    let good = Api::<GatePolicy>::namespaced(w.client.clone(), "shop")
        .get("prod")
        .await
        .unwrap();
    policy::reconcile(Arc::new(DeserializeGuard(Ok(good))), Arc::clone(&w.ctx))
        .await
        .unwrap();
    let good = Api::<GatePolicy>::namespaced(w.client.clone(), "shop")
        .get("prod")
        .await
        .unwrap();
    let before = w.writes.get();
    policy::reconcile(Arc::new(DeserializeGuard(Ok(good))), Arc::clone(&w.ctx))
        .await
        .unwrap();
    assert_eq!(
        w.writes.get(),
        before,
        "an unchanged policy status is not rewritten"
    );
}

#[tokio::test]
async fn a_conflict_is_retried_with_backoff() {
    let w = World::new(
        vec![release_obj("web", "production", "")],
        vec![policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    w.writes.conflicts_left.store(1, Ordering::SeqCst);
    let guard = Arc::new(DeserializeGuard(Ok(w.release("web"))));
    let err = release::reconcile(Arc::clone(&guard), Arc::clone(&w.ctx))
        .await
        .unwrap_err();
    assert_eq!(err.category(), "conflict");
    let action = release::error_policy(Arc::clone(&guard), &err, Arc::clone(&w.ctx));
    assert!(
        format!("{action:?}").contains("requeue_after: Some("),
        "{action:?}"
    );
    w.sync().await;
    let out = w.reconcile("web").await.unwrap();
    assert_eq!(out.decision, Decision::Hold);
    assert!(
        w.passport("web").await.unwrap().status.is_some(),
        "the retry wrote the status"
    );
}

#[tokio::test]
async fn an_undeserialisable_release_stalls_without_stopping_others() {
    let w = World::new(
        vec![release_obj("web", "production", "")],
        vec![policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    let broken = serde_json::json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
        "metadata": {"name": "broken", "namespace": "shop"},
        "spec": {"service": "web", "environment": "production"}
    });
    Api::<kube::api::DynamicObject>::namespaced_with(
        w.client.clone(),
        "shop",
        &kube::api::ApiResource::erase::<Release>(&()),
    )
    .create(
        &PostParams::default(),
        &serde_json::from_value(broken).unwrap(),
    )
    .await
    .unwrap();
    w.sync().await;
    let guard = w
        .ctx
        .stores
        .releases
        .get(&kube::runtime::reflector::ObjectRef::new("broken").within("shop"))
        .unwrap();
    assert!(guard.0.is_err());
    release::reconcile(guard, Arc::clone(&w.ctx)).await.unwrap();
    let raw = Api::<kube::api::DynamicObject>::namespaced_with(
        w.client.clone(),
        "shop",
        &kube::api::ApiResource::erase::<Release>(&()),
    )
    .get("broken")
    .await
    .unwrap();
    let conditions = raw.data["status"]["conditions"].as_array().unwrap().clone();
    let stalled = conditions.iter().find(|c| c["type"] == "Stalled").unwrap();
    assert_eq!(stalled["status"], "True");
    let message = stalled["message"].as_str().unwrap().to_lowercase();
    assert!(
        message.contains("missing field") && message.contains("version"),
        "{stalled}"
    );
    assert!(
        w.events()
            .await
            .iter()
            .any(|e| e.reason.as_deref() == Some("InvalidRelease"))
    );
    assert_eq!(
        w.reconcile("web").await.unwrap().decision,
        Decision::Hold,
        "the valid release is still decided"
    );
}

/// A Release write reconciles the policies whose count it can move, not every policy of the
/// namespace: the ones that select it, and the ones its passport says decided it (it may have
/// just left them).
#[tokio::test]
async fn a_release_change_touches_only_the_policies_that_count_it() {
    let staging: GatePolicy = yaml(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {name: staging, namespace: shop, generation: 1}
spec:
  selector: {environments: [staging]}
  rules: [{name: open, expression: {cel: 'true'}}]
",
    );
    let w = World::new(
        vec![release_obj("web", "production", "")],
        vec![policy_obj("prod", APPROVAL_RULE), staging],
    )
    .await;
    let touched = |release: Release| {
        mappers::policies_of(&w.ctx.stores, &DeserializeGuard(Ok(release)))
            .into_iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(touched(w.release("web")), ["prod"]);
    w.reconcile("web").await.unwrap();
    w.sync().await;
    let mut moved = w.release("web");
    moved.spec.environment = "staging".into();
    assert_eq!(
        touched(moved),
        ["prod", "staging"],
        "the policy it joined, and the one that decided it before"
    );
}

/// Retention against the API: the oldest passports beyond the per-target limit are folded into
/// the rollups ConfigMap and their Releases deleted; a second pass with nothing expired makes
/// no API call; the rollups still count the deleted release.
#[tokio::test]
async fn retention_folds_old_passports_into_rollups_and_deletes_their_releases() {
    use release_passport::cluster::history;
    use release_passport::controller::retention::{self, Policy};
    let w = World::new(
        vec![
            release_obj("web-1", "production", ""),
            release_obj("web-2", "production", ""),
            release_obj("web-3", "production", ""),
        ],
        vec![policy_obj("prod", APPROVAL_RULE)],
    )
    .await;
    // Created one after another (the in-memory API stamps creationTimestamp itself; equal
    // stamps fall back to the name, so web-1 is the oldest).
    for name in ["web-1", "web-2", "web-3"] {
        w.reconcile(name).await.unwrap();
    }
    w.sync().await;
    w.set_now("2026-11-25T10:00:00Z");
    let shared = std::sync::RwLock::default();
    let policy = Policy {
        max_age: None,
        keep_per_target: 2,
    };
    let gone = retention::pass(&w.ctx, "release-passport", &policy, &shared)
        .await
        .unwrap();
    assert_eq!(gone, 1);
    w.sync().await;
    assert!(
        w.ctx.stores.release("shop", "web-1").is_none(),
        "the oldest release was deleted"
    );
    assert!(w.ctx.stores.release("shop", "web-3").is_some());
    let stored = history::read(&w.client, "release-passport").await.unwrap();
    let folded: u32 = stored
        .rollups
        .targets
        .iter()
        .find(|(k, _)| k.to_string() == "shop/checkout/production")
        .map(|(_, t)| &t.days)
        .unwrap()
        .values()
        .map(|d| d.releases)
        .sum();
    assert_eq!(folded, 1, "{stored:?}");
    assert_eq!(stored.folded.len(), 1, "remembered until it is gone");
    assert_eq!(
        shared.read().unwrap().targets.len(),
        1,
        "the console's rollups follow"
    );

    // Nothing more has expired: no API call at all.
    let before = w.writes.get();
    assert_eq!(
        retention::pass(&w.ctx, "release-passport", &policy, &shared)
            .await
            .unwrap(),
        0
    );
    assert_eq!(w.writes.get(), before);
}

/// The gate Service selects the leader's Pod by label: a replica clears the label before it may
/// lead, sets it on taking the Lease, and a Pod that is not there is no error.
#[tokio::test]
async fn the_leader_labels_its_own_pod_for_the_gate_service() {
    use k8s_openapi::api::core::v1::Pod;
    use release_passport::runtime::leader::{LEADER_LABEL, label_pod};
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "passport-0", "namespace": "release-passport", "labels": {"app.kubernetes.io/name": "release-passport"}}
    }))
    .unwrap();
    let client = crate::common::fake_api::FakeApi::new()
        .with_objects(vec![pod])
        .client();
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), "release-passport");
    let labels = |p: Pod| p.metadata.labels.unwrap_or_default();

    label_pod(&client, "release-passport", "passport-0", true).await;
    let led = labels(pods.get("passport-0").await.unwrap());
    assert_eq!(led.get(LEADER_LABEL).map(String::as_str), Some("true"));
    assert_eq!(led.len(), 2, "other labels kept: {led:?}");

    label_pod(&client, "release-passport", "passport-0", false).await;
    let standby = labels(pods.get("passport-0").await.unwrap());
    assert!(!standby.contains_key(LEADER_LABEL), "{standby:?}");
    assert_eq!(standby.len(), 1);

    label_pod(&client, "release-passport", "not-a-pod", true).await;
}
