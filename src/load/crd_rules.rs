//! The CRDs' CEL rules (`x-kubernetes-validations`) run client-side, so `passport evaluate`
//! refuses exactly what the API server would — with the crate's one CEL engine (the one the
//! policy engine runs) and cel-go's strings extension, which Kubernetes' CEL environment
//! includes (`trim()` and its kin). What the server does and is kept here: a rule runs with
//! `self` bound to its field's value wherever that value is present; a failed rule says its
//! `message` (else `failed rule: RULE`) at the rule's field, or at its `fieldPath`; a
//! transition rule (one reading `oldSelf`) runs only on update, so never here. The test below
//! holds every rule of every generated CRD to compiling under this environment.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::schema::{Violation, schemas};

/// One rule, compiled.
struct Rule {
    source: String,
    program: cel::Program,
    message: Option<String>,
    field_path: Option<String>,
}

/// The rules of one schema node and of the nodes below it that have any.
#[derive(Default)]
struct Node {
    rules: Vec<Rule>,
    properties: BTreeMap<String, Node>,
    items: Option<Box<Node>>,
    /// `additionalProperties`: every value of a map.
    values: Option<Box<Node>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.rules.is_empty()
            && self.properties.is_empty()
            && self.items.is_none()
            && self.values.is_none()
    }
}

/// Why a rule of a generated CRD cannot be used here (a test holds this to never happen).
#[derive(Debug, thiserror::Error)]
#[error("rule {rule:?}: {source}")]
pub struct RuleError {
    rule: String,
    #[source]
    source: cel::ParseErrors,
}

struct Compiled {
    env: Arc<cel::Env>,
    by_kind: BTreeMap<String, Node>,
    /// What did not compile: reported as a violation of every object of that kind, never
    /// silently skipped.
    broken: Vec<(String, RuleError)>,
}

fn environment() -> cel::Env {
    let mut env = cel::Env::stdlib();
    // Registering a built-in extension on a fresh environment declares nothing twice.
    let _ = env.add_extension(cel::extensions::strings);
    env
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let env = environment();
        let mut broken = Vec::new();
        let by_kind = schemas()
            .iter()
            .map(|(kind, schema)| {
                let mut errors = Vec::new();
                let node = compile_node(&env, schema, &mut errors);
                broken.extend(errors.into_iter().map(|e| (kind.clone(), e)));
                (kind.clone(), node)
            })
            .collect();
        Compiled {
            env: Arc::new(env),
            by_kind,
            broken,
        }
    })
}

fn compile_node(env: &cel::Env, schema: &Value, errors: &mut Vec<RuleError>) -> Node {
    let mut node = Node::default();
    for rule in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(source) = rule.get("rule").and_then(Value::as_str) else {
            continue;
        };
        let text = |key: &str| rule.get(key).and_then(Value::as_str).map(str::to_string);
        match env.compile(source) {
            Ok(program) if program.references().has_variable("oldSelf") => {}
            Ok(program) => node.rules.push(Rule {
                source: source.to_string(),
                program,
                message: text("message"),
                field_path: text("fieldPath"),
            }),
            Err(source_error) => errors.push(RuleError {
                rule: source.to_string(),
                source: source_error,
            }),
        }
    }
    let mut child = |schema: &Value| {
        let node = compile_node(env, schema, errors);
        (!node.is_empty()).then(|| Box::new(node))
    };
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if let Some(n) = child(property) {
                node.properties.insert(name.clone(), *n);
            }
        }
    }
    node.items = schema.get("items").and_then(&mut child);
    node.values = schema
        .get("additionalProperties")
        .filter(|s| s.is_object())
        .and_then(&mut child);
    node
}

/// Evaluates the CRD's CEL rules for `kind` on `object`. Unknown kinds have no rules.
pub fn validate(kind: &str, object: &Value) -> Vec<Violation> {
    let compiled = compiled();
    let mut found: Vec<Violation> = compiled
        .broken
        .iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, e)| Violation {
            field: String::new(),
            message: format!("the CRD's rule cannot be compiled: {e}"),
        })
        .collect();
    if let Some(node) = compiled.by_kind.get(kind) {
        let root = cel::Context::with_env(Arc::clone(&compiled.env));
        walk(&root, node, object, "", &mut found);
    }
    found
}

fn walk(root: &cel::Context, node: &Node, value: &Value, path: &str, found: &mut Vec<Violation>) {
    if value.is_null() {
        return;
    }
    if !node.rules.is_empty() {
        let mut scope = root.new_inner_scope();
        match cel::to_value(value) {
            Ok(this) => scope.add_variable_from_value("self", this),
            Err(e) => {
                found.push(violation(path, None, format!("rule evaluation error: {e}")));
                return;
            }
        }
        for rule in &node.rules {
            let refusal = match rule.program.execute(&scope) {
                Ok(cel::Value::Bool(true)) => continue,
                Ok(cel::Value::Bool(false)) => rule
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("failed rule: {}", rule.source)),
                Ok(_) => format!("rule \"{}\" did not evaluate to bool", rule.source),
                Err(e) => format!("rule evaluation error: {e}"),
            };
            found.push(violation(path, rule.field_path.as_deref(), refusal));
        }
    }
    match value {
        Value::Object(fields) => {
            for (key, v) in fields {
                let here = join(path, key);
                if let Some(child) = node.properties.get(key) {
                    walk(root, child, v, &here, found);
                } else if let Some(values) = &node.values {
                    walk(root, values, v, &here, found);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for (i, v) in items.iter().enumerate() {
                    walk(root, item, v, &format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

fn violation(path: &str, field_path: Option<&str>, message: String) -> Violation {
    let field = match field_path {
        Some(fp) if fp.starts_with('.') => format!("{path}{fp}"),
        Some(fp) => join(path, fp),
        None => path.to_string(),
    };
    Violation { field, message }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_rule_of_every_crd_compiles_in_this_environment() {
        let compiled = compiled();
        let broken: Vec<String> = compiled
            .broken
            .iter()
            .map(|(k, e)| format!("{k}: {e}"))
            .collect();
        assert!(broken.is_empty(), "{broken:#?}");
        let count = |n: &Node| {
            fn all(n: &Node) -> usize {
                n.rules.len()
                    + n.properties.values().map(all).sum::<usize>()
                    + n.items.as_deref().map_or(0, all)
                    + n.values.as_deref().map_or(0, all)
            }
            all(n)
        };
        let rules: usize = compiled.by_kind.values().map(count).sum();
        assert!(rules >= 30, "the CRDs' rules were found: {rules}");
    }

    #[test]
    fn a_failed_rule_names_its_field_and_message() {
        let policy = json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "GatePolicy",
            "metadata": {"name": "p"},
            "spec": {"rules": [
                {"name": "a", "approval": {"min": 1}, "metric": {"query": "up", "connector": "p"}},
                {"name": "Bad Name", "approval": {"min": 1}}
            ]}
        });
        let found = validate("GatePolicy", &policy);
        let fields: Vec<&str> = found.iter().map(|v| v.field.as_str()).collect();
        assert!(fields.contains(&"spec.rules[0]"), "{found:?}");
        assert!(fields.contains(&"spec.rules[1].name"), "{found:?}");
    }

    #[test]
    fn trim_is_kubernetes_strings_extension() {
        let env = Arc::new(environment());
        let program = env.compile("size(self.trim()) > 0").unwrap();
        let mut scope = cel::Context::with_env(env);
        scope.add_variable_from_value("self", "  ");
        assert_eq!(program.execute(&scope), Ok(cel::Value::Bool(false)));
    }
}
