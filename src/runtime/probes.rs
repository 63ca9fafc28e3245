//! `/healthz`, `/readyz` and `/metrics` on their own listener; untraced, so probes do not flood
//! the logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// What the probes report.
#[derive(Default)]
pub struct ProbeState {
    pub ready: AtomicBool,
}

#[derive(Clone)]
struct Shared {
    state: Arc<ProbeState>,
    metrics: Arc<Metrics>,
}

pub fn router(state: Arc<ProbeState>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { state, metrics })
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    if s.state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics_text(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}
