//! What happens when things go wrong, on the real control plane (tests/common/cluster.rs): a
//! leader killed or stopped, the API server restarted, a watch's history compacted away, an
//! overloaded API server, bad objects written straight to the API. The API server's audit log is
//! the witness of every write; each replica names itself in its User-Agent.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::cluster::{ControlPlane, Options, eventually};
use crate::common::controller::{self, Controller};

const GROUP: &str = "apiVersion: releasepassport.io/v1alpha1";

/// One policy needing one approval, and the releases `names` (service = name).
fn approval_gated(ns: &str, names: &[&str]) -> String {
    let mut yaml = format!(
        "{GROUP}
kind: GatePolicy
metadata: {{name: prod, namespace: {ns}}}
spec:
  rules:
  - name: approved
    approval: {{min: 1}}
"
    );
    for name in names {
        yaml.push_str(&format!(
            "---\n{GROUP}\nkind: Release\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{service: {name}, version: 1.0.0, environment: production}}\n"
        ));
    }
    yaml
}

fn decision(plane: &ControlPlane, ns: &str, name: &str) -> Option<String> {
    plane
        .get_json(&["rp", "-n", ns, name])
        .and_then(|v| v["status"]["decision"].as_str().map(str::to_string))
}

/// Waits for a decision; on a timeout, says what the deciding replicas logged.
fn wait_decision(
    plane: &ControlPlane,
    replicas: &[&Controller],
    ns: &str,
    name: &str,
    expected: &str,
) {
    if !eventually(|| decision(plane, ns, name).as_deref() == Some(expected)) {
        let logs: Vec<String> = replicas
            .iter()
            .map(|c| format!("--- {}:\n{}", c.identity, c.log()))
            .collect();
        panic!(
            "timed out waiting for {ns}/{name} to be {expected} (it is {:?})\n{}",
            decision(plane, ns, name),
            logs.join("\n")
        );
    }
}

/// Successful writes (create, update, patch, delete) recorded in the audit log that match.
fn writes(plane: &ControlPlane, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    plane
        .audit()
        .into_iter()
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete")
            ) && e["responseStatus"]["code"]
                .as_u64()
                .is_some_and(|c| (200..300).contains(&c))
        })
        .filter(keep)
        .collect()
}

fn by(replica: &str) -> impl Fn(&Value) -> bool {
    let agent = format!("({replica})");
    move |e: &Value| e["userAgent"].as_str().is_some_and(|a| a.ends_with(&agent))
}

/// A write of `resource` (with `subresource`) of the object `name`.
fn of(resource: &str, subresource: Option<&str>, name: &str, e: &Value) -> bool {
    e["objectRef"]["resource"] == resource
        && e["objectRef"]["subresource"].as_str() == subresource
        && e["objectRef"]["name"] == name
}

/// A decision or passport write (not the Lease, not a Pod label): what only a leader may do.
fn decides(e: &Value) -> bool {
    e["objectRef"]["apiGroup"] == "releasepassport.io" || e["objectRef"]["resource"] == "events"
}

/// Pods for the replicas: never run (no kubelet), but they carry the leader label.
fn replica_pods(plane: &ControlPlane, ns: &str, names: &[&str]) {
    for name in names {
        plane.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: release-passport}}}}\nspec: {{containers: [{{name: controller, image: passport}}]}}\n"
        ));
    }
}

fn leader_label(plane: &ControlPlane, ns: &str, pod: &str) -> Option<String> {
    plane.get_json(&["pod", "-n", ns, pod]).and_then(|p| {
        p["metadata"]["labels"]["releasepassport.io/leader"]
            .as_str()
            .map(str::to_string)
    })
}

fn lease_holder(plane: &ControlPlane, ns: &str) -> Option<String> {
    plane
        .get_json(&["lease", "-n", ns, "release-passport"])
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
}

/// Two replicas of the shipped deployment's shape, named after the namespace (the replicas of
/// other tests on the shared control plane are others): `a` leads, `b` stands by.
fn two_replicas(plane: &ControlPlane, ns: &str, ttl: &str) -> (Controller, Controller) {
    let identity = plane.controller_identity(ns);
    let (a, b) = (format!("{ns}-a"), format!("{ns}-b"));
    replica_pods(plane, ns, &[&a, &b]);
    let a = Controller::start(&identity, ns, &a, &["--lease-ttl", ttl]);
    a.wait("the first replica to lead", Controller::leads);
    let b = Controller::start(&identity, ns, &b, &["--lease-ttl", ttl]);
    (a, b)
}

#[test]
fn the_standby_takes_over_when_the_leader_is_killed() {
    let plane = ControlPlane::shared();
    let ns = plane.namespace("ha-failover");
    let ttl = Duration::from_secs(4);
    let (mut a, b) = two_replicas(plane, &ns, "4s");
    plane.apply(&approval_gated(&ns, &["web"]));
    wait_decision(plane, &[&a, &b], &ns, "web", "Hold");
    plane.wait("the leader to label its Pod", || {
        leader_label(plane, &ns, &a.identity).as_deref() == Some("true")
    });
    assert!(!b.leads());
    let by_standby = writes(plane, |e| by(&b.identity)(e) && decides(e));
    assert!(
        by_standby.is_empty(),
        "a standby writes nothing: {by_standby:#?}"
    );

    // The leader dies without a word; meanwhile the approval lands.
    a.kill();
    let killed = Instant::now();
    plane.approve(&ns, "web", "alice");
    wait_decision(plane, &[&b], &ns, "web", "Allow");
    let took = killed.elapsed();
    assert!(
        took < ttl + Duration::from_secs(10),
        "the standby decided {took:?} after the leader died (lease {ttl:?})"
    );
    assert!(b.leads());
    assert_eq!(
        lease_holder(plane, &ns).as_deref(),
        Some(b.identity.as_str())
    );

    // Written once by the new leader; the old one's writes stopped with it.
    let status = writes(plane, |e| {
        by(&b.identity)(e) && of("releasepassports", Some("status"), "web", e)
    });
    assert_eq!(status.len(), 1, "{status:#?}");
    let events = plane
        .get_json(&["events.v1.events.k8s.io", "-n", &ns])
        .unwrap();
    let allowed: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "DecisionAllow" && e["regarding"]["name"] == "web")
        .collect();
    assert_eq!(allowed.len(), 1, "one Event for one decision: {allowed:#?}");
    assert_eq!(allowed[0]["series"], Value::Null, "{allowed:#?}");

    // The gate Service follows: the new leader took the label, also from its dead predecessor.
    plane.wait("the leader label to move", || {
        leader_label(plane, &ns, &b.identity).as_deref() == Some("true")
            && leader_label(plane, &ns, &a.identity).is_none()
    });
}

#[test]
fn a_graceful_stop_hands_the_lease_over_at_once() {
    let plane = ControlPlane::shared();
    let ns = plane.namespace("ha-graceful");
    let ttl = Duration::from_secs(30);
    let (mut a, b) = two_replicas(plane, &ns, "30s");
    plane.apply(&approval_gated(&ns, &["web"]));
    wait_decision(plane, &[&a, &b], &ns, "web", "Hold");

    let status = a.terminate();
    let stopped = Instant::now();
    assert!(status.success(), "{status:?}\n{}", a.log());
    b.wait("the standby to lead", Controller::leads);
    let took = stopped.elapsed();
    assert!(
        took < ttl / 3,
        "the Lease was released on SIGTERM: the standby led {took:?} later, not after the {ttl:?} lease"
    );
    assert!(a.log().contains("draining in-flight reconciles"));
    assert_eq!(
        lease_holder(plane, &ns).as_deref(),
        Some(b.identity.as_str())
    );
    plane.approve(&ns, "web", "alice");
    wait_decision(plane, &[&b], &ns, "web", "Allow");
    plane.wait("the leader label to move", || {
        leader_label(plane, &ns, &b.identity).as_deref() == Some("true")
            && leader_label(plane, &ns, &a.identity).is_none()
    });
}

/// A control plane of the test's own, installed, with a namespace and the controller's identity.
fn private(options: Options, ns: &str) -> (ControlPlane, PathBuf) {
    let plane = ControlPlane::start(options);
    plane.install();
    plane.namespace(ns);
    let identity = plane.controller_identity(ns);
    (plane, identity)
}

#[test]
fn the_controller_rides_out_an_api_server_restart() {
    let ns = "restart";
    let (mut plane, identity) = private(Options::default(), ns);
    let controller = Controller::start(&identity, ns, "replica-a", &[]);
    plane.apply(&approval_gated(ns, &["web", "api"]));
    wait_decision(&plane, &[&controller], ns, "web", "Hold");
    wait_decision(&plane, &[&controller], ns, "api", "Hold");

    plane.stop_apiserver();
    controller.wait("the controller to notice the outage", |c| {
        c.log().contains("error") || c.log().contains("Error")
    });
    plane.start_apiserver();
    // After it is back: an approval, and a Release edited directly in the API.
    plane.approve(ns, "web", "alice");
    plane.kubectl_ok(
        &[
            "patch",
            "release",
            "api",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"version":"1.0.1"}}"#,
        ],
        None,
    );
    wait_decision(&plane, &[&controller], ns, "web", "Allow");
    plane.wait(
        "the edited release to be decided for its new generation",
        || {
            plane.get_json(&["rp", "-n", ns, "api"]).is_some_and(|p| {
                p["spec"]["version"] == "1.0.1" && p["status"]["observedGeneration"] == 2
            })
        },
    );
    // Nothing lost, nothing written twice: web Hold then Allow; api once per generation.
    let web = writes(&plane, |e| of("releasepassports", Some("status"), "web", e));
    assert_eq!(web.len(), 2, "{web:#?}");
    let api = writes(&plane, |e| of("releasepassports", Some("status"), "api", e));
    assert_eq!(api.len(), 2, "{api:#?}");
    assert!(controller.leads());
}

#[test]
fn a_compacted_watch_relists_and_decides_the_same() {
    let ns = "compaction";
    let (mut plane, identity) = private(Options::default(), ns);
    let controller = Controller::start(&identity, ns, "replica-a", &[]);
    plane.apply(&approval_gated(ns, &["web", "api"]));
    wait_decision(&plane, &[&controller], ns, "web", "Hold");
    wait_decision(&plane, &[&controller], ns, "api", "Hold");
    let lists_before = relists(&plane);

    // History moves on and is compacted away; a fresh API server (its watch cache starts at the
    // compacted revision) answers the controller's resumed watches with 410 Gone.
    for i in 0..20 {
        plane.kubectl_ok(
            &["create", "configmap", &format!("churn-{i}"), "-n", ns],
            None,
        );
    }
    plane.compact_etcd();
    plane.stop_apiserver();
    plane.start_apiserver();
    plane.approve(ns, "web", "alice");
    wait_decision(&plane, &[&controller], ns, "web", "Allow");
    plane.wait("the controller to relist", || {
        relists(&plane) > lists_before
    });
    // The same decisions: api was not written again, web once for its change.
    let api = writes(&plane, |e| of("releasepassports", Some("status"), "api", e));
    assert_eq!(api.len(), 1, "{api:#?}");
    let web = writes(&plane, |e| of("releasepassports", Some("status"), "web", e));
    assert_eq!(web.len(), 2, "{web:#?}");
    assert!(controller.leads());
}

/// How many times the controller listed Releases (a list is a (re)start of its watch).
fn relists(plane: &ControlPlane) -> usize {
    plane
        .audit()
        .iter()
        .filter(|e| {
            e["verb"] == "list"
                && e["objectRef"]["resource"] == "releases"
                && e["userAgent"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("release-passport/"))
        })
        .count()
}

#[test]
fn an_overloaded_api_server_is_backed_off_and_every_release_is_decided() {
    const RELEASES: usize = 1000;
    let ns = "overload";
    let (plane, identity) = private(
        Options {
            apiserver_args: vec![
                "--max-requests-inflight=4".into(),
                "--max-mutating-requests-inflight=2".into(),
            ],
            ..Options::default()
        },
        ns,
    );
    let controller = Controller::start(
        &identity,
        ns,
        "replica-a",
        &[
            "--console-addr",
            "127.0.0.1:0",
            "--auth-proxy",
            "127.0.0.1/32",
        ],
    );
    let console = controller.port(controller::CONSOLE);
    let mut list = format!(
        "{GROUP}\nkind: GatePolicy\nmetadata: {{name: open, namespace: {ns}}}\nspec:\n  rules:\n  - name: open\n    expression: {{cel: 'true'}}\n"
    );
    for i in 0..RELEASES {
        list.push_str(&format!(
            "---\n{GROUP}\nkind: Release\nmetadata: {{name: svc-{i}, namespace: {ns}}}\nspec: {{service: svc-{i}, version: 1.0.0, environment: production}}\n"
        ));
    }
    let file = plane.dir().join("releases.yaml");
    std::fs::write(&file, list).unwrap();
    plane.kubectl_ok(&["apply", "-f", file.to_str().unwrap()], None);

    // While the controller works through them, the console keeps answering from its caches.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let user = [("X-Forwarded-User", "sre")];
    loop {
        let asked = Instant::now();
        let (status, _, _) = crate::common::demo::try_request(console, "/console", &user)
            .expect("the console answers");
        slowest = slowest.max(asked.elapsed());
        assert_eq!(status, 200);
        let decided = plane
            .get_json(&["rp", "-n", ns])
            .map(|l| {
                l["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["status"]["decision"] == "Allow")
                    .count()
            })
            .unwrap_or(0);
        if decided == RELEASES {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{decided} of {RELEASES} decided after 5 minutes\n{}",
            controller.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        slowest < Duration::from_secs(2),
        "the console took {slowest:?}"
    );
    let throttled = plane
        .audit()
        .iter()
        .filter(|e| by("replica-a")(e) && e["responseStatus"]["code"] == 429)
        .count();
    let status_writes = writes(&plane, |e| {
        e["objectRef"]["resource"] == "releasepassports"
            && e["objectRef"]["subresource"] == "status"
    });
    assert_eq!(
        status_writes.len(),
        RELEASES,
        "one status write per decision (throttled requests: {throttled})"
    );
    eprintln!(
        "overload: {RELEASES} releases decided in {:?}; {throttled} requests throttled (429); console slowest {slowest:?}",
        started.elapsed()
    );
}

#[test]
fn bad_objects_in_the_api_stall_alone() {
    let ns = "bad-objects";
    let plane = ControlPlane::start(Options::default());
    // A Release stored before our schema was installed (an older CRD without validation), as
    // objects outlive the CRD they were written under.
    plane.apply(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: releases.releasepassport.io}
spec:
  group: releasepassport.io
  names: {kind: Release, plural: releases, singular: release, listKind: ReleaseList}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
",
    );
    plane.kubectl_ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/releases.releasepassport.io",
        ],
        None,
    );
    plane.namespace(ns);
    plane.wait("the loose CRD to serve", || {
        plane
            .kubectl(&["apply", "-f", "-"], Some(&format!(
                "{GROUP}\nkind: Release\nmetadata: {{name: broken, namespace: {ns}}}\nspec: {{service: web, environment: production, version: [not, a, string]}}\n"
            )))
            .status
            .success()
    });
    plane.install();
    let identity = plane.controller_identity(ns);
    let controller = Controller::start(&identity, ns, "replica-a", &[]);
    plane.apply(&format!(
        "{}---
{GROUP}
kind: GatePolicy
metadata: {{name: broken, namespace: {ns}}}
spec:
  selector: {{services: [api]}}
  rules:
  - name: odd
    expression: {{cel: 'evidence['}}
---
{GROUP}
kind: Release
metadata: {{name: api, namespace: {ns}}}
spec: {{service: api, version: 2.0.0, environment: production}}
",
        approval_gated(ns, &["web"])
    ));
    wait_decision(&plane, &[&controller], ns, "web", "Hold");
    wait_decision(&plane, &[&controller], ns, "api", "Block");
    let stalled = |kind: &str, name: &str, field: &str| {
        let is_stalled = || {
            plane.get_json(&[kind, "-n", ns, name]).is_some_and(|o| {
                o["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Stalled"
                            && c["status"] == "True"
                            && c["message"].as_str().is_some_and(|m| m.contains(field))
                    })
                })
            })
        };
        assert!(
            eventually(is_stalled),
            "{kind} {name} is not Stalled naming {field}: {:#}\n{}",
            plane.get_json(&[kind, "-n", ns, name]).unwrap_or_default(),
            controller.log()
        );
    };
    stalled("gatepolicy", "broken", "spec.rules[0].expression.cel");
    // The API server validates the whole object on a status write, so a Release whose spec
    // breaks the schema takes no status until it is fixed: the Warning Event names the field.
    let warned = |reason: &str, field: &str| {
        let events = || {
            plane
                .get_json(&["events.v1.events.k8s.io", "-n", ns])
                .unwrap()
        };
        let named = || {
            events()["items"].as_array().unwrap().iter().any(|e| {
                e["reason"] == reason
                    && e["type"] == "Warning"
                    && e["regarding"]["name"] == "broken"
                    && e["note"].as_str().is_some_and(|n| n.contains(field))
            })
        };
        assert!(
            eventually(named),
            "{reason} Event naming {field}: {}",
            events()
        );
    };
    warned("InvalidRelease", "spec.version");
    warned("InvalidPolicy", "spec.rules[0].expression.cel");
    // The controller kept deciding: a new release after the bad ones is decided.
    plane.apply(&format!(
        "{GROUP}\nkind: Release\nmetadata: {{name: later, namespace: {ns}}}\nspec: {{service: later, version: 1.0.0, environment: production}}\n"
    ));
    wait_decision(&plane, &[&controller], ns, "later", "Hold");
    assert!(controller.leads());
}
