//! GitHub deployment protection rules: GitHub Environments ask (`deployment_protection_rule`
//! webhook, signed with the App's webhook secret) and wait; the leader answers through the
//! delivery's callback URL once the passport of the matching Release decides — Allow approves,
//! Block rejects, Hold waits. Requests waiting are kept in a ConfigMap beside the Lease
//! (`release-passport-github-protection`), so a restart or a new leader still answers them, and
//! each is answered once.
//!
//! ```text
//! POST /github/deployment-protection
//! X-GitHub-Event: deployment_protection_rule
//! X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958
//! X-Hub-Signature-256: sha256=<hex hmac of the body>
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use super::context::Context;
use crate::api::{Decision, FIELD_MANAGER, Keyed};

pub const PATH: &str = "/github/deployment-protection";
/// The ConfigMap (controller namespace) holding requests not yet answered.
pub const CONFIG_MAP: &str = "release-passport-github-protection";
const KEY: &str = "pending.json";
/// A deployment requested longer ago than this is refused (a replay of an old delivery).
pub const MAX_AGE: Duration = Duration::hours(1);
/// Requests waiting at most: GitHub itself gives up after 30 days. Past it a new request is
/// refused (GitHub shows the failed delivery), never one already waiting evicted.
pub const MAX_WAITING: usize = 1000;
/// How long an answered request is remembered: longer than [`MAX_AGE`], so its replay is
/// refused as answered while it is fresh, and as stale after.
const REMEMBERED: Duration = Duration::hours(2);

/// What the App's Secret holds (keys `webhookSecret`, and `appId` + `privateKey` or `token`,
/// optionally `apiUrl`).
#[derive(Clone)]
pub struct App {
    pub webhook_secret: String,
    pub auth: AppAuth,
    pub api: String,
}

#[derive(Clone)]
pub enum AppAuth {
    /// A GitHub App: a JWT signed with its private key, exchanged for an installation token.
    App {
        id: String,
        key: jsonwebtoken::EncodingKey,
    },
    /// A token that may answer protection rules (tests, or a fine-grained PAT).
    Token(String),
}

/// Why the Secret cannot configure the receiver.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Secret {0}: key webhookSecret is missing or empty")]
    NoWebhookSecret(String),
    #[error("Secret {0}: set appId and privateKey (a GitHub App), or token")]
    NoAuth(String),
    #[error("Secret {0}: privateKey is not an RSA private key in PEM (PKCS#1): {1}")]
    BadKey(String, String),
}

impl App {
    /// Reads the App from a Secret's data.
    pub fn from_secret(name: &str, data: &BTreeMap<String, String>) -> Result<Self, AppError> {
        let get = |k: &str| data.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let webhook_secret = get("webhookSecret")
            .ok_or_else(|| AppError::NoWebhookSecret(name.into()))?
            .to_string();
        let auth = match (get("appId"), get("privateKey"), get("token")) {
            (Some(id), Some(pem), _) => AppAuth::App {
                id: id.to_string(),
                key: rsa_key(pem).map_err(|e| AppError::BadKey(name.into(), e))?,
            },
            (_, _, Some(token)) => AppAuth::Token(token.to_string()),
            _ => return Err(AppError::NoAuth(name.into())),
        };
        let api = get("apiUrl")
            .unwrap_or(crate::notify::payload::GITHUB_API)
            .trim_end_matches('/')
            .to_string();
        Ok(Self {
            webhook_secret,
            auth,
            api,
        })
    }
}

fn rsa_key(pem: &str) -> Result<jsonwebtoken::EncodingKey, String> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    if !pem.contains("BEGIN RSA PRIVATE KEY") {
        return Err("expected -----BEGIN RSA PRIVATE KEY-----".into());
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| e.to_string())?;
    Ok(jsonwebtoken::EncodingKey::from_rsa_der(&der))
}

/// The JWT a GitHub App authenticates with (RS256; issued a minute back for clock drift, valid
/// for nine more, under GitHub's ten-minute limit).
pub fn app_jwt(
    id: &str,
    key: &jsonwebtoken::EncodingKey,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let now = now.timestamp();
    let claims = json!({"iat": now - 60, "exp": now + 540, "iss": id});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        key,
    )
    .map_err(|e| format!("cannot sign the App's JWT: {e}"))
}

/// Checks `X-Hub-Signature-256` (HMAC-SHA256 of the body with the webhook secret) in constant
/// time.
pub fn verify_signature(secret: &[u8], signature: Option<&str>, body: &[u8]) -> bool {
    let Some(mac) = signature
        .and_then(|s| s.trim().strip_prefix("sha256="))
        .and_then(crate::connectors::webhook::unhex)
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, body, &mac).is_ok()
}

/// The `X-Hub-Signature-256` GitHub sends for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mac = ring::hmac::sign(&key, body);
    format!("sha256={}", crate::connectors::webhook::hex(mac.as_ref()))
}

/// The parts of GitHub's `deployment_protection_rule` payload we read.
#[derive(Clone, Debug, Deserialize)]
pub struct ProtectionEvent {
    pub action: String,
    pub environment: String,
    pub deployment_callback_url: String,
    pub deployment: Deployment,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Deployment {
    #[serde(default)]
    pub id: Option<u64>,
    pub sha: String,
    /// Required: without it a replay's age cannot be told.
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Installation {
    pub id: u64,
}

/// One protection request as its signature covers it: the run (its callback), the environment
/// and the deployment. GitHub's delivery id is not part of it: a replay of the same signed body
/// under a new `X-GitHub-Delivery` is the same request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub callback: String,
    pub environment: String,
    pub sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
}

/// A request waiting for its passport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    #[serde(flatten)]
    pub request: Request,
    /// The delivery that brought it, for the logs.
    pub delivery: String,
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<u64>,
    pub received_at: DateTime<Utc>,
}

/// A request answered lately.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    #[serde(flatten)]
    pub request: Request,
    pub at: DateTime<Utc>,
}

/// What the ConfigMap keeps: requests waiting, and requests answered lately.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    #[serde(default)]
    pub waiting: Vec<Waiting>,
    #[serde(default)]
    pub answered: Vec<Answered>,
}

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Signature,
    /// The same request is waiting or was answered.
    Replayed,
    Stale,
    /// [`MAX_WAITING`] requests are waiting already.
    Full,
    /// The callback is not this repository's run on the configured API.
    Callback,
    Malformed(String),
}

impl Kept {
    /// Accepts a verified event (pure): refuses a replay (the same request, whatever its
    /// delivery id), a stale deployment, a callback elsewhere than `api`, or a request past
    /// [`MAX_WAITING`]; an action other than `requested` is ignored.
    pub fn accept(
        &mut self,
        delivery: &str,
        event: ProtectionEvent,
        api: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Refused> {
        if event.action != "requested" {
            return Ok(false);
        }
        if now - event.deployment.created_at > MAX_AGE {
            return Err(Refused::Stale);
        }
        let run_prefix = format!("{api}/repos/{}/actions/runs/", event.repository.full_name);
        let callback = &event.deployment_callback_url;
        let run = callback
            .strip_prefix(&run_prefix)
            .and_then(|rest| rest.strip_suffix("/deployment_protection_rule"));
        if !run.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())) {
            return Err(Refused::Callback);
        }
        let request = Request {
            callback: callback.clone(),
            environment: event.environment,
            sha: event.deployment.sha,
            deployment: event.deployment.id,
        };
        if self.answered.iter().any(|a| a.request == request)
            || self.waiting.iter().any(|w| w.request == request)
        {
            return Err(Refused::Replayed);
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err(Refused::Full);
        }
        self.waiting.push(Waiting {
            request,
            delivery: delivery.to_string(),
            repository: event.repository.full_name,
            installation: event.installation.map(|i| i.id),
            received_at: now,
        });
        Ok(true)
    }

    /// Records `request` answered: it waits no more, and its replay is refused.
    pub fn answered(&mut self, request: &Request, now: DateTime<Utc>) {
        self.waiting.retain(|w| w.request != *request);
        if !self.answered.iter().any(|a| a.request == *request) {
            self.answered.push(Answered {
                request: request.clone(),
                at: now,
            });
        }
    }

    /// Forgets answered requests older than the replay window.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.answered.retain(|a| now - a.at <= REMEMBERED);
        self.waiting
            .retain(|w| now - w.received_at <= Duration::days(30));
    }
}

/// What to answer a waiting request, from the passports of the Releases it names (pure):
/// `None` while any is undecided or held, or none exists yet.
pub fn answer<'a>(
    waiting: &Waiting,
    releases: impl Iterator<Item = &'a crate::api::Release>,
    passport: impl Fn(&crate::api::ObjectKey) -> Option<Arc<crate::api::ReleasePassport>>,
) -> Option<(Decision, crate::api::ObjectKey, String)> {
    let matching: Vec<&crate::api::Release> = releases
        .filter(|r| r.spec.environment == waiting.request.environment)
        .filter(|r| {
            r.spec
                .revision
                .as_ref()
                .and_then(|v| v.commit.as_deref())
                .is_some_and(|c| c.eq_ignore_ascii_case(&waiting.request.sha))
        })
        .filter(|r| {
            r.spec
                .scope
                .project
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(&waiting.repository))
        })
        .collect();
    let mut decided = Vec::new();
    for release in matching {
        let key = release.key();
        let p = passport(&key)?;
        let status = p.status.as_ref()?;
        decided.push((status.decision?, key, status.clone()));
    }
    // Block wins, then Hold (wait); Allow only when every one allows.
    let pick = |d: Decision| decided.iter().find(|(x, _, _)| *x == d);
    let (decision, key, status) = pick(Decision::Block)
        .or_else(|| pick(Decision::Hold))
        .or_else(|| pick(Decision::Allow))?;
    if *decision == Decision::Hold {
        return None;
    }
    let reason = status.one_reason();
    Some((*decision, key.clone(), reason))
}

/// The receiver and the answers, sharing the App.
pub struct Protection {
    pub ctx: Arc<Context>,
    pub app: App,
    pub home: String,
    pub console_url: Option<String>,
    http: reqwest::Client,
    kept: tokio::sync::Mutex<Option<Kept>>,
}

impl Protection {
    pub fn new(
        ctx: Arc<Context>,
        app: App,
        home: String,
        console_url: Option<String>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            ctx,
            app,
            home,
            console_url,
            http: super::notify::client()?,
            kept: tokio::sync::Mutex::new(None),
        })
    }

    fn config_maps(&self) -> Api<ConfigMap> {
        Api::namespaced(self.ctx.client.clone(), &self.home)
    }

    async fn load(&self) -> Result<Kept, kube::Error> {
        let cm = self.config_maps().get_opt(CONFIG_MAP).await?;
        Ok(cm
            .and_then(|c| c.data?.get(KEY).cloned())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    async fn save(&self, kept: &Kept) -> Result<(), kube::Error> {
        let text = serde_json::to_string(kept).unwrap_or_default();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIG_MAP, "namespace": self.home},
            "data": {KEY: text}});
        self.config_maps()
            .patch(
                CONFIG_MAP,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await?;
        self.ctx.metrics.wrote("configmaps");
        Ok(())
    }

    /// Runs `change` on what is kept (read once per process, written when it changed).
    async fn with_kept<T>(&self, change: impl FnOnce(&mut Kept) -> T) -> Result<T, kube::Error> {
        let mut guard = self.kept.lock().await;
        let mut kept = match guard.take() {
            Some(k) => k,
            None => self.load().await?,
        };
        let before = kept.clone();
        let out = change(&mut kept);
        if kept != before
            && let Err(e) = self.save(&kept).await
        {
            *guard = Some(before);
            return Err(e);
        }
        *guard = Some(kept);
        Ok(out)
    }

    /// Answers every waiting request whose passport decided. Returns how many were answered.
    pub async fn answer_due(&self) -> usize {
        let now = (self.ctx.clock)();
        let waiting = match self
            .with_kept(|k| {
                k.prune(now);
                k.waiting.clone()
            })
            .await
        {
            Ok(w) => w,
            Err(e) => {
                warn!("cannot read the waiting protection requests: {e}");
                return 0;
            }
        };
        let stores = &self.ctx.stores;
        let releases = stores.valid_releases(None);
        let mut answered = 0;
        for w in waiting {
            let Some((decision, key, reason)) = answer(&w, releases.iter(), |k| {
                stores.passport(&k.namespace, &k.name)
            }) else {
                continue;
            };
            match self.send(&w, decision, &key, &reason).await {
                Ok(()) => {
                    self.ctx.metrics.notified("GitHubProtection", "delivered");
                    info!(release = %key, %decision, repository = %w.repository, "answered a GitHub deployment protection rule");
                    let done = self.with_kept(|k| k.answered(&w.request, now)).await;
                    if let Err(e) = done {
                        warn!("answered, but cannot record it: {e}");
                    }
                    answered += 1;
                }
                Err(why) => {
                    self.ctx.metrics.notified("GitHubProtection", "retried");
                    warn!(release = %key, "cannot answer a GitHub deployment protection rule: {why}");
                }
            }
        }
        answered
    }

    async fn token(&self, installation: Option<u64>) -> Result<String, String> {
        match &self.app.auth {
            AppAuth::Token(t) => Ok(t.clone()),
            AppAuth::App { id, key } => {
                let installation =
                    installation.ok_or("the delivery names no installation".to_string())?;
                let jwt = app_jwt(id, key, (self.ctx.clock)())?;
                let url = format!(
                    "{}/app/installations/{installation}/access_tokens",
                    self.app.api
                );
                let mut request = self.http.post(&url).timeout(super::notify::REQUEST_TIMEOUT);
                for (name, value) in crate::notify::payload::github_headers(&jwt) {
                    request = request.header(name, value);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| crate::connectors::http::classify(&e.without_url()).to_string())?;
                if !response.status().is_success() {
                    return Err(format!(
                        "GitHub refused the installation token: HTTP {}",
                        response.status()
                    ));
                }
                #[derive(Deserialize)]
                struct Token {
                    token: String,
                }
                let body = crate::connectors::http::read_bounded(response)
                    .await
                    .map_err(|e| e.to_string())?;
                serde_json::from_slice::<Token>(&body)
                    .map(|t| t.token)
                    .map_err(|e| format!("the installation token answer is not JSON: {e}"))
            }
        }
    }

    async fn send(
        &self,
        w: &Waiting,
        decision: Decision,
        key: &crate::api::ObjectKey,
        reason: &str,
    ) -> Result<(), String> {
        let token = self.token(w.installation).await?;
        let link = crate::notify::release_link(self.console_url.as_deref(), key);
        let comment = crate::notify::clean(&match &link {
            Some(l) => format!("Release Passport {decision} ({key}): {reason} — {l}"),
            None => format!("Release Passport {decision} ({key}): {reason}"),
        });
        let state = if decision == Decision::Allow {
            "approved"
        } else {
            "rejected"
        };
        let body =
            json!({"environment_name": w.request.environment, "state": state, "comment": comment});
        let request = crate::notify::payload::Request {
            url: w.request.callback.clone(),
            headers: crate::notify::payload::github_headers(&token),
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        match super::notify::post(&self.http, &request).await {
            super::notify::Outcome::Delivered => Ok(()),
            super::notify::Outcome::Retry(why) | super::notify::Outcome::Failed(why) => {
                Err(crate::scrub::scrub(&why, &[&token]))
            }
        }
    }
}

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

/// Answers what is due whenever the delivery is woken (a passport changed) and every 10 s.
pub async fn run(protection: Arc<Protection>, stop: impl std::future::Future<Output = ()> + Send) {
    let mut due = protection.ctx.notifications_due.subscribe();
    let work = async {
        protection.ctx.stores.wait_ready().await;
        loop {
            due.mark_unchanged();
            protection.answer_due().await;
            tokio::select! {
                r = due.changed() => if r.is_err() { return },
                () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {},
            }
        }
    };
    tokio::select! {
        () = work => {},
        () = stop => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(callback: &str, created: &str) -> ProtectionEvent {
        serde_json::from_value(json!({
            "action": "requested", "environment": "production", "event": "push",
            "deployment_callback_url": callback,
            "deployment": {"id": 1, "sha": "abc123", "created_at": created},
            "repository": {"full_name": "acme/shop"},
            "installation": {"id": 7}
        }))
        .unwrap()
    }

    const API: &str = "https://api.github.com";
    const NOW: &str = "2026-12-02T10:00:00Z";
    const CALLBACK: &str =
        "https://api.github.com/repos/acme/shop/actions/runs/42/deployment_protection_rule";

    /// An App key as GitHub issues it (PKCS#1 PEM) signs a JWT its public key verifies.
    #[test]
    fn an_app_signs_its_jwt_with_its_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.pem");
        let public = dir.path().join("app.der");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048",
        ]);
        run(&[
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            public.to_str().unwrap(),
        ]);
        let pem = std::fs::read_to_string(&key).unwrap();
        let data: BTreeMap<String, String> = [
            ("webhookSecret".to_string(), "s".to_string()),
            ("appId".to_string(), "123".to_string()),
            ("privateKey".to_string(), pem),
        ]
        .into();
        let app = App::from_secret("github-app", &data).unwrap();
        let AppAuth::App { id, key } = &app.auth else {
            panic!("an App")
        };
        let now = Utc::now();
        let jwt = app_jwt(id, key, now).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_der(&std::fs::read(&public).unwrap());
        let claims = jsonwebtoken::decode::<Value>(
            &jwt,
            &decoding,
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256),
        )
        .unwrap()
        .claims;
        assert_eq!(claims["iss"], "123");
        assert_eq!(claims["exp"], now.timestamp() + 540);
        // Without a key, or with a PKCS#8 one, the Secret is refused naming what to set.
        let missing: BTreeMap<String, String> = [("webhookSecret".into(), "s".into())].into();
        assert!(matches!(
            App::from_secret("g", &missing),
            Err(AppError::NoAuth(_))
        ));
        let pkcs8: BTreeMap<String, String> = [
            ("webhookSecret".into(), "s".into()),
            ("appId".into(), "1".into()),
            (
                "privateKey".into(),
                "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----".into(),
            ),
        ]
        .into();
        assert!(matches!(
            App::from_secret("g", &pkcs8),
            Err(AppError::BadKey(..))
        ));
    }

    #[test]
    fn signatures_are_github_s() {
        let body = br#"{"action":"requested"}"#;
        let sig = sign(b"It's a Secret to Everybody", body);
        assert!(verify_signature(
            b"It's a Secret to Everybody",
            Some(&sig),
            body
        ));
        assert!(!verify_signature(b"other", Some(&sig), body));
        assert!(!verify_signature(b"It's a Secret to Everybody", None, body));
        assert!(!verify_signature(
            b"It's a Secret to Everybody",
            Some("sha1=00"),
            body
        ));
        // GitHub's documented example.
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn replays_stale_deployments_and_foreign_callbacks_are_refused() {
        let now = NOW.parse::<DateTime<Utc>>().unwrap();
        let mut kept = Kept::default();
        assert_eq!(
            kept.accept("d1", event(CALLBACK, "2026-12-02T09:59:00Z"), API, now),
            Ok(true)
        );
        assert_eq!(
            kept.accept("d1", event(CALLBACK, "2026-12-02T09:59:00Z"), API, now),
            Err(Refused::Replayed)
        );
        assert_eq!(
            kept.accept("d2", event(CALLBACK, "2026-12-02T08:00:00Z"), API, now),
            Err(Refused::Stale)
        );
        for foreign in [
            "https://evil.example/repos/acme/shop/actions/runs/42/deployment_protection_rule",
            "https://api.github.com/repos/other/repo/actions/runs/42/deployment_protection_rule",
            "https://api.github.com/repos/acme/shop/actions/runs/42/../../x/deployment_protection_rule",
        ] {
            assert_eq!(
                kept.accept("d3", event(foreign, "2026-12-02T09:59:00Z"), API, now),
                Err(Refused::Callback),
                "{foreign}"
            );
        }
        let request = kept.waiting[0].request.clone();
        kept.answered(&request, now);
        assert!(kept.waiting.is_empty());
        assert_eq!(
            kept.accept("d1", event(CALLBACK, "2026-12-02T09:59:00Z"), API, now),
            Err(Refused::Replayed)
        );
        kept.prune(now + Duration::hours(3));
        assert!(kept.answered.is_empty());
    }

    /// What the signature covers decides what a replay is: a new `X-GitHub-Delivery` on the
    /// same body is the same request, waiting or answered, and is never answered twice.
    #[test]
    fn a_request_is_kept_and_answered_once_whatever_its_delivery_id() {
        let now = NOW.parse::<DateTime<Utc>>().unwrap();
        let created = "2026-12-02T09:59:00Z";
        let mut kept = Kept::default();
        assert_eq!(
            kept.accept("d1", event(CALLBACK, created), API, now),
            Ok(true)
        );
        for n in 2..2000 {
            assert_eq!(
                kept.accept(&format!("d{n}"), event(CALLBACK, created), API, now),
                Err(Refused::Replayed)
            );
        }
        assert_eq!(kept.waiting.len(), 1);
        let request = kept.waiting[0].request.clone();
        kept.answered(&request, now);
        assert_eq!(
            kept.accept(
                "d-new",
                event(CALLBACK, created),
                API,
                now + Duration::minutes(30)
            ),
            Err(Refused::Replayed),
            "an answered request is not kept again"
        );
        // The same run's other environment, or a new deployment of it, is another request.
        let mut staging = event(CALLBACK, created);
        staging.environment = "staging".into();
        assert_eq!(kept.accept("d-s", staging, API, now), Ok(true));
        let mut rerun = event(CALLBACK, created);
        rerun.deployment.id = Some(2);
        assert_eq!(kept.accept("d-r", rerun, API, now), Ok(true));
    }

    /// A flood of signed requests cannot push out one already waiting: past the bound, the
    /// newcomer is refused.
    #[test]
    fn a_flood_cannot_evict_a_waiting_request() {
        let now = NOW.parse::<DateTime<Utc>>().unwrap();
        let created = "2026-12-02T09:59:00Z";
        let mut kept = Kept::default();
        assert_eq!(
            kept.accept("genuine", event(CALLBACK, created), API, now),
            Ok(true)
        );
        let mut refused = 0;
        for n in 0..2 * MAX_WAITING {
            let run = CALLBACK.replace("/runs/42/", &format!("/runs/{}/", 1000 + n));
            match kept.accept(&format!("f{n}"), event(&run, created), API, now) {
                Ok(true) => {}
                Err(Refused::Full) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(kept.waiting.len(), MAX_WAITING);
        assert_eq!(refused, MAX_WAITING + 1);
        assert!(kept.waiting.iter().any(|w| w.delivery == "genuine"));
    }

    /// `created_at` is required: without it a replay's age cannot be told.
    #[test]
    fn a_deployment_without_created_at_is_refused_naming_it() {
        let e = serde_json::from_value::<ProtectionEvent>(json!({
            "action": "requested", "environment": "production",
            "deployment_callback_url": CALLBACK,
            "deployment": {"id": 1, "sha": "abc123"},
            "repository": {"full_name": "acme/shop"}
        }))
        .unwrap_err();
        assert!(e.to_string().contains("created_at"), "{e}");
    }
}
