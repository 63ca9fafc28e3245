//! The `releasepassport.io/v1alpha1` API: one file per kind, plus the shared value types.
//!
//! `///` comments on these types are user documentation: they ship in the CRDs and in
//! `kubectl explain`. Maintainer notes use `//`.

pub mod approval;
pub mod common;
pub mod connector;
pub mod duration;
pub mod key;
pub mod links;
pub mod notifier;
pub mod passport;
pub mod policy;
pub mod prose;
pub mod release;
pub mod waiver;

pub use approval::{Approval, ApprovalDecision, ApprovalSpec};
pub use common::{
    Condition, ConditionStatus, ConditionType, Decision, EvidenceStatus, Outcome, ReleaseRef,
    ReleaseSelector,
};
pub use connector::{Connector, ConnectorHealth, ConnectorSpec, ConnectorType};
pub use duration::DurationString;
pub use key::{Keyed, ObjectKey, namespace_of};
pub use notifier::{Notifier, NotifierEvent, NotifierSpec, NotifierType};
pub use passport::{ReleasePassport, ReleasePassportSpec, ReleasePassportStatus};
pub use policy::{GatePolicy, GatePolicySpec, PolicyMode, PolicyRule};
pub use release::{Release, ReleaseSpec};
pub use waiver::{Waiver, WaiverSpec};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

/// The API group every kind belongs to.
pub const GROUP: &str = "releasepassport.io";
/// The only served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "releasepassport.io/v1alpha1";
/// The field manager of every server-side apply the decisions make.
pub const FIELD_MANAGER: &str = "release-passport";
/// The field manager of the leader's notification delivery: what it records on passports
/// (`status.notifications`) and Notifier statuses is its own, so a decision's apply keeps it.
pub const NOTIFIER_FIELD_MANAGER: &str = "release-passport-notifier";
/// The `kubectl get passport` category every kind joins.
pub const CATEGORY: &str = "passport";

/// Every CRD this operator serves, in a stable order (the order of `crds/`).
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        Approval::crd(),
        Connector::crd(),
        GatePolicy::crd(),
        Notifier::crd(),
        Release::crd(),
        ReleasePassport::crd(),
        Waiver::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                kubernetes_formats(schema);
            }
        }
    }
    crds
}

// schemars names unsigned integers `uint32`/`uint64`, formats the API server does not know (it
// warns on every apply); it already adds `minimum: 0`, so the signed formats say the same.
fn kubernetes_formats(schema: &mut JSONSchemaProps) {
    schema.format = match schema.format.take().as_deref() {
        Some("uint8" | "uint16" | "uint32" | "int8" | "int16") => Some("int32".into()),
        Some("uint64" | "uint") => Some("int64".into()),
        other => other.map(str::to_string),
    };
    let children = schema
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(schema.items.iter_mut().flat_map(|items| match items {
            JSONSchemaPropsOrArray::Schema(s) => std::slice::from_mut(s.as_mut()),
            JSONSchemaPropsOrArray::Schemas(v) => v.as_mut_slice(),
        }))
        .chain(
            schema
                .additional_properties
                .iter_mut()
                .filter_map(|a| match a {
                    JSONSchemaPropsOrBool::Schema(s) => Some(s.as_mut()),
                    JSONSchemaPropsOrBool::Bool(_) => None,
                }),
        )
        .chain(schema.any_of.iter_mut().flatten())
        .chain(schema.one_of.iter_mut().flatten())
        .chain(schema.all_of.iter_mut().flatten());
    for child in children {
        kubernetes_formats(child);
    }
}
