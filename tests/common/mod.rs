//! Builders shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, Utc};
use release_passport::api::passport::Targets;
use release_passport::api::{Approval, EvidenceStatus, GatePolicy, Release, Waiver};
use release_passport::engine::{self, CompiledPolicy, Evaluation, EvidenceItem, Input};

pub mod cluster;
pub mod controller;
pub mod demo;
pub mod fake_api;
pub mod gitops;
pub mod node;
pub mod peer;
pub mod world;

pub const NOW: &str = "2026-11-25T14:00:00Z";

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn now() -> DateTime<Utc> {
    t(NOW)
}

pub fn yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A production release of `service` in namespace `shop`, authored by bob.
pub fn release(name: &str, service: &str, environment: &str) -> Release {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: shop, generation: 3}}
spec:
  service: {service}
  version: 1.0.0
  environment: {environment}
  revision: {{commit: abc, author: bob}}
  scope:
    metricLabels: {{service: {service}}}
"
    ))
}

/// Gated policies of namespace `ns`: `production` releases need one approval that is not their
/// author's; `verify` releases need their GitOps application synced (`gitops-sync`).
pub fn gated_policies(ns: &str) -> String {
    format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: production, namespace: {ns}}}
spec:
  selector: {{environments: [production]}}
  rules:
  - name: approved
    approval: {{min: 1, excludeAuthor: true}}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: synced, namespace: {ns}}}
spec:
  selector: {{environments: [verify]}}
  rules:
  - name: gitops-synced
    evidence: {{source: gitops-sync, maxAge: 10m}}
"
    )
}

/// A policy in `shop`. `spec` is the YAML body of `spec`, indented by two spaces.
pub fn policy(name: &str, spec: &str) -> GatePolicy {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {{name: {name}, namespace: shop}}
spec:
{spec}"
    ))
}

/// An Enforce policy selecting everything with one rule given as YAML (indented by 4).
pub fn one_rule(rule: &str) -> GatePolicy {
    policy("p", &format!("  rules:\n  - name: r\n{rule}"))
}

pub fn item(source: &str, status: EvidenceStatus, minutes_ago: i64) -> EvidenceItem {
    EvidenceItem {
        observed_at: Some(now() - Duration::minutes(minutes_ago)),
        connector: Some("test".into()),
        ..EvidenceItem::new(source, status)
    }
}

pub fn with_targets(mut item: EvidenceItem, total: u32, passing: u32) -> EvidenceItem {
    item.targets = Some(Targets { total, passing });
    item
}

pub fn metric(query: &str, value: Option<f64>, minutes_ago: i64) -> EvidenceItem {
    EvidenceItem {
        query: Some(query.into()),
        value,
        ..item("m", EvidenceStatus::Complete, minutes_ago)
    }
}

/// A comparison's samples for `query`, read `minutes_ago`.
pub fn samples(query: &str, values: Vec<f64>, minutes_ago: i64) -> EvidenceItem {
    EvidenceItem {
        query: Some(query.into()),
        samples: values,
        ..item("m", EvidenceStatus::Complete, minutes_ago)
    }
}

pub fn approval(
    name: &str,
    release: &str,
    approver: &str,
    decision: &str,
    groups: &[&str],
) -> Approval {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Approval
metadata: {{name: {name}, namespace: shop}}
spec:
  releaseRef: {{name: {release}}}
  decision: {decision}
  approver: {approver}
  groups: [{}]
",
        groups.join(", ")
    ))
}

pub fn waiver(name: &str, release: &str, rules: &[&str], expires_at: &str) -> Waiver {
    yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Waiver
metadata: {{name: {name}, namespace: shop}}
spec:
  releaseRef: {{name: {release}}}
  rules: [{}]
  reason: known issue
  expiresAt: \"{expires_at}\"
  approver: alice
",
        rules.join(", ")
    ))
}

/// Everything one decision needs, owned.
#[derive(Clone, Debug)]
pub struct Case {
    pub release: Release,
    pub policies: Vec<GatePolicy>,
    pub approvals: Vec<Approval>,
    pub waivers: Vec<Waiver>,
    pub evidence: Vec<EvidenceItem>,
    pub now: DateTime<Utc>,
    /// The passport's status from the decision before.
    pub previous: Option<release_passport::api::ReleasePassportStatus>,
    /// The release `spec.previous` names, as the caller found it.
    pub previous_release: Option<release_passport::engine::PreviousRelease>,
}

impl Case {
    pub fn new(policies: Vec<GatePolicy>) -> Self {
        Self {
            release: release("rel", "checkout", "production"),
            policies,
            approvals: Vec::new(),
            waivers: Vec::new(),
            evidence: Vec::new(),
            now: now(),
            previous: None,
            previous_release: None,
        }
    }

    /// The release before ran `version`.
    pub fn after_version(mut self, version: &str) -> Self {
        self.previous_release = Some(release_passport::engine::PreviousRelease {
            name: "rel-before".into(),
            version: version.into(),
            revision: version.into(),
            decision: Some(release_passport::api::Decision::Allow),
        });
        self
    }

    pub fn evidence(mut self, items: Vec<EvidenceItem>) -> Self {
        self.evidence = items;
        self
    }

    pub fn approvals(mut self, approvals: Vec<Approval>) -> Self {
        self.approvals = approvals;
        self
    }

    pub fn waivers(mut self, waivers: Vec<Waiver>) -> Self {
        self.waivers = waivers;
        self
    }

    /// The same case decided again after `previous` was recorded.
    pub fn after(mut self, previous: release_passport::api::ReleasePassportStatus) -> Self {
        self.previous = Some(previous);
        self
    }

    /// The release started at `at` (`spec.startedAt`).
    pub fn started(mut self, at: &str) -> Self {
        self.release.spec.started_at = Some(t(at));
        self
    }

    pub fn at(mut self, now: &str) -> Self {
        self.now = t(now);
        self
    }

    pub fn decide(&self) -> Evaluation {
        let compiled: Vec<std::sync::Arc<CompiledPolicy>> = self
            .policies
            .iter()
            .map(|p| std::sync::Arc::new(engine::compile(p)))
            .collect();
        engine::evaluate(&Input {
            release: &self.release,
            policies: &compiled,
            approvals: &self.approvals,
            waivers: &self.waivers,
            evidence: &self.evidence,
            previous: self.previous.as_ref(),
            previous_release: self.previous_release.as_ref(),
            now: self.now,
            clock_skew: release_passport::engine::provenance::DEFAULT_CLOCK_SKEW,
        })
    }
}

/// Refreshes a connector that needs no credential and asserts it came out Healthy.
pub async fn refresh_healthy(
    hub: &release_passport::connectors::hub::Hub,
    connector: &release_passport::api::Connector,
    queries: &std::collections::BTreeSet<release_passport::connectors::query::Query>,
    at: DateTime<Utc>,
) {
    let refreshed = hub
        .refresh(
            connector,
            queries,
            &release_passport::connectors::hub::Credential::NotNeeded,
            at,
        )
        .await;
    assert_eq!(
        refreshed.status.health,
        Some(release_passport::api::ConnectorHealth::Healthy),
        "{:?}",
        refreshed.status.last_error
    );
}

/// A watch cache holding `connectors` alone, as the controller's would.
pub fn store_of(
    connectors: &[release_passport::api::Connector],
) -> kube::runtime::reflector::Store<release_passport::api::Connector> {
    use kube::runtime::watcher::Event;
    let (store, mut writer) = kube::runtime::reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for c in connectors {
        writer.apply_watcher_event(&Event::InitApply(c.clone()));
    }
    writer.apply_watcher_event(&Event::InitDone);
    store
}
