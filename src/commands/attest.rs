//! `passport attest`, `passport verify`, `passport keygen`: decision attestations.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::attest;
use crate::decide::decide_all;
use crate::load::{Bundle, load_paths};

pub struct AttestArgs {
    pub paths: Vec<PathBuf>,
    pub evidence: Vec<PathBuf>,
    pub release: String,
    pub at: Option<DateTime<Utc>>,
    pub key: Option<PathBuf>,
    pub namespace: String,
}

pub fn attest(args: AttestArgs, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let mut bundle = Bundle::default();
    load_paths(&args.paths, &args.namespace, &mut bundle)?;
    load_paths(&args.evidence, &args.namespace, &mut bundle)?;
    let key = if args.release.contains('/') {
        args.release.clone()
    } else {
        format!("{}/{}", args.namespace, args.release)
    };
    let decided = decide_all(&bundle, args.at.or(bundle.recorded_at).unwrap_or(now));
    let d = decided
        .iter()
        .find(|d| d.release.key() == key)
        .ok_or_else(|| anyhow::anyhow!("no Release {key} in the input"))?;
    let statement = attest::statement(&d.release, &d.passport, &bundle.policies);
    let document = match &args.key {
        Some(path) => {
            let private = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            attest::sign(&statement, &private)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => statement,
    };
    crate::output::emit(&(serde_json::to_string_pretty(&document)? + "\n"));
    Ok(0)
}

/// Exit 0 verified, 1 not (tampered or wrongly signed), 3 unreadable input.
pub fn verify(file: &Path, public_key: Option<&Path>) -> anyhow::Result<u8> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let document: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let key = match public_key {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    match attest::verify(&document, key.as_deref()) {
        Ok(statement) => {
            crate::output::emit(&format!(
                "verified: {} {} (decided {})\n",
                statement
                    .pointer("/subject/0/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                statement
                    .pointer("/predicate/decision")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                statement
                    .pointer("/predicate/decidedAt")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
            ));
            Ok(0)
        }
        Err(e) => {
            eprintln!("not verified: {e}");
            Ok(1)
        }
    }
}

/// Writes `passport.key` (PKCS#8, base64, mode 0600) and `passport.pub` (raw, base64).
pub fn keygen(dir: &Path) -> anyhow::Result<u8> {
    let (private, public) = attest::generate_key().map_err(|e| anyhow::anyhow!(e))?;
    std::fs::create_dir_all(dir)?;
    let key = dir.join("passport.key");
    std::fs::write(&key, private + "\n")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::write(dir.join("passport.pub"), public + "\n")?;
    crate::output::emit(&format!(
        "wrote {} and {}\n",
        key.display(),
        dir.join("passport.pub").display()
    ));
    Ok(0)
}
