//! The generic Webhook connector: any CI posts results, signed with HMAC-SHA256 over
//! `"{timestamp}.{body}"` with the Connector's secret. Unsigned, wrongly signed, stale,
//! future-dated or replayed deliveries are refused, all with the same answer, so a caller
//! learns nothing. A replay is the same signed content, however its signature is spelled; a
//! signed delivery older than one already applied for its release is refused (409).
//!
//! ```text
//! POST /webhooks/{namespace}/{connector}
//! X-Passport-Timestamp: 1764079200
//! X-Passport-Signature: sha256=<hex hmac>
//! {"release": "checkout-production-2-3-1", "status": "success", "summary": "pipeline 812 green", "url": "https://ci.example/812"}
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use kube::runtime::reflector::{ObjectRef, Store};
use serde::Deserialize;

use super::FetchError;
use super::hub::{Credential, Hub};
use super::kind::{About, Answer, Answers, ConnectorKind, Upstream};
use super::query::Query;
use crate::api::{Connector, ConnectorType, EvidenceStatus, Keyed, ObjectKey, Release};
use crate::engine::EvidenceItem;

pub const SIGNATURE_HEADER: &str = "x-passport-signature";
pub const TIMESTAMP_HEADER: &str = "x-passport-timestamp";
/// How old a delivery may be.
pub const MAX_SKEW_SECS: i64 = 300;
/// How far ahead of our clock a delivery's timestamp may be (the CI's clock runs fast).
pub const MAX_FUTURE_SECS: i64 = 30;
/// Largest delivery accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a delivery was refused (logged and counted; the caller only sees 401).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Unsigned,
    BadSignature,
    Stale,
    /// Dated further ahead than [`MAX_FUTURE_SECS`].
    FromTheFuture,
    Replayed,
}

/// A delivery whose signature checked out: when it was signed, and a digest of what was
/// signed (the replay key: the same content however its signature is written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub timestamp: i64,
    digest: [u8; 32],
}

/// The signature header value for a delivery.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

/// Checks signature (in constant time) and freshness (pure).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, Refusal> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(Refusal::Unsigned);
    };
    let ts: i64 = ts.trim().parse().map_err(|_| Refusal::Unsigned)?;
    let mac = sig
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or(Refusal::BadSignature)?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut message = ts.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    ring::hmac::verify(&key, &message, &mac).map_err(|_| Refusal::BadSignature)?;
    let age = now.timestamp().saturating_sub(ts);
    if age > MAX_SKEW_SECS {
        return Err(Refusal::Stale);
    }
    if age < -MAX_FUTURE_SECS {
        return Err(Refusal::FromTheFuture);
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &message).as_ref());
    Ok(Verified {
        timestamp: ts,
        digest,
    })
}

/// What a CI posts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// The Release (in the connector's namespace) the result is about.
    pub release: String,
    /// `success`, `failure`, `running`, `cancelled`, … or an evidence status name.
    pub status: String,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

impl Delivery {
    /// What the evidence says of it, scrubbed of `secrets` and of every secret shape.
    pub fn summary(&self, secrets: &[&str]) -> String {
        let text = match (&self.summary, &self.url) {
            (Some(s), Some(u)) => format!("{s} ({u})"),
            (Some(s), None) => s.clone(),
            (None, Some(u)) => u.clone(),
            (None, None) => self.status.clone(),
        };
        crate::scrub::scrub(&text, secrets)
    }
}

/// Why a signed delivery's body is refused (answered 400, naming the field).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("invalid delivery: {0}")]
    Json(#[from] serde_json::Error),
    /// `release` names an object in the connector's namespace: `../vault/x` names none.
    #[error("release {0:?} is not a Kubernetes object name")]
    NotAnObjectName(String),
    #[error("unknown status {0:?}")]
    UnknownStatus(String),
}

/// A verified delivery's body, read: the delivery and the status its word means.
pub fn read_delivery(body: &[u8]) -> Result<(Delivery, EvidenceStatus), DeliveryError> {
    let delivery: Delivery = serde_json::from_slice(body)?;
    if !crate::api::key::is_object_name(&delivery.release) {
        return Err(DeliveryError::NotAnObjectName(
            crate::text::clip(&delivery.release, 80).into_owned(),
        ));
    }
    let status = status_of(&delivery.status)
        .ok_or_else(|| DeliveryError::UnknownStatus(delivery.status.clone()))?;
    Ok((delivery, status))
}

/// The evidence status a CI word means.
pub fn status_of(word: &str) -> Option<EvidenceStatus> {
    Some(match word.to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "passed" | "complete" => EvidenceStatus::Complete,
        "failure" | "failed" | "error" | "timed_out" => EvidenceStatus::Failed,
        "running" | "pending" | "queued" | "in_progress" => EvidenceStatus::Pending,
        "cancelled" | "canceled" | "skipped" | "missing" => EvidenceStatus::Missing,
        "partial" => EvidenceStatus::Partial,
        _ => return None,
    })
}

/// Called with `(namespace, release)` for every accepted delivery.
pub type OnDelivery = Box<dyn Fn(&str, &str) + Send + Sync>;

/// Receives deliveries for every Webhook connector.
pub struct Receiver {
    pub hub: Arc<Hub>,
    pub connectors: Store<Connector>,
    /// Releases whose evidence a delivery changed.
    pub on_delivery: OnDelivery,
    pub clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    seen: Mutex<Seen>,
}

/// What the receiver accepted inside the freshness window (older entries are dropped: a
/// delivery that old is refused as stale anyway).
#[derive(Default)]
struct Seen {
    /// Accepted deliveries by connector and signed content, with their timestamps.
    deliveries: HashMap<(ObjectKey, [u8; 32]), i64>,
    /// The newest delivery applied per connector and release.
    newest: HashMap<(ObjectKey, String), i64>,
}

impl Receiver {
    pub fn new(
        hub: Arc<Hub>,
        connectors: Store<Connector>,
        on_delivery: OnDelivery,
        clock: Box<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    ) -> Self {
        Self {
            hub,
            connectors,
            on_delivery,
            clock,
            seen: Mutex::default(),
        }
    }

    fn seen(&self, now: DateTime<Utc>) -> std::sync::MutexGuard<'_, Seen> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = |t: &i64| now.timestamp() - *t <= MAX_SKEW_SECS;
        seen.deliveries.retain(|_, t| fresh(t));
        seen.newest.retain(|_, t| fresh(t));
        seen
    }

    /// Whether this is the first time `delivery` reaches `connector` (and remembers it).
    fn first_use(&self, connector: &ObjectKey, delivery: &Verified, now: DateTime<Utc>) -> bool {
        self.seen(now)
            .deliveries
            .insert((connector.clone(), delivery.digest), delivery.timestamp)
            .is_none()
    }

    /// Whether no newer delivery was applied for `release` (and makes this one the newest).
    fn newest(&self, connector: &ObjectKey, release: &str, ts: i64, now: DateTime<Utc>) -> bool {
        let mut seen = self.seen(now);
        let newest = seen
            .newest
            .entry((connector.clone(), release.to_string()))
            .or_insert(ts);
        if ts < *newest {
            return false;
        }
        *newest = ts;
        true
    }
}

pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/webhooks/{namespace}/{name}", post(deliver))
        .with_state(receiver)
}

fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, "signature refused\n").into_response()
}

async fn deliver(
    State(r): State<Arc<Receiver>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Before the lookup: the answer to an oversized delivery must not tell whether the
    // connector exists.
    if body.len() > MAX_BODY {
        return (StatusCode::PAYLOAD_TOO_LARGE, "delivery too large\n").into_response();
    }
    let Some(connector) = r
        .connectors
        .get(&ObjectRef::new(&name).within(&namespace))
        .filter(|c| c.spec.type_ == ConnectorType::Webhook)
    else {
        return refused();
    };
    let Some(Credential::Value(secret)) = r.hub.credential(&connector) else {
        return refused();
    };
    let now = (r.clock)();
    let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let key = connector.key();
    let verified = verify(
        secret.as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        now,
    )
    .and_then(|v| {
        if r.first_use(&key, &v, now) {
            Ok(v)
        } else {
            Err(Refusal::Replayed)
        }
    });
    let verified = match verified {
        Ok(v) => v,
        Err(why) => {
            tracing::warn!(connector = %key, reason = ?why, "webhook delivery refused");
            return refused();
        }
    };
    let (delivery, status) = match read_delivery(&body) {
        Ok(read) => read,
        Err(why) => return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    };
    if !r.newest(&key, &delivery.release, verified.timestamp, now) {
        return (
            StatusCode::CONFLICT,
            format!(
                "a newer delivery for {} was already applied\n",
                delivery.release
            ),
        )
            .into_response();
    }
    let item = EvidenceItem {
        observed_at: Some(now),
        connector: Some(name.clone()),
        summary: Some(delivery.summary(&[secret.as_str()])),
        ..EvidenceItem::new(super::kind::source_name(&connector), status)
    };
    r.hub.record(
        &connector,
        super::query::Query::Delivery {
            release: delivery.release.clone(),
        },
        item,
        now,
    );
    (r.on_delivery)(&namespace, &delivery.release);
    (StatusCode::ACCEPTED, "accepted\n").into_response()
}

/// The `Webhook` connector type: any CI pushes signed results to the receiver.
pub struct Webhook;

static ABOUT: About = About {
    pushed: true,
    ..About::fetched("Signed results pushed by any CI", Answers::Ci, Some("ci"))
};

impl ConnectorKind for Webhook {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    /// Deliveries name their release.
    fn evidence_queries(&self, release: &Release) -> Vec<Query> {
        vec![Query::Delivery {
            release: release.metadata.name.clone().unwrap_or_default(),
        }]
    }

    fn fetch<'a>(
        &'a self,
        _upstream: &'a Upstream<'a>,
        _query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async {
            Err(FetchError::Config(
                "webhook deliveries are pushed to the receiver, not fetched".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signed delivery's `release` of `../vault/x` was kept as evidence for a release no object
    /// can be named: a delivery names a Kubernetes object or is refused, naming the field.
    #[test]
    fn a_delivery_names_a_release_by_its_object_name() {
        for release in [
            "../vault/x",
            "web/x",
            "Web",
            "",
            "-web",
            "web..x",
            &"a".repeat(254),
        ] {
            let body = serde_json::json!({"release": release, "status": "success"}).to_string();
            let refused = read_delivery(body.as_bytes()).map(|(d, _)| d.release);
            assert!(
                matches!(refused, Err(DeliveryError::NotAnObjectName(_))),
                "{release:?}: {refused:?}"
            );
        }
        for release in ["web", "checkout-production-2-3-1", "web.v2"] {
            let body = serde_json::json!({"release": release, "status": "success"}).to_string();
            assert_eq!(read_delivery(body.as_bytes()).unwrap().0.release, release);
        }
    }

    #[test]
    fn signatures_freshness_and_tampering() {
        let now = DateTime::from_timestamp(1_764_079_200, 0).unwrap_or_default();
        let body = br#"{"release":"web","status":"success"}"#;
        let sig = sign(b"k3y", now.timestamp(), body);
        let ts = now.timestamp().to_string();
        let ok = verify(b"k3y", Some(&ts), Some(&sig), body, now).unwrap();
        assert_eq!(ok.timestamp, now.timestamp());
        // The hex of a signature may be written in either case: the same delivery, one key.
        let (prefix, mac) = sig.split_at("sha256=".len());
        let shouted = format!("{prefix}{}", mac.to_uppercase());
        assert_eq!(verify(b"k3y", Some(&ts), Some(&shouted), body, now), Ok(ok));
        assert_eq!(
            verify(b"other", Some(&ts), Some(&sig), body, now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(
                b"k3y",
                Some(&ts),
                Some(&sig),
                br#"{"release":"web","status":"failure"}"#,
                now
            ),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(b"k3y", None, Some(&sig), body, now),
            Err(Refusal::Unsigned)
        );
        assert_eq!(
            verify(b"k3y", Some(&ts), None, body, now),
            Err(Refusal::Unsigned)
        );
        assert_eq!(
            verify(b"k3y", Some(&ts), Some("sha256=zz"), body, now),
            Err(Refusal::BadSignature)
        );
        let later = now + chrono::Duration::seconds(MAX_SKEW_SECS + 1);
        assert_eq!(
            verify(b"k3y", Some(&ts), Some(&sig), body, later),
            Err(Refusal::Stale)
        );
        let ahead = now - chrono::Duration::seconds(MAX_FUTURE_SECS + 1);
        assert_eq!(
            verify(b"k3y", Some(&ts), Some(&sig), body, ahead),
            Err(Refusal::FromTheFuture)
        );
        let slightly = now - chrono::Duration::seconds(MAX_FUTURE_SECS);
        assert!(verify(b"k3y", Some(&ts), Some(&sig), body, slightly).is_ok());
    }

    #[test]
    fn ci_words() {
        assert_eq!(status_of("SUCCESS"), Some(EvidenceStatus::Complete));
        assert_eq!(status_of("failure"), Some(EvidenceStatus::Failed));
        assert_eq!(status_of("in_progress"), Some(EvidenceStatus::Pending));
        assert_eq!(status_of("purple"), None);
    }
}
