//! Exports, byte for byte: JSON, CSV and Markdown of a fixture with hostile strings and a
//! credential in free text. Nothing secret survives; no cell runs as a formula; no cell breaks
//! the Markdown table. Regenerate the golden files with UPDATE_GOLDEN=1 after a deliberate change.

use std::path::Path;

use release_passport::commands::demo::demo_snapshot;
use release_passport::console::Snapshot;
use release_passport::console::export::{self, Format};
use release_passport::decide::decide_all;
use release_passport::load::{Bundle, load_paths};

const SECRET: &str = "hunter2secret";

fn snapshot() -> Snapshot {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bundle = Bundle::default();
    load_paths(
        &[root.join("tests/console/hostile")],
        "default",
        release_passport::load::Fields::Strict,
        &mut bundle,
    )
    .unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let passports = decide_all(&bundle, at)
        .into_iter()
        .map(|d| d.passport)
        .collect();
    demo_snapshot(&bundle, passports, at, "fixture".into(), Vec::new())
}

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/console/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "{name} differs from its golden file");
    assert!(!actual.contains(SECRET), "{name} leaks a credential");
}

#[test]
fn passport_exports_are_exact_and_sanitised() {
    let s = snapshot();
    let items = || s.passports.iter().map(AsRef::as_ref);
    check(
        "passports.json",
        &export::passports(items(), Format::Json, s.now),
    );
    let csv = export::passports(items(), Format::Csv, s.now);
    check("passports.csv", &csv);
    assert!(
        csv.contains(r#""'=HYPERLINK("#),
        "the formula cell is neutralised: {csv}"
    );
    let md = export::passports(items(), Format::Markdown, s.now);
    check("passports.md", &md);
    assert!(!md.contains("<script>"), "{md}");
}

#[test]
fn governance_exports_are_exact_and_sanitised() {
    let s = snapshot();
    for (file, format) in [
        ("events.json", Format::Json),
        ("events.csv", Format::Csv),
        ("events.md", Format::Markdown),
    ] {
        check(
            file,
            &export::events(s.events.iter().map(AsRef::as_ref), format, s.now),
        );
    }
}
