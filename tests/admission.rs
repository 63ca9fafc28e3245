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
    let request = json!({"userInfo": {"username": username, "groups": groups}});
    let mut refused = Vec::new();
    for v in policy["spec"]["validations"].as_array().unwrap() {
        let program = cel::Program::compile(v["expression"].as_str().unwrap()).unwrap();
        let mut ctx = cel::Context::default();
        ctx.add_variable("object", object.clone()).unwrap();
        ctx.add_variable("request", request.clone()).unwrap();
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

#[test]
fn waivers_expire_after_creation_and_within_seven_days_by_the_server_clock() {
    let window = named("release-passport-waiver-window");
    let waiver = |expires: &str| {
        json!({"kind": "Waiver", "metadata": {"name": "w", "creationTimestamp": "2026-11-25T12:00:00Z"},
               "spec": {"releaseRef": {"name": "web"}, "rules": ["r"], "reason": "x", "expiresAt": expires, "approver": "carol"}})
    };
    assert!(admit_by(&window, waiver("2026-11-26T12:00:00Z"), "carol", &[]).is_empty());
    assert!(admit_by(&window, waiver("2026-12-02T12:00:00Z"), "carol", &[]).is_empty());
    assert_eq!(
        admit_by(&window, waiver("2026-12-02T12:00:01Z"), "carol", &[]),
        vec!["spec.expiresAt (2026-12-02T12:00:01Z) is more than 168h after the waiver was created: ask for a shorter waiver".to_string()]
    );
    assert_eq!(
        admit_by(&window, waiver("2026-11-25T11:00:00Z"), "carol", &[]),
        vec!["spec.expiresAt (2026-11-25T11:00:00Z) is not after the waiver was created (2026-11-25T12:00:00Z)".to_string()]
    );
    let rules = window["spec"]["matchConstraints"]["resourceRules"][0].clone();
    assert_eq!(rules["resources"], json!(["waivers"]));
}

#[test]
fn the_chart_ships_the_same_policies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let values: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root.join("charts/release-passport/values.yaml")).unwrap(),
    )
    .unwrap();
    let max = values["admission"]["waiverMaxDuration"].as_str().unwrap();
    let rendered =
        std::fs::read_to_string(root.join("charts/release-passport/templates/admission.yaml"))
            .unwrap()
            .replace("{{ .Values.admission.waiverMaxDuration }}", max);
    assert_eq!(
        std::fs::read_to_string(root.join("config/admission/approver_identity.yaml")).unwrap(),
        rendered
    );
}
