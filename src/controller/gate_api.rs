//! The gate over HTTP, for pipelines: `GET /api/v1/gate/{namespace}/{name}` answers what
//! `passport gate` answers, as JSON, from the controller's caches. Read-only. The caller
//! authenticates with a bearer token the API server vouches for (TokenReview: a ServiceAccount
//! token, or an OIDC token the cluster trusts) and must be allowed to `get` that passport
//! (SubjectAccessReview). Anyone else gets 401 or 403 and learns nothing.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::cluster::Stores;
use crate::gate::{GateState, state};

#[derive(Clone)]
pub struct GateApi {
    pub client: Client,
    pub stores: Stores,
    /// The audience a token must be minted for (its TokenReview names it).
    pub audience: String,
}

pub fn router(api: Arc<GateApi>) -> Router {
    Router::new()
        .route("/api/v1/gate/{namespace}/{name}", get(answer))
        .with_state(api)
}

fn refuse(status: StatusCode) -> Response {
    let body = if status == StatusCode::UNAUTHORIZED {
        "unauthenticated"
    } else {
        "forbidden"
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": body}).to_string(),
    )
        .into_response()
}

/// The user a token belongs to, if the API server vouches for it for `audience`: a token minted
/// for another audience (another service's, or the API server's own) is refused.
async fn authenticate(
    client: &Client,
    token: &str,
    audience: &str,
) -> Option<(String, Vec<String>)> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_string(),
            audiences: Some(vec![audience.to_string()]),
        },
        ..Default::default()
    };
    let reviewed = Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ok()?;
    let status = reviewed.status?;
    let for_us = status
        .audiences
        .as_ref()
        .is_some_and(|a| a.iter().any(|a| a == audience));
    if status.authenticated != Some(true) || !for_us {
        return None;
    }
    let user = status.user?;
    Some((user.username?, user.groups.unwrap_or_default()))
}

async fn may_read(
    client: &Client,
    user: &str,
    groups: Vec<String>,
    namespace: &str,
    name: &str,
) -> bool {
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                group: Some("releasepassport.io".into()),
                resource: Some("releasepassports".into()),
                verb: Some("get".into()),
                namespace: Some(namespace.to_string()),
                name: Some(name.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ok()
        .and_then(|r| r.status)
        .is_some_and(|s| s.allowed)
}

async fn answer(
    State(api): State<Arc<GateApi>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.trim().is_empty())
    else {
        return refuse(StatusCode::UNAUTHORIZED);
    };
    let Some((user, groups)) = authenticate(&api.client, token.trim(), &api.audience).await else {
        return refuse(StatusCode::UNAUTHORIZED);
    };
    if !may_read(&api.client, &user, groups, &namespace, &name).await {
        return refuse(StatusCode::FORBIDDEN);
    }
    let key = crate::api::ObjectKey::new(&namespace, &name);
    let release = api.stores.release(&namespace, &name);
    let passport = api.stores.passport(&namespace, &name);
    let state = state(&key, release.as_ref(), passport.as_deref());
    let why = match &state {
        GateState::Unknown(why) => {
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "application/json")],
                json!({"release": key, "error": why}).to_string(),
            )
                .into_response();
        }
        GateState::Pending(why) => Some(why.clone()),
        GateState::Decided(_) => None,
    };
    let status = passport
        .as_ref()
        .and_then(|p| p.status.clone())
        .unwrap_or_default();
    let body = json!({
        "release": key,
        "decision": state.decision(),
        "exitCode": state.exit_code(),
        "pending": why,
        "reasons": status.reasons,
        "evidenceSummary": status.evidence_summary,
        "observedGeneration": status.observed_generation,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
