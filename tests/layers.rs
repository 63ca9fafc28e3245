//! Imports run one way: each top-level module of `src/` has a rank, and may use only modules
//! of a lower rank (commands → runtime → controller/console → domain → api). Within a module,
//! no two files import each other in a circle (a module's `mod.rs`, which declares its files,
//! is left out). Read from the source text, so a new module must be given its place here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. Modules of one layer may not use each other.
const LAYERS: &[&[&str]] = &[
    &["text", "stats"],
    &["scrub"],
    &["api"],
    &[
        "engine",
        "metrics",
        "gate",
        "output",
        "cli",
        "leadership",
        "serve",
    ],
    &["evidence", "load", "simulate", "attest", "freeze"],
    &["connectors", "examples", "decide"],
    &["radar", "cluster", "notify"],
    &["console", "controller"],
    &["runtime"],
    &["commands"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment after each `prefix` (`crate::` → `api` in `crate::api::Release`,
/// and each item of `crate::{api::X, engine}`).
fn used_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out.remove("self");
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_module_uses_only_lower_layers() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut wrong = Vec::new();
    let mut placed = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = rank(&module) else {
            wrong.push(format!("src/{module} has no layer in tests/layers.rs"));
            continue;
        };
        placed.insert(module.clone());
        for used in used_after(&code(file), "crate::") {
            if used == module {
                continue;
            }
            match rank(&used) {
                Some(r) if r < own => {}
                Some(_) => wrong.push(format!(
                    "{} uses crate::{used}: {module} may use only lower layers",
                    relative.display()
                )),
                // An item of the crate root (none exist today but the modules).
                None => wrong.push(format!(
                    "{} uses crate::{used}, which has no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every layer names only modules that exist, so the table cannot drift.
    for module in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(
            placed.contains(*module),
            "tests/layers.rs names {module}, which src/ lacks"
        );
    }
}

#[test]
fn files_of_a_module_import_each_other_one_way() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    // file (module/name) → files of the same module it uses through `super::` or
    // `crate::module::`.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let parts: Vec<&str> = relative
            .iter()
            .map(|p| p.to_str().unwrap().trim_end_matches(".rs"))
            .collect();
        if parts.len() != 2 || parts[1] == "mod" {
            continue;
        }
        let module = parts[0];
        let text = code(file);
        let mut used = used_after(&text, "super::");
        used.extend(used_after(&text, &format!("crate::{module}::")));
        let siblings = used
            .into_iter()
            .filter(|u| root.join(module).join(format!("{u}.rs")).exists())
            .map(|u| format!("{module}/{u}"))
            .collect();
        graph.insert(format!("{module}/{}", parts[1]), siblings);
    }
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        graph
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
    }
    let circles: Vec<String> = graph
        .keys()
        .filter(|file| reaches(&graph, file, file, &mut BTreeSet::new()))
        .cloned()
        .collect();
    assert!(
        circles.is_empty(),
        "files that reach themselves through imports: {circles:?}"
    );
}

#[test]
fn the_reader_sees_groups_and_paths() {
    let text = "use crate::{api::{A, B}, engine::X};\nlet a = crate::text::clip(x);\nuse super::kind::Answer;\nfoo::crate::no";
    assert_eq!(
        used_after(text, "crate::"),
        ["api", "engine", "text"].map(String::from).into()
    );
    assert_eq!(used_after(text, "super::"), ["kind".to_string()].into());
}

/// Status fields are typed end to end, so nothing compares one of ours against a string
/// literal: a trace entry's type, a condition's type or status, what a rule read, the evidence
/// count. (A Kubernetes Deployment's conditions are strings of its own API, not ours.)
#[test]
fn our_status_fields_are_never_compared_as_strings() {
    let values = [
        "Ready",
        "Reconciling",
        "Stalled",
        "True",
        "False",
        "evidence",
        "metric",
        "approval",
        "window",
        "expression",
        "policy",
        "summary",
    ];
    let mut seams: Vec<String> = values
        .iter()
        .flat_map(|v| {
            [
                format!("type_ == \"{v}\""),
                format!("type_ != \"{v}\""),
                format!("status == \"{v}\""),
                format!("status != \"{v}\""),
                format!("Some(\"{v}\") =>"),
            ]
        })
        .collect();
    seams.push("format!(\"metric:".into());
    seams.push("strip_prefix(\"metric:\")".into());
    seams.push("evidence_summary.as_deref()".into());
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut found = Vec::new();
    for path in files {
        // The one place the written form is read: the type's own Deserialize.
        let own = path.ends_with("api/passport.rs");
        for line in code(&path).lines() {
            // A match arm on one of our type names (`"approval" =>`); "True"/"False" arms are
            // left out: Flux's conditions are JSON of its own API.
            let arm = values[..3]
                .iter()
                .chain(&values[5..])
                .any(|v| line.trim_start().starts_with(&format!("\"{v}\" ")));
            if arm {
                found.push(format!("{}: {}", path.display(), line.trim()));
            }
            for seam in seams.iter().filter(|s| line.contains(s.as_str())) {
                if !(own && seam.starts_with("strip_prefix")) {
                    found.push(format!("{}: {}", path.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "typed fields read as strings:\n{}",
        found.join("\n")
    );
}

/// No function in `src/` is longer than 150 lines (comments not counted): a reader holds one
/// in their head. Found by indentation, as rustfmt leaves it: a `fn` line and the first line
/// after it that closes at the same depth.
#[test]
fn no_function_is_longer_than_150_lines() {
    const MOST: usize = 150;
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long = Vec::new();
    for path in files {
        let code = code(&path);
        let lines: Vec<&str> = code.lines().collect();
        for (start, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let signature = ["fn ", "pub fn ", "async fn ", "pub async fn ", "const fn "]
                .iter()
                .any(|p| trimmed.starts_with(p))
                || (trimmed.starts_with("pub(") && trimmed.contains(" fn "));
            if !signature || trimmed.ends_with(';') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let close = format!("{}}}", " ".repeat(indent));
            let Some(length) = lines[start + 1..]
                .iter()
                .position(|l| l.trim_end() == close)
            else {
                continue;
            };
            if length + 2 > MOST {
                long.push(format!(
                    "{}: {} ({} lines)",
                    path.display(),
                    trimmed,
                    length + 2
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "longer than {MOST} lines:\n{}",
        long.join("\n")
    );
}
