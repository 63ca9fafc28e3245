//! The console over 10,000 passports: `cargo bench --bench console`. Builds the example shop's
//! decisions ten thousand times over (ten namespaces, a thousand services), serves the real
//! router on loopback, and drives it at a fixed 200 requests/s — Overview, the passport list and a
//! static body of Overview's size from the same server — reporting p50/p99 per path; then the
//! in-process render time of each page, snapshot time from scratch and after one change (at
//! 10,000 and 100,000 passports) and RSS. Every figure comes from
//! this one run; docs/BENCHMARKS.md records them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use release_passport::api::ReleasePassport;
use release_passport::commands::demo::demo_snapshot;
use release_passport::console::{self, AuthConfig, Fixed, Identity, Settings};
use release_passport::decide::decide_all;

const PASSPORTS: usize = 10_000;
const RATE: u32 = 200;
const SECONDS: u64 = 10;

fn rss_mib() -> f64 {
    let kib: f64 = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The example shop's decisions, ten thousand times over: ten namespaces, a thousand services.
fn passports() -> (
    release_passport::load::Bundle,
    Vec<ReleasePassport>,
    chrono::DateTime<chrono::Utc>,
) {
    passports_of(PASSPORTS)
}

/// A snapshot from scratch over `count` passports, then the median over 200 snapshots each
/// taken after one passport changed (a new timeline entry, as a decision change writes).
fn rebuilds(count: usize) -> (Duration, Duration) {
    use release_passport::console::builder::Builder;
    let (bundle, decided, at) = passports_of(count);
    let original = decided[count / 2].clone();
    let objects = console::Objects {
        passports: decided.into_iter().map(Arc::new).collect(),
        policies: bundle.policies.iter().cloned().map(Arc::new).collect(),
        approvals: bundle.approvals.iter().cloned().map(Arc::new).collect(),
        ..console::Objects::default()
    };
    let start = Instant::now();
    let mut builder = Builder::of(objects);
    black_box(console::Snapshot::of(
        builder.collections(),
        at,
        console::Runtime::default(),
    ));
    let scratch = start.elapsed();
    let mut times: Vec<Duration> = (0..200)
        .map(|i| {
            let mut changing = original.clone();
            let status = changing.status.get_or_insert_with(Default::default);
            status
                .timeline
                .push(release_passport::api::passport::TimelineEntry {
                    at: at + chrono::Duration::seconds(i),
                    decision: release_passport::api::Decision::Allow,
                    message: format!("approved ({i})"),
                    waived: Vec::new(),
                });
            changing.metadata.resource_version = Some(i.to_string());
            let changed = Arc::new(changing);
            let start = Instant::now();
            builder.upsert(changed);
            black_box(console::Snapshot::of(
                builder.collections(),
                at,
                console::Runtime::default(),
            ));
            start.elapsed()
        })
        .collect();
    times.sort();
    (scratch, times[times.len() / 2])
}

fn passports_of(
    count: usize,
) -> (
    release_passport::load::Bundle,
    Vec<ReleasePassport>,
    chrono::DateTime<chrono::Utc>,
) {
    let bundle = release_passport::examples::bundle().unwrap();
    let at = bundle.recorded_at.unwrap();
    let decided: Vec<ReleasePassport> = decide_all(&bundle, at)
        .into_iter()
        .map(|d| d.passport)
        .collect();
    let passports = (0..count)
        .map(|i| {
            let mut p = decided[i % decided.len()].clone();
            p.metadata.namespace = Some(format!("team-{}", i % 10));
            p.metadata.name = Some(format!(
                "{}-{i:05}",
                p.metadata.name.clone().unwrap_or_default()
            ));
            p.spec.service = format!("svc-{:03}", i % 1000);
            p
        })
        .collect();
    (bundle, passports, at)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Who asks: the proxy's identity headers (the bench trusts loopback as its proxy).
type Viewer = [(&'static str, &'static str); 2];
const SRE: Viewer = [("x-forwarded-user", "bench"), ("x-forwarded-groups", "sre")];
const TEAM: Viewer = [
    ("x-forwarded-user", "team-0"),
    ("x-forwarded-groups", "team-0"),
];

async fn get_body(client: &reqwest::Client, url: &str, viewer: Viewer) -> Vec<u8> {
    let mut request = client.get(url);
    for (name, value) in viewer {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}

/// GETs `url` at a fixed rate for `SECONDS`; latencies sorted. With `fresh`, each request
/// adds a query parameter of its own, so no page is served from the snapshot's page cache.
async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    viewer: Viewer,
    fresh: bool,
) -> Vec<Duration> {
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / RATE);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for i in 0..(u64::from(RATE) * SECONDS) {
        ticker.tick().await;
        let client = client.clone();
        let url = if fresh {
            format!("{url}?draw={i}")
        } else {
            url.to_string()
        };
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            assert!(!get_body(&client, &url, viewer).await.is_empty());
            start.elapsed()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out.sort();
    out
}

fn median_render(iterations: u32, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..iterations {
        let start = Instant::now();
        size = f();
        times.push(start.elapsed());
    }
    times.sort();
    (times[times.len() / 2], size)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rss_before = rss_mib();
    let (bundle, passports, at) = passports();
    let started = Instant::now();
    let snapshot = demo_snapshot(&bundle, passports, at, "bench".into(), Vec::new());
    let rebuild = started.elapsed();
    let rss_after = rss_mib();
    let snapshot = Arc::new(snapshot);
    let (scratch, one_change) = rebuilds(PASSPORTS);
    let (scratch_large, one_change_large) = rebuilds(PASSPORTS * 10);

    let user = Identity {
        name: "bench".into(),
        groups: Vec::new(),
        visibility: console::auth::Visibility::All,
        via: "local",
    };
    let (overview_render, overview_size) = median_render(50, || {
        console::render_page(&snapshot, &user, "/console").len()
    });
    let (list_render, list_size) = median_render(50, || {
        console::render_page(&snapshot, &user, "/console/releases").len()
    });
    let (metrics_render, metrics_size) = median_render(10, || {
        console::render_page(&snapshot, &user, "/console/metrics").len()
    });
    let restricted = Identity {
        name: "team-0".into(),
        groups: vec!["team-0".into()],
        visibility: console::auth::Visibility::Only(["team-0".to_string()].into()),
        via: "proxy",
    };
    let (restricted_overview, _) = median_render(50, || {
        console::render_page(&snapshot, &restricted, "/console").len()
    });
    let (restricted_list, _) = median_render(50, || {
        console::render_page(&snapshot, &restricted, "/console/releases").len()
    });
    let (restricted_metrics_render, _) = median_render(10, || {
        console::render_page(&snapshot, &restricted, "/console/metrics").len()
    });
    // The first view of a snapshot computes the window's figures; later views read them.
    let mut first_views: Vec<Duration> = (0..3)
        .map(|_| {
            let (bundle, decided, at) = self::passports();
            let fresh = demo_snapshot(&bundle, decided, at, "bench".into(), Vec::new());
            let start = Instant::now();
            black_box(console::render_page(&fresh, &user, "/console/metrics").len());
            start.elapsed()
        })
        .collect();
    first_views.sort();
    let metrics_first = first_views[1];

    let static_body: &'static [u8] = Box::leak(vec![b'x'; overview_size].into_boxed_slice());
    let static_list: &'static [u8] = Box::leak(vec![b'x'; list_size].into_boxed_slice());
    let static_metrics: &'static [u8] = Box::leak(vec![b'x'; metrics_size].into_boxed_slice());
    let app = console::router(
        Arc::new(Fixed(Arc::clone(&snapshot))),
        AuthConfig {
            proxy: Some(console::auth::ProxyAuth::new(vec![
                "127.0.0.1/32".parse().unwrap(),
            ])),
            group_namespaces: [
                ("sre".to_string(), vec!["*".to_string()]),
                ("team-0".to_string(), vec!["team-0".to_string()]),
            ]
            .into(),
            ..AuthConfig::default()
        },
        Settings::default(),
    )
    .route("/bench/static", get(move || async move { static_body }))
    .route(
        "/bench/static-list",
        get(move || async move { static_list }),
    )
    .route(
        "/bench/static-metrics",
        get(move || async move { static_metrics }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(release_passport::serve::serve(
        listener,
        app,
        release_passport::serve::Limits::default(),
        std::future::pending(),
    ));
    let wrk_base = base.clone();
    let runs = runtime.block_on(async move {
        let client = release_passport::connectors::http::client().unwrap();
        // Warm up the connection pool and the allocator.
        for path in [
            "/console",
            "/console/releases",
            "/bench/static",
            "/bench/static-list",
        ] {
            for _ in 0..20 {
                get_body(&client, &format!("{base}{path}"), SRE).await;
                get_body(&client, &format!("{base}{path}"), TEAM).await;
            }
        }
        let mut runs = Vec::new();
        for (label, path, viewer, fresh) in [
            ("/console (Overview)", "/console", SRE, false),
            (
                "/console/releases (list, page 1)",
                "/console/releases",
                SRE,
                false,
            ),
            (
                "static body of Overview's size",
                "/bench/static",
                SRE,
                false,
            ),
            (
                "static body of the list's size",
                "/bench/static-list",
                SRE,
                false,
            ),
            ("Overview, restricted viewer", "/console", TEAM, false),
            ("list, restricted viewer", "/console/releases", TEAM, false),
            ("Overview, drawn for every request", "/console", SRE, true),
            (
                "list, drawn for every request",
                "/console/releases",
                SRE,
                true,
            ),
            (
                "Overview, restricted, drawn for every request",
                "/console",
                TEAM,
                true,
            ),
            (
                "list, restricted, drawn for every request",
                "/console/releases",
                TEAM,
                true,
            ),
            (
                "/console/metrics (Metrics, 30 days)",
                "/console/metrics",
                SRE,
                false,
            ),
            (
                "static body of Metrics' size",
                "/bench/static-metrics",
                SRE,
                false,
            ),
            (
                "Metrics, restricted viewer",
                "/console/metrics",
                TEAM,
                false,
            ),
            (
                "Metrics, drawn for every request",
                "/console/metrics",
                SRE,
                true,
            ),
            (
                "Metrics, restricted, drawn for every request",
                "/console/metrics",
                TEAM,
                true,
            ),
        ] {
            let latencies = fixed_rate(&client, &format!("{base}{path}"), viewer, fresh).await;
            runs.push((label, path, latencies));
        }
        runs
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "Console over {PASSPORTS} passports, {RATE} requests/s for {SECONDS} s per path (loopback, same server):\n"
    );
    println!("| path | body | p50 | p99 |");
    println!("|---|---|---|---|");
    let p50 = |label: &str| {
        runs.iter()
            .find(|(l, _, _)| *l == label)
            .map(|(_, _, lat)| percentile(lat, 0.5))
            .unwrap()
    };
    for (label, path, lat) in &runs {
        let size = if path.ends_with("releases") || path.ends_with("list") {
            list_size
        } else if path.ends_with("metrics") {
            metrics_size
        } else {
            overview_size
        };
        println!(
            "| {label} | {:.1} KiB | {:.2} ms | {:.2} ms |",
            size as f64 / 1024.0,
            ms(percentile(lat, 0.5)),
            ms(percentile(lat, 0.99))
        );
    }
    // The same three paths under wrk (Debian) at 200 requests/s, when it is installed.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/wrk-200rps.lua");
    let wrk = |path: &str| {
        let out = std::process::Command::new("wrk")
            .args([
                "-t2",
                "-c4",
                "-d10s",
                "--latency",
                "-H",
                "X-Forwarded-User: bench",
                "-H",
                "X-Forwarded-Groups: sre",
                "-s",
                script,
                &format!("{wrk_base}{path}"),
            ])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let field = |prefix: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(prefix))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        };
        Some((field("99%")?, field("50%")?, field("Requests/sec:")?))
    };
    let measured: Vec<_> = [
        ("/console (Overview)", "/console"),
        ("/console/releases (list)", "/console/releases"),
        ("static body of Overview's size", "/bench/static"),
    ]
    .into_iter()
    .filter_map(|(label, path)| Some((label, wrk(path)?)))
    .collect();
    if !measured.is_empty() {
        println!();
        println!("wrk -t2 -c4 -d10s, 20 ms between requests per connection (≈200 requests/s):\n");
        println!("| path | requests/s | p50 | p99 |");
        println!("|---|---|---|---|");
        for (label, (p99, p50, rps)) in &measured {
            println!("| {label} | {rps} | {p50} | {p99} |");
        }
    }
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    for (page, static_body) in [
        ("/console (Overview)", "static body of Overview's size"),
        (
            "/console/releases (list, page 1)",
            "static body of the list's size",
        ),
        (
            "Overview, restricted viewer",
            "static body of Overview's size",
        ),
        ("list, restricted viewer", "static body of the list's size"),
        (
            "Overview, drawn for every request",
            "static body of Overview's size",
        ),
        (
            "list, drawn for every request",
            "static body of the list's size",
        ),
        (
            "Overview, restricted, drawn for every request",
            "static body of Overview's size",
        ),
        (
            "list, restricted, drawn for every request",
            "static body of the list's size",
        ),
        (
            "/console/metrics (Metrics, 30 days)",
            "static body of Metrics' size",
        ),
        ("Metrics, restricted viewer", "static body of Metrics' size"),
        (
            "Metrics, drawn for every request",
            "static body of Metrics' size",
        ),
        (
            "Metrics, restricted, drawn for every request",
            "static body of Metrics' size",
        ),
    ] {
        println!(
            "| {page} p50 / static p50 (same size, same server, same run) | {:.2}x |",
            p50(page).as_secs_f64() / p50(static_body).as_secs_f64()
        );
    }
    println!(
        "| Overview render in process (median) | {:.2} ms |",
        ms(overview_render)
    );
    println!(
        "| Overview / list render in process, restricted viewer (median) | {:.2} / {:.2} ms |",
        ms(restricted_overview),
        ms(restricted_list)
    );
    println!(
        "| passport list render in process (median) | {:.2} ms |",
        ms(list_render)
    );
    println!(
        "| Metrics render in process (median; later views of a snapshot) | {:.2} ms |",
        ms(metrics_render)
    );
    println!(
        "| Metrics render, restricted viewer (one namespace; later views) | {:.2} ms |",
        ms(restricted_metrics_render)
    );
    println!(
        "| Metrics render, first view of a snapshot (figures computed; median of 3) | {:.2} ms |",
        ms(metrics_first)
    );
    println!(
        "| snapshot of the demo over {PASSPORTS} passports, from scratch | {:.1} ms |",
        ms(rebuild)
    );
    for (count, scratch, one) in [
        (PASSPORTS, scratch, one_change),
        (PASSPORTS * 10, scratch_large, one_change_large),
    ] {
        println!(
            "| snapshot at {count} passports: from scratch / after 1 changed passport (median of 200) | {:.1} ms / {:.1} µs |",
            ms(scratch),
            one.as_secs_f64() * 1e6
        );
    }
    println!(
        "| RSS growth holding the passports and snapshot | {:.1} MiB |",
        rss_after - rss_before
    );
    println!("| process RSS at the end | {:.1} MiB |", rss_mib());
}
