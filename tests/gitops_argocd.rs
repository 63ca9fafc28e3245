//! The Argo CD recipe as shipped (examples/gitops/argocd/argocd-cm-health.yaml) against Argo CD
//! itself (v3.6.2, built from its module: repo server, application controller, API server and
//! Debian's redis), syncing a Git repository served on loopback into a real control plane where
//! `passport controller` decides; and our ArgoCD connector reading the real Argo CD API with a
//! read-only account's token. The PreSync hook, which needs Pods, runs on the node tier
//! (tests/node_e2e.rs).

use std::path::Path;

use serde_json::Value;

use crate::common::cluster::{ControlPlane, Options};
use crate::common::controller::Controller;
use crate::common::gitops::{
    ArgoCd, GitRepo, application_manifest, decision, patiently, synced_evidence,
};
use crate::common::node::tail;

const RELEASE: &str = "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {name: checkout-production-2-3-1, namespace: shop}
spec:
  service: checkout
  version: 2.3.1
  environment: production
  revision: {commit: e4c2b19d8f07, author: bob}
";

fn application(plane: &ControlPlane) -> Value {
    plane
        .get_json(&["application", "-n", "argocd", "checkout"])
        .unwrap_or(Value::Null)
}

/// The Application's health as Argo CD assessed it, and the message its Release got there, from
/// the resource tree Argo CD's API serves (v3 keeps per-resource health out of the Application's
/// status: `resourceHealthSource: appTree`).
fn health(plane: &ControlPlane, argo: &ArgoCd, token: &str) -> (String, String) {
    let status = application(plane)["status"]["health"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let message = node(&tree(argo, token), "Release")["health"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, message)
}

/// The first node of `kind` in a resource tree, or null.
fn node<'t>(tree: &'t Value, kind: &str) -> &'t Value {
    tree["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["kind"] == kind)
        .unwrap_or(&Value::Null)
}

/// The Application's resource tree as Argo CD's API serves it (what its UI draws), or what the
/// API answered instead.
fn tree(argo: &ArgoCd, token: &str) -> Value {
    match crate::common::demo::try_send(
        argo.api_port,
        "GET",
        "/api/v1/applications/checkout/resource-tree",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    ) {
        Some((200, _, body)) => serde_json::from_str(&body).unwrap_or(Value::String(body)),
        other => Value::String(format!("{other:?}")),
    }
}

#[test]
fn argocd_assesses_a_held_allowed_and_blocked_release_with_the_shipped_health_checks() {
    let plane = ControlPlane::start(Options::default());
    plane.install();
    plane.namespace("shop");
    let identity = plane.controller_identity("shop");
    let controller = Controller::start(&identity, "shop", "replica-a", &[]);
    // The health checks merged into the argocd-cm the install made, by the command
    // docs/gitops.md gives (the file named by its path here).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/gitops.md")).unwrap();
    let merge: Vec<String> = doc
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("kubectl patch configmap argocd-cm")
        })
        .expect("docs/gitops.md gives the merge command")
        .split_whitespace()
        .skip(1)
        .map(|arg| match arg {
            "argocd-cm-health.yaml" => root
                .join("examples/gitops/argocd/argocd-cm-health.yaml")
                .display()
                .to_string(),
            _ => arg.to_string(),
        })
        .collect();
    let argo = ArgoCd::start_configured(&plane, &|| {
        let args: Vec<&str> = merge.iter().map(String::as_str).collect();
        plane.kubectl_ok(&args, None);
    });
    let token = argo.readonly_token();
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        patiently(what, check, &|| {
            format!(
                "health: {:?}\ntree: {}\napplication: {}\n--- application-controller\n{}\n--- repo-server\n{}\n--- passport\n{}",
                health(&plane, &argo, &token),
                tree(&argo, &token),
                application(&plane)["status"],
                tail(&argo.log("argocd-application-controller")),
                tail(&argo.log("argocd-repo-server")),
                tail(&controller.log()),
            )
        })
    };

    let cm = plane
        .get_json(&["configmap", "-n", "argocd", "argocd-cm"])
        .unwrap();
    assert_eq!(
        cm["data"]["accounts.passport"], "apiKey",
        "the merge kept the install's own keys: {cm}"
    );

    let repo = GitRepo::serve("shop");
    let commit = repo.commit("checkout 2.3.1", &[("apps/checkout/release.yaml", RELEASE)]);
    plane.apply(&crate::common::gated_policies("shop"));
    plane.apply(&application_manifest(&repo, "shop", "{automated: {}}"));

    // Hold: Argo CD synced the Release from Git; its health is Progressing, by our script.
    wait(
        "Argo CD to sync the Release and call it Progressing",
        &|| {
            let app = application(&plane);
            app["status"]["sync"]["status"] == "Synced"
                && health(&plane, &argo, &token)
                    == (
                        "Progressing".into(),
                        "Hold (see ReleasePassport checkout-production-2-3-1)".into(),
                    )
        },
    );
    assert_eq!(
        decision(&plane, "shop", "checkout-production-2-3-1"),
        "Hold"
    );

    // Allow: an approval; Argo CD's own Application status turns Healthy.
    plane.approve("shop", "checkout-production-2-3-1", "alice");
    wait("the Application to be Healthy", &|| {
        health(&plane, &argo, &token).0 == "Healthy"
    });

    // Our ArgoCD connector, through the real API with a real read-only token: the Application
    // is Synced and Healthy at this commit, so a release of it passes `gitops-synced`.
    let (status, _, body) = crate::common::demo::try_send(
        argo.api_port,
        "POST",
        "/api/v1/applications/checkout/sync",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        "{}",
    )
    .unwrap();
    assert_eq!(status, 403, "the token may only read: {body}");
    plane.kubectl(
        &[
            "create",
            "secret",
            "generic",
            "argocd-readonly",
            "-n",
            "shop",
            &format!("--from-literal=token={token}"),
        ],
        None,
    );
    plane.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: argocd, namespace: shop}}
spec:
  type: ArgoCD
  endpoint: http://127.0.0.1:{}
  credentialsSecretRef: {{name: argocd-readonly, key: token}}
  source: gitops-sync
  refreshInterval: 5s
",
        argo.api_port
    ));
    synced_evidence(
        &plane,
        &commit,
        "{kind: ArgoApplication, name: checkout, namespace: argocd}",
    );

    // Block: a rejection; Argo CD calls the Application Degraded.
    plane.reject(
        "shop",
        "checkout-production-2-3-1",
        "carol",
        "card provider outage",
    );
    // Argo CD refreshes each node of the tree on its own watch event: the passport's node may
    // turn Degraded after the Release's (seen in a clean-clone run).
    wait(
        "the Application and the passport's node to be Degraded",
        &|| {
            health(&plane, &argo, &token)
                == (
                    "Degraded".into(),
                    "Block (see ReleasePassport checkout-production-2-3-1)".into(),
                )
                && node(&tree(&argo, &token), "ReleasePassport")["health"]["status"] == "Degraded"
        },
    );
    // The passport, a child of the Release in Argo CD's tree, carries why.
    let tree = tree(&argo, &token);
    let passport = node(&tree, "ReleasePassport");
    assert_eq!(passport["health"]["status"], "Degraded", "{tree}");
    assert!(
        passport["health"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("rejected by carol"),
        "{tree}"
    );
}
