//! `/healthz`, `/readyz` and `/metrics` on their own listener; untraced, so probes do not flood
//! the logs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

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
    /// Why the process is failing (a supervised task ended): both probes say so from then on.
    failure: OnceLock<String>,
}

impl ProbeState {
    /// Turns both probes false for good, with `why`.
    pub fn fail(&self, why: String) {
        self.ready.store(false, Ordering::Relaxed);
        let _ = self.failure.set(why);
    }

    pub fn failed(&self) -> bool {
        self.failure.get().is_some()
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<ProbeState>,
    metrics: Arc<Metrics>,
}

pub fn router(state: Arc<ProbeState>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { state, metrics })
}

async fn healthz(State(s): State<Shared>) -> impl IntoResponse {
    match s.state.failure.get() {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("failing: {why}\n")),
        None => (StatusCode::OK, "ok".to_string()),
    }
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    match s.state.failure.get() {
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("failing: {why}\n")),
        None if s.state.ready.load(Ordering::Relaxed) => (StatusCode::OK, "ready".to_string()),
        None => (StatusCode::SERVICE_UNAVAILABLE, "starting".to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get(app: &Router, path: &str) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A supervised task that ended turns both probes false, naming it; readiness cannot come
    /// back after.
    #[tokio::test]
    async fn a_failed_task_turns_both_probes_false() {
        let state = Arc::new(ProbeState::default());
        let app = router(Arc::clone(&state), Arc::new(Metrics::new()));
        state.ready.store(true, Ordering::Relaxed);
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
        state.fail("task notifications panicked: boom".into());
        for path in ["/healthz", "/readyz"] {
            let (status, body) = get(&app, path).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert!(
                body.contains("task notifications panicked"),
                "{path}: {body}"
            );
        }
        assert!(state.failed());
    }
}
