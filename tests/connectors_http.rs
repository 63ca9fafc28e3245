//! Connectors against local HTTP servers speaking the real JSON shapes — and misbehaving: slow,
//! 5xx, 401, malformed and truncated bodies, TLS failure. Also: one upstream call per distinct
//! query whatever the number of releases, and no secret in any status or error.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{self, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use release_passport::api::{ConditionStatus, ConditionType};
use release_passport::api::{Connector, ConnectorHealth, EvidenceStatus, Keyed, Release};
use release_passport::connectors::hub::{self, Credential, CredentialProblem, Hub, HubSource};
use release_passport::connectors::query::Query;
use release_passport::engine::needs::{MetricNeed, Needs, RollbackNeed};
use release_passport::evidence::EvidenceSource;

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
        "leaky" => axum::Json(serde_json::json!({
            "page": {"name": "Cards"},
            "status": {"indicator": "none", "description": format!("fine (debug: token={SECRET}, api_key=k-42, AKIAIOSFODNN7EXAMPLE)")}
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
        ..Needs::default()
    }
}

async fn refresh_page(
    mode: &'static str,
    credential: Credential,
) -> (hub::Refreshed, Option<EvidenceStatus>) {
    let hub = Hub::new().unwrap();
    let c = connector("StatusPage", &page_server(mode).await, "");
    let queries: BTreeSet<Query> = [Query::StatusPage].into();
    let refreshed = hub.refresh(&c, &queries, &credential, now()).await;
    let observed = hub
        .observation(&c.key(), &Query::StatusPage)
        .map(|i| i.status);
    (refreshed, observed)
}

/// What an upstream writes is scrubbed as it enters: the credential the connector holds and
/// every credential-shaped value.
#[tokio::test]
async fn an_upstream_answer_is_scrubbed_as_it_enters() {
    let hub = Hub::new().unwrap();
    let c = connector("StatusPage", &page_server("leaky").await, "");
    let queries: BTreeSet<Query> = [Query::StatusPage].into();
    hub.refresh(&c, &queries, &Credential::Value(SECRET.into()), now())
        .await;
    let summary = hub
        .observation(&c.key(), &Query::StatusPage)
        .unwrap()
        .summary
        .unwrap();
    for secret in [SECRET, "k-42", "AKIA"] {
        assert!(!summary.contains(secret), "{secret} kept in {summary:?}");
    }
    assert!(summary.starts_with("Cards: fine (debug:"), "{summary}");
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
            (ready.type_, ready.status),
            (ConditionType::Ready, ConditionStatus::False)
        );
    }

    let (denied, _) = refresh_page("401", Credential::Value(SECRET.into())).await;
    assert_eq!(
        denied.status.health,
        Some(ConnectorHealth::CredentialRequired)
    );
    let (missing, _) = refresh_page(
        "ok",
        Credential::Missing(CredentialProblem::NoSecret {
            secret: "cards-token".into(),
        }),
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

/// Evidence a connector could not fetch for want of its Secret says so: a passport reads
/// "credential required (Connector …, Secret …)", not "never observed".
#[tokio::test]
async fn a_missing_credential_is_the_evidence_reason() {
    let hub = Hub::new().unwrap();
    let c = connector("StatusPage", &page_server("ok").await, "");
    let queries: BTreeSet<Query> = [Query::StatusPage].into();
    let why = Credential::Missing(CredentialProblem::NoSecret {
        secret: "cards-token".into(),
    });
    hub.refresh(&c, &queries, &why, now()).await;
    let item = hub.observation(&c.key(), &Query::StatusPage).unwrap();
    assert_eq!(item.status, EvidenceStatus::Missing);
    let summary = item.summary.clone().unwrap();
    assert!(
        summary.starts_with("credential required (Connector ")
            && summary.ends_with(": Secret cards-token does not exist)"),
        "{summary}"
    );
    let rule = format!("    evidence: {{source: {}}}\n", item.source);
    let case = crate::common::Case::new(vec![crate::common::one_rule(&rule)]).evidence(vec![item]);
    let trace = &case.decide().status.trace[0];
    assert!(
        trace.message.contains("is Missing: credential required"),
        "{}",
        trace.message
    );
    // Once the credential is there, the answer replaces the reason.
    hub.refresh(&c, &queries, &Credential::NotNeeded, now())
        .await;
    assert_eq!(
        hub.observation(&c.key(), &Query::StatusPage)
            .map(|i| i.status),
        Some(EvidenceStatus::Complete)
    );
}

#[tokio::test]
async fn tls_failure_is_unreachable() {
    // A plain-HTTP server answering an https:// endpoint: the handshake fails.
    let addr = page_server("ok").await.replace("http://", "https://");
    let hub = Hub::new().unwrap();
    let c = connector("StatusPage", &addr, "");
    let r = hub
        .refresh(
            &c,
            &[Query::StatusPage].into(),
            &Credential::NotNeeded,
            now(),
        )
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
            &[Query::StatusPage].into(),
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
    extract::Query(q): extract::Query<std::collections::HashMap<String, String>>,
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
                metrics: [MetricNeed {
                    connector: None,
                    query: format!("rate(errors{{service=\"svc-{}\"}}[5m])", i % 10).into(),
                }]
                .into(),
                ..Needs::default()
            };
            (release(&format!("r{i}")), needs)
        })
        .collect();
    let plan = hub::plan(&[Arc::clone(&prom)], &releases);
    let queries = plan.get(&prom.key()).unwrap().clone();
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
        .observation(
            &prom.key(),
            &Query::Metric("rate(errors{service=\"svc-0\"}[5m])".into()),
        )
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
    let up = Query::Metric("up".into());
    let q: BTreeSet<Query> = [up.clone()].into();
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
    let kept = hub.observation(&bad.key(), &up).unwrap();
    assert_eq!(
        kept.observed_at,
        Some(now()),
        "the last good observation stays, to age into Stale"
    );
}

/// An upstream that answers 429 with a retry hint is not asked again before it said: the
/// connector is Degraded with the hint in its last error, the last good observation stays,
/// and it is not due again until the hint has passed (RFC 9110's Retry-After).
#[tokio::test]
async fn a_rate_limited_upstream_is_asked_again_only_when_it_said() {
    let limited = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/api/v1/query",
        get({
            let limited = Arc::clone(&limited);
            move || async move {
                // The first answer is good; after that, slow down.
                if limited.fetch_add(1, Ordering::SeqCst) == 0 {
                    axum::Json(serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.7e9, "1"]}]}})).into_response()
                } else {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("Retry-After", "600")],
                        "slow down",
                    )
                        .into_response()
                }
            }
        }),
    );
    let addr = serve(app).await;
    let hub = Hub::new().unwrap();
    let up = Query::Metric("up".into());
    let q: BTreeSet<Query> = [up.clone()].into();
    let c = connector(
        "Prometheus",
        &format!("http://{addr}"),
        ", refreshInterval: 1m",
    );
    hub.refresh(&c, &q, &Credential::NotNeeded, now()).await;
    let later = now() + chrono::Duration::minutes(1);
    let r = hub.refresh(&c, &q, &Credential::NotNeeded, later).await;
    assert_eq!(r.status.health, Some(ConnectorHealth::Degraded));
    assert_eq!(
        r.status.last_error.as_deref(),
        Some("rate limited by the upstream (HTTP 429): retry after 600s")
    );
    assert_eq!(
        hub.observation(&c.key(), &up).unwrap().observed_at,
        Some(now())
    );
    assert!(
        !hub.due(&c, later + chrono::Duration::minutes(5)),
        "within the hint"
    );
    assert!(hub.due(&c, later + chrono::Duration::minutes(10)));
    assert_eq!(limited.load(Ordering::SeqCst), 2);
}

#[test]
fn a_status_page_is_planned_only_for_releases_that_read_its_source() {
    let page = Arc::new(connector("StatusPage", "https://status.cards.example", ""));
    let reading = hub::plan(&[Arc::clone(&page)], &[(release("r"), needs_provider())]);
    assert_eq!(reading[&page.key()], [Query::StatusPage].into());
    let not_reading = hub::plan(&[Arc::clone(&page)], &[(release("r"), Needs::default())]);
    assert!(not_reading[&page.key()].is_empty());
}

fn release_with(yaml_spec: &str) -> Release {
    serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {{name: web, namespace: shop}}\nspec: {yaml_spec}\n"
    ))
    .unwrap()
}

fn reading(source: &str) -> Needs {
    Needs {
        sources: [source.to_string()].into(),
        ..Needs::default()
    }
}

/// Fetches what `connector` must answer for `release` and returns the observation.
async fn observe(
    connector: Connector,
    release: &Release,
    needs: &Needs,
    credential: Credential,
) -> (
    hub::Refreshed,
    Option<release_passport::engine::EvidenceItem>,
) {
    let all = [Arc::new(connector.clone())];
    let plan = hub::plan(&all, &[(release.clone(), needs.clone())]);
    let queries = plan[&connector.key()].clone();
    assert!(
        !queries.is_empty(),
        "the release should need this connector"
    );
    let hub = Hub::new().unwrap();
    let refreshed = hub.refresh(&connector, &queries, &credential, now()).await;
    let q = queries.iter().next().unwrap().clone();
    (refreshed, hub.observation(&connector.key(), &q))
}

async fn github_runs(
    headers: HeaderMap,
    extract::Query(q): extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {SECRET}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let sha = q.get("head_sha").cloned().unwrap_or_default();
    let conclusion = if sha.starts_with("bad") {
        "failure"
    } else {
        "success"
    };
    axum::Json(serde_json::json!({"total_count": 2, "workflow_runs": [
        {"id": 30433642, "name": "release", "path": ".github/workflows/release.yaml", "head_sha": sha, "run_number": 562, "run_attempt": 1,
         "status": "completed", "conclusion": conclusion, "html_url": "https://github.com/shop/web/actions/runs/30433642"},
        {"id": 30433643, "name": "lint", "path": ".github/workflows/lint.yaml", "head_sha": sha, "run_number": 563, "run_attempt": 1,
         "status": "in_progress", "conclusion": null}
    ]}))
    .into_response()
}

#[tokio::test]
async fn github_actions_runs_for_the_release_commit() {
    let app = Router::new().route("/repos/shop/web/actions/runs", get(github_runs));
    let endpoint = format!("http://{}", serve(app).await);
    let c = connector("GitHubActions", &endpoint, "").with_source("ci");
    let good = release_with(
        "{service: web, version: '1', environment: prod, revision: {commit: 9f2c4e1b}, scope: {project: shop/web, pipeline: release.yaml}}",
    );
    let (r, item) = observe(
        c.clone(),
        &good,
        &reading("ci"),
        Credential::Value(SECRET.into()),
    )
    .await;
    assert_eq!(
        r.status.health,
        Some(ConnectorHealth::Healthy),
        "{:?}",
        r.status.last_error
    );
    let item = item.unwrap();
    assert_eq!(item.status, EvidenceStatus::Complete);
    assert_eq!(item.summary.as_deref(), Some("release run 562: success"));
    let bad = release_with(
        "{service: web, version: '1', environment: prod, revision: {commit: bad0c0de}, scope: {project: shop/web, pipeline: release.yaml}}",
    );
    let (_, item) = observe(
        c.clone(),
        &bad,
        &reading("ci"),
        Credential::Value(SECRET.into()),
    )
    .await;
    assert_eq!(item.unwrap().status, EvidenceStatus::Failed);
    let (denied, item) = observe(c, &good, &reading("ci"), Credential::Value("wrong".into())).await;
    assert_eq!(
        denied.status.health,
        Some(ConnectorHealth::CredentialRequired)
    );
    let item = item.unwrap();
    assert_eq!(item.status, EvidenceStatus::Missing);
    assert!(
        item.summary
            .unwrap()
            .starts_with("credential required (Connector ")
    );
}

async fn argo_app(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (revision, health) = match name.as_str() {
        "checkout-prod" => ("41d0c2f99e3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c", "Healthy"),
        _ => ("0000000000000000000000000000000000000000", "Progressing"),
    };
    axum::Json(serde_json::json!({
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "default", "source": {"repoURL": "https://git.example/shop.git", "targetRevision": "HEAD"}},
        "status": {
            "sync": {"status": "Synced", "revision": revision},
            "health": {"status": health},
            "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)"},
            "history": [
                {"id": 40, "revision": "7be1a04c2d19aa00bb11cc22dd33ee44ff556677", "deployedAt": "2026-11-18T09:50:00Z"},
                {"id": 41, "revision": revision, "deployedAt": "2026-11-24T17:10:00Z"}
            ]
        }
    }))
    .into_response()
}

#[tokio::test]
async fn argocd_application_against_the_release_revision() {
    let app = Router::new().route("/api/v1/applications/{name}", get(argo_app));
    let endpoint = format!("http://{}", serve(app).await);
    let c = connector("ArgoCD", &endpoint, "").with_source("gitops-sync");
    let synced = release_with(
        "{service: web, version: 2.3.1, environment: prod, revision: {commit: 41d0c2f99e3a}, scope: {gitopsApps: [{kind: ArgoApplication, name: checkout-prod, namespace: argocd}]}}",
    );
    let (r, item) = observe(
        c.clone(),
        &synced,
        &reading("gitops-sync"),
        Credential::NotNeeded,
    )
    .await;
    assert_eq!(
        r.status.health,
        Some(ConnectorHealth::Healthy),
        "{:?}",
        r.status.last_error
    );
    assert_eq!(item.unwrap().status, EvidenceStatus::Complete);
    // The rollback target: the previous release's commit must still be in the history.
    for (previous, expected, text) in [
        (
            "7be1a04c2d19",
            EvidenceStatus::Complete,
            "history entry 40 deployed 7be1a04c2d19",
        ),
        (
            "5c3e9d1f0a77",
            EvidenceStatus::Failed,
            "history (2 entries) no longer holds 5c3e9d1f0a77",
        ),
    ] {
        let needs = Needs {
            rollback: Some(RollbackNeed {
                version: "2.3.0".into(),
                revision: previous.into(),
            }),
            ..Needs::default()
        };
        let (_, item) = observe(c.clone(), &synced, &needs, Credential::NotNeeded).await;
        let item = item.unwrap();
        assert_eq!(
            item.source,
            release_passport::engine::ROLLBACK_REVISION_SOURCE
        );
        assert_eq!(item.status, expected, "{:?}", item.summary);
        assert!(
            item.summary.as_deref().unwrap().contains(text),
            "{:?}",
            item.summary
        );
    }
    let rolling = release_with(
        "{service: web, version: 2.4.0, environment: prod, revision: {commit: 77e1f0a3c5b9}, scope: {gitopsApps: [{kind: ArgoApplication, name: catalog-prod}]}}",
    );
    let (_, item) = observe(c, &rolling, &reading("gitops-sync"), Credential::NotNeeded).await;
    let item = item.unwrap();
    assert_eq!(item.status, EvidenceStatus::Pending);
    assert!(
        item.summary
            .unwrap()
            .contains("the release expects 77e1f0a3c5b9")
    );
}

async fn shop(axum::extract::Path(step): axum::extract::Path<String>) -> Response {
    match step.as_str() {
        "browse" => "<h1>catalog</h1>".into_response(),
        "cart" => axum::Json(serde_json::json!({"items": 1})).into_response(),
        "pay" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            "paid".into_response()
        }
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn journey_connector(endpoint: &str, pay_budget: &str) -> Connector {
    serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: journeys, namespace: shop}}
spec:
  type: HTTP
  endpoint: '{endpoint}'
  timeout: 2s
  journey:
    steps:
    - {{name: browse, path: /shop/browse, bodyContains: catalog}}
    - {{name: add-to-cart, method: POST, path: /shop/cart, body: '{{\"sku\": 1}}', headers: {{content-type: application/json}}}}
    - {{name: pay, path: /shop/pay, latencyBudget: {pay_budget}}}
"
    ))
    .unwrap()
}

#[tokio::test]
async fn journeys_check_status_body_and_latency() {
    let app = Router::new().route("/shop/{step}", get(shop).post(shop));
    let endpoint = format!("http://{}", serve(app).await);
    let web = release_with("{service: web, version: '1', environment: prod}");
    let (r, item) = observe(
        journey_connector(&endpoint, "2s"),
        &web,
        &reading("journeys"),
        Credential::NotNeeded,
    )
    .await;
    assert_eq!(r.status.health, Some(ConnectorHealth::Healthy));
    let item = item.unwrap();
    assert_eq!(item.status, EvidenceStatus::Complete, "{:?}", item.summary);
    assert_eq!(item.targets.map(|t| (t.passing, t.total)), Some((3, 3)));
    let (r, item) = observe(
        journey_connector(&endpoint, "100ms"),
        &web,
        &reading("journeys"),
        Credential::NotNeeded,
    )
    .await;
    assert_eq!(
        r.status.health,
        Some(ConnectorHealth::Healthy),
        "a slow shop is failing evidence, not a broken connector"
    );
    let item = item.unwrap();
    assert_eq!(item.status, EvidenceStatus::Failed);
    assert_eq!(item.targets.map(|t| (t.passing, t.total)), Some((2, 3)));
    assert!(
        item.summary.unwrap().starts_with("step pay failed"),
        "budget exceeded"
    );
}

trait WithSource {
    fn with_source(self, source: &str) -> Self;
}

impl WithSource for Connector {
    fn with_source(mut self, source: &str) -> Self {
        self.spec.source = Some(source.into());
        self
    }
}

#[tokio::test]
async fn webhook_deliveries_are_signed_fresh_and_used_once() {
    use release_passport::connectors::webhook::{self, Receiver};
    let hook: Connector = serde_yaml_ng::from_str(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {name: ci, namespace: shop}\nspec: {type: Webhook, credentialsSecretRef: {name: ci-hmac, key: secret}}\n",
    )
    .unwrap();
    let hub = Arc::new(Hub::new().unwrap());
    let r = hub
        .refresh(
            &hook,
            &BTreeSet::new(),
            &Credential::Value(SECRET.into()),
            now(),
        )
        .await;
    assert_eq!(r.status.health, Some(ConnectorHealth::Healthy));
    let (store, mut writer) = kube::runtime::reflector::store::<Connector>();
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Init);
    writer.apply_watcher_event(&kube::runtime::watcher::Event::InitApply(hook.clone()));
    writer.apply_watcher_event(&kube::runtime::watcher::Event::InitDone);
    let delivered = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&delivered);
    let receiver = Receiver::new(
        Arc::clone(&hub),
        store,
        Box::new(move |ns, name| sink.lock().unwrap().push(format!("{ns}/{name}"))),
        Box::new(now),
    );
    let addr = serve(webhook::router(Arc::new(receiver))).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: &'static str, ts: i64, sig: String| {
        client
            .post(format!("http://{addr}{path}"))
            .header(webhook::TIMESTAMP_HEADER, ts.to_string())
            .header(webhook::SIGNATURE_HEADER, sig)
            .body(body)
            .send()
    };
    let body = r#"{"release": "web", "status": "success", "summary": "pipeline 812 green"}"#;
    let ts = now().timestamp();
    let good = webhook::sign(SECRET.as_bytes(), ts, body.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", body, ts, good.clone())
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(
        delivered.lock().unwrap().as_slice(),
        ["shop/web".to_string()]
    );
    let item = hub
        .observation(
            &hook.key(),
            &Query::Delivery {
                release: "web".into(),
            },
        )
        .unwrap();
    assert_eq!(
        (item.source.as_str(), item.status),
        ("ci", EvidenceStatus::Complete)
    );
    // Replayed, unsigned, wrongly signed, stale, unknown connector: all the same 401.
    let good_for_replay = good.clone();
    assert_eq!(
        post("/webhooks/shop/ci", body, ts, good)
            .await
            .unwrap()
            .status(),
        401,
        "replay"
    );
    assert_eq!(
        post("/webhooks/shop/ci", body, ts, String::new())
            .await
            .unwrap()
            .status(),
        401,
        "unsigned"
    );
    let wrong = webhook::sign(b"not-the-secret", ts, body.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", body, ts, wrong)
            .await
            .unwrap()
            .status(),
        401,
        "wrong key"
    );
    let old = ts - 3600;
    let stale = webhook::sign(SECRET.as_bytes(), old, body.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", body, old, stale)
            .await
            .unwrap()
            .status(),
        401,
        "stale"
    );
    let other = webhook::sign(SECRET.as_bytes(), ts, body.as_bytes());
    assert_eq!(
        post("/webhooks/shop/nope", body, ts, other)
            .await
            .unwrap()
            .status(),
        401,
        "unknown connector"
    );
    // The captured delivery with its signature's hex upper-cased is the same delivery.
    let (prefix, mac) = good_for_replay.split_at("sha256=".len());
    let shouted = format!("{prefix}{}", mac.to_uppercase());
    assert_eq!(
        post("/webhooks/shop/ci", body, ts, shouted)
            .await
            .unwrap()
            .status(),
        401,
        "replay with the signature re-spelled"
    );
    // Dated beyond the future skew.
    let ahead = ts + webhook::MAX_FUTURE_SECS + 60;
    let future = webhook::sign(SECRET.as_bytes(), ahead, body.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", body, ahead, future)
            .await
            .unwrap()
            .status(),
        401,
        "from the future"
    );
    // A newer result, then an older one signed earlier but delivered late: the older is
    // refused and the newer stands.
    let failed = r#"{"release": "web", "status": "failure", "summary": "pipeline 813 red"}"#;
    let newer = webhook::sign(SECRET.as_bytes(), ts + 10, failed.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", failed, ts + 10, newer)
            .await
            .unwrap()
            .status(),
        202
    );
    let passed =
        r#"{"release": "web", "status": "success", "summary": "pipeline 812 green again"}"#;
    let older = webhook::sign(SECRET.as_bytes(), ts + 5, passed.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", passed, ts + 5, older)
            .await
            .unwrap()
            .status(),
        409,
        "older than the newest applied"
    );
    let stands = hub
        .observation(
            &hook.key(),
            &Query::Delivery {
                release: "web".into(),
            },
        )
        .unwrap();
    assert_eq!(stands.status, EvidenceStatus::Failed);
    // Oversized: the same 413 whether or not the connector exists.
    let big: &'static str = Box::leak("x".repeat(webhook::MAX_BODY + 1).into_boxed_str());
    for path in ["/webhooks/shop/ci", "/webhooks/shop/nope"] {
        let sig = webhook::sign(SECRET.as_bytes(), ts + 2, big.as_bytes());
        assert_eq!(
            post(path, big, ts + 2, sig).await.unwrap().status(),
            413,
            "{path}"
        );
    }
    // A CI that puts credentials in its summary or URL: scrubbed before they are kept.
    let leaky = r#"{"release": "api", "status": "success", "summary": "deployed with ghp_0123456789abcdefghijABCDEFGHIJ", "url": "https://bot:hunter2@ci.example/run/9?access_token=tok-123"}"#;
    let sig = webhook::sign(SECRET.as_bytes(), ts + 3, leaky.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", leaky, ts + 3, sig)
            .await
            .unwrap()
            .status(),
        202
    );
    let kept = hub
        .observation(
            &hook.key(),
            &Query::Delivery {
                release: "api".into(),
            },
        )
        .unwrap()
        .summary
        .unwrap_or_default();
    for secret in ["ghp_", "hunter2", "tok-123"] {
        assert!(!kept.contains(secret), "{secret} kept in {kept:?}");
    }
    assert!(kept.contains("https://ci.example/run/9"), "{kept}");
    let garbage = "{not json";
    let sig = webhook::sign(SECRET.as_bytes(), ts + 1, garbage.as_bytes());
    assert_eq!(
        post("/webhooks/shop/ci", garbage, ts + 1, sig)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        delivered.lock().unwrap().len(),
        3,
        "only the three good deliveries counted"
    );

    // A restart (or a new leader): the hub knows nothing, and a delivery cannot be fetched
    // again. The passport that recorded it still answers, until the next delivery replaces it.
    let release: Release = serde_yaml_ng::from_str(
        "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: web, namespace: shop}\nspec: {service: web, version: '1.0', environment: prod}\n",
    )
    .unwrap();
    let needs = Needs {
        sources: ["ci".to_string()].into(),
        ..Needs::default()
    };
    let passport: release_passport::api::ReleasePassport = serde_json::from_value(serde_json::json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"releaseRef": {"name": "web"}, "service": "web", "version": "1.0", "environment": "prod"},
        "status": {"decision": "Allow", "evidence": [
            {"source": "ci", "status": "Complete", "connector": "ci", "observedAt": "2025-11-25T14:00:00Z", "summary": "pipeline 812 green"},
            {"source": "ci", "status": "Failed", "connector": "other-ci", "summary": "another connector's"}
        ]}
    }))
    .unwrap();
    let (connectors, mut writer) = kube::runtime::reflector::store::<Connector>();
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(hook.clone()));
    let (passports, mut writer) =
        kube::runtime::reflector::store::<release_passport::api::ReleasePassport>();
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(passport));
    let restarted = HubSource {
        hub: Arc::new(Hub::new().unwrap()),
        connectors: connectors.clone(),
        passports: Some(passports),
    };
    let items = restarted.evidence_for(&release, &needs, now());
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (items[0].status, items[0].summary.as_deref()),
        (EvidenceStatus::Complete, Some("pipeline 812 green"))
    );
    let forgetful = HubSource {
        hub: Arc::new(Hub::new().unwrap()),
        connectors,
        passports: None,
    };
    assert!(forgetful.evidence_for(&release, &needs, now()).is_empty());
}

async fn garbage() -> Response {
    (
        StatusCode::OK,
        "<html><body>Service Unavailable</body></html>",
    )
        .into_response()
}

async fn sleepy() -> Response {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "{}".into_response()
}

/// Every HTTP connector under timeout, refusal and garbage: a health that says so, an error
/// that names no secret, and no panic.
#[tokio::test]
async fn every_http_connector_survives_timeouts_refusals_and_garbage() {
    let garbage_addr = serve(Router::new().fallback(get(garbage))).await;
    let slow_addr = serve(Router::new().fallback(get(sleepy))).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let release = release_with(
        "{service: web, version: '1', environment: prod, revision: {commit: abc123}, scope: {project: shop/web, pipeline: ci, gitopsApps: [{kind: ArgoApplication, name: web}]}}",
    );
    let types = [
        ("Prometheus", ""),
        ("StatusPage", ""),
        ("GitHubActions", ""),
        ("ArgoCD", ""),
        (
            "HTTP",
            ", journey: {steps: [{name: home, path: /, bodyContains: catalog}]}",
        ),
    ];
    for (type_, extra) in types {
        for (case, addr) in [
            ("garbage", garbage_addr.to_string()),
            ("slow", slow_addr.to_string()),
            ("refused", closed.to_string()),
        ] {
            let mut c = connector(type_, &format!("http://{addr}"), extra);
            c.spec.source = Some("probe".into());
            let queries: BTreeSet<Query> = if type_ == "Prometheus" {
                [Query::Metric("up".into())].into()
            } else {
                let needs = Needs {
                    sources: ["probe".to_string()].into(),
                    ..Needs::default()
                };
                release_passport::connectors::queries::queries_for(
                    &c,
                    &release,
                    &needs,
                    &[Arc::new(c.clone())],
                )
                .into_iter()
                .collect()
            };
            assert!(!queries.is_empty(), "{type_}");
            let hub = Hub::new().unwrap();
            let started = std::time::Instant::now();
            let r = hub
                .refresh(&c, &queries, &Credential::Value(SECRET.into()), now())
                .await;
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "{type_} {case}: bounded by the timeout"
            );
            let text = serde_json::to_string(&r.status).unwrap();
            assert!(!text.contains(SECRET), "{type_} {case}: {text}");
            if type_ == "HTTP" {
                // The journey's target misbehaves: failing evidence, a working connector.
                let item = hub.observation(&c.key(), &Query::Journey).unwrap();
                assert_eq!(
                    item.status,
                    EvidenceStatus::Failed,
                    "{type_} {case}: {:?}",
                    item.summary
                );
            } else {
                assert_ne!(
                    r.status.health,
                    Some(ConnectorHealth::Healthy),
                    "{type_} {case}: {text}"
                );
                assert!(r.status.last_error.is_some(), "{type_} {case}");
            }
        }
    }
}

/// A NerdGraph-shaped server (docs.newrelic.com, "NerdGraph tutorial: Query your data using
/// NRQL": `POST /graphql`, the user key in `API-Key`, the answer under
/// `data.actor.account.nrql.results`; 401 for a refused key; GraphQL errors in a 200 body). It
/// answers by the NRQL it was sent as the `nrql` variable.
async fn nerdgraph(headers: HeaderMap, body: String) -> Response {
    if headers.get("api-key").and_then(|v| v.to_str().ok()) != Some("NRAK-test") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"errors": [{"message": "Unauthorized"}]})),
        )
            .into_response();
    }
    let request: serde_json::Value = serde_json::from_str(&body).unwrap();
    let query = request["query"].as_str().unwrap_or_default();
    let nrql = request["variables"]["nrql"].as_str().unwrap_or_default();
    assert!(
        !query.contains("SELECT") && request["variables"]["account"] == 1234567,
        "the NRQL travels as a variable: {request}"
    );
    let results = if nrql.contains("FROM Nowhere") {
        return axum::Json(serde_json::json!({"errors": [{"message": "NRQL Syntax Error: unknown event type Nowhere"}], "data": {"actor": {"account": {"nrql": null}}}})).into_response();
    } else if nrql.contains("WHERE `appName` = 'checkout' SINCE") {
        serde_json::json!([{"percentage": 0.2}])
    } else if nrql.contains("WHERE `appName` = 'catalog' SINCE") {
        serde_json::json!([{"percentage": 8.3}])
    } else {
        serde_json::json!([{"percentage": null}])
    };
    axum::Json(serde_json::json!({"data": {"actor": {"account": {"nrql": {"results": results}}}}}))
        .into_response()
}

#[tokio::test]
async fn new_relic_nrql_through_nerdgraph() {
    use crate::common::peer::{Wired, scoped_release};
    let addr = serve(Router::new().route("/graphql", axum::routing::post(nerdgraph))).await;
    let c: Connector = serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: newrelic, namespace: shop}}
spec: {{type: NewRelic, endpoint: 'http://{addr}', newRelic: {{accountId: 1234567}}, credentialsSecretRef: {{name: nr, key: user-key}}}}
"
    ))
    .unwrap();
    let wired = Wired::new(
        std::slice::from_ref(&c),
        "  - name: error-percentage
    metric:
      connector: newrelic
      query: SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE $labels SINCE 10 minutes ago
      op: '<'
      threshold: 1
",
        [
            ("checkout", "checkout"),
            ("catalog", "catalog"),
            ("injected", "checkout' OR `appName` = 'catalog"),
        ]
        .into_iter()
        .map(|(name, app)| {
            let mut r = scoped_release(name, "");
            r.spec.scope.metric_labels.insert("appName".into(), app.into());
            r
        })
        .collect(),
    );
    let queries = &wired.plan[&c.key()];
    let at = now();
    let refused = hub_refresh(&wired, &c, queries, "NRAK-wrong", at).await;
    assert_eq!(
        refused.status.health,
        Some(ConnectorHealth::CredentialRequired)
    );
    let ok = hub_refresh(&wired, &c, queries, "NRAK-test", at).await;
    assert_eq!(
        ok.status.health,
        Some(ConnectorHealth::Healthy),
        "{:?}",
        ok.status.last_error
    );
    let decisions: Vec<_> = (0..3).map(|i| wired.decide(i, at).decision).collect();
    assert_eq!(
        decisions,
        vec![
            Some(release_passport::api::Decision::Allow),
            Some(release_passport::api::Decision::Block),
            // One quoted string that names no application: no data, not catalog's 8.3.
            Some(release_passport::api::Decision::Hold),
        ]
    );
    let summary = wired.decide(1, at).evidence[0]
        .summary
        .clone()
        .unwrap_or_default();
    assert!(summary.starts_with("value 8.3 (NRQL: SELECT"), "{summary}");
    // A query New Relic refuses is a failed query, its message in the evidence.
    let bad: BTreeSet<Query> = [Query::Metric("SELECT count(*) FROM Nowhere".into())].into();
    hub_refresh(&wired, &c, &bad, "NRAK-test", at).await;
    let item = wired
        .hub
        .observation(&c.key(), bad.first().unwrap())
        .unwrap();
    assert_eq!(
        item.summary.as_deref(),
        Some(
            "query failed: NRQL Syntax Error: unknown event type Nowhere (NRQL: SELECT count(*) FROM Nowhere)"
        )
    );
}

async fn hub_refresh(
    wired: &crate::common::peer::Wired,
    c: &Connector,
    queries: &BTreeSet<Query>,
    key: &str,
    at: DateTime<Utc>,
) -> hub::Refreshed {
    wired
        .hub
        .refresh(c, queries, &Credential::Value(key.into()), at)
        .await
}

/// A Datadog-shaped server (Datadog API reference, "Query timeseries points": `GET
/// /api/v1/query?from&to&query`, `DD-API-KEY` and `DD-APPLICATION-KEY`, `series[].pointlist`;
/// 403 `{"errors": ["Forbidden"]}` for refused keys; 429 with `X-RateLimit-Reset`, "Rate
/// limits"). It answers by the query's tag filter and counts the calls.
pub(crate) async fn datadog(
    State(calls): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
    extract::Query(params): extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    calls.fetch_add(1, Ordering::SeqCst);
    let key = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if key("dd-api-key") != Some("dd-api") || key("dd-application-key") != Some("dd-app") {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"errors": ["Forbidden"]})),
        )
            .into_response();
    }
    let query = params.get("query").cloned().unwrap_or_default();
    let window = params["to"].parse::<i64>().unwrap() - params["from"].parse::<i64>().unwrap();
    let points = if query.contains("{service:checkout}") {
        serde_json::json!([
            [1_700_000_000_000_i64, 0.01],
            [1_700_000_060_000_i64, 0.002]
        ])
    } else if query.contains("{service:catalog}") {
        serde_json::json!([[1_700_000_000_000_i64, 0.08], [1_700_000_060_000_i64, 0.09]])
    } else if query.contains("{service:busy}") {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("X-RateLimit-Limit", "300"),
                ("X-RateLimit-Period", "3600"),
                ("X-RateLimit-Reset", "42"),
            ],
            axum::Json(serde_json::json!({"errors": ["Too many requests"]})),
        )
            .into_response();
    } else {
        serde_json::json!([])
    };
    axum::Json(
        serde_json::json!({"status": "ok", "res_type": "time_series", "query": query,
        "series": [{"metric": "trace.http.request.errors", "scope": query, "pointlist": points,
                    "interval": window}]}),
    )
    .into_response()
}

#[tokio::test]
async fn datadog_metrics_with_both_keys_and_tag_filters_that_cannot_widen() {
    use crate::common::peer::{Wired, scoped_release};
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(
        Router::new()
            .route("/api/v1/query", get(datadog))
            .with_state(Arc::clone(&calls)),
    )
    .await;
    let c: Connector = serde_yaml_ng::from_str(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Connector
metadata: {{name: datadog, namespace: shop}}
spec: {{type: Datadog, endpoint: 'http://{addr}', credentialsSecretRef: {{name: datadog-secret, key: api-key}}}}
"
    ))
    .unwrap();
    let wired = Wired::new(
        std::slice::from_ref(&c),
        "  - name: error-rate
    metric:
      connector: datadog
      query: sum:trace.http.request.errors{$labels}.as_rate()
      op: '<'
      threshold: 0.01
",
        vec![
            scoped_release("checkout", "checkout"),
            scoped_release("catalog", "catalog"),
            scoped_release("injected", "checkout,service:catalog"),
        ],
    );
    let queries = &wired.plan[&c.key()];
    let at = now();
    let pair = |token: &str| Credential::Pair {
        token: token.into(),
        second: "dd-app".into(),
    };
    let refused = wired.hub.refresh(&c, queries, &pair("wrong"), at).await;
    assert_eq!(
        refused.status.health,
        Some(ConnectorHealth::CredentialRequired)
    );
    calls.store(0, Ordering::SeqCst);
    let ok = wired.hub.refresh(&c, queries, &pair("dd-api"), at).await;
    assert_eq!(
        ok.status.health,
        Some(ConnectorHealth::Healthy),
        "{:?}",
        ok.status.last_error
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the injected filter was never sent"
    );
    let status = |i: usize| wired.decide(i, at);
    assert_eq!(
        status(0).decision,
        Some(release_passport::api::Decision::Allow)
    );
    assert_eq!(
        status(1).decision,
        Some(release_passport::api::Decision::Block)
    );
    let injected = status(2);
    assert_eq!(
        injected.decision,
        Some(release_passport::api::Decision::Hold)
    );
    let why = injected.evidence[0].summary.clone().unwrap_or_default();
    assert!(why.contains("not a Datadog tag value"), "{why}");
    // A 429 with Datadog's reset hint: Degraded, and not asked again before it.
    let busy: BTreeSet<Query> = [Query::Metric("sum:errors{service:busy}".into())].into();
    let limited = wired.hub.refresh(&c, &busy, &pair("dd-api"), at).await;
    assert_eq!(limited.status.health, Some(ConnectorHealth::Degraded));
    assert!(
        limited
            .status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("retry after 42s"),
        "{:?}",
        limited.status.last_error
    );
}

/// The Datadog-shaped server on its own runtime, for the tiers that are not async: its address.
pub(crate) fn datadog_in_background() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let app = Router::new()
                .route("/api/v1/query", get(datadog))
                .with_state(Arc::new(AtomicUsize::new(0)));
            tx.send(serve(app).await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}
