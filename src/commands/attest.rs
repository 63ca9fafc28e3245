//! `passport attest`, `passport verify`, `passport keygen`: decision attestations.

use crate::cli::AttestArgs;
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::api::Keyed;
use crate::attest;
use crate::decide::decide_all;
use crate::load::{Bundle, load_paths};

pub async fn attest(args: AttestArgs, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let mut bundle = Bundle::default();
    let fields = super::fields(args.lenient);
    load_paths(&args.paths, &args.namespace, fields, &mut bundle)?;
    load_paths(&args.evidence, &args.namespace, fields, &mut bundle)?;
    super::print_warnings(&bundle);
    let key = crate::api::ObjectKey::written(&args.release, &args.namespace);
    let decided = decide_all(&bundle, args.at.or(bundle.recorded_at).unwrap_or(now));
    let d = decided
        .iter()
        .find(|d| d.release.key() == key)
        .ok_or_else(|| anyhow::anyhow!("no Release {key} in the input"))?;
    let statement = attest::statement(&d.release, &d.passport, &bundle.policies);
    let document = match (&args.key, &args.key_secret) {
        (Some(path), _) => {
            let private = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            attest::sign(&statement, &private).with_context(|| path.display().to_string())?
        }
        (None, Some(reference)) => {
            let private = secret_key(reference).await?;
            attest::sign(&statement, &private).with_context(|| format!("Secret {reference}"))?
        }
        (None, None) => statement,
    };
    crate::output::emit(&(serde_json::to_string_pretty(&document)? + "\n"));
    Ok(0)
}

/// The signing key from a Secret: NAMESPACE/NAME[:KEY]. The value is never printed.
async fn secret_key(reference: &str) -> anyhow::Result<String> {
    let (object, key) = reference
        .split_once(':')
        .unwrap_or((reference, "passport.key"));
    let (namespace, name) = object.split_once('/').ok_or_else(|| {
        anyhow::anyhow!("--key-secret {reference}: expected NAMESPACE/NAME[:KEY]")
    })?;
    let client = crate::cluster::client::connect(None)
        .await
        .context("--key-secret needs a cluster: no usable kubeconfig")?;
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client, namespace);
    let secret = secrets
        .get_opt(name)
        .await
        .with_context(|| format!("reading Secret {namespace}/{name}"))?
        .ok_or_else(|| anyhow::anyhow!("Secret {namespace}/{name} does not exist"))?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| anyhow::anyhow!("Secret {namespace}/{name} has no key {key:?}"))?;
    String::from_utf8(bytes.0.clone())
        .map_err(|_| anyhow::anyhow!("key {key:?} of Secret {namespace}/{name} is not text"))
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
    let (private, public) = attest::generate_key()?;
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
