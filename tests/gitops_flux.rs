//! The Flux recipe as shipped (examples/gitops/flux/gated-rollout.yaml) against Flux's own
//! source-controller and kustomize-controller (v1.9.6, built from their modules), reconciling a
//! Git repository served on loopback into a real control plane where `passport controller`
//! decides; and our Flux connector reading the Kustomization status those controllers wrote.

use std::path::Path;

use serde_json::Value;

use crate::common::cluster::{ControlPlane, Options};
use crate::common::controller::Controller;
use crate::common::gitops::{Flux, GitRepo, decision, patiently, synced_evidence};
use crate::common::node::tail;

const GATED_ROLLOUT: &str = "examples/gitops/flux/gated-rollout.yaml";

/// The Release for checkout 2.3.1, as a pipeline commits it under the gate's path.
fn release(commit: &str) -> String {
    format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: checkout-production-2-3-1, namespace: shop}}
spec:
  service: checkout
  version: 2.3.1
  environment: production
  revision: {{commit: {commit}, author: bob}}
"
    )
}

/// The application the production Kustomization applies (no node here: a ConfigMap stands in).
const APP: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: checkout, namespace: shop}
data: {version: 2.3.1}
";

/// Our Flux connector, for `gitops-synced`.
const CONNECTOR: &str = "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {name: flux, namespace: shop}
spec:
  type: Flux
  allowedNamespaces: [flux-system]
  source: gitops-sync
  refreshInterval: 5s
";

fn kustomization(plane: &ControlPlane, name: &str) -> Value {
    plane
        .get_json(&["kustomization", "-n", "flux-system", name])
        .unwrap_or(Value::Null)
}

/// The Ready condition of a Flux object: (status, reason, message).
fn ready(object: &Value) -> (String, String, String) {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("status"), text("reason"), text("message"))
        })
        .unwrap_or_default()
}

fn logs(plane: &ControlPlane, flux: &Flux, controller: &Controller) -> String {
    format!(
        "gate: {}\nproduction: {}\n--- kustomize-controller\n{}\n--- source-controller\n{}\n--- passport\n{}",
        kustomization(plane, "checkout-gate")["status"],
        kustomization(plane, "checkout-production")["status"],
        tail(&flux.log("kustomize-controller")),
        tail(&flux.log("source-controller")),
        tail(&controller.log()),
    )
}

#[test]
fn the_gated_rollout_as_shipped_holds_allows_and_blocks_under_real_flux() {
    let plane = ControlPlane::start(Options::default());
    plane.install();
    plane.namespace("shop");
    let identity = plane.controller_identity("shop");
    let controller = Controller::start(&identity, "shop", "replica-a", &[]);
    let flux = Flux::start(&plane);

    let repo = GitRepo::serve("shop");
    let commit = repo.commit(
        "checkout 2.3.1",
        &[
            (
                "releases/checkout/production/release.yaml",
                &release("e4c2b19d8f07"),
            ),
            ("apps/checkout/production/app.yaml", APP),
        ],
    );
    plane.apply(&crate::common::gated_policies("shop"));
    plane.apply(CONNECTOR);
    plane.apply(&format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: shop, namespace: flux-system}}
spec: {{interval: 1m, url: '{}', ref: {{branch: main}}}}
",
        repo.url()
    ));
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(GATED_ROLLOUT);
    plane.kubectl_ok(&["apply", "-f", shipped.to_str().unwrap()], None);

    // Hold: Flux applied the Release from Git, we decided Hold, the gate's health check waits
    // and the production Kustomization stays unapplied behind it.
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        patiently(what, check, &|| logs(&plane, &flux, &controller))
    };
    wait("the passport Flux's Release became to Hold", &|| {
        decision(&plane, "shop", "checkout-production-2-3-1") == "Hold"
    });
    wait("the production Kustomization to wait on the gate", &|| {
        let (status, reason, message) = ready(&kustomization(&plane, "checkout-production"));
        status == "False" && reason == "DependencyNotReady" && message.contains("checkout-gate")
    });
    let gate = kustomization(&plane, "checkout-gate");
    assert_ne!(ready(&gate).0, "True", "{}", gate["status"]);
    assert!(
        plane
            .get_json(&["configmap", "-n", "shop", "checkout"])
            .is_none(),
        "the application was applied while the passport held it"
    );

    // Allow: an approval; the health check passes and the application is applied from Git.
    plane.approve("shop", "checkout-production-2-3-1", "alice");
    wait("the gate to pass its health check", &|| {
        ready(&kustomization(&plane, "checkout-gate")).0 == "True"
    });
    wait("the application to be applied", &|| {
        plane
            .get_json(&["configmap", "-n", "shop", "checkout"])
            .is_some()
    });
    wait(
        "the production Kustomization to be Ready at the commit",
        &|| {
            let k = kustomization(&plane, "checkout-production");
            ready(&k).0 == "True"
                && k["status"]["lastAppliedRevision"] == format!("main@sha1:{commit}")
        },
    );

    // Our Flux connector reads what kustomize-controller wrote: the production Kustomization
    // is Ready at this commit, so a release of that commit passes `gitops-synced`.
    let item = synced_evidence(
        &plane,
        &commit,
        "{kind: FluxKustomization, name: checkout-production, namespace: flux-system}",
    );
    assert!(
        item["summary"]
            .as_str()
            .unwrap_or_default()
            .contains(&commit[..12]),
        "the evidence names the revision Flux applied: {item}"
    );

    // Block: a rejection; the gate's health check fails at once (not after its 10m timeout),
    // naming the passport. Flux carries no object's own message into a failed health check,
    // so the reason is the passport's (`kubectl get rp`).
    plane.reject(
        "shop",
        "checkout-production-2-3-1",
        "carol",
        "card provider outage",
    );
    wait("the passport to Block", &|| {
        decision(&plane, "shop", "checkout-production-2-3-1") == "Block"
    });
    // As `flux reconcile kustomization checkout-gate` asks for it.
    plane.kubectl_ok(
        &[
            "annotate",
            "--overwrite",
            "kustomization",
            "-n",
            "flux-system",
            "checkout-gate",
            "reconcile.fluxcd.io/requestedAt=block",
        ],
        None,
    );
    wait("the gate's health check to fail on Block", &|| {
        let (status, reason, message) = ready(&kustomization(&plane, "checkout-gate"));
        status == "False"
            && reason == "HealthCheckFailed"
            && message.contains("ReleasePassport/shop/checkout-production-2-3-1 status: 'Failed'")
    });
    let reasons = plane
        .get_json(&["rp", "-n", "shop", "checkout-production-2-3-1"])
        .unwrap()["status"]["reasons"]
        .to_string();
    assert!(
        reasons.contains("carol"),
        "the passport says why: {reasons}"
    );
}
