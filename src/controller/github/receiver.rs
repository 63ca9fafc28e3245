//! `POST /github/deployment-protection`: verified, read and kept, or refused.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::warn;

use super::event::ProtectionEvent;
use super::requests::Refused;
use super::signature::verify_signature;
use super::store::Protection;

pub const PATH: &str = "/github/deployment-protection";

fn refused(why: &Refused) -> Response {
    match why {
        // The same answer for every authentication failure: a caller learns nothing.
        Refused::Signature | Refused::Replayed | Refused::Stale => {
            (StatusCode::UNAUTHORIZED, "delivery refused\n").into_response()
        }
        Refused::Callback => (
            StatusCode::BAD_REQUEST,
            "deployment_callback_url is not this repository's run\n",
        )
            .into_response(),
        Refused::Malformed(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Refused::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many deployment protection requests are waiting\n",
        )
            .into_response(),
    }
}

pub fn router(protection: Arc<Protection>) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(protection)
}

async fn receive(State(p): State<Arc<Protection>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if !verify_signature(
        p.app.webhook_secret.as_bytes(),
        header("x-hub-signature-256"),
        &body,
    ) {
        warn!(reason = ?Refused::Signature, "GitHub delivery refused");
        return refused(&Refused::Signature);
    }
    match header("x-github-event") {
        Some("deployment_protection_rule") => {}
        // `ping` when the App is installed, anything else the App was subscribed to.
        _ => return (StatusCode::OK, "ignored\n").into_response(),
    }
    let Some(delivery) = header("x-github-delivery").map(str::to_string) else {
        return refused(&Refused::Malformed("X-GitHub-Delivery is missing".into()));
    };
    let event: ProtectionEvent = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return refused(&Refused::Malformed(format!(
                "not a deployment_protection_rule payload: {e}"
            )));
        }
    };
    let now = (p.ctx.clock)();
    let api = p.app.api.clone();
    match p.with_kept(|k| k.accept(&delivery, event, &api, now)).await {
        Ok(Ok(_)) => {
            p.ctx.wake_notifications();
            (StatusCode::ACCEPTED, "waiting for the passport\n").into_response()
        }
        Ok(Err(why)) => {
            warn!(reason = ?why, "GitHub delivery refused");
            refused(&why)
        }
        Err(e) => {
            warn!("cannot keep a GitHub protection request: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response()
        }
    }
}
