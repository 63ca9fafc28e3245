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
    /// The schemas as written, for the fields they declare.
    written: BTreeMap<String, Value>,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let written = written_schemas();
        Rules {
            validator: Validator::new(),
            by_kind: written
                .iter()
                .map(|(kind, schema)| (kind.clone(), compile_schema(schema)))
                .collect(),
            written,
        }
    })
}

fn written_schemas() -> BTreeMap<String, Value> {
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

/// The fields of `object` that the CRD of `kind` does not declare, as dotted paths
/// (`spec.rules[0].evidence.maxAg`): what the API server refuses under kubectl's default strict
/// field validation. Unknown kinds declare nothing here.
pub fn unknown_fields(kind: &str, object: &Value) -> Vec<String> {
    let Some(schema) = rules().written.get(kind) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let Some(fields) = object.as_object() else {
        return found;
    };
    for (key, value) in fields {
        if key == "apiVersion" || key == "kind" {
            continue;
        }
        if key == "metadata" {
            unknown_metadata(value, &mut found);
        } else {
            walk(schema, key, value, String::new(), &mut found);
        }
    }
    found
}

/// `ObjectMeta`'s fields: the CRD's schema says only `type: object` for metadata, but the API
/// server reads it as an `ObjectMeta`.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn unknown_metadata(metadata: &Value, found: &mut Vec<String>) {
    if let Some(fields) = metadata.as_object() {
        found.extend(
            fields
                .keys()
                .filter(|k| !OBJECT_META.contains(&k.as_str()))
                .map(|k| format!("metadata.{k}")),
        );
    }
}

/// Checks the field `key` (holding `value`) of an object whose schema is `parent`.
fn walk(parent: &Value, key: &str, value: &Value, path: String, found: &mut Vec<String>) {
    let here = if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    };
    match field_schema(parent, key) {
        Some(schema) => descend(schema, value, here, found),
        None if keeps_unknown(parent) => {}
        None => found.push(here),
    }
}

fn descend(schema: &Value, value: &Value, path: String, found: &mut Vec<String>) {
    if keeps_unknown(schema) {
        return;
    }
    match value {
        Value::Object(fields) if declares_fields(schema) => {
            for (key, v) in fields {
                walk(schema, key, v, path.clone(), found);
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    descend(item, v, format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

/// The schema of field `key` in an object schema: a declared property, else its
/// `additionalProperties` schema (a map's values), looking into `allOf`/`anyOf`/`oneOf` too.
fn field_schema<'s>(schema: &'s Value, key: &str) -> Option<&'s Value> {
    if let Some(s) = schema.get("properties").and_then(|p| p.get(key)) {
        return Some(s);
    }
    if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object()) {
        return Some(s);
    }
    branches(schema).find_map(|b| field_schema(b, key))
}

fn branches(schema: &Value) -> impl Iterator<Item = &Value> {
    ["allOf", "anyOf", "oneOf"]
        .into_iter()
        .filter_map(|k| schema.get(k).and_then(Value::as_array))
        .flatten()
}

/// Whether the schema says which fields its objects have (a bare `type: object` does not).
fn declares_fields(schema: &Value) -> bool {
    schema.get("properties").is_some()
        || schema.get("additionalProperties").is_some()
        || branches(schema).any(declares_fields)
}

fn keeps_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || schema.get("additionalProperties") == Some(&Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_fields_are_named_with_their_path() {
        let policy = serde_json::json!({
            "apiVersion": "releasepassport.io/v1alpha1",
            "kind": "GatePolicy",
            "metadata": {"name": "p", "labelz": {}},
            "spec": {"rules": [
                {"name": "a", "evidence": {"source": "ci", "maxAg": "6h"}},
                {"name": "b", "approval": {"min": 1}, "note": "x"}
            ]},
            "extra": 1
        });
        let mut found = unknown_fields("GatePolicy", &policy);
        found.sort();
        assert_eq!(
            found,
            [
                "extra",
                "metadata.labelz",
                "spec.rules[0].evidence.maxAg",
                "spec.rules[1].note"
            ]
        );
    }

    #[test]
    fn maps_and_declared_fields_pass() {
        let release = serde_json::json!({
            "apiVersion": "releasepassport.io/v1alpha1",
            "kind": "Release",
            "metadata": {"name": "r", "labels": {"any": "thing"}},
            "spec": {"service": "s", "version": "1", "environment": "e",
                     "scope": {"metricLabels": {"app": "s"}}}
        });
        assert_eq!(unknown_fields("Release", &release), Vec::<String>::new());
    }
}
