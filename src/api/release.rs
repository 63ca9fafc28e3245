//! `Release`: one version of one service headed for one environment, and the scope its evidence
//! comes from.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Decision};

/// A release of one service version to one environment. Release Passport decides whether it may
/// be promoted and writes the decision to a ReleasePassport of the same name.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "Release",
    derive = "Default",
    doc = "A release of one service version to one environment; Release Passport decides whether it may be promoted.",
    namespaced,
    status = "ReleaseStatus",
    shortname = "rel",
    category = "passport",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.service"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Env","type":"string","jsonPath":".spec.environment"}"#,
    printcolumn = r#"{"name":"Decision","type":"string","jsonPath":".status.decision"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseSpec {
    /// The service being released, e.g. `checkout`.
    /// At most 63 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("service must not be empty"))]
    #[schemars(length(max = 63))]
    pub service: String,
    /// The version being released, e.g. `1.8.0` (an image tag or chart version).
    /// At most 128 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("version must not be empty"))]
    #[schemars(length(max = 128))]
    pub version: String,
    /// The environment it is headed for, e.g. `production`.
    /// At most 63 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("environment must not be empty"))]
    #[schemars(length(max = 63))]
    pub environment: String,
    /// The source revision: used for change lead time and CI evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    /// Where this release's evidence comes from. Connectors read nothing outside it.
    #[serde(default)]
    pub scope: ReleaseScope,
    /// Pins the GatePolicy (same namespace) that decides this release, instead of selection by
    /// the policies' selectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_ref: Option<PolicyRef>,
    /// When this release's version began rolling out, as the pipeline knows it. Evidence
    /// observed before it describes the previous version. Unset: the controller's
    /// `status.startedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// The Release this one replaces: the rollback target.
    /// At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub previous: Option<String>,
}

/// The source revision a release was built from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// The commit SHA.
    /// At most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub commit: Option<String>,
    /// When the commit was made (RFC 3339). The release never starts before it: evidence
    /// observed earlier cannot describe this revision and counts as Stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<DateTime<Utc>>,
    /// Who authored the change; approval rules with `excludeAuthor` do not count this person.
    /// At most 253 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::prose::redacted_opt"
    )]
    #[schemars(length(max = 253))]
    pub author: Option<String>,
}

/// The scope a release's evidence is read from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseScope {
    /// Namespaces holding the release's workloads.
    /// At most 32 items of at most 63 characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 63)))]
    pub namespaces: Vec<String>,
    /// Selects the release's workloads inside those namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// GitOps applications that deploy this release.
    /// At most 32 items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub gitops_apps: Vec<GitOpsApp>,
    /// Labels substituted for `$labels` in metric queries, e.g. `{service: checkout}`.
    /// At most 32 entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub metric_labels: BTreeMap<String, String>,
    /// The provider project (CI organisation/repository) this release's evidence belongs to.
    /// At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub project: Option<String>,
    /// The CI pipeline (workflow) whose results count as this release's CI evidence.
    /// At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub pipeline: Option<String>,
}

/// A GitOps application that deploys a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitOpsApp {
    /// The kind of GitOps object.
    pub kind: GitOpsKind,
    /// Its name.
    pub name: String,
    /// Its namespace (defaults to the Release's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kinds of GitOps objects a release can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GitOpsKind {
    /// An Argo CD `Application`.
    ArgoApplication,
    /// A Flux `Kustomization`.
    FluxKustomization,
    /// A Flux `HelmRelease`.
    FluxHelmRelease,
}

/// A reference to a GatePolicy in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyRef {
    /// Name of the GatePolicy.
    pub name: String,
}

/// What the controller last decided for this release.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    /// The passport's decision, mirrored here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Name of the ReleasePassport holding the full record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<String>,
    /// When this release started, as its decisions read it: `spec.startedAt`, else when a
    /// connector saw its version begin rolling out, else the Release's creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// The `metadata.generation` last decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

impl Release {
    /// When this release started: `spec.startedAt`, else `rolled_out` (when a connector saw
    /// its version begin rolling out), else `status.startedAt` (what the last decision took),
    /// else its creation — and never before its commit (`spec.revision.committedAt`): nothing
    /// observed before a revision existed can describe it, whatever else is (not) known.
    pub fn started_at(&self, rolled_out: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let known = self
            .spec
            .started_at
            .or(rolled_out)
            .or(self.status.as_ref().and_then(|s| s.started_at))
            .or_else(|| super::common::created_at(&self.metadata));
        match (known, self.committed_at()) {
            (Some(start), Some(commit)) => Some(start.max(commit)),
            (start, commit) => start.or(commit),
        }
    }

    /// When its revision was committed, if the Release says.
    pub fn committed_at(&self) -> Option<DateTime<Utc>> {
        self.spec.revision.as_ref().and_then(|r| r.committed_at)
    }

    /// What GitOps is expected to have applied: the commit when known, else the version.
    pub fn expected_revision(&self) -> String {
        self.spec
            .revision
            .as_ref()
            .and_then(|r| r.commit.clone())
            .unwrap_or_else(|| self.spec.version.clone())
    }
}
