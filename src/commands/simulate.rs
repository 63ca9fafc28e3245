//! `passport simulate`: what a candidate policy would have decided over recorded passports.

use crate::cli::SimulateArgs;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use kube::api::{Api, ListParams};

use crate::api::{GatePolicy, ReleasePassport};
use crate::cli::OutputFormat;
use crate::load::{Bundle, load_paths};
use crate::simulate::{Replay, replay, summary};

/// Recorded passports from files: documents of kind ReleasePassport, also inside `List`s (as
/// `kubectl get rp -A -o yaml` and `passport evaluate -o yaml` write them).
fn passports_from_files(paths: &[PathBuf]) -> anyhow::Result<Vec<ReleasePassport>> {
    let mut out = Vec::new();
    for (file, _) in crate::load::expand_paths(paths)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value: serde_json::Value =
                serde::Deserialize::deserialize(doc).with_context(|| {
                    format!("{}: document {}: malformed YAML", file.display(), i + 1)
                })?;
            let items = match value.get("kind").and_then(|k| k.as_str()) {
                Some("List") => value
                    .get("items")
                    .and_then(|i| i.as_array())
                    .cloned()
                    .unwrap_or_default(),
                Some("ReleasePassport") => vec![value],
                _ => Vec::new(),
            };
            for item in items
                .into_iter()
                .filter(|v| v.get("kind").and_then(|k| k.as_str()) == Some("ReleasePassport"))
            {
                let p: ReleasePassport = serde_path_to_error::deserialize(&item).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: document {}: {}: {}",
                        file.display(),
                        i + 1,
                        e.path(),
                        e.inner()
                    )
                })?;
                out.push(p);
            }
        }
    }
    Ok(out)
}

pub async fn run(args: SimulateArgs, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let mut bundle = Bundle::default();
    load_paths(
        std::slice::from_ref(&args.policy),
        "default",
        super::fields(args.lenient),
        &mut bundle,
    )?;
    super::print_warnings(&bundle);
    let candidates: Vec<GatePolicy> = bundle.policies;
    anyhow::ensure!(
        !candidates.is_empty(),
        "{} holds no GatePolicy to simulate",
        args.policy.display()
    );
    let mut passports = passports_from_files(&args.from)?;
    if args.cluster {
        let client = crate::cluster::client::connect(None).await?;
        passports.extend(
            Api::<ReleasePassport>::all(client)
                .list(&ListParams::default())
                .await?
                .items,
        );
    }
    anyhow::ensure!(
        !passports.is_empty(),
        "no recorded passport to replay (use --from or --cluster)"
    );
    let since = args.since.map(|d| now - d);
    let mut text = String::new();
    let mut all: Vec<(String, Vec<Replay>)> = Vec::new();
    for candidate in &candidates {
        let name = candidate.metadata.name.clone().unwrap_or_default();
        all.push((name, replay(candidate, &passports, since)));
    }
    match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let value: Vec<serde_json::Value> = all
                .iter()
                .map(|(name, replays)| {
                    serde_json::json!({
                        "policy": name,
                        "summary": summary(replays),
                        "releases": replays.iter().map(|r| serde_json::json!({
                            "release": r.release,
                            "decidedAt": r.decided_at,
                            "recorded": r.recorded,
                            "would": r.would,
                            "changed": r.changed(),
                            "why": r.why,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            text = if args.output == OutputFormat::Json {
                serde_json::to_string_pretty(&value)? + "\n"
            } else {
                serde_yaml_ng::to_string(&value)?
            };
        }
        OutputFormat::Table => {
            for (name, replays) in &all {
                text.push_str(&format!("policy {name}\n"));
                let width = replays
                    .iter()
                    .map(|r| r.release.to_string().len())
                    .max()
                    .unwrap_or(7)
                    .max(7);
                text.push_str(&format!(
                    "{:<width$}   {:<20}   {:<8}   {:<8}   WHY\n",
                    "RELEASE", "DECIDED", "RECORDED", "WOULD"
                ));
                for r in replays {
                    let mark = if r.changed() { "*" } else { " " };
                    text.push_str(&format!(
                        "{:<width$}   {:<20}   {:<8}   {:<8}{mark}  {}\n",
                        r.release,
                        r.decided_at
                            .map_or_else(|| "-".into(), crate::engine::rules::time),
                        r.recorded.map_or("-", |d| d.as_str()),
                        r.would.as_str(),
                        r.why.as_deref().unwrap_or("-"),
                    ));
                }
                text.push_str(&format!("{}\n\n", summary(replays)));
            }
        }
    }
    crate::output::emit(&text);
    Ok(0)
}
