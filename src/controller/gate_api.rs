//! The gate over HTTP, for pipelines: `GET /api/v1/gate/{namespace}/{name}` answers what
//! `passport gate` answers, as JSON, from the controller's caches. Read-only. The caller
//! authenticates with a bearer token the API server vouches for (TokenReview: a ServiceAccount
//! token, or an OIDC token the cluster trusts) and must be allowed to `get` that passport
//! (SubjectAccessReview). Anyone else gets 401 or 403 and learns nothing. TokenReview answers
//! are kept for [`REVIEW_TTL`] (a pipeline polling the gate costs the API server one review per
//! interval, not one per poll), and a client address that fails to authenticate
//! [`FAILURES_ALLOWED`] times in a minute gets 429 without a review until the minute is over.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
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

/// How long a TokenReview answer (either way) is used again for the same token.
pub const REVIEW_TTL: Duration = Duration::from_secs(10);
/// Failed authentications one client address may make per minute before it gets 429.
pub const FAILURES_ALLOWED: u32 = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Entries kept in either table; past it, expired ones go, then all.
const MAX_ENTRIES: usize = 4096;

/// Who a token belongs to: user name and groups.
type Reviewed = Option<(String, Vec<String>)>;

pub struct GateApi {
    pub client: Client,
    pub stores: Stores,
    /// The audience a token must be minted for (its TokenReview names it).
    pub audience: String,
    guard: Guard,
}

/// Recent TokenReview answers and failed attempts per client address.
#[derive(Default)]
struct Guard {
    reviews: Mutex<HashMap<[u8; 32], (Instant, Reviewed)>>,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl GateApi {
    pub fn new(client: Client, stores: Stores, audience: String) -> Self {
        Self {
            client,
            stores,
            audience,
            guard: Guard::default(),
        }
    }

    /// The user of `token`, from the cache or a TokenReview.
    async fn user_of(&self, token: &str, now: Instant) -> Reviewed {
        let digest = digest(token);
        if let Some(answer) = self.guard.cached(&digest, now) {
            return answer;
        }
        let answer = authenticate(&self.client, token, &self.audience).await;
        self.guard.remember(digest, answer.clone(), now);
        answer
    }
}

fn digest(token: &str) -> [u8; 32] {
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    digest
}

impl Guard {
    /// A review of this token still fresh at `now`.
    fn cached(&self, digest: &[u8; 32], now: Instant) -> Option<Reviewed> {
        let reviews = self.reviews.lock().unwrap_or_else(PoisonError::into_inner);
        reviews
            .get(digest)
            .filter(|(at, _)| now.duration_since(*at) < REVIEW_TTL)
            .map(|(_, answer)| answer.clone())
    }

    fn remember(&self, digest: [u8; 32], answer: Reviewed, now: Instant) {
        let mut reviews = self.reviews.lock().unwrap_or_else(PoisonError::into_inner);
        if reviews.len() >= MAX_ENTRIES {
            reviews.retain(|_, (at, _)| now.duration_since(*at) < REVIEW_TTL);
            if reviews.len() >= MAX_ENTRIES {
                reviews.clear();
            }
        }
        reviews.insert(digest, (now, answer));
    }

    /// Whether `peer` used up its failures for this minute.
    fn locked_out(&self, peer: IpAddr, now: Instant) -> bool {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.get(&peer).is_some_and(|(since, n)| {
            now.duration_since(*since) < FAILURE_WINDOW && *n >= FAILURES_ALLOWED
        })
    }

    fn failed(&self, peer: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, (since, _)| now.duration_since(*since) < FAILURE_WINDOW);
            if failures.len() >= MAX_ENTRIES {
                failures.clear();
            }
        }
        let entry = failures.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) >= FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

pub fn router(api: Arc<GateApi>) -> Router {
    Router::new()
        .route("/api/v1/gate/{namespace}/{name}", get(answer))
        .with_state(api)
}

fn refuse(status: StatusCode) -> Response {
    let body = match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::TOO_MANY_REQUESTS => "too many failed attempts; retry after a minute",
        _ => "forbidden",
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::RETRY_AFTER, "60"),
        ],
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let now = Instant::now();
    let peer = peer.ip().to_canonical();
    if api.guard.locked_out(peer, now) {
        return refuse(StatusCode::TOO_MANY_REQUESTS);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::serve::bearer_token);
    let user = match token {
        Some(token) => api.user_of(token, now).await,
        None => None,
    };
    let Some((user, groups)) = user else {
        api.guard.failed(peer, now);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_are_kept_briefly_and_failures_lock_an_address_out_for_a_minute() {
        let guard = Guard::default();
        let t0 = Instant::now();
        let ci = Some(("system:serviceaccount:shop:ci".to_string(), Vec::new()));
        guard.remember(digest("good"), ci.clone(), t0);
        guard.remember(digest("bad"), None, t0);
        assert_eq!(
            guard.cached(&digest("good"), t0 + Duration::from_secs(9)),
            Some(ci)
        );
        assert_eq!(
            guard.cached(&digest("bad"), t0),
            Some(None),
            "refusals are kept too"
        );
        assert_eq!(
            guard.cached(&digest("good"), t0 + REVIEW_TTL),
            None,
            "then asked again"
        );
        assert_eq!(guard.cached(&digest("other"), t0), None);

        let (peer, other): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        for _ in 0..FAILURES_ALLOWED - 1 {
            guard.failed(peer, t0);
        }
        assert!(!guard.locked_out(peer, t0));
        guard.failed(peer, t0);
        assert!(guard.locked_out(peer, t0 + Duration::from_secs(59)));
        assert!(!guard.locked_out(other, t0), "per address");
        assert!(!guard.locked_out(peer, t0 + FAILURE_WINDOW), "for a minute");
        guard.failed(peer, t0 + FAILURE_WINDOW);
        assert!(
            !guard.locked_out(peer, t0 + FAILURE_WINDOW),
            "a new minute starts over"
        );
    }
}
