//! The read-only web console (axum). Handlers read an in-memory snapshot; nothing here calls
//! an API server or changes state.

mod assets;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};

use crate::api::ReleasePassport;
use crate::output;

/// What the console shows: the passports, sorted by namespace and name.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub passports: Vec<ReleasePassport>,
    /// The moment the decisions were made for.
    pub decided_at: Option<DateTime<Utc>>,
    /// Where the data comes from, shown in the header (e.g. "demo: bundled example shop").
    pub source: String,
}

impl Snapshot {
    pub fn new(
        mut passports: Vec<ReleasePassport>,
        decided_at: Option<DateTime<Utc>>,
        source: impl Into<String>,
    ) -> Self {
        passports.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        Self {
            passports,
            decided_at,
            source: source.into(),
        }
    }

    fn find(&self, namespace: &str, name: &str) -> Option<&ReleasePassport> {
        self.passports.iter().find(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.metadata.name.as_deref() == Some(name)
        })
    }
}

type Shared = Arc<Snapshot>;

/// The console's routes over a snapshot.
pub fn router(snapshot: Snapshot) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(overview))
        .route("/console/releases/{namespace}/{name}", get(release))
        .route("/console/assets/console.css", get(assets::css))
        .route("/api/v1/passports", get(passports_json))
        .route("/api/v1/passports/{namespace}/{name}", get(passport_json))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(not_found)
        .with_state(Arc::new(snapshot))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn overview(State(s): State<Shared>) -> impl IntoResponse {
    pages::overview(&s)
}

async fn release(
    State(s): State<Shared>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    match s.find(&namespace, &name) {
        Some(p) => pages::release(&s, p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            pages::not_found(&s, &format!("No passport {namespace}/{name}.")),
        )
            .into_response(),
    }
}

async fn passports_json(State(s): State<Shared>) -> Response {
    json_response(serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": s.passports,
    }))
}

async fn passport_json(
    State(s): State<Shared>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    match s.find(&namespace, &name) {
        Some(p) => json_response(output::to_json_value(std::slice::from_ref(p))),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"not found"}"#,
        )
            .into_response(),
    }
}

fn json_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(&value).unwrap_or_default(),
    )
        .into_response()
}

async fn not_found(State(s): State<Shared>) -> Response {
    (
        StatusCode::NOT_FOUND,
        pages::not_found(&s, "There is no such page."),
    )
        .into_response()
}
