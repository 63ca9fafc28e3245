//! The `releasepassport.io/v1alpha1` API: one file per kind, plus the shared value types.
//!
//! `///` comments on these types are user documentation: they ship in the CRDs and in
//! `kubectl explain`. Maintainer notes use `//`.

pub mod approval;
pub mod common;
pub mod connector;
pub mod duration;
pub mod passport;
pub mod policy;
pub mod release;
pub mod waiver;

pub use approval::{Approval, ApprovalDecision, ApprovalSpec};
pub use common::{Condition, Decision, EvidenceStatus, Outcome, ReleaseRef, ReleaseSelector};
pub use connector::{Connector, ConnectorHealth, ConnectorSpec, ConnectorType};
pub use duration::DurationString;
pub use passport::{ReleasePassport, ReleasePassportSpec, ReleasePassportStatus};
pub use policy::{GatePolicy, GatePolicySpec, PolicyMode, PolicyRule};
pub use release::{Release, ReleaseSpec};
pub use waiver::{Waiver, WaiverSpec};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group every kind belongs to.
pub const GROUP: &str = "releasepassport.io";
/// The only served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "releasepassport.io/v1alpha1";
/// The one field manager used for every server-side apply this operator makes.
pub const FIELD_MANAGER: &str = "release-passport";
/// The `kubectl get passport` category every kind joins.
pub const CATEGORY: &str = "passport";

/// Every CRD this operator serves, in a stable order (the order of `crds/`).
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        Approval::crd(),
        Connector::crd(),
        GatePolicy::crd(),
        Release::crd(),
        ReleasePassport::crd(),
        Waiver::crd(),
    ]
}
