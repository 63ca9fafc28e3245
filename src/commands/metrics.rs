//! `passport metrics`: delivery figures per service and environment, from recorded history
//! (`-f`, offline, as evaluate reads it) or from the cluster's passports plus the controller's
//! rollups (what retention already folded away).

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use kube::api::{Api, ListParams};

use crate::api::ReleasePassport;
use crate::cli::MetricsFormat;
use crate::decide::decide_all;
use crate::load::{Bundle, Fields, load_paths};
use crate::metrics::delivery::{Figures, Record, Rollups, Scope};

pub struct Args {
    pub paths: Vec<PathBuf>,
    pub service: Option<String>,
    pub environment: Option<String>,
    pub since: Duration,
    pub output: MetricsFormat,
    pub namespace: Option<String>,
    /// Where the rollups ConfigMap lives (cluster mode).
    pub controller_namespace: String,
}

/// Recorded passports plus the releases in the files, decided as of the recording.
fn from_files(
    paths: &[PathBuf],
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<ReleasePassport>, DateTime<Utc>)> {
    let mut bundle = Bundle::default();
    load_paths(paths, "default", Fields::Strict, &mut bundle)?;
    let at = bundle.recorded_at.unwrap_or(now);
    let decided = decide_all(&bundle, at)
        .into_iter()
        .map(|d| d.passport)
        .collect();
    Ok((crate::decide::with_recorded(&bundle, decided), at))
}

async fn from_cluster(
    namespace: Option<&str>,
    controller_namespace: &str,
) -> anyhow::Result<(Vec<ReleasePassport>, Rollups)> {
    let client = crate::cluster::client::connect(None)
        .await
        .context("no Kubernetes client configuration (use -f FILES for recorded history)")?;
    let api: Api<ReleasePassport> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let passports = api
        .list(&ListParams::default())
        .await
        .context("listing ReleasePassports")?
        .items;
    let rollups = crate::cluster::history::read(&client, controller_namespace)
        .await
        .map(|s| s.rollups)
        .unwrap_or_default();
    Ok((passports, rollups))
}

const COLUMNS: [&str; 12] = [
    "TARGET",
    "RELEASES",
    "DEPLOYS",
    "PER DAY",
    "LEAD TIME",
    "FAIL RATE",
    "RECOVERY",
    "REWORK",
    "ROLLBACK",
    "APPROVAL WAIT",
    "HOLD DWELL",
    "EVIDENCE",
];

/// One line of figures; a figure with nothing to measure reads `missing` ("-" in the table,
/// an empty cell in CSV).
fn row(target: &str, f: &Figures, missing: &str) -> [String; 12] {
    let duration = |d| crate::output::maybe_duration(d, missing);
    let percent = |v| crate::output::maybe_percent(v, missing);
    [
        target.to_string(),
        f.releases.to_string(),
        f.deployments.to_string(),
        format!("{:.2}", f.deployment_frequency),
        duration(f.lead_time_median),
        percent(f.change_fail_rate),
        duration(f.recovery_median),
        percent(f.rework_rate),
        percent(f.rollback_rate),
        duration(f.approval_wait_median),
        duration(f.dwell_median),
        percent(f.evidence_completeness),
    ]
}

pub async fn run(args: Args, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let (passports, kept, now) = if args.paths.is_empty() {
        let (p, r) = from_cluster(args.namespace.as_deref(), &args.controller_namespace).await?;
        (p, r, now)
    } else {
        let (p, at) = from_files(&args.paths, now)?;
        (p, Rollups::default(), at)
    };
    let to = now.date_naive();
    let from = (now - args.since).date_naive();
    let mut rollups = kept;
    let mut records: Vec<Record> = passports.iter().map(Record::from_passport).collect();
    records.sort_by_key(|r| r.promoted_at.or(r.created));
    for r in &records {
        rollups.add(r, to);
    }
    let scope = Scope {
        namespace: None,
        service: args.service.clone(),
        environment: args.environment.clone(),
    };
    let all = rollups.figures(&scope, from, to);
    let targets = rollups.active_per_target(&scope, from, to);
    let text = match args.output {
        MetricsFormat::Json => {
            let value = serde_json::json!({
                "window": {"from": from.to_string(), "to": to.to_string()},
                "all": all,
                "targets": targets.iter().map(|(k, f)| (k.to_string(), serde_json::to_value(f).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
                "holdReasons": rollups.hold_reasons(&scope, from, to, 10).into_iter().map(|(k, n)| serde_json::json!({"rule": k, "releases": n})).collect::<Vec<_>>(),
            });
            serde_json::to_string_pretty(&value)? + "\n"
        }
        MetricsFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(COLUMNS.iter().map(|c| c.to_lowercase().replace(' ', "_")))?;
            for (k, f) in std::iter::once(("all".to_string(), all.clone()))
                .chain(targets.iter().map(|(k, f)| (k.to_string(), f.clone())))
            {
                w.write_record(
                    row(&k, &f, "")
                        .iter()
                        .map(|c| crate::console::export::neutralise(c)),
                )?;
            }
            String::from_utf8(w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?
        }
        MetricsFormat::Table => {
            let mut rows = vec![row("all", &all, "-")];
            rows.extend(targets.iter().map(|(k, f)| row(&k.to_string(), f, "-")));
            let mut out = format!("Delivery metrics {from} .. {to}\n\n");
            out.push_str(&crate::output::columns(&COLUMNS, &rows));
            let reasons = rollups.hold_reasons(&scope, from, to, 5);
            if !reasons.is_empty() {
                out.push_str("\nTop hold reasons:\n");
                for (rule, n) in reasons {
                    out.push_str(&format!("  {n:>4}  {rule}\n"));
                }
            }
            out
        }
    };
    crate::output::emit(&text);
    Ok(0)
}
