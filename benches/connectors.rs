//! Connector fan-out: 1,000 releases sharing 10 distinct questions, for each connector type
//! that answers per-release questions, against a local server speaking that type's API and
//! taking 50 ms per call. `cargo bench --bench connectors`.
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
use release_passport::connectors::kind::Asked;
use release_passport::connectors::kind_of;
use release_passport::connectors::query::Query;
use release_passport::engine::needs::{MetricNeed, Needs};
use serde_json::{Value, json};

const RELEASES: usize = 1_000;
const DISTINCT: usize = 10;
const UPSTREAM_DELAY: Duration = Duration::from_millis(50);

/// One connector type under test: where its API answers, what it answers, its Connector's
/// spec, and what the i-th release needs of it.
struct Backend {
    name: &'static str,
    path: &'static str,
    answer: fn() -> Value,
    spec: &'static str,
    needs: fn(usize) -> Needs,
}

const BACKENDS: &[Backend] = &[
    Backend {
        name: "Prometheus",
        path: "/api/v1/query",
        answer: || json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "0.001"]}]}}),
        spec: "type: Prometheus",
        needs: |i| Needs {
            metrics: [MetricNeed {
                connector: None,
                query: format!(
                    "rate(http_requests_total{{service=\"svc-{}\"}}[5m])",
                    i % DISTINCT
                )
                .into(),
            }]
            .into(),
            ..Needs::default()
        },
    },
    Backend {
        name: "InfluxDB",
        path: "/query",
        answer: || json!({"results": [{"statement_id": 0, "series": [{"name": "errors", "columns": ["time", "last"], "values": [[1_700_000_000, 0.001]]}]}]}),
        spec: "type: InfluxDB, influxdb: {database: shop}",
        needs: |i| Needs {
            metrics: [MetricNeed {
                connector: Some("upstream".into()),
                query: format!(
                    "SELECT last(\"ratio\") FROM \"errors\" WHERE \"service\" = 'svc-{}'",
                    i % DISTINCT
                )
                .into(),
            }]
            .into(),
            ..Needs::default()
        },
    },
    Backend {
        name: "NewRelic",
        path: "/graphql",
        answer: || json!({"data": {"actor": {"account": {"nrql": {"results": [{"percentage": 0.2}]}}}}}),
        spec: "type: NewRelic, newRelic: {accountId: 1}",
        needs: |i| {
            Needs {
            metrics: [MetricNeed {
                connector: Some("upstream".into()),
                query: format!(
                    "SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = 'svc-{}'",
                    i % DISTINCT
                )
                .into(),
            }]
            .into(),
            ..Needs::default()
        }
        },
    },
    Backend {
        name: "Datadog",
        path: "/api/v1/query",
        answer: || json!({"status": "ok", "series": [{"pointlist": [[1_700_000_000_000_i64, 0.001]]}]}),
        spec: "type: Datadog",
        needs: |i| Needs {
            metrics: [MetricNeed {
                connector: Some("upstream".into()),
                query: format!(
                    "sum:trace.http.request.errors{{service:svc-{}}}.as_rate()",
                    i % DISTINCT
                )
                .into(),
            }]
            .into(),
            ..Needs::default()
        },
    },
    Backend {
        name: "Alertmanager",
        path: "/api/v2/alerts",
        answer: || json!([]),
        spec: "type: Alertmanager, alerts: {matchers: ['severity=\"critical\"']}",
        needs: |_| Needs {
            sources: ["alerts".to_string()].into(),
            ..Needs::default()
        },
    },
];

async fn answer(State((calls, body)): State<(Arc<AtomicUsize>, Arc<Value>)>) -> impl IntoResponse {
    calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(UPSTREAM_DELAY).await;
    axum::Json((*body).clone())
}

/// What one backend measured: calls per refresh, the full refresh, the slowest single call.
struct FanOut {
    calls: usize,
    full: Duration,
    slowest_single: Duration,
}

async fn measure(backend: &Backend) -> FanOut {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(backend.path, get(answer).post(answer))
        .with_state((Arc::clone(&calls), Arc::new((backend.answer)())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let connector: Connector = serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {{name: upstream, namespace: shop}}\nspec: {{{}, endpoint: 'http://{addr}', maxConcurrency: {DISTINCT}, timeout: 5s}}\n",
        backend.spec
    ))
    .unwrap();
    let releases: Vec<(Release, Needs)> = (0..RELEASES)
        .map(|i| {
            let service = format!("svc-{}", i % DISTINCT);
            let release: Release = serde_json::from_value(json!({
                "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
                "metadata": {"name": format!("r{i}"), "namespace": "shop"},
                "spec": {"service": service, "version": "1", "environment": "production",
                         "scope": {"metricLabels": {"service": service}}}
            }))
            .unwrap();
            (release, (backend.needs)(i))
        })
        .collect();
    let hub = Hub::new().unwrap();
    let now = chrono::Utc::now();
    // Every type is given a credential: some need one (New Relic's user key, Datadog's two).
    let credential = Credential::Pair {
        token: "bench-key".into(),
        second: "bench-application-key".into(),
    };

    // The slowest single upstream call: the first release's question alone, best of 5 after
    // a warm-up.
    let (release, needs) = &releases[0];
    let one: BTreeSet<Query> = kind_of(connector.spec.type_)
        .queries(&Asked {
            connector: &connector,
            release,
            needs,
            connectors: &[],
        })
        .into_iter()
        .collect();
    hub.refresh(&connector, &one, &credential, now).await;
    let mut singles = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        hub.refresh(&connector, &one, &credential, now).await;
        singles.push(t.elapsed());
    }

    calls.store(0, Ordering::SeqCst);
    let t = Instant::now();
    let plan = hub::plan(&[Arc::new(connector.clone())], &releases);
    let queries = plan[&connector.key()].clone();
    let refreshed = hub.refresh(&connector, &queries, &credential, now).await;
    let full = t.elapsed();
    assert!(refreshed.changed);
    assert_eq!(
        refreshed.status.health,
        Some(release_passport::api::ConnectorHealth::Healthy),
        "{}: {:?}",
        backend.name,
        refreshed.status.last_error
    );
    FanOut {
        calls: calls.load(Ordering::SeqCst),
        full,
        slowest_single: singles.into_iter().max().unwrap(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!(
        "connector fan-out: {RELEASES} releases, {DISTINCT} distinct questions, {} ms per upstream call",
        UPSTREAM_DELAY.as_millis()
    );
    println!(
        "| type | upstream calls per refresh | calls / distinct questions | refresh of all (plan + fetch) | slowest single call | full / single |"
    );
    println!("|---|---|---|---|---|---|");
    for backend in BACKENDS {
        let m = measure(backend).await;
        println!(
            "| {} | {} | **{:.1}** | {:.1} ms | {:.1} ms | {:.2} |",
            backend.name,
            m.calls,
            m.calls as f64 / DISTINCT as f64,
            m.full.as_secs_f64() * 1e3,
            m.slowest_single.as_secs_f64() * 1e3,
            m.full.as_secs_f64() / m.slowest_single.as_secs_f64()
        );
        assert_eq!(m.calls, DISTINCT, "{}", backend.name);
    }
}
