//! The committed CRDs are exactly what the types generate, and their CEL rules refuse what
//! they promise to refuse.

use std::path::Path;

use release_passport::api::all_crds;
use release_passport::commands::crd::{file_name, render};
use release_passport::load::crd_rules::validate;

fn schema_of(kind: &str) -> &'static Value {
    release_passport::load::schema::written_schema(kind).unwrap()
}
use serde::Deserialize;
use serde_json::{Value, json};

const COPIES: [&str; 3] = ["crds", "config/crd/bases", "charts/release-passport/crds"];

#[test]
fn committed_crds_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in COPIES {
        let mut expected: Vec<String> = Vec::new();
        for crd in all_crds() {
            let name = file_name(&crd);
            let path = root.join(dir).join(&name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == render(&crd).unwrap(),
                "{} differs from what the types generate: run `make crds`",
                path.display()
            );
            expected.push(name);
        }
        let mut present: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        present.sort();
        expected.sort();
        assert_eq!(present, expected, "{dir} holds exactly the generated CRDs");
    }
}

#[test]
fn crds_have_names_columns_and_status() {
    let crds = all_crds();
    assert_eq!(crds.len(), 7);
    for crd in &crds {
        assert_eq!(crd.spec.group, "releasepassport.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["passport".to_string()][..])
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{} has a status subresource",
            crd.spec.names.kind
        );
    }
    let short = |kind: &str| {
        crds.iter()
            .find(|c| c.spec.names.kind == kind)
            .unwrap()
            .spec
            .names
            .short_names
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(short("Release"), vec!["rel"]);
    assert_eq!(short("ReleasePassport"), vec!["rp"]);
    assert_eq!(short("GatePolicy"), vec!["gp"]);
    assert_eq!(short("Connector"), vec!["conn"]);
    assert_eq!(short("Notifier"), vec!["ntf"]);
    let ntf = crds
        .iter()
        .find(|c| c.spec.names.kind == "Notifier")
        .unwrap();
    let columns: Vec<String> = ntf.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.to_uppercase())
        .collect();
    assert_eq!(columns, ["TYPE", "READY", "LAST-DELIVERY", "AGE"]);
    let rp = crds
        .iter()
        .find(|c| c.spec.names.kind == "ReleasePassport")
        .unwrap();
    let columns: Vec<String> = rp.spec.versions[0]
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.to_uppercase())
        .collect();
    assert_eq!(
        columns,
        ["SERVICE", "VERSION", "ENV", "DECISION", "EVIDENCE", "AGE"]
    );
    // `///` docs reach `kubectl explain`; maintainer notes do not.
    let text = serde_json::to_string(&crds).unwrap();
    assert!(text.contains("Effect when the evidence was never observed (default Hold)."));
    assert!(!text.contains("Auto-generated derived type"));
}

fn object(kind: &str, spec: Value) -> Value {
    json!({"apiVersion": "releasepassport.io/v1alpha1", "kind": kind, "metadata": {"name": "x", "namespace": "shop"}, "spec": spec})
}

/// What our client-side rules refuse, held to what kube-cel (a port of Kubernetes' CEL
/// validation, the reference here) refuses of the same object, field by field.
fn refused(kind: &str, spec: Value) -> Vec<String> {
    let object = object(kind, spec);
    let ours: Vec<String> = validate(kind, &object)
        .into_iter()
        .map(|v| format!("{}: {}", v.field, v.message))
        .collect();
    let reference: Vec<String> =
        match kube_cel::Validator::new().validate(schema_of(kind), &object, None) {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .into_vec()
                .into_iter()
                .map(|e| format!("{}: {}", e.field_path, e.message))
                .collect(),
        };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(ours.clone()),
        sorted(reference),
        "{kind}: ours vs kube-cel"
    );
    ours
}

fn waiver(extra: Value) -> Value {
    let mut w = json!({"releaseRef": {"name": "web"}, "rules": ["health"], "reason": "known issue", "expiresAt": "2030-01-01T00:00:00Z", "approver": "alice"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            w.as_object_mut().unwrap().remove(k);
        } else {
            w[k] = v.clone();
        }
    }
    w
}

#[test]
fn notifier_rules_and_the_shipped_examples() {
    let spec = |extra: Value| {
        let mut n = json!({"type": "Webhook", "url": "https://hooks.example/in",
                           "credentialsSecretRef": {"name": "hook", "key": "key"}});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                n.as_object_mut().unwrap().remove(k);
            } else {
                n[k] = v.clone();
            }
        }
        n
    };
    assert!(refused("Notifier", spec(json!({}))).is_empty());
    let e = refused("Notifier", spec(json!({"url": null})));
    assert!(e.iter().any(|e| e.contains("needs a url")), "{e:?}");
    let e = refused("Notifier", spec(json!({"url": "ftp://x"})));
    assert!(e.iter().any(|e| e.contains("http:// or https://")), "{e:?}");
    let e = refused("Notifier", spec(json!({"maxConcurrency": 0})));
    assert!(e.iter().any(|e| e.contains("between 1 and 16")), "{e:?}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/notifiers");
    let mut bundle = release_passport::load::Bundle::default();
    release_passport::load::load_paths(
        &[dir],
        "default",
        release_passport::load::Fields::Strict,
        &mut bundle,
    )
    .unwrap();
    assert_eq!(bundle.notifiers.len(), 4);
}

#[test]
fn waiver_rules() {
    assert!(refused("Waiver", waiver(json!({}))).is_empty());
    let e = refused("Waiver", waiver(json!({"reason": " "})));
    assert!(e.iter().any(|e| e.contains("reason is required")), "{e:?}");
    let e = refused("Waiver", waiver(json!({"rules": []})));
    assert!(e.iter().any(|e| e.contains("at least one rule")), "{e:?}");
    let e = refused(
        "Waiver",
        waiver(json!({"releaseSelector": {"services": ["web"]}})),
    );
    assert!(
        e.iter()
            .any(|e| e.contains("exactly one of releaseRef and releaseSelector")),
        "{e:?}"
    );
    let e = refused("Waiver", waiver(json!({"releaseRef": null})));
    assert!(
        e.iter()
            .any(|e| e.contains("exactly one of releaseRef and releaseSelector")),
        "{e:?}"
    );
    // Missing reason or expiry is refused by the schema's required list.
    let crd = all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "Waiver")
        .unwrap();
    let schema = serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap()).unwrap();
    let required = &schema["openAPIV3Schema"]["properties"]["spec"]["required"];
    for field in ["reason", "expiresAt", "rules", "approver"] {
        assert!(
            required.as_array().unwrap().contains(&json!(field)),
            "{field} is required: {required}"
        );
    }
}

#[test]
fn policy_rules() {
    let policy = |rules: Value| json!({"rules": rules});
    assert!(
        refused(
            "GatePolicy",
            policy(json!([{"name": "ok", "evidence": {"source": "ci"}}]))
        )
        .is_empty()
    );
    let e = refused("GatePolicy", policy(json!([{"name": "none"}])));
    assert!(
        e.iter()
            .any(|e| e.contains("exactly one of evidence, metric, approval, window, expression")),
        "{e:?}"
    );
    let e = refused(
        "GatePolicy",
        policy(json!([{"name": "two", "evidence": {"source": "ci"}, "approval": {"min": 1}}])),
    );
    assert!(e.iter().any(|e| e.contains("exactly one of")), "{e:?}");
    let e = refused(
        "GatePolicy",
        policy(
            json!([{"name": "a", "evidence": {"source": "ci"}}, {"name": "a", "evidence": {"source": "x"}}]),
        ),
    );
    assert!(e.iter().any(|e| e.contains("unique")), "{e:?}");
    let e = refused(
        "GatePolicy",
        policy(json!([{"name": "Bad_Name", "evidence": {"source": "ci"}}])),
    );
    assert!(e.iter().any(|e| e.contains("lowercase")), "{e:?}");
    let e = refused(
        "GatePolicy",
        policy(json!([{"name": "w", "window": {"freezes": [{"cron": "0 18 * * 5"}]}}])),
    );
    assert!(
        e.iter()
            .any(|e| e.contains("cron + duration or start + end")),
        "{e:?}"
    );
    let e = refused(
        "GatePolicy",
        policy(json!([{"name": "a", "approval": {"min": 0}}])),
    );
    assert!(e.iter().any(|e| e.contains("at least 1")), "{e:?}");
}

#[test]
fn connector_and_release_rules() {
    assert!(refused("Connector", json!({"type": "Kubernetes"})).is_empty());
    let e = refused("Connector", json!({"type": "ArgoCD"}));
    assert!(e.iter().any(|e| e.contains("needs an endpoint")), "{e:?}");
    let e = refused(
        "Connector",
        json!({"type": "Prometheus", "endpoint": "ftp://x"}),
    );
    assert!(e.iter().any(|e| e.contains("http:// or https://")), "{e:?}");
    // Link templates: known placeholders in an http(s) URL, the field named when not.
    assert!(
        refused(
            "Connector",
            json!({"type": "Kubernetes", "links": {"evidence": "https://argocd.example/applications/{appNamespace}/{app}", "query": "http://prom:9090/graph?g0.expr={query}"}}),
        )
        .is_empty()
    );
    for bad in [
        "https://x.example/{token}",
        "javascript:alert(1)",
        "https://x.example/{app",
    ] {
        let e = refused(
            "Connector",
            json!({"type": "Kubernetes", "links": {"commit": bad}}),
        );
        assert!(
            e.iter()
                .any(|e| e.contains("spec.links.commit") && e.contains("placeholders are among")),
            "{bad}: {e:?}"
        );
    }
    let e = refused(
        "Connector",
        json!({"type": "InfluxDB", "endpoint": "http://influxdb:8086"}),
    );
    assert!(
        e.iter().any(|e| e.contains("spec.influxdb.database")),
        "{e:?}"
    );
    let e = refused(
        "Connector",
        json!({"type": "InfluxDB", "endpoint": "http://influxdb:8086", "influxdb": {"database": ""}}),
    );
    assert!(e.iter().any(|e| e.contains("must not be empty")), "{e:?}");
    let e = refused(
        "Connector",
        json!({"type": "NewRelic", "endpoint": "https://api.newrelic.com", "newRelic": {"accountId": 1}}),
    );
    assert!(
        e.iter().any(|e| e.contains("spec.credentialsSecretRef")),
        "{e:?}"
    );
    let e = refused(
        "Connector",
        json!({"type": "NewRelic", "endpoint": "https://api.newrelic.com", "newRelic": {"accountId": 0},
               "credentialsSecretRef": {"name": "nr", "key": "user-key"}}),
    );
    assert!(e.iter().any(|e| e.contains("positive number")), "{e:?}");
    let e = refused(
        "Connector",
        json!({"type": "Datadog", "endpoint": "https://api.datadoghq.com"}),
    );
    assert!(e.iter().any(|e| e.contains("its API key")), "{e:?}");
    // Alertmanager matchers: a label name, an operator, a quoted value.
    let alerts = |matchers: Value| json!({"type": "Alertmanager", "endpoint": "http://alertmanager:9093", "alerts": {"matchers": matchers}});
    assert!(
        refused(
            "Connector",
            alerts(json!([r#"severity=~"critical|page""#, r#"team != "a\"b""#]))
        )
        .is_empty()
    );
    for bad in ["severity=critical", r#"9x="a""#, r#"severity="a"b""#] {
        let e = refused("Connector", alerts(json!([bad])));
        assert!(
            e.iter()
                .any(|e| e.contains("spec.alerts.matchers") && e.contains("NAME OP \"VALUE\"")),
            "{bad}: {e:?}"
        );
    }
    let e = refused(
        "Release",
        json!({"service": "", "version": "1", "environment": "prod"}),
    );
    assert!(
        e.iter().any(|e| e.contains("service must not be empty")),
        "{e:?}"
    );
}

/// Every object of examples/connectors loads strictly and is admitted as written.
#[test]
fn the_connector_examples_are_admitted() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/connectors");
    let mut bundle = release_passport::load::Bundle::default();
    release_passport::load::load_paths(
        std::slice::from_ref(&dir),
        "default",
        release_passport::load::Fields::Strict,
        &mut bundle,
    )
    .unwrap();
    assert!(!bundle.connectors.is_empty());
    for file in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let object = Value::deserialize(doc).unwrap();
            let kind = object["kind"].as_str().unwrap().to_string();
            assert_eq!(refused(&kind, object["spec"].clone()), Vec::<String>::new());
        }
    }
}

#[test]
fn approvals_are_immutable_and_decisions_enumerated() {
    let schema = schema_of("Approval");
    let spec = json!({"releaseRef": {"name": "web"}, "decision": "Approve", "approver": "alice"});
    let old = object("Approval", spec.clone());
    let mut new = old.clone();
    new["spec"]["decision"] = json!("Reject");
    let validator = kube_cel::Validator::new();
    assert!(validator.validate(schema, &old, Some(&old)).is_ok());
    let err = validator.validate(schema, &new, Some(&old)).unwrap_err();
    assert!(err.to_string().contains("cannot be edited"), "{err}");
    assert_eq!(
        schema["properties"]["spec"]["properties"]["decision"]["enum"],
        json!(["Approve", "Reject"])
    );
    let rp = all_crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "ReleasePassport")
        .unwrap();
    let rp = serde_json::to_value(rp.spec.versions[0].schema.as_ref().unwrap()).unwrap();
    assert_eq!(
        rp["openAPIV3Schema"]["properties"]["status"]["properties"]["decision"]["enum"],
        json!(["Allow", "Hold", "Block"])
    );
}

/// `kubectl explain releasepassport.status.FIELD` reads as user documentation (#32): every
/// status field says what it means and when it changes, not only its type ("Allow, Hold or
/// Block." was the whole of `status.decision`).
#[test]
fn every_passport_status_field_is_explained() {
    let status = &schema_of("ReleasePassport")["properties"]["status"]["properties"];
    let fields = status.as_object().unwrap();
    assert!(fields.len() > 10);
    for (name, field) in fields {
        let description = field["description"].as_str().unwrap_or_default();
        assert!(
            description.split_whitespace().count() >= 12,
            "status.{name} explains too little: {description:?}"
        );
    }
    let decision = status["decision"]["description"].as_str().unwrap();
    for word in ["Allow", "Hold", "Block", "reasons", "trace", "timeline"] {
        assert!(
            decision.contains(word),
            "status.decision does not mention {word}"
        );
    }
}

/// What the connector accepts as an Alertmanager matcher is exactly what admission accepts: the
/// CRD's own regular expression and `alertmanager::check_matcher` agree on every string.
mod alert_matchers {
    use super::*;
    use proptest::prelude::*;
    use release_passport::connectors::alertmanager::check_matcher;

    fn admission() -> regex::Regex {
        let rules = &schema_of("Connector")["properties"]["spec"]["properties"]["alerts"]["properties"]
            ["matchers"]["x-kubernetes-validations"][0]["rule"];
        let rule = rules.as_str().unwrap();
        let pattern = rule
            .split_once("m.matches('")
            .and_then(|(_, p)| p.rsplit_once("'))"))
            .unwrap()
            .0
            .replace("\\\\", "\\");
        regex::Regex::new(&pattern).unwrap()
    }

    #[test]
    fn both_tell_a_matcher_from_a_non_matcher() {
        for (m, ok) in [
            (r#"severity=~"critical""#, true),
            ("severity=critical", false),
        ] {
            assert_eq!(
                (admission().is_match(m), check_matcher(m).is_ok()),
                (ok, ok),
                "{m}"
            );
        }
    }

    proptest! {
        #[test]
        fn agree(m in r#"[ a-z9:_]{0,3}(=|!=|=~|!~|~|==)?[ ]?"?[a-z"\\ |.]{0,5}"?[ ]?"#) {
            prop_assert_eq!(admission().is_match(&m), check_matcher(&m).is_ok(), "{:?}", m);
        }
    }
}
