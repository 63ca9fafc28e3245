//! `Approval`: a person approves or rejects a release.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, ReleaseRef};

/// An approver's verdict on one Release. The shipped ValidatingAdmissionPolicy requires
/// `spec.approver` to equal the requesting user, so RBAC decides who may approve and the API
/// audit log records it.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "Approval",
    doc = "An approver's Approve or Reject verdict on one Release.",
    namespaced,
    status = "ApprovalStatus",
    category = "passport",
    printcolumn = r#"{"name":"Release","type":"string","jsonPath":".spec.releaseRef.name"}"#,
    printcolumn = r#"{"name":"Decision","type":"string","jsonPath":".spec.decision"}"#,
    printcolumn = r#"{"name":"Approver","type":"string","jsonPath":".spec.approver"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self == oldSelf").message("an approval cannot be edited; delete it and create another"))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSpec {
    /// The Release (same namespace) this verdict is about.
    pub release_ref: ReleaseRef,
    /// `Approve` or `Reject`.
    pub decision: ApprovalDecision,
    /// Who decided: must equal the Kubernetes username that creates this object.
    /// At most 253 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("approver must not be empty"))]
    #[schemars(length(max = 253))]
    pub approver: String,
    /// Groups the approver acts for (checked against the requesting user's groups at admission).
    /// At most 32 items of at most 253 characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub groups: Vec<String>,
    /// Why.
    /// At most 1024 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::prose::redacted_opt"
    )]
    #[schemars(length(max = 1024))]
    pub comment: Option<String>,
}

/// An approver's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ApprovalDecision {
    /// Counts towards an approval rule's `min`.
    Approve,
    /// Blocks the release while it exists.
    Reject,
}

impl ApprovalDecision {
    /// What the approver did, as a sentence says it: "approved", "rejected".
    pub fn past_tense(self) -> &'static str {
        match self {
            ApprovalDecision::Approve => "approved",
            ApprovalDecision::Reject => "rejected",
        }
    }
}

/// What the controller found about this approval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStatus {
    /// Whether an approval rule counted it, and if not, why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<bool>,
    /// The `metadata.generation` last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
