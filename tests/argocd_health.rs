//! The Argo CD health checks shipped under examples/gitops/argocd/health, run as Argo CD runs
//! them: in gopher-lua, the interpreter Argo CD embeds (Lua 5.1 semantics), by our small runner
//! tests/cluster/cmd/argocd-health, against their fixtures in Argo CD's own layout
//! (`health.lua`, `health_test.yaml`, `testdata/`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::cluster::tool;
use release_passport::api::Keyed;

/// (status, message) for each object, from `argocd-health --script`.
fn run(script: &Path, objects: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut child = Command::new(tool("argocd-health"))
        .arg("--script")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for o in objects {
        writeln!(stdin, "{o}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (status, message) = l.split_once('\t').unwrap();
            (status.to_string(), message.to_string())
        })
        .collect()
}

fn check_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops/argocd/health");
    let mut dirs = Vec::new();
    for group in std::fs::read_dir(root).unwrap() {
        for kind in std::fs::read_dir(group.unwrap().path()).unwrap() {
            dirs.push(kind.unwrap().path());
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn every_health_check_passes_its_own_tests() {
    let dirs = check_dirs();
    assert_eq!(dirs.len(), 2, "Release and ReleasePassport");
    let out = Command::new(tool("argocd-health"))
        .args(&dirs)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<&str> = report.lines().collect();
    assert!(cases.len() >= 7, "{report}");
    assert!(cases.iter().all(|l| l.starts_with("PASS\t")), "{report}");
}

#[test]
fn the_passport_check_agrees_with_the_engine_on_the_demo() {
    let bundle = release_passport::examples::bundle().unwrap();
    let at = bundle.recorded_at.unwrap();
    let script = check_dirs()
        .into_iter()
        .find(|d| d.ends_with("ReleasePassport"))
        .unwrap()
        .join("health.lua");
    let decided = release_passport::decide::decide_all(&bundle, at);
    let objects: Vec<serde_json::Value> = decided
        .iter()
        .map(|d| serde_json::to_value(&d.passport).unwrap())
        .collect();
    let answers = run(&script, &objects);
    assert_eq!(answers.len(), decided.len());
    for (d, (status, _)) in decided.iter().zip(answers) {
        let expected = match d.evaluation.status.decision.unwrap() {
            release_passport::api::Decision::Allow => "Healthy",
            release_passport::api::Decision::Hold => "Progressing",
            release_passport::api::Decision::Block => "Degraded",
        };
        assert_eq!(status, expected, "{}", d.release.key());
    }
}

/// examples/gitops/argocd/argocd-cm-health.yaml carries the scripts under health/ exactly, so
/// what a user merges into argocd-cm is what the tests above ran (refresh it with
/// `UPDATE_GOLDEN=1` after changing a script).
#[test]
fn the_shipped_argocd_cm_carries_the_tested_scripts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops/argocd");
    let mut text = String::from(
        "# Argo CD health assessment for Release Passport kinds: the scripts under health/ (each run
# against its own fixtures by the tests), as argocd-cm keys. Merge them into the argocd-cm your
# install made (with Helm, put the two keys under `configs.cm` instead):
#   kubectl patch configmap argocd-cm -n argocd --type merge --patch-file argocd-cm-health.yaml
# Not `kubectl apply`: over an argocd-cm that was itself applied, client-side apply drops the keys
# this file lacks, and so does `apply --server-side`, which takes over client-side apply's fields.
# Generated from health/ by tests/argocd_health.rs; run as shipped against Argo CD v3.6.2 by
# tests/gitops_argocd.rs.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels: {app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}
data:
",
    );
    for kind in ["ReleasePassport", "Release"] {
        let script = std::fs::read_to_string(
            root.join(format!("health/releasepassport.io/{kind}/health.lua")),
        )
        .unwrap();
        text.push_str(&format!(
            "  resource.customizations.health.releasepassport.io_{kind}: |\n"
        ));
        for line in script.lines() {
            text.push_str(&if line.is_empty() {
                "\n".to_string()
            } else {
                format!("    {line}\n")
            });
        }
    }
    let shipped = root.join("argocd-cm-health.yaml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&shipped, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&shipped).unwrap(),
        text,
        "{} differs from the scripts under health/ (UPDATE_GOLDEN=1 refreshes it)",
        shipped.display()
    );
}
