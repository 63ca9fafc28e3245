//! Admission-time checks run client-side: the CEL rules (`x-kubernetes-validations`) of the
//! generated CRDs, evaluated on an object before it is used, so `passport evaluate` refuses
//! exactly what the API server would.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kube::core::cel::Validator;
use serde_json::Value;

use crate::api::all_crds;

fn schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        all_crds()
            .into_iter()
            .filter_map(|crd| {
                let schema = crd
                    .spec
                    .versions
                    .first()?
                    .schema
                    .as_ref()?
                    .open_api_v3_schema
                    .as_ref()?;
                Some((
                    crd.spec.names.kind.clone(),
                    serde_json::to_value(schema).ok()?,
                ))
            })
            .collect()
    })
}

/// One refused field: its path and the rule's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Evaluates the CRD's CEL rules for `kind` on `object`. Unknown kinds have no rules.
pub fn validate(kind: &str, object: &Value) -> Vec<Violation> {
    let Some(schema) = schemas().get(kind) else {
        return Vec::new();
    };
    match Validator::new().validate(schema, object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| Violation {
                field: e.field_path.clone(),
                message: e.message.clone(),
            })
            .collect(),
    }
}
