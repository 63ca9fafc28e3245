//! The hub: plans which upstream queries releases need, fetches each distinct one once per
//! refresh with bounded concurrency and time, caches what it saw, and keeps each Connector's
//! health. Reconciles read its cache through [`HubSource`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::kind::Upstream;
use super::kind::source_name;
use super::queries::queries_for;
use super::query::Query;
use super::{FetchError, kind_of};
use crate::api::ConditionType;
use crate::api::connector::ConnectorStatus;
use crate::api::{
    Connector, ConnectorHealth, Keyed, ObjectKey, Release, ReleasePassport, namespace_of,
};
use crate::engine::EvidenceItem;
use crate::engine::conditions::{self, Desired};
use crate::engine::needs::Needs;
use crate::evidence::EvidenceSource;
use crate::scrub::scrub;

/// Default refresh interval, timeout and concurrency (the Connector spec overrides them).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The credential a connector was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The connector names no Secret.
    NotNeeded,
    /// The Secret's value.
    Value(String),
    /// Two keys of the Secret: the one `credentialsSecretRef` names, and the second its type
    /// names (Datadog's application key).
    Pair { token: String, second: String },
    /// The Secret or its key is absent: why.
    Missing(CredentialProblem),
}

/// The values a credential sends: the token and, for some types, a second key.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keys<'a> {
    pub token: Option<&'a str>,
    pub second: Option<&'a str>,
}

impl<'a> Keys<'a> {
    /// Every value, to be scrubbed from whatever comes back.
    pub fn all(&self) -> Vec<&'a str> {
        self.token.into_iter().chain(self.second).collect()
    }
}

impl Credential {
    pub fn keys(&self) -> Keys<'_> {
        match self {
            Credential::Value(v) => Keys {
                token: Some(v),
                second: None,
            },
            Credential::Pair { token, second } => Keys {
                token: Some(token),
                second: Some(second),
            },
            _ => Keys::default(),
        }
    }
}

/// Why a credential could not be read from its Secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialProblem {
    #[error("Secret {secret} does not exist")]
    NoSecret { secret: String },
    #[error("Secret {secret} has no key {key:?}")]
    NoKey { secret: String, key: String },
    #[error("key {key:?} of Secret {secret} is empty or not text")]
    NotText { secret: String, key: String },
    /// The API refused or failed the read (its category: forbidden, unavailable, …).
    #[error("cannot read Secret {secret}: {category}")]
    Unreadable {
        secret: String,
        category: &'static str,
    },
}

/// What the hub knows of one connector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectorState {
    pub next_refresh: Option<DateTime<Utc>>,
    pub status: ConnectorStatus,
}

/// The distinct queries each connector must answer for these releases (pure).
pub fn plan(
    connectors: &[Arc<Connector>],
    releases: &[(Release, Needs)],
) -> BTreeMap<ObjectKey, BTreeSet<Query>> {
    connectors
        .iter()
        .map(|c| {
            let queries = releases
                .iter()
                .flat_map(|(r, n)| queries_for(c, r, n, connectors))
                .collect();
            (c.key(), queries)
        })
        .collect()
}

/// Fetches and caches evidence for every connector.
pub struct Hub {
    http: reqwest::Client,
    /// For the in-cluster connectors (Kubernetes, Flux).
    kube: Option<kube::Client>,
    observations: RwLock<HashMap<(ObjectKey, Query), EvidenceItem>>,
    states: RwLock<HashMap<ObjectKey, ConnectorState>>,
    /// Integrations found in the cluster that no Connector covers.
    candidates: RwLock<Vec<super::detect::Candidate>>,
    /// The credential each connector was last given (kept in memory only, never written out).
    credentials: RwLock<HashMap<ObjectKey, Credential>>,
    upstream_calls: AtomicU64,
}

/// What one refresh of one connector changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Refreshed {
    /// Observations whose status or value changed: the releases reading them need a reconcile.
    pub changed: bool,
    pub status: ConnectorStatus,
}

fn duration_or(d: Option<&crate::api::DurationString>, default: Duration) -> Duration {
    d.and_then(|d| d.parse().ok())
        .and_then(|d| d.to_std().ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

impl Hub {
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: super::http::client()?,
            kube: None,
            observations: RwLock::new(HashMap::new()),
            states: RwLock::new(HashMap::new()),
            credentials: RwLock::new(HashMap::new()),
            candidates: RwLock::new(Vec::new()),
            upstream_calls: AtomicU64::new(0),
        })
    }

    /// A hub that can also read the cluster (Kubernetes and Flux connectors).
    pub fn with_kube(mut self, client: kube::Client) -> Self {
        self.kube = Some(client);
        self
    }

    /// Upstream calls made since start (for the fan-out benchmark and metrics).
    pub fn upstream_calls(&self) -> u64 {
        self.upstream_calls.load(Ordering::Relaxed)
    }

    /// Whether `connector` is due for a refresh at `now`.
    pub fn due(&self, connector: &Connector, now: DateTime<Utc>) -> bool {
        self.states
            .read()
            .ok()
            .and_then(|s| s.get(&connector.key()).and_then(|st| st.next_refresh))
            .is_none_or(|at| at <= now)
    }

    /// The status the hub last computed for `connector`.
    pub fn status(&self, connector: &Connector) -> Option<ConnectorStatus> {
        self.states
            .read()
            .ok()?
            .get(&connector.key())
            .map(|s| s.status.clone())
    }

    /// Replaces the detected candidates; true when they changed.
    pub fn set_candidates(&self, candidates: Vec<super::detect::Candidate>) -> bool {
        match self.candidates.write() {
            Ok(mut current) if *current != candidates => {
                *current = candidates;
                true
            }
            _ => false,
        }
    }

    /// Integrations found in the cluster that no Connector covers yet.
    pub fn candidates(&self) -> Vec<super::detect::Candidate> {
        self.candidates
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The credential `connector` was last refreshed with.
    pub fn credential(&self, connector: &Connector) -> Option<Credential> {
        self.credentials.read().ok()?.get(&connector.key()).cloned()
    }

    /// Records an observation pushed to us (a webhook delivery).
    pub fn record(
        &self,
        connector: &Connector,
        query: Query,
        item: EvidenceItem,
        now: DateTime<Utc>,
    ) {
        let ckey = connector.key();
        if let Ok(mut cache) = self.observations.write() {
            cache.insert((ckey.clone(), query), item);
        }
        if let Ok(mut states) = self.states.write() {
            states.entry(ckey).or_default().status.last_success_at = Some(now);
        }
    }

    /// One cached observation.
    pub fn observation(&self, connector: &ObjectKey, query: &Query) -> Option<EvidenceItem> {
        self.observations
            .read()
            .ok()?
            .get(&(connector.clone(), query.clone()))
            .cloned()
    }

    /// Fetches every query of one connector (each once, `maxConcurrency` at a time, each within
    /// `timeout`), caches the observations and computes the connector's status.
    pub async fn refresh(
        &self,
        connector: &Connector,
        queries: &BTreeSet<Query>,
        credential: &Credential,
        now: DateTime<Utc>,
    ) -> Refreshed {
        let ckey = connector.key();
        let timeout = duration_or(connector.spec.timeout.as_ref(), DEFAULT_TIMEOUT);
        let concurrency = connector
            .spec
            .max_concurrency
            .map_or(DEFAULT_CONCURRENCY, |n| n.clamp(1, 64) as usize);
        let keys = credential.keys();
        let secrets = keys.all();
        if let Ok(mut credentials) = self.credentials.write() {
            credentials.insert(ckey.clone(), credential.clone());
        }
        let kind = kind_of(connector.spec.type_);
        let pushed = kind.about().pushed;
        let mut errors: Vec<FetchError> = Vec::new();
        let results: Vec<(Query, Result<EvidenceItem, FetchError>)> = match credential {
            // Deliveries are pushed to us: nothing to fetch, only the credential to check.
            Credential::Missing(why) if pushed => {
                errors.push(FetchError::Credential(why.to_string()));
                Vec::new()
            }
            _ if pushed => Vec::new(),
            Credential::Missing(why) => queries
                .iter()
                .map(|q| (q.clone(), Err(FetchError::Credential(why.to_string()))))
                .collect(),
            _ => {
                let probe: BTreeSet<Query> = if queries.is_empty() {
                    // Nothing is asked yet: still check that the upstream answers.
                    kind.probe().into_iter().collect()
                } else {
                    queries.clone()
                };
                let secrets = secrets.as_slice();
                futures::stream::iter(probe)
                    .map(|q| async move {
                        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
                        let r = self.fetch(connector, &q, keys, secrets, timeout, now).await;
                        (q, r)
                    })
                    .buffer_unordered(concurrency)
                    .collect()
                    .await
            }
        };
        let mut changed = false;
        let mut successes = 0usize;
        if let Ok(mut cache) = self.observations.write() {
            for (q, result) in results {
                match result {
                    Ok(item) => {
                        successes += 1;
                        if queries.contains(&q) {
                            let k = (ckey.clone(), q);
                            let same = cache.get(&k).is_some_and(|old| {
                                old.status == item.status
                                    && old.value == item.value
                                    && old.summary == item.summary
                            });
                            changed |= !same;
                            cache.insert(k, item);
                        }
                    }
                    // Never observed for want of a credential: the evidence says so, rather
                    // than "never observed".
                    Err(FetchError::Credential(why)) => {
                        let k = (ckey.clone(), q);
                        if queries.contains(&k.1) && !cache.contains_key(&k) {
                            let why = scrub(&why, &secrets);
                            let item = credential_required(connector, &k.1, &why, now);
                            cache.insert(k, item);
                            changed = true;
                        }
                        errors.push(FetchError::Credential(why));
                    }
                    // The last good observation stays: it ages into Stale by the rule's maxAge.
                    Err(e) => {
                        tracing::debug!(connector = %ckey, query = %q, "fetch failed: {}", scrub(&e.to_string(), &secrets));
                        errors.push(e);
                    }
                }
            }
            cache.retain(|(c, q), _| c != &ckey || queries.contains(q));
        }
        let previous = self.status(connector).unwrap_or_default();
        let status = status_after(connector, &previous, &errors, successes, &secrets, now);
        // An upstream that asked us to slow down is not asked again before it said.
        let refresh = errors.iter().filter_map(FetchError::retry_after).fold(
            duration_or(connector.spec.refresh_interval.as_ref(), DEFAULT_REFRESH),
            Duration::max,
        );
        if let Ok(mut states) = self.states.write() {
            states.insert(
                ckey,
                ConnectorState {
                    next_refresh: Some(
                        now + chrono::Duration::from_std(refresh).unwrap_or_default(),
                    ),
                    status: status.clone(),
                },
            );
        }
        Refreshed { changed, status }
    }

    async fn fetch(
        &self,
        connector: &Connector,
        query: &Query,
        keys: Keys<'_>,
        // Every value of the credential, to be scrubbed from the answer.
        secrets: &[&str],
        timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<EvidenceItem, FetchError> {
        let name = connector.metadata.name.clone().unwrap_or_default();
        let expiry = chrono::Duration::from_std(
            duration_or(connector.spec.refresh_interval.as_ref(), DEFAULT_REFRESH) * 3,
        )
        .unwrap_or_else(|_| chrono::Duration::minutes(3));
        let upstream = Upstream {
            http: &self.http,
            kube: self.kube.as_ref(),
            connector,
            token: keys.token,
            second: keys.second,
            timeout,
            now,
        };
        let answer = kind_of(connector.spec.type_)
            .fetch(&upstream, query)
            .await?;
        Ok(EvidenceItem {
            source: item_source(connector, query),
            status: answer.status,
            observed_at: Some(now),
            connector: Some(name),
            // Whatever the upstream wrote, no credential is kept.
            summary: Some(scrub(&answer.summary, secrets)),
            query: answer.query,
            value: answer.value,
            targets: answer.targets,
            // Three missed refreshes and the observation no longer counts.
            expires_at: Some(now + expiry),
            passing_since: None,
            rollout_started_at: answer.rollout_started_at,
            samples: answer.samples,
            comparison: None,
        })
    }
}

/// The evidence source an answer to `query` is recorded under.
fn item_source(connector: &Connector, query: &Query) -> String {
    match query.fixed_source() {
        Some(source) => source.into(),
        None => source_name(connector),
    }
}

/// What a query that could not be asked for want of a credential observed: Missing, and why.
fn credential_required(
    connector: &Connector,
    query: &Query,
    why: &str,
    now: DateTime<Utc>,
) -> EvidenceItem {
    let name = connector.metadata.name.clone().unwrap_or_default();
    EvidenceItem {
        source: item_source(connector, query),
        status: crate::api::EvidenceStatus::Missing,
        observed_at: Some(now),
        summary: Some(format!(
            "credential required (Connector {}/{name}: {why})",
            crate::api::namespace_of(&connector.metadata)
        )),
        connector: Some(name),
        query: match query {
            Query::Metric(m) => Some(m.to_string()),
            _ => None,
        },
        value: None,
        targets: None,
        expires_at: None,
        passing_since: None,
        rollout_started_at: None,
        samples: Vec::new(),
        comparison: None,
    }
}

/// A connector's health from one refresh: a refused credential says so whatever else happened;
/// nothing reachable at all is Unreachable; some failures, Degraded.
fn health_of(errors: &[FetchError], successes: usize) -> ConnectorHealth {
    if errors
        .iter()
        .any(|e| matches!(e, FetchError::Credential(_)))
    {
        ConnectorHealth::CredentialRequired
    } else if errors.is_empty() {
        ConnectorHealth::Healthy
    } else if successes == 0
        && errors
            .iter()
            .all(|e| matches!(e, FetchError::Unreachable(_)))
    {
        ConnectorHealth::Unreachable
    } else {
        ConnectorHealth::Degraded
    }
}

/// The connector's status after a refresh (its condition keeps its transition time while the
/// health does not flip; the last error stays until it is healthy again).
fn status_after(
    connector: &Connector,
    previous: &ConnectorStatus,
    errors: &[FetchError],
    successes: usize,
    secrets: &[&str],
    now: DateTime<Utc>,
) -> ConnectorStatus {
    let health = health_of(errors, successes);
    let last_error = errors.first().map(|e| scrub(&e.to_string(), secrets));
    let healthy = health == ConnectorHealth::Healthy;
    let message = match &last_error {
        Some(e) => format!("{health:?}: {e}"),
        None => format!("{} queries answered", successes),
    };
    ConnectorStatus {
        health: Some(health),
        last_success_at: if successes > 0 {
            Some(now)
        } else {
            previous.last_success_at
        },
        last_error: last_error.or(if healthy {
            None
        } else {
            previous.last_error.clone()
        }),
        observed_generation: connector.metadata.generation,
        conditions: conditions::merge(
            &previous.conditions,
            vec![Desired {
                type_: ConditionType::Ready,
                status: healthy,
                reason: if healthy {
                    "Healthy"
                } else {
                    health_reason(health)
                },
                message,
            }],
            connector.metadata.generation,
            now,
        ),
    }
}

fn health_reason(h: ConnectorHealth) -> &'static str {
    match h {
        ConnectorHealth::Healthy => "Healthy",
        ConnectorHealth::Degraded => "Degraded",
        ConnectorHealth::CredentialRequired => "CredentialRequired",
        ConnectorHealth::Unreachable => "Unreachable",
    }
}

/// Reconciles read connector evidence through this: the cache only, never an upstream call.
pub struct HubSource {
    pub hub: Arc<Hub>,
    pub connectors: kube::runtime::reflector::Store<Connector>,
    /// Where a pushed observation outlives this process: the passport that recorded it. A
    /// webhook delivery cannot be fetched again, so after a restart or a leader change the
    /// passport's own record of it stands until the next delivery.
    pub passports: Option<kube::runtime::reflector::Store<ReleasePassport>>,
}

impl HubSource {
    /// The evidence the release's passport recorded from a pushed (webhook) connector.
    fn recorded(&self, release: &Release, connector: &Connector) -> Option<EvidenceItem> {
        let passports = self.passports.as_ref()?;
        let passport = passports.get(
            &kube::runtime::reflector::ObjectRef::new(release.metadata.name.as_deref()?)
                .within(namespace_of(&release.metadata)),
        )?;
        let source = source_name(connector);
        passport
            .status
            .as_ref()?
            .evidence
            .iter()
            .find(|e| e.source == source && e.connector == connector.metadata.name)
            .map(EvidenceItem::from)
    }
}

impl EvidenceSource for HubSource {
    fn kind(&self) -> &'static str {
        "Connectors"
    }

    fn evidence_for(
        &self,
        release: &Release,
        needs: &Needs,
        _now: DateTime<Utc>,
    ) -> Vec<EvidenceItem> {
        let connectors = self.connectors.state();
        connectors
            .iter()
            .flat_map(|c| {
                let ckey = c.key();
                let pushed = kind_of(c.spec.type_).about().pushed;
                queries_for(c, release, needs, &connectors)
                    .into_iter()
                    .filter_map(move |q| {
                        self.hub
                            .observation(&ckey, &q)
                            .or_else(|| pushed.then(|| self.recorded(release, c)).flatten())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
