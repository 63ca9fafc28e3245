//! The requests kept in a ConfigMap beside the Lease (a restart or a new leader still answers
//! them), and the loop that answers them through their callbacks.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::Deserialize;
use serde_json::json;
use tracing::{info, warn};

use super::app::{App, AppAuth, app_jwt};
use super::requests::{Kept, Waiting, answer};
use crate::api::{Decision, FIELD_MANAGER};
use crate::controller::context::Context;

/// Why a request could not be answered this time (it stays waiting and is tried again).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("the delivery names no installation")]
    NoInstallation,
    #[error("cannot sign the App's JWT: {0}")]
    Jwt(#[source] jsonwebtoken::errors::Error),
    #[error("asking for an installation token: {0}")]
    TokenUnreachable(#[source] crate::connectors::FetchError),
    #[error("GitHub refused the installation token: HTTP {0}")]
    TokenRefused(reqwest::StatusCode),
    #[error("the installation token answer is not JSON: {0}")]
    TokenNotJson(#[source] serde_json::Error),
    /// The callback's failure, scrubbed of the token.
    #[error("{0}")]
    Callback(String),
}

/// The ConfigMap (controller namespace) holding requests not yet answered.
pub const CONFIG_MAP: &str = "release-passport-github-protection";
const KEY: &str = "pending.json";

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
            http: crate::controller::delivery::client()?,
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
    pub(super) async fn with_kept<T>(
        &self,
        change: impl FnOnce(&mut Kept) -> T,
    ) -> Result<T, kube::Error> {
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

    async fn token(&self, installation: Option<u64>) -> Result<String, AnswerError> {
        match &self.app.auth {
            AppAuth::Token(t) => Ok(t.clone()),
            AppAuth::App { id, key } => {
                let installation = installation.ok_or(AnswerError::NoInstallation)?;
                let jwt = app_jwt(id, key, (self.ctx.clock)()).map_err(AnswerError::Jwt)?;
                let url = format!(
                    "{}/app/installations/{installation}/access_tokens",
                    self.app.api
                );
                let mut request = self
                    .http
                    .post(&url)
                    .timeout(crate::controller::delivery::REQUEST_TIMEOUT);
                for (name, value) in crate::notify::payload::github_headers(&jwt) {
                    request = request.header(name, value);
                }
                let response = request.send().await.map_err(|e| {
                    AnswerError::TokenUnreachable(crate::connectors::http::classify(
                        &e.without_url(),
                    ))
                })?;
                if !response.status().is_success() {
                    return Err(AnswerError::TokenRefused(response.status()));
                }
                #[derive(Deserialize)]
                struct Token {
                    token: String,
                }
                let body = crate::connectors::http::read_bounded(response)
                    .await
                    .map_err(AnswerError::TokenUnreachable)?;
                serde_json::from_slice::<Token>(&body)
                    .map(|t| t.token)
                    .map_err(AnswerError::TokenNotJson)
            }
        }
    }

    async fn send(
        &self,
        w: &Waiting,
        decision: Decision,
        key: &crate::api::ObjectKey,
        reason: &str,
    ) -> Result<(), AnswerError> {
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
        match crate::controller::delivery::post(&self.http, &request).await {
            crate::controller::delivery::Outcome::Delivered => Ok(()),
            crate::controller::delivery::Outcome::Retry(why)
            | crate::controller::delivery::Outcome::Failed(why) => {
                Err(AnswerError::Callback(crate::scrub::scrub(&why, &[&token])))
            }
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
