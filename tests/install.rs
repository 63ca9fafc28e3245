//! The install manifests: `config/` renders with kubectl kustomize, is least-privilege and
//! restricted, and the Helm chart, rendered by helm, mirrors it. (That both install on a real API
//! server is shown in tests/cluster_install.rs.)

use std::path::Path;

use clap::Parser;
use serde_json::Value;

use crate::common::cluster::tool;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kustomize(dir: &str) -> Vec<Value> {
    documents(
        std::process::Command::new(tool("kubectl"))
            .args(["kustomize", dir])
            .current_dir(root()),
    )
}

/// The YAML documents a command prints, which must succeed.
fn documents(command: &mut std::process::Command) -> Vec<Value> {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &Value| !d.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn yaml_file(path: &str) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

#[test]
fn default_overlay_renders_crds_rbac_and_a_restricted_deployment() {
    let docs = kustomize("config/default");
    assert_eq!(
        docs.iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .count(),
        7
    );
    for kind in [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ] {
        find(&docs, kind);
    }
    let deployment = find(&docs, "Deployment");
    assert_eq!(
        deployment["metadata"]["namespace"],
        "release-passport-system"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(
        deployment["spec"]["replicas"].as_u64().unwrap() >= 2,
        "several replicas with leader election"
    );
    let ns = find(&docs, "Namespace");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    // Webhook deliveries and the HTTP gate reach the leader alone (it labels its own Pod);
    // metrics reach every replica.
    let service = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("Service {name}"))
    };
    let gate = service("release-passport-gate");
    assert_eq!(
        gate["spec"]["selector"]["releasepassport.io/leader"],
        "true"
    );
    assert_eq!(gate["spec"]["ports"][0]["port"], 8082);
    let metrics = service("release-passport-metrics");
    assert!(
        metrics["spec"]["selector"]
            .get("releasepassport.io/leader")
            .is_none()
    );
    assert!(
        metrics["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["port"] != 8082)
    );
}

#[test]
fn rbac_is_least_privilege() {
    let role = yaml_file("config/rbac/role.yaml");
    for rule in role["rules"].as_array().unwrap() {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!verbs.contains(&"*") && !resources.contains(&"*"), "{rule}");
        if resources.contains(&"secrets") {
            assert_eq!(
                verbs,
                ["get"],
                "connector credentials are read by name, never listed: {rule}"
            );
        }
        let writes = verbs
            .iter()
            .any(|v| matches!(*v, "create" | "update" | "patch" | "delete"));
        if verbs.contains(&"delete") {
            assert_eq!(
                (resources.as_slice(), verbs.as_slice()),
                (
                    ["releases"].as_slice(),
                    ["get", "list", "watch", "delete"].as_slice()
                ),
                "the only deletion is retention's, of Releases: {rule}"
            );
        } else if writes {
            assert!(
                resources.iter().all(|r| matches!(
                    *r,
                    "releasepassports" | "events" | "tokenreviews" | "subjectaccessreviews"
                ) || r.ends_with("/status")),
                "writes only passports, statuses, events and (read-only) reviews: {rule}"
            );
        }
    }
}

/// One chart template as `helm template` renders it with the default values.
fn chart_docs(template: &str) -> Vec<Value> {
    documents(
        std::process::Command::new(tool("helm"))
            .args([
                "template",
                "release-passport",
                "charts/release-passport",
                "--namespace",
                "release-passport-system",
                "--show-only",
                &format!("templates/{template}"),
            ])
            .current_dir(root()),
    )
}

#[test]
fn chart_mirrors_config() {
    let chart_role = &chart_docs("rbac.yaml")[0];
    assert_eq!(
        chart_role["rules"],
        yaml_file("config/rbac/role.yaml")["rules"],
        "ClusterRole rules"
    );
    let lease_role = chart_docs("rbac.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Role")
        .unwrap();
    let config_lease: Value = serde_yaml_ng::Deserializer::from_str(
        &std::fs::read_to_string(root().join("config/rbac/leader_election_role.yaml")).unwrap(),
    )
    .map(|d| serde::Deserialize::deserialize(d).unwrap())
    .find(|d: &Value| d["kind"] == "Role")
    .unwrap();
    assert_eq!(lease_role["rules"], config_lease["rules"]);
    let values = yaml_file("charts/release-passport/values.yaml");
    let manager: Value = serde_yaml_ng::Deserializer::from_str(
        &std::fs::read_to_string(root().join("config/manager/manager.yaml")).unwrap(),
    )
    .map(|d| serde::Deserialize::deserialize(d).unwrap())
    .find(|d: &Value| d["kind"] == "Deployment")
    .unwrap();
    let pod = &manager["spec"]["template"]["spec"];
    assert_eq!(values["podSecurityContext"], pod["securityContext"]);
    assert_eq!(
        values["securityContext"],
        pod["containers"][0]["securityContext"]
    );
    assert_eq!(values["resources"], pod["containers"][0]["resources"]);
    assert_eq!(values["replicaCount"], manager["spec"]["replicas"]);
    let chart = yaml_file("charts/release-passport/Chart.yaml");
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let gate = chart_docs("service.yaml")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "release-passport-gate")
        .unwrap();
    assert_eq!(
        gate["spec"]["selector"]["releasepassport.io/leader"],
        "true"
    );
}

#[test]
fn manifests_only_use_flags_the_binary_has() {
    let manager = std::fs::read_to_string(root().join("config/manager/manager.yaml")).unwrap();
    let chart =
        std::fs::read_to_string(root().join("charts/release-passport/templates/deployment.yaml"))
            .unwrap();
    let cli = std::fs::read_to_string(root().join("src/cli.rs")).unwrap();
    for text in [&manager, &chart] {
        for env in text
            .split("name: ")
            .skip(1)
            .filter_map(|s| s.split([',', '}']).next())
        {
            if env.starts_with("PASSPORT_") || env.starts_with("POD_") {
                assert!(
                    cli.contains(&format!("env = \"{env}\"")),
                    "{env} is not a flag's env var"
                );
            }
        }
    }
    // The container's arguments parse.
    parses(&["passport", "controller", "--log-format=json"]);
}

fn parses(args: &[&str]) {
    release_passport::cli::Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{e}"));
}
