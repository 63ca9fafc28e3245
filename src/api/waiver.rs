//! `Waiver`: a time-bound, reasoned exception to named rules.

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, ReleaseRef, ReleaseSelector};

/// Waives named rules for one Release (`releaseRef`) or for the releases a selector matches,
/// until `expiresAt`. A waived rule shows as Waived in the trace and neither holds nor blocks.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "Waiver",
    doc = "A time-bound, reasoned exception to named rules for one or more Releases.",
    namespaced,
    status = "WaiverStatus",
    category = "passport",
    printcolumn = r#"{"name":"Release","type":"string","jsonPath":".spec.releaseRef.name"}"#,
    printcolumn = r#"{"name":"Rules","type":"string","jsonPath":".spec.rules"}"#,
    printcolumn = r#"{"name":"Expires","type":"date","jsonPath":".spec.expiresAt"}"#,
    printcolumn = r#"{"name":"Approver","type":"string","jsonPath":".spec.approver"}"#
)]
#[x_kube(validation = Rule::new("has(self.releaseRef) != has(self.releaseSelector)").message("set exactly one of releaseRef and releaseSelector"))]
#[serde(rename_all = "camelCase")]
pub struct WaiverSpec {
    /// The one Release (same namespace) waived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_ref: Option<ReleaseRef>,
    /// The releases (same namespace) waived, by service, environment and labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_selector: Option<ReleaseSelector>,
    /// Rule names waived: `rule` (in any policy) or `policy/rule`.
    /// At most 64 items of at most 317 characters each.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a waiver names at least one rule"))]
    #[schemars(length(max = 64), inner(length(max = 317)))]
    pub rules: Vec<String>,
    /// Why the exception is acceptable. Required.
    /// At most 1024 characters.
    #[x_kube(validation = Rule::new("size(self.trim()) > 0").message("reason is required"))]
    #[schemars(length(max = 1024))]
    #[serde(deserialize_with = "super::prose::redacted")]
    pub reason: String,
    /// When the waiver stops applying (RFC 3339). Required.
    pub expires_at: DateTime<Utc>,
    /// Who granted it: must equal the Kubernetes username that creates this object.
    /// At most 253 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("approver must not be empty"))]
    #[schemars(length(max = 253))]
    pub approver: String,
}

/// What the controller found about this waiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaiverStatus {
    /// Whether the waiver is in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The `metadata.generation` last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
