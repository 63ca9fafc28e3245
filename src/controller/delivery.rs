//! The leader's notification delivery: plans from the caches what the Notifiers owe
//! ([`crate::notify`]), sends each owed message at least once — retried with backoff and jitter
//! on a 5xx, 429, timeout or unreachable receiver; bounded in flight overall and per Notifier,
//! each request within its timeout — then records it in the cluster (the passport's
//! `status.notifications`, the Notifier's `status.announced`), so a restart or a new leader
//! does not tell it again. It runs beside the reconcilers and never in their way: it reads
//! caches, and a receiver that hangs holds one delivery task, nothing else.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::context::Context;
use super::error::Write;
use crate::api::ConditionType;
use crate::api::notifier::{Delivered, NotifierStatus};
use crate::api::{
    API_VERSION, Keyed, NOTIFIER_FIELD_MANAGER, Notifier, ObjectKey, Release, ReleasePassport,
    namespace_of,
};
use crate::connectors::hub::CredentialProblem;
use crate::engine::conditions::{self, Desired};
use crate::notify::payload::{self, Target};
use crate::notify::{self, Due, DueKey, Record, World};

/// How long one receiver may take to answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in flight at once, over every Notifier (the rest wait for the next pass).
pub const MAX_IN_FLIGHT: usize = 64;
/// Deliveries of one Notifier in flight at once, unless its `maxConcurrency` says.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// The plan is made again at least this often (waivers come within their lead time, retries
/// fall due).
const TICK: Duration = Duration::from_secs(10);
/// A receiver's answer is read up to this size (only for the error message).
const MAX_ANSWER: usize = 512;

/// Where delivery is configured from the command line.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// The console's external address, for links in messages.
    pub console_url: Option<String>,
}

/// How one attempt ended.
#[derive(Debug)]
pub(super) enum Outcome {
    Delivered,
    /// Worth trying again: a 5xx, 429, timeout or unreachable receiver.
    Retry(String),
    /// Not worth trying until something changes: refused (4xx), misconfigured, no credential.
    Failed(String),
}

#[derive(Default)]
struct State {
    in_flight: HashSet<DueKey>,
    /// Failed deliveries: attempts so far and when the next may start.
    retry: HashMap<DueKey, (u32, Instant)>,
    slots: HashMap<ObjectKey, (u32, Arc<tokio::sync::Semaphore>)>,
    /// The generation of each Notifier whose credential was checked.
    checked: HashMap<ObjectKey, Option<i64>>,
    /// Recorded, but the caches may not show the record yet: not planned again meanwhile.
    recorded: HashSet<DueKey>,
}

/// The delivery, shared by its loop and its tasks.
pub struct Delivery {
    ctx: Arc<Context>,
    http: reqwest::Client,
    settings: Settings,
    state: Mutex<State>,
    /// Record writes one at a time, each from a fresh read: two deliveries for one passport
    /// must not overwrite each other's record.
    records: tokio::sync::Mutex<()>,
}

/// Runs the delivery until `stop` (the leader's reconcilers stop with the same signal).
pub async fn run(
    ctx: Arc<Context>,
    settings: Settings,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            warn!("cannot build the notification HTTP client; nothing will be notified: {e}");
            return;
        }
    };
    let delivery = Arc::new(Delivery {
        ctx: Arc::clone(&ctx),
        http,
        settings,
        state: Mutex::default(),
        records: tokio::sync::Mutex::new(()),
    });
    let mut due = ctx.notifications_due.subscribe();
    let work = async move {
        ctx.stores.wait_ready().await;
        loop {
            due.mark_unchanged();
            let next = Arc::clone(&delivery).pass();
            tokio::select! {
                r = due.changed() => if r.is_err() { return },
                () = tokio::time::sleep_until(next) => {},
            }
        }
    };
    tokio::select! {
        () = work => {},
        () = stop => {},
    }
}

/// The connectors' client, without redirects: a receiver's URL is often the credential, and a
/// body (or a token) is not re-posted somewhere it did not name.
pub(super) fn client() -> Result<reqwest::Client, reqwest::Error> {
    crate::connectors::http::client_with(reqwest::redirect::Policy::none())
}

impl Delivery {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Plans every Notifier, starts what is owed and not already under way; returns when the
    /// next pass is due at the latest.
    fn pass(self: Arc<Self>) -> Instant {
        let stores = &self.ctx.stores;
        let notifiers = stores.notifiers.state();
        if notifiers.is_empty() {
            return Instant::now() + TICK;
        }
        let now = (self.ctx.clock)();
        let passports = stores.passports.state();
        let valid = stores.valid_releases(None);
        let releases: BTreeMap<ObjectKey, &Release> = valid.iter().map(|r| (r.key(), r)).collect();
        let waivers = stores.waivers.state();
        let connectors = stores.connectors.state();
        let world = World {
            passports: &passports,
            releases: &releases,
            waivers: &waivers,
            connectors: &connectors,
            console: self.settings.console_url.as_deref(),
            now,
        };
        let mut owed = Vec::new();
        for notifier in &notifiers {
            owed.extend(
                notify::owed(notifier, &world)
                    .into_iter()
                    .map(|o| (Arc::clone(notifier), o)),
            );
        }
        let started = Instant::now();
        let mut state = self.state();
        for notifier in notifiers.iter().cloned() {
            let generation = notifier.metadata.generation;
            let observed = notifier.status.as_ref().and_then(|s| s.observed_generation);
            if observed != generation
                && state.checked.insert(notifier.key(), generation) != Some(generation)
            {
                tokio::spawn(Arc::clone(&self).check(notifier));
            }
        }
        let planned: HashSet<DueKey> = owed.iter().map(|(_, o)| o.key.clone()).collect();
        // What is no longer owed (the decision moved on) is not retried; a record the caches
        // show is no longer planned, so it is forgotten.
        state.retry.retain(|k, _| planned.contains(k));
        state.recorded.retain(|k| planned.contains(k));
        for (notifier, owed) in owed {
            let key = owed.key.clone();
            if state.in_flight.len() >= MAX_IN_FLIGHT {
                break;
            }
            if state.in_flight.contains(&key)
                || state.recorded.contains(&key)
                || state.retry.get(&key).is_some_and(|(_, at)| *at > started)
            {
                continue;
            }
            let limit = notifier.spec.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY);
            let slot = state
                .slots
                .entry(notifier.key())
                .and_modify(|(n, s)| {
                    if *n != limit {
                        *s = Arc::new(tokio::sync::Semaphore::new(limit as usize));
                        *n = limit;
                    }
                })
                .or_insert_with(|| (limit, Arc::new(tokio::sync::Semaphore::new(limit as usize))))
                .1
                .clone();
            state.in_flight.insert(key.clone());
            let due = owed.due();
            let this = Arc::clone(&self);
            let delivering = std::panic::AssertUnwindSafe(Arc::clone(&self).deliver(
                notifier,
                due,
                key.clone(),
                slot,
            ))
            .catch_unwind();
            tokio::spawn(async move {
                // A delivery that panicked is not left in flight for good (nothing would send
                // it again): it is retried like a failed one.
                if delivering.await.is_err() {
                    error!(notifier = %key.notifier, "a notification delivery panicked; it is retried");
                    this.settle(key, false);
                }
            });
        }
        state
            .retry
            .values()
            .map(|(_, at)| *at)
            .min()
            .map_or(started + TICK, |at| at.min(started + TICK))
    }

    /// Sends one message, then records it or schedules its retry.
    async fn deliver(
        self: Arc<Self>,
        notifier: Arc<Notifier>,
        due: Due,
        key: DueKey,
        slot: Arc<tokio::sync::Semaphore>,
    ) {
        let outcome = match slot.acquire().await {
            Ok(_permit) => self.attempt(&notifier, &due).await,
            Err(_) => Outcome::Retry("the delivery is stopping".into()),
        };
        let type_ = notifier.spec.type_.as_str();
        let now = (self.ctx.clock)();
        let recorded = match &outcome {
            Outcome::Delivered => {
                self.ctx.metrics.notified(type_, "delivered");
                self.record(&notifier, &due, now).await
            }
            Outcome::Retry(why) | Outcome::Failed(why) => {
                let result = if matches!(outcome, Outcome::Retry(_)) {
                    "retried"
                } else {
                    "failed"
                };
                self.ctx.metrics.notified(type_, result);
                warn!(notifier = %notifier.key(), event = %due.message.event,
                      subject = %due.message.subject.key(), "notification not delivered: {why}");
                self.failed(&notifier, why, now).await;
                false
            }
        };
        self.settle(key, recorded);
    }

    /// A delivery ended: recorded, or retried after a backoff.
    fn settle(&self, key: DueKey, recorded: bool) {
        let mut state = self.state();
        state.in_flight.remove(&key);
        if recorded {
            state.retry.remove(&key);
            state.recorded.insert(key);
        } else {
            let attempts = state.retry.get(&key).map_or(0, |(n, _)| *n) + 1;
            // One notifier's retries for one subject spread apart from the others'.
            let wait = super::retry::backoff(attempts, &(&key.notifier, &key.subject));
            state.retry.insert(key, (attempts, Instant::now() + wait));
        }
        drop(state);
        // A retry (or what waited for a slot) is planned from the next pass.
        self.ctx.wake_notifications();
    }

    async fn credential(&self, notifier: &Notifier) -> Result<String, CredentialProblem> {
        let ns = namespace_of(&notifier.metadata);
        super::refresh::secret_value(&self.ctx, ns, &notifier.spec.credentials_secret_ref).await
    }

    async fn attempt(&self, notifier: &Notifier, due: &Due) -> Outcome {
        let credential = match self.credential(notifier).await {
            Ok(c) => c,
            Err(why) => return Outcome::Failed(format!("credential required: {why}")),
        };
        let key = notifier.key();
        let target = Target {
            notifier: &key,
            type_: notifier.spec.type_,
            url: notifier.spec.url.as_deref(),
            credential: &credential,
            credential_key: &notifier.spec.credentials_secret_ref.key,
            check_run: notifier.spec.check_run,
        };
        let request = match payload::request(&target, &due.message, (self.ctx.clock)()) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let outcome = post(&self.http, &request).await;
        // Whatever a receiver or the client said, the credential is not repeated.
        match outcome {
            Outcome::Retry(why) => Outcome::Retry(crate::scrub::scrub(&why, &[&credential])),
            Outcome::Failed(why) => Outcome::Failed(crate::scrub::scrub(&why, &[&credential])),
            delivered => delivered,
        }
    }

    /// Records an accepted delivery: on the passport or in the Notifier's announced list,
    /// and as the Notifier's last delivery. Whether the record was written.
    async fn record(&self, notifier: &Notifier, due: &Due, now: DateTime<Utc>) -> bool {
        let _one_at_a_time = self.records.lock().await;
        let ns = namespace_of(&notifier.metadata);
        let written = match &due.record {
            Record::Passport(record) => {
                let api: Api<ReleasePassport> = Api::namespaced(self.ctx.client.clone(), ns);
                let name = &due.message.subject.key().name;
                match api.get_opt(name).await {
                    Ok(Some(fresh)) => {
                        let list = notify::records_now(&fresh, record);
                        let body = json!({"apiVersion": API_VERSION, "kind": "ReleasePassport",
                                          "status": {"notifications": list}});
                        self.apply(&api, name, body, Write::PassportNotifications)
                            .await
                    }
                    // Collected meanwhile: nothing left to tell of.
                    Ok(None) => true,
                    Err(e) => {
                        warn!("cannot read the passport to record a notification: {e}");
                        false
                    }
                }
            }
            Record::Announced(_) => true,
        };
        let announced = match &due.record {
            Record::Announced(a) => Some(a),
            Record::Passport(_) => None,
        };
        let status = NotifierStatus {
            last_delivery: Some(Delivered {
                at: now,
                event: due.message.event,
                subject: due.message.subject.key().to_string(),
                decision: due.message.decision,
            }),
            ..NotifierStatus::default()
        };
        let status_written = self
            .write_status(notifier, status, announced, None, now)
            .await;
        written && (announced.is_none() || status_written)
    }

    async fn failed(&self, notifier: &Notifier, why: &str, now: DateTime<Utc>) {
        let _one_at_a_time = self.records.lock().await;
        self.write_status(notifier, NotifierStatus::default(), None, Some(why), now)
            .await;
    }

    /// A new or changed Notifier: is its credential there? (Ready before anything is told.)
    async fn check(self: Arc<Self>, notifier: Arc<Notifier>) {
        let problem = self.credential(&notifier).await.err();
        let _one_at_a_time = self.records.lock().await;
        let now = (self.ctx.clock)();
        let why = problem.map(|p| format!("credential required: {p}"));
        self.write_status(
            &notifier,
            NotifierStatus::default(),
            None,
            why.as_deref(),
            now,
        )
        .await;
    }

    /// Writes the Notifier's status from a fresh read: `update`'s last delivery (or the one
    /// recorded), `announced` added, `error` as the last error (or the one recorded, if the
    /// last delivery came before it). Whether it was written.
    async fn write_status(
        &self,
        notifier: &Notifier,
        update: NotifierStatus,
        announced: Option<&crate::api::notifier::Announced>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let ns = namespace_of(&notifier.metadata);
        let name = notifier.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Notifier> = Api::namespaced(self.ctx.client.clone(), ns);
        let fresh = match api.get_opt(name).await {
            Ok(Some(n)) => n,
            Ok(None) => return true,
            Err(e) => {
                warn!(notifier = %notifier.key(), "cannot read the Notifier: {e}");
                return false;
            }
        };
        let before = fresh.status.clone().unwrap_or_default();
        let waivers = self.ctx.stores.waivers.state();
        let connectors = self.ctx.stores.connectors.state();
        let last_delivery = update.last_delivery.or(before.last_delivery);
        // The last error stays shown after a recovery; Ready says whether it still holds.
        let (last_error, last_error_at) = match error {
            Some(e) => (Some(notify::clean(e)), Some(now)),
            None => (before.last_error.clone(), before.last_error_at),
        };
        let healthy = error.is_none()
            && (last_error_at.is_none() || delivered_after(last_delivery.as_ref(), last_error_at));
        let message = match (&last_error, &last_delivery) {
            (Some(e), _) if !healthy => e.clone(),
            (_, Some(d)) => format!(
                "last told {} of {} at {}",
                d.event,
                d.subject,
                d.at.to_rfc3339()
            ),
            _ => "nothing told yet".to_string(),
        };
        let status = NotifierStatus {
            conditions: conditions::merge(
                &before.conditions,
                vec![Desired {
                    type_: ConditionType::Ready,
                    status: healthy,
                    reason: if healthy {
                        "Delivering"
                    } else {
                        "DeliveryFailed"
                    },
                    message,
                }],
                fresh.metadata.generation,
                now,
            ),
            last_delivery,
            last_error,
            last_error_at,
            announced: notify::announced_now(&fresh, announced, &waivers, &connectors, now),
            observed_generation: fresh.metadata.generation,
        };
        if fresh.status.as_ref() == Some(&status) {
            return true;
        }
        let body = json!({"apiVersion": API_VERSION, "kind": "Notifier", "status": status});
        self.apply(&api, name, body, Write::NotifierStatus).await
    }

    async fn apply<K>(
        &self,
        api: &Api<K>,
        name: &str,
        body: serde_json::Value,
        write: Write,
    ) -> bool
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let params = PatchParams::apply(NOTIFIER_FIELD_MANAGER).force();
        match api.patch_status(name, &params, &Patch::Apply(body)).await {
            Ok(_) => {
                self.ctx.metrics.wrote(write.resource());
                true
            }
            Err(e) => {
                warn!(object = name, "writing the {write}: {e}");
                false
            }
        }
    }
}

/// Whether the last delivery came after the last error (so the error no longer holds).
fn delivered_after(delivery: Option<&Delivered>, error_at: Option<DateTime<Utc>>) -> bool {
    match (delivery, error_at) {
        (Some(d), Some(e)) => d.at >= e,
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// POSTs one request within [`REQUEST_TIMEOUT`].
pub(super) async fn post(http: &reqwest::Client, request: &payload::Request) -> Outcome {
    let mut builder = http
        .post(&request.url)
        .timeout(REQUEST_TIMEOUT)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let response = match builder.send().await {
        Ok(r) => r,
        // Without the URL: for Slack and Teams it is the credential.
        Err(e) => {
            let e = e.without_url();
            return Outcome::Retry(if e.is_timeout() {
                format!(
                    "the receiver did not answer within {}s",
                    REQUEST_TIMEOUT.as_secs()
                )
            } else {
                crate::connectors::http::classify(&e).to_string()
            });
        }
    };
    let status = response.status();
    if status.is_success() {
        debug!(%status, "notification delivered");
        return Outcome::Delivered;
    }
    let body = crate::connectors::http::read_bounded(response)
        .await
        .unwrap_or_default();
    let answer = String::from_utf8_lossy(&body[..body.len().min(MAX_ANSWER)]).to_string();
    let why = format!("the receiver answered HTTP {status}: {}", answer.trim());
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Outcome::Retry(why)
    } else {
        Outcome::Failed(why)
    }
}
