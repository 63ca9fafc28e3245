//! The Argo CD health checks shipped under examples/gitops/argocd/health, run by a real Lua
//! interpreter (Debian's lua5.4, installed by `make test`) against their fixtures, in the layout
//! Argo CD uses for its own (`health.lua`, `health_test.yaml`, `testdata/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A Lua table constructor for a JSON value (null fields are left out, as Argo CD does).
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let escaped: String = s
                .chars()
                .map(|c| match c {
                    '\\' => "\\\\".to_string(),
                    '"' => "\\\"".to_string(),
                    '\n' => "\\n".to_string(),
                    c => c.to_string(),
                })
                .collect();
            format!("\"{escaped}\"")
        }
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua(&Value::String(k.clone())), lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn run(script: &Path, object: &Value) -> (String, String) {
    let body = std::fs::read_to_string(script).unwrap();
    let program = format!(
        "local function check(obj)\n{body}\nend\nlocal hs = check({})\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        lua(object)
    );
    let out = Command::new("lua5.4")
        .arg("-e")
        .arg(&program)
        .output()
        .expect("lua5.4 is needed for this test: `make test` installs Debian's lua5.4");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap();
    (status.to_string(), message.to_string())
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
    let mut cases = 0;
    for dir in dirs {
        let tests: Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(dir.join("health_test.yaml")).unwrap(),
        )
        .unwrap();
        for t in tests["tests"].as_array().unwrap() {
            let input: Value = serde_yaml_ng::from_str(
                &std::fs::read_to_string(dir.join(t["inputPath"].as_str().unwrap())).unwrap(),
            )
            .unwrap();
            let (status, message) = run(&dir.join("health.lua"), &input);
            assert_eq!(
                status,
                t["healthStatus"]["status"].as_str().unwrap(),
                "{} {}",
                dir.display(),
                t["inputPath"]
            );
            assert_eq!(
                message,
                t["healthStatus"]["message"].as_str().unwrap(),
                "{} {}",
                dir.display(),
                t["inputPath"]
            );
            cases += 1;
        }
    }
    assert!(cases >= 7);
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
    for d in release_passport::decide::decide_all(&bundle, at) {
        let object = serde_json::to_value(&d.passport).unwrap();
        let (status, _) = run(&script, &object);
        let expected = match d.evaluation.status.decision.unwrap() {
            release_passport::api::Decision::Allow => "Healthy",
            release_passport::api::Decision::Hold => "Progressing",
            release_passport::api::Decision::Block => "Degraded",
        };
        assert_eq!(status, expected, "{}", d.release.key());
    }
}
