//! The shipped ValidatingAdmissionPolicy: its CEL, evaluated the way the API server would, with
//! `object` and `request` bound — only you may approve in your name.

use std::path::Path;

use serde_json::{Value, json};

fn policy() -> Value {
    named("release-passport-approver-identity")
}

fn named(name: &str) -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/admission/approver_identity.yaml"),
    )
    .unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|d: &Value| d["kind"] == "ValidatingAdmissionPolicy" && d["metadata"]["name"] == name)
        .unwrap()
}

/// The messages of the validations that fail for this request (empty: admitted).
fn admit(object: Value, username: &str, groups: &[&str]) -> Vec<String> {
    admit_by(&policy(), object, username, groups)
}

fn admit_by(policy: &Value, object: Value, username: &str, groups: &[&str]) -> Vec<String> {
    admit_with(policy, object, None, username, groups)
}

/// Evaluates a policy as the API server would: Kubernetes' CEL libraries, `object`, `request`,
/// `params` when bound, and `variables` computed in order.
fn admit_with(
    policy: &Value,
    object: Value,
    params: Option<Value>,
    username: &str,
    groups: &[&str],
) -> Vec<String> {
    use kube_cel::{KubeCelExt, cel};
    let request = json!({"userInfo": {"username": username, "groups": groups}});
    let mut ctx = cel::Context::default().with_all();
    ctx.add_variable("object", object).unwrap();
    ctx.add_variable("request", request).unwrap();
    if let Some(p) = params {
        ctx.add_variable("params", p).unwrap();
    }
    let mut variables = std::collections::HashMap::new();
    for v in policy["spec"]["variables"].as_array().into_iter().flatten() {
        let program = cel::Program::compile(v["expression"].as_str().unwrap()).unwrap();
        let value = program
            .execute(&ctx)
            .unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        variables.insert(
            cel::objects::Key::String(std::sync::Arc::new(v["name"].as_str().unwrap().to_string())),
            value,
        );
        ctx.add_variable_from_value("variables", cel::Value::from(variables.clone()));
    }
    let mut refused = Vec::new();
    for v in policy["spec"]["validations"].as_array().unwrap() {
        let program = cel::Program::compile(v["expression"].as_str().unwrap()).unwrap();
        match program.execute(&ctx).unwrap() {
            cel::Value::Bool(true) => {}
            cel::Value::Bool(false) => {
                let message = match v.get("messageExpression").and_then(Value::as_str) {
                    Some(expr) => match cel::Program::compile(expr).unwrap().execute(&ctx).unwrap()
                    {
                        cel::Value::String(s) => s.to_string(),
                        other => panic!("{other:?}"),
                    },
                    None => v["message"].as_str().unwrap().to_string(),
                };
                refused.push(message);
            }
            other => panic!("not a bool: {other:?}"),
        }
    }
    refused
}

fn approval(approver: &str, groups: Option<&[&str]>) -> Value {
    let mut spec =
        json!({"releaseRef": {"name": "web"}, "decision": "Approve", "approver": approver});
    if let Some(g) = groups {
        spec["groups"] = json!(g);
    }
    json!({"apiVersion": "releasepassport.io/v1alpha1", "kind": "Approval", "metadata": {"name": "a"}, "spec": spec})
}

#[test]
fn only_you_may_approve_in_your_name() {
    assert!(admit(approval("alice", None), "alice", &[]).is_empty());
    let refused = admit(approval("bob", None), "alice", &[]);
    assert_eq!(
        refused,
        vec!["spec.approver must be the requesting user (alice), not bob".to_string()]
    );
}

#[test]
fn groups_must_be_your_own() {
    assert!(
        admit(
            approval("alice", Some(&["payments-leads"])),
            "alice",
            &["payments-leads", "sre"]
        )
        .is_empty()
    );
    let refused = admit(
        approval("alice", Some(&["payments-leads"])),
        "alice",
        &["sre"],
    );
    assert_eq!(
        refused,
        vec!["spec.groups may only name groups the requesting user belongs to".to_string()]
    );
}

#[test]
fn waivers_are_checked_too() {
    let waiver = json!({"kind": "Waiver", "spec": {"releaseRef": {"name": "web"}, "rules": ["r"], "reason": "x", "expiresAt": "2030-01-01T00:00:00Z", "approver": "carol"}});
    assert!(admit(waiver.clone(), "carol", &[]).is_empty());
    assert_eq!(admit(waiver, "mallory", &[]).len(), 1);
    let rules = policy()["spec"]["matchConstraints"]["resourceRules"][0].clone();
    assert_eq!(rules["resources"], json!(["approvals", "waivers"]));
    assert_eq!(rules["operations"], json!(["CREATE", "UPDATE"]));
}

fn waiver_until(rules: &[&str], expires: &str) -> Value {
    json!({"kind": "Waiver", "metadata": {"name": "w", "namespace": "shop", "creationTimestamp": "2026-11-25T12:00:00Z"},
           "spec": {"releaseRef": {"name": "web"}, "rules": rules, "reason": "x", "expiresAt": expires, "approver": "carol"}})
}

#[test]
fn waivers_expire_after_creation_by_the_server_clock() {
    let window = named("release-passport-waiver-window");
    assert!(
        admit_by(
            &window,
            waiver_until(&["r"], "2030-01-01T00:00:00Z"),
            "carol",
            &[]
        )
        .is_empty()
    );
    assert_eq!(
        admit_by(&window, waiver_until(&["r"], "2026-11-25T11:00:00Z"), "carol", &[]),
        vec!["spec.expiresAt (2026-11-25T11:00:00Z) is not after the waiver was created (2026-11-25T12:00:00Z)".to_string()]
    );
    let rules = window["spec"]["matchConstraints"]["resourceRules"][0].clone();
    assert_eq!(rules["resources"], json!(["waivers"]));
}

/// Each GatePolicy of the namespace is a parameter: one that has a rule the waiver names limits
/// it by its spec.waivers (7d when it says nothing), as the engine does.
#[test]
fn waivers_stay_within_the_limits_of_the_policies_whose_rules_they_name() {
    let limits = named("release-passport-waiver-limits");
    let gate_policy = |waivers: Value| {
        let mut p = json!({"metadata": {"name": "prod", "namespace": "shop"},
                           "spec": {"rules": [{"name": "ci"}, {"name": "synced"}]}});
        if !waivers.is_null() {
            p["spec"]["waivers"] = waivers;
        }
        p
    };
    let admit =
        |waiver: Value, policy: Value| admit_with(&limits, waiver, Some(policy), "carol", &[]);
    // No spec.waivers: seven days.
    assert!(
        admit(
            waiver_until(&["ci"], "2026-12-02T12:00:00Z"),
            gate_policy(Value::Null)
        )
        .is_empty()
    );
    assert_eq!(
        admit(waiver_until(&["prod/ci"], "2026-12-02T12:00:01Z"), gate_policy(Value::Null)),
        vec!["spec.expiresAt (2026-12-02T12:00:01Z) is more than 7d after the waiver was created, the longest GatePolicy prod allows (spec.waivers.maxDuration): ask for a shorter waiver".to_string()]
    );
    // A policy's own maximum, in each unit the CRD accepts.
    for (max, ok, too_long) in [
        ("36h", "2026-11-27T00:00:00Z", "2026-11-27T00:00:01Z"),
        ("1d12h", "2026-11-27T00:00:00Z", "2026-11-27T00:00:01Z"),
        ("1.5d", "2026-11-27T00:00:00Z", "2026-11-27T00:00:01Z"),
        ("14d", "2026-12-09T12:00:00Z", "2026-12-09T12:00:01Z"),
    ] {
        let policy = gate_policy(json!({"maxDuration": max}));
        assert!(
            admit(waiver_until(&["ci"], ok), policy.clone()).is_empty(),
            "{max}"
        );
        assert_eq!(
            admit(waiver_until(&["ci"], too_long), policy).len(),
            1,
            "{max}"
        );
    }
    // Which rules may be waived at all.
    let only_ci = gate_policy(json!({"rules": ["ci"]}));
    assert!(
        admit(
            waiver_until(&["ci"], "2026-11-26T00:00:00Z"),
            only_ci.clone()
        )
        .is_empty()
    );
    assert_eq!(
        admit(
            waiver_until(&["ci", "synced"], "2026-11-26T00:00:00Z"),
            only_ci
        ),
        vec!["GatePolicy prod does not let synced be waived (spec.waivers.rules)".to_string()]
    );
    // A policy none of whose rules the waiver names does not limit it.
    let strict = gate_policy(json!({"maxDuration": "1h", "rules": []}));
    assert!(
        admit(
            waiver_until(&["other/ci", "canary"], "2026-12-01T00:00:00Z"),
            strict
        )
        .is_empty()
    );
    let binding_params = &limits["spec"]["paramKind"];
    assert_eq!(binding_params["kind"], "GatePolicy");
}

#[test]
fn the_chart_ships_the_same_policies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let values: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root.join("charts/release-passport/values.yaml")).unwrap(),
    )
    .unwrap();
    assert!(
        values.get("admission").is_none(),
        "the limits are the policies' own"
    );
    let rendered =
        std::fs::read_to_string(root.join("charts/release-passport/templates/admission.yaml"))
            .unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("config/admission/approver_identity.yaml")).unwrap(),
        rendered
    );
}
