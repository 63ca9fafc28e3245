//! Admission-time checks run client-side: the CEL rules (`x-kubernetes-validations`) of the
//! generated CRDs, evaluated on an object before it is used, so `passport evaluate` refuses
//! exactly what the API server would.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use serde_json::Value;

use crate::api::all_crds;

/// The CRDs' rules compiled once per process, with one validator holding Kubernetes' CEL
/// functions: compiling them per object made loading a manifest cost milliseconds.
struct Rules {
    validator: Validator,
    by_kind: BTreeMap<String, CompiledSchema>,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules {
        validator: Validator::new(),
        by_kind: compiled_schemas(),
    })
}

fn compiled_schemas() -> BTreeMap<String, CompiledSchema> {
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
            let schema = serde_json::to_value(schema).ok()?;
            Some((crd.spec.names.kind.clone(), compile_schema(&schema)))
        })
        .collect()
}

/// One refused field: its path and the rule's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Evaluates the CRD's CEL rules for `kind` on `object`. Unknown kinds have no rules.
pub fn validate(kind: &str, object: &Value) -> Vec<Violation> {
    let rules = rules();
    let Some(schema) = rules.by_kind.get(kind) else {
        return Vec::new();
    };
    match rules.validator.validate_compiled(schema, object, None) {
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
