//! Connectors against local HTTP servers speaking the real JSON shapes — and misbehaving: slow,
//! 5xx, 401, malformed and truncated bodies, TLS failure. Also: one upstream call per distinct
//! query whatever the number of releases, and no secret in any status or error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use release_passport::api::{Connector, ConnectorHealth, EvidenceStatus, Release};
use release_passport::connectors::hub::{self, Credential, Hub};
use release_passport::engine::needs::{MetricNeed, Needs};

const SECRET: &str = "tok-3f9a-very-secret-value";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn connector(type_: &str, endpoint: &str, extra: &str) -> Connector {
    serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: upstream, namespace: shop}}
spec: {{type: {type_}, endpoint: '{endpoint}', timeout: 1s, source: provider{extra}}}
"
    ))
    .unwrap()
}

/// A status page whose behaviour is chosen by the path prefix.
async fn status_page(State(mode): State<&'static str>, headers: HeaderMap) -> Response {
    match mode {
        "ok" => axum::Json(serde_json::json!({
            "page": {"id": "kctbh9vrtdwd", "name": "Cards", "url": "https://status.cards.example", "updated_at": "2026-11-25T13:58:00Z"},
            "status": {"indicator": "none", "description": "All Systems Operational"}
        }))
        .into_response(),
        "major" => axum::Json(serde_json::json!({
            "page": {"id": "kctbh9vrtdwd", "name": "Cards"},
            "status": {"indicator": "major", "description": "Partial System Outage"}
        }))
        .into_response(),
        "5xx" => (StatusCode::BAD_GATEWAY, "upstream connect error").into_response(),
        "401" => {
            assert_eq!(headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {SECRET}"));
            (StatusCode::UNAUTHORIZED, format!("bad token {SECRET}")).into_response()
        }
        "malformed" => (StatusCode::OK, "<html>maintenance page</html>").into_response(),
        "truncated" => (StatusCode::OK, r#"{"status": {"indicator": "no"#).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{}".into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn page_server(mode: &'static str) -> String {
    let app = Router::new()
        .route("/api/v2/status.json", get(status_page))
        .with_state(mode);
    format!("http://{}", serve(app).await)
}

fn needs_provider() -> Needs {
    Needs {
        sources: ["provider".to_string()].into(),
        metrics: BTreeSet::new(),
    }
}

async fn refresh_page(
    mode: &'static str,
    credential: Credential,
) -> (hub::Refreshed, Option<EvidenceStatus>) {
    let hub = Hub::new().unwrap();
    let c = connector("StatusPage", &page_server(mode).await, "");
    let queries: BTreeSet<String> = [String::new()].into();
    let refreshed = hub.refresh(&c, &queries, &credential, now()).await;
    let observed = hub.observation(&hub::key(&c), "").map(|i| i.status);
    (refreshed, observed)
}

#[tokio::test]
async fn status_page_shapes_and_failures() {
    let (ok, observed) = refresh_page("ok", Credential::NotNeeded).await;
    assert_eq!(ok.status.health, Some(ConnectorHealth::Healthy));
    assert_eq!(ok.status.last_success_at, Some(now()));
    assert_eq!(observed, Some(EvidenceStatus::Complete));

    let (major, observed) = refresh_page("major", Credential::NotNeeded).await;
    assert_eq!(
        major.status.health,
        Some(ConnectorHealth::Healthy),
        "the connector works; the provider is down"
    );
    assert_eq!(observed, Some(EvidenceStatus::Failed));

    for (mode, health) in [
        // It answers, but not usefully: Degraded. It does not answer in time: Unreachable.
        ("5xx", ConnectorHealth::Degraded),
        ("malformed", ConnectorHealth::Degraded),
        ("truncated", ConnectorHealth::Degraded),
        ("slow", ConnectorHealth::Unreachable),
    ] {
        let started = std::time::Instant::now();
        let (r, observed) = refresh_page(mode, Credential::NotNeeded).await;
        assert_eq!(
            r.status.health,
            Some(health),
            "{mode}: {:?}",
            r.status.last_error
        );
        assert!(r.status.last_error.is_some(), "{mode}");
        assert_eq!(
            observed, None,
            "{mode}: nothing observed, so the evidence reads Missing"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{mode}: bounded by the 1s timeout"
        );
        let ready = &r.status.conditions[0];
        assert_eq!(
            (ready.type_.as_str(), ready.status.as_str()),
            ("Ready", "False")
        );
    }

    let (denied, _) = refresh_page("401", Credential::Value(SECRET.into())).await;
    assert_eq!(
        denied.status.health,
        Some(ConnectorHealth::CredentialRequired)
    );
    let (missing, _) = refresh_page(
        "ok",
        Credential::Missing("Secret cards-token does not exist".into()),
    )
    .await;
    assert_eq!(
        missing.status.health,
        Some(ConnectorHealth::CredentialRequired)
    );
    assert!(
        missing
            .status
            .last_error
            .as_deref()
            .unwrap()
            .contains("cards-token")
    );
}

#[tokio::test]
async fn tls_failure_is_unreachable() {
    // A plain-HTTP server answering an https:// endpoint: the handshake fails.
    let addr = page_server("ok").await.replace("http://", "https://");
    let hub = Hub::new().unwrap();
    let c = connector("StatusPage", &addr, "");
    let r = hub
        .refresh(&c, &[String::new()].into(), &Credential::NotNeeded, now())
        .await;
    assert_eq!(
        r.status.health,
        Some(ConnectorHealth::Unreachable),
        "{:?}",
        r.status.last_error
    );
}

#[tokio::test]
async fn no_secret_ever_leaks() {
    let upstream = Router::new()
        .route("/api/v2/status.json", get(status_page))
        .with_state("401");
    let addr = serve(upstream).await;
    let hub = Hub::new().unwrap();
    // The secret is also in the endpoint's userinfo, the worst case.
    let c = connector("StatusPage", &format!("http://admin:{SECRET}@{addr}"), "");
    let r = hub
        .refresh(
            &c,
            &[String::new()].into(),
            &Credential::Value(SECRET.into()),
            now(),
        )
        .await;
    let everything = serde_json::to_string(&r.status).unwrap();
    assert!(!everything.contains(SECRET), "{everything}");
    assert!(!everything.contains("admin:"), "{everything}");
}

#[derive(Clone)]
struct Counter {
    calls: Arc<AtomicUsize>,
    delay: Duration,
}

async fn fake_prometheus(
    State(c): State<Counter>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    c.calls.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(c.delay).await;
    let query = q.get("query").cloned().unwrap_or_default();
    let value = if query.contains("svc-0") {
        "0.5"
    } else {
        "0.001"
    };
    axum::Json(serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, value]}]}})).into_response()
}

fn release(name: &str) -> Release {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"service": "s", "version": "1", "environment": "production"}
    }))
    .unwrap()
}

#[tokio::test]
async fn one_upstream_call_per_distinct_query() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/api/v1/query", get(fake_prometheus))
        .with_state(Counter {
            calls: Arc::clone(&calls),
            delay: Duration::from_millis(50),
        });
    let addr = serve(app).await;
    let prom = Arc::new(connector(
        "Prometheus",
        &format!("http://{addr}"),
        ", maxConcurrency: 10",
    ));
    // 1,000 releases sharing 10 distinct queries.
    let releases: Vec<(Release, Needs)> = (0..1000)
        .map(|i| {
            let needs = Needs {
                sources: BTreeSet::new(),
                metrics: [MetricNeed {
                    connector: None,
                    query: format!("rate(errors{{service=\"svc-{}\"}}[5m])", i % 10),
                }]
                .into(),
            };
            (release(&format!("r{i}")), needs)
        })
        .collect();
    let plan = hub::plan(&[Arc::clone(&prom)], &releases);
    let queries = plan.get(&hub::key(&prom)).unwrap().clone();
    assert_eq!(queries.len(), 10);
    let hub = Hub::new().unwrap();
    let r = hub
        .refresh(&prom, &queries, &Credential::NotNeeded, now())
        .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        10,
        "calls per refresh equal distinct queries"
    );
    assert_eq!(r.status.health, Some(ConnectorHealth::Healthy));
    let failing = hub
        .observation(&hub::key(&prom), "rate(errors{service=\"svc-0\"}[5m])")
        .unwrap();
    assert_eq!(failing.value, Some(0.5));
    assert!(r.changed);
    // A second refresh with the same answers changes nothing, so no release is re-triggered.
    let again = hub
        .refresh(&prom, &queries, &Credential::NotNeeded, now())
        .await;
    assert!(!again.changed);
}

#[tokio::test]
async fn refused_connection_is_unreachable_and_keeps_the_last_observation() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/api/v1/query", get(fake_prometheus))
        .with_state(Counter {
            calls,
            delay: Duration::ZERO,
        });
    let addr = serve(app).await;
    let hub = Hub::new().unwrap();
    let q: BTreeSet<String> = ["up".to_string()].into();
    let good = connector("Prometheus", &format!("http://{addr}"), "");
    hub.refresh(&good, &q, &Credential::NotNeeded, now()).await;
    // Same connector, now pointing at a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let bad = connector("Prometheus", &format!("http://{closed}"), "");
    let r = hub
        .refresh(
            &bad,
            &q,
            &Credential::NotNeeded,
            now() + chrono::Duration::minutes(1),
        )
        .await;
    assert_eq!(r.status.health, Some(ConnectorHealth::Unreachable));
    assert_eq!(
        r.status.last_success_at,
        Some(now()),
        "last success is remembered"
    );
    let kept = hub.observation(&hub::key(&bad), "up").unwrap();
    assert_eq!(
        kept.observed_at,
        Some(now()),
        "the last good observation stays, to age into Stale"
    );
}

#[test]
fn a_status_page_is_planned_only_for_releases_that_read_its_source() {
    let page = Arc::new(connector("StatusPage", "https://status.cards.example", ""));
    let reading = hub::plan(&[Arc::clone(&page)], &[(release("r"), needs_provider())]);
    assert_eq!(reading[&hub::key(&page)], [String::new()].into());
    let not_reading = hub::plan(&[Arc::clone(&page)], &[(release("r"), Needs::default())]);
    assert!(not_reading[&hub::key(&page)].is_empty());
}
