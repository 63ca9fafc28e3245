//! Admission-time checks run client-side on an object before it is used, so `passport evaluate`
//! refuses exactly what the API server would: the structural checks and undeclared fields here,
//! the CRDs' CEL rules in `crd_rules`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::api::all_crds;

/// The CRDs' schemas as generated, for the fields they declare.
/// Every kind's schema as its CRD declares it, by kind.
pub fn schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(written_schemas)
}

/// The schema of `kind` as its CRD declares it.
pub fn written_schema(kind: &str) -> Option<&'static Value> {
    schemas().get(kind)
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

/// The structural checks the API server makes before any CEL rule runs — types, enums, lengths,
/// patterns, item and property counts, bounds, required fields, a namespace's name — each with
/// the server's own wording and bound. Run first, they refuse in microseconds what the server
/// refuses (a 10,000-rule policy would otherwise meet its rules' CEL, which compares them
/// pairwise) and say "must be of type string" where a CEL rule would trip over the wrong type.
pub fn structural(kind: &str, object: &Value) -> Vec<Violation> {
    let mut found = Vec::new();
    if let Some(ns) = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        && !crate::api::key::is_dns_label(ns)
    {
        found.push(Violation {
            field: "metadata.namespace".into(),
            message: format!(
                "Invalid value: {}: a namespace is a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                quoted(ns)
            ),
        });
    }
    let Some(schema) = written_schema(kind) else {
        return found;
    };
    if let Some(fields) = object.as_object() {
        for (key, value) in fields {
            // The CRD says only `type: object` of metadata; names are checked where they are read.
            if key == "metadata" || key == "apiVersion" || key == "kind" {
                continue;
            }
            if let Some(s) = field_schema(schema, key) {
                check(s, value, key, &mut found);
            }
        }
    }
    found
}

/// A value as the API server quotes it in a message: clipped, control characters escaped.
fn quoted(text: &str) -> String {
    format!("{:?}", crate::text::clip(text, 64))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(schema: &Value, value: &Value) -> bool {
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return true;
    }
    match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some(_) if int_or_string => value.is_string() || value.is_i64() || value.is_u64(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some(_) => true,
    }
}

fn pattern_matches(pattern: &str, text: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    compiled
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .as_ref()
        // A pattern this engine cannot read is left to the server.
        .is_none_or(|re| re.is_match(text))
}

/// Checks `value` against `schema` at `path`, the way the API server's structural validation
/// does, and descends.
fn check(schema: &Value, value: &Value, path: &str, found: &mut Vec<Violation>) {
    let mut refuse = |message: String| {
        found.push(Violation {
            field: path.to_string(),
            message,
        })
    };
    if !has_type(schema, value) {
        let wanted = schema.get("type").and_then(Value::as_str).unwrap_or("?");
        let got = json_type(value);
        refuse(format!(
            "Invalid value: \"{got}\": {path} in body must be of type {wanted}: \"{got}\""
        ));
        return;
    }
    let limit = |key: &str| schema.get(key).and_then(Value::as_u64);
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        refuse(format!(
            "Unsupported value: {}: supported values: {}",
            crate::text::clip(&value.to_string(), 64),
            list.join(", ")
        ));
    }
    match value {
        Value::String(text) => {
            let chars = text.chars().count() as u64;
            if let Some(max) = limit("maxLength").filter(|m| chars > *m) {
                refuse(format!("Too long: may not be more than {max} bytes"));
            }
            if let Some(min) = limit("minLength").filter(|m| chars < *m) {
                refuse(format!(
                    "Invalid value: {}: {path} in body should be at least {min} chars long",
                    quoted(text)
                ));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && !pattern_matches(pattern, text)
            {
                refuse(format!(
                    "Invalid value: {}: {path} in body should match '{pattern}'",
                    quoted(text)
                ));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or_default();
            if let Some(min) = schema
                .get("minimum")
                .and_then(Value::as_f64)
                .filter(|m| x < *m)
            {
                refuse(format!(
                    "Invalid value: {n}: {path} in body should be greater than or equal to {min}"
                ));
            }
            if let Some(max) = schema
                .get("maximum")
                .and_then(Value::as_f64)
                .filter(|m| x > *m)
            {
                refuse(format!(
                    "Invalid value: {n}: {path} in body should be less than or equal to {max}"
                ));
            }
        }
        Value::Array(items) => {
            let count = items.len() as u64;
            if let Some(max) = limit("maxItems").filter(|m| count > *m) {
                refuse(format!("Too many: {count}: must have at most {max} items"));
                // Past the bound the server reads no further; neither does this.
                return;
            }
            if let Some(min) = limit("minItems").filter(|m| count < *m) {
                refuse(format!(
                    "Invalid value: {count}: {path} in body should have at least {min} items"
                ));
            }
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(item, v, &format!("{path}[{i}]"), found);
                }
            }
        }
        Value::Object(fields) => {
            let count = fields.len() as u64;
            if let Some(max) = limit("maxProperties").filter(|m| count > *m) {
                refuse(format!("Too many: {count}: must have at most {max} items"));
                return;
            }
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(required) {
                    found.push(Violation {
                        field: format!("{path}.{required}"),
                        message: "Required value".into(),
                    });
                }
            }
            if keeps_unknown(schema) && !declares_fields(schema) {
                return;
            }
            for (key, v) in fields {
                if let Some(s) = field_schema(schema, key) {
                    check(s, v, &format!("{path}.{key}"), found);
                }
            }
        }
        _ => {}
    }
}

/// The fields of `object` that the CRD of `kind` does not declare, as dotted paths
/// (`spec.rules[0].evidence.maxAg`): what the API server refuses under kubectl's default strict
/// field validation. Unknown kinds declare nothing here.
pub fn unknown_fields(kind: &str, object: &Value) -> Vec<String> {
    let Some(schema) = written_schema(kind) else {
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
