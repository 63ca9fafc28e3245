//! `passport demo`: the bundled shop, decided in-process and served on localhost.

use crate::cli::DemoArgs;
use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};

use std::sync::Arc;

use anyhow::Context as _;

use crate::api::ReleasePassport;
use crate::console::{Fixed, Objects, Runtime, Settings, Snapshot};
use crate::decide::decide_all;
use crate::load::{Bundle, load_paths};
use crate::{examples, output};

pub async fn run(args: DemoArgs, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let (bundle, source, detected) = if args.examples.is_empty() {
        (
            examples::bundle()?,
            "demo: bundled example shop".to_string(),
            detected(),
        )
    } else {
        let mut bundle = Bundle::default();
        load_paths(
            &args.examples,
            "default",
            super::fields(args.lenient),
            &mut bundle,
        )?;
        super::print_warnings(&bundle);
        let names: Vec<String> = args
            .examples
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        (bundle, format!("demo: {}", names.join(", ")), Vec::new())
    };
    // A recording is decided as of the moment it was taken, so the demo reads the same every day.
    let at = args.at.or(bundle.recorded_at).unwrap_or(now);
    let decided = decide_all(&bundle, at);
    let passports: Vec<_> = decided.iter().map(|d| d.passport.clone()).collect();
    output::emit(&format!(
        "Decisions as of {}:\n\n{}",
        crate::engine::rules::time(at),
        output::to_table(&passports)
    ));
    if args.no_serve {
        return Ok(0);
    }
    let addr = SocketAddr::new(args.bind, args.port);
    let auth = super::console::auth_config(&args.auth, addr)?;
    let summary = super::console::summarizer(&args.auth.summary)?;
    let snapshot = demo_snapshot(&bundle, passports, at, source, detected);
    let local = super::console::spawn(
        addr,
        Arc::new(Fixed(Arc::new(snapshot))),
        auth,
        Settings {
            retention: "The demo keeps everything in memory and deletes nothing; in a cluster the controller folds old passports into rollups (docs/metrics.md).".into(),
            summary,
            limits: super::console::limits(&args.auth),
            ..Settings::default()
        },
        crate::runtime::shutdown_signal(),
    )
    .await
    .context("pass --port N (or --bind) for another address")?;
    let host = match local.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    output::emit(&format!(
        "\nConsole: http://{host}:{}/console  (Ctrl-C to stop)\n",
        local.port()
    ));
    crate::runtime::shutdown_signal().await;
    Ok(0)
}

fn arcs<T: Clone>(items: &[T]) -> Vec<Arc<T>> {
    items.iter().cloned().map(Arc::new).collect()
}

/// What the bundled demo shows as detected in its cluster, labelled as demo data: a Prometheus
/// API no Connector reads yet, so a newcomer sees what a detected candidate looks like.
fn detected() -> Vec<crate::connectors::detect::Candidate> {
    vec![crate::connectors::detect::Candidate {
        type_: crate::api::ConnectorType::Prometheus,
        found: "demo data: Service monitoring/thanos-query serves the Prometheus API, and no \
                Connector reads it"
            .into(),
        endpoint: Some("http://thanos-query.monitoring.svc:9090".into()),
    }]
}

/// The console's snapshot of a decided bundle: the new passports plus the recorded ones, and
/// what the demo shows as detected in its cluster.
pub fn demo_snapshot(
    bundle: &Bundle,
    passports: Vec<ReleasePassport>,
    at: DateTime<Utc>,
    source: String,
    detected: Vec<crate::connectors::detect::Candidate>,
) -> Snapshot {
    Snapshot::new(
        Objects {
            passports: crate::decide::with_recorded(bundle, passports)
                .into_iter()
                .map(Arc::new)
                .collect(),
            releases: arcs(&bundle.releases),
            policies: arcs(&bundle.policies),
            approvals: arcs(&bundle.approvals),
            waivers: arcs(&bundle.waivers),
            connectors: bundle
                .connectors_as_recorded()
                .into_iter()
                .map(Arc::new)
                .collect(),
            notifiers: arcs(&bundle.notifiers),
            candidates: detected,
            rollups: Arc::default(),
        },
        at,
        Runtime {
            mode: "demo".into(),
            source,
            leader: None,
            watch_namespace: None,
        },
    )
}
