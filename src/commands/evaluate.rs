//! `passport evaluate`: decide releases from files, in any CI job.

use crate::cli::EvaluateArgs;

use chrono::{DateTime, Utc};

use crate::api::Keyed;
use crate::cli::OutputFormat;
use crate::decide::{decide_all, exit_code};
use crate::load::{Bundle, LoadError, load_paths};
use crate::output;

/// Exit code for bad input.
pub const EXIT_BAD_INPUT: u8 = 3;

fn load(args: &EvaluateArgs) -> Result<Bundle, LoadError> {
    let mut bundle = Bundle::default();
    let fields = super::fields(args.lenient);
    load_paths(&args.paths, &args.namespace, fields, &mut bundle)?;
    load_paths(&args.evidence, &args.namespace, fields, &mut bundle)?;
    Ok(bundle)
}

pub fn run(args: EvaluateArgs, now: DateTime<Utc>) -> u8 {
    let bundle = match load(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    super::print_warnings(&bundle);
    if bundle.releases.is_empty() {
        eprintln!("error: no Release found in the input; nothing to decide");
        return EXIT_BAD_INPUT;
    }
    for key in bundle.evidence.keys() {
        if !bundle.releases.iter().any(|r| &r.key() == key) {
            eprintln!("warning: evidence recorded for {key}, which is not a Release in the input");
        }
    }
    let decided = decide_all(&bundle, args.at.unwrap_or(now));
    let passports: Vec<_> = decided.iter().map(|d| d.passport.clone()).collect();
    let text = match args.output {
        OutputFormat::Table => output::to_table(&passports),
        OutputFormat::Json => output::to_json(&passports) + "\n",
        OutputFormat::Yaml => output::to_yaml(&passports),
    };
    output::emit(&text);
    exit_code(
        decided
            .iter()
            .filter_map(|d| d.evaluation.status.decision.as_ref()),
    )
}
