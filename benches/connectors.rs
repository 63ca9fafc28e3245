//! Connector fan-out: 1,000 releases sharing 10 distinct Prometheus queries, against a local
//! Prometheus-shaped server that takes 50 ms per query. `cargo bench --bench connectors`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use release_passport::api::{Connector, Keyed, Release};
use release_passport::connectors::hub::{self, Credential, Hub};
use release_passport::connectors::query::Query;
use release_passport::engine::needs::{MetricNeed, Needs};

const RELEASES: usize = 1_000;
const DISTINCT: usize = 10;
const UPSTREAM_DELAY: Duration = Duration::from_millis(50);

async fn query(State(calls): State<Arc<AtomicUsize>>) -> impl IntoResponse {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(UPSTREAM_DELAY).await;
    axum::Json(
        serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "0.001"]}]}}),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/api/v1/query", get(query))
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let connector: Connector = serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {{name: prometheus, namespace: shop}}\nspec: {{type: Prometheus, endpoint: 'http://{addr}', maxConcurrency: {DISTINCT}, timeout: 5s}}\n"
    ))
    .unwrap();
    let releases: Vec<(Release, Needs)> = (0..RELEASES)
        .map(|i| {
            let release: Release = serde_json::from_value(serde_json::json!({
                "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
                "metadata": {"name": format!("r{i}"), "namespace": "shop"},
                "spec": {"service": format!("svc-{}", i % DISTINCT), "version": "1", "environment": "production"}
            }))
            .unwrap();
            let needs = Needs {
                metrics: [MetricNeed { connector: None, query: format!("rate(http_requests_total{{service=\"svc-{}\"}}[5m])", i % DISTINCT).into() }].into(),
                ..Needs::default()
            };
            (release, needs)
        })
        .collect();
    let hub = Hub::new().unwrap();
    let now = chrono::Utc::now();

    // The slowest single upstream call: one query alone, best of 5 after a warm-up.
    let one: BTreeSet<Query> = [Query::Metric("vector(1)".into())].into();
    hub.refresh(&connector, &one, &Credential::NotNeeded, now)
        .await;
    let single = (0..5).map(|_| async {
        let t = Instant::now();
        hub.refresh(&connector, &one, &Credential::NotNeeded, now)
            .await;
        t.elapsed()
    });
    let mut singles = Vec::new();
    for s in single {
        singles.push(s.await);
    }
    let slowest_single = singles.into_iter().max().unwrap();

    calls.store(0, Ordering::SeqCst);
    let t = Instant::now();
    let plan = hub::plan(&[Arc::new(connector.clone())], &releases);
    let queries = plan[&connector.key()].clone();
    let refreshed = hub
        .refresh(&connector, &queries, &Credential::NotNeeded, now)
        .await;
    let full = t.elapsed();
    let upstream = calls.load(Ordering::SeqCst);

    println!(
        "connector fan-out: {RELEASES} releases, {DISTINCT} distinct queries, {} ms per upstream call",
        UPSTREAM_DELAY.as_millis()
    );
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| upstream calls per refresh | {upstream} |");
    println!(
        "| ratio calls / distinct queries | {:.1} |",
        upstream as f64 / DISTINCT as f64
    );
    println!(
        "| refresh of all {RELEASES} releases (plan + fetch) | {:.1} ms |",
        full.as_secs_f64() * 1e3
    );
    println!(
        "| slowest single upstream call | {:.1} ms |",
        slowest_single.as_secs_f64() * 1e3
    );
    println!(
        "| ratio full refresh / slowest single call | {:.2} |",
        full.as_secs_f64() / slowest_single.as_secs_f64()
    );
    assert_eq!(upstream, DISTINCT);
    assert!(refreshed.changed);
}
