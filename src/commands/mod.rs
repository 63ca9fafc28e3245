//! One module per subcommand; each returns the process exit code.

pub mod approve;
pub mod attest;
pub mod console;
pub mod controller;
pub mod crd;
pub mod demo;
pub mod evaluate;
pub mod freeze;
pub mod gate;
pub mod metrics;
pub mod simulate;

/// How files are read: `--lenient` keeps undeclared fields with a warning.
fn fields(lenient: bool) -> crate::load::Fields {
    if lenient {
        crate::load::Fields::Lenient
    } else {
        crate::load::Fields::Strict
    }
}

/// What a lenient reading let through, on stderr.
fn print_warnings(bundle: &crate::load::Bundle) {
    for w in &bundle.warnings {
        eprintln!("warning: {w} (kept: --lenient)");
    }
}
