//! Value types shared by several kinds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// Whether a release may be promoted.
// (`//`, not `///`: on Option fields schemars would show this instead of the field's doc.)
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Decision {
    /// Every enforced rule passed (or was waived): promotion may proceed.
    Allow,
    /// Something is not known yet (missing, stale or pending evidence, approvals outstanding,
    /// a freeze window): wait.
    Hold,
    /// Something is known to be wrong (failing evidence, a rejection, an invalid policy): do not promote.
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "Allow",
            Decision::Hold => "Hold",
            Decision::Block => "Block",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one piece of evidence at the time of the decision.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum EvidenceStatus {
    /// Fresh and passing.
    Complete,
    /// Some targets pass; others have not reported yet.
    Partial,
    /// The last observation is older than the rule's `maxAge`.
    Stale,
    /// Never observed, no connector, or the connector needs credentials.
    Missing,
    /// Observed failing.
    Failed,
    /// A check is still running (rollout progressing, metric window not yet elapsed).
    Pending,
}

impl EvidenceStatus {
    pub const ALL: [EvidenceStatus; 6] = [
        EvidenceStatus::Complete,
        EvidenceStatus::Partial,
        EvidenceStatus::Stale,
        EvidenceStatus::Missing,
        EvidenceStatus::Failed,
        EvidenceStatus::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceStatus::Complete => "Complete",
            EvidenceStatus::Partial => "Partial",
            EvidenceStatus::Stale => "Stale",
            EvidenceStatus::Missing => "Missing",
            EvidenceStatus::Failed => "Failed",
            EvidenceStatus::Pending => "Pending",
        }
    }
}

impl std::fmt::Display for EvidenceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// What a rule does when its condition is met (`onMissing`, `onFailed`, `onStale`, ...).
// No `///` here: on an Option field, schemars would show this text instead of the field's own.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Outcome {
    /// Treat the rule as passed.
    Pass,
    /// Hold the release.
    Hold,
    /// Block the release.
    Block,
}

/// The condition types kstatus reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConditionType {
    Ready,
    Reconciling,
    Stalled,
    /// A type this version does not know (written by a newer one during a rollout).
    #[serde(other)]
    Other,
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[serde(other)]
    Unknown,
}

impl ConditionStatus {
    pub fn of(holds: bool) -> Self {
        if holds {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

impl std::fmt::Display for ConditionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A standard Kubernetes condition (`metav1.Condition`), kstatus-compatible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub type_: ConditionType,
    /// `True`, `False` or `Unknown`.
    #[schemars(with = "String")]
    pub status: ConditionStatus,
    /// A CamelCase reason for the last transition.
    pub reason: String,
    /// A human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// When the condition last changed status.
    pub last_transition_time: DateTime<Utc>,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A reference to a Release in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ReleaseRef {
    /// Name of the Release.
    pub name: String,
}

/// Which Releases something applies to. Every list that is set must match; an empty list
/// matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSelector {
    /// Environments (the Release's `spec.environment`) matched; empty matches all.
    /// At most 64 items of at most 63 characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub environments: Vec<String>,
    /// Services (the Release's `spec.service`) matched; empty matches all.
    /// At most 64 items of at most 63 characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub services: Vec<String>,
    /// Labels the Release's metadata must carry, all of them.
    /// At most 32 entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub match_labels: BTreeMap<String, String>,
}

impl ReleaseSelector {
    /// Whether a release with this service, environment and labels is selected.
    pub fn matches(
        &self,
        service: &str,
        environment: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let listed =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        listed(&self.environments, environment)
            && listed(&self.services, service)
            && self
                .match_labels
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    }
}

/// When the API server created an object (to the second), if it has been stored.
pub fn created_at(meta: &kube::api::ObjectMeta) -> Option<DateTime<Utc>> {
    meta.creation_timestamp
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))
}

/// Seconds since the epoch of the creation, for ordering: an object not stored yet (just
/// decided) counts as the newest.
pub fn created_order(meta: &kube::api::ObjectMeta) -> i64 {
    created_at(meta).map_or(i64::MAX, |t| t.timestamp())
}
