//! PURE: what the Notifiers owe, from what the caches hold — level-triggered, so a restart or a
//! new leader works out the same from the records kept in the cluster (a passport's
//! `status.notifications`, a Notifier's `status.announced`) and tells nothing twice. No clock,
//! client or network: the delivery ([`crate::controller::delivery`]) sends what this plans.

pub mod payload;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::api::ConditionType;
use crate::api::common::created_at;
use crate::api::connector::ConnectorHealth;
use crate::api::notifier::{Announced, Notified, Told};
use crate::api::passport::WatchPhase;
use crate::api::{
    Connector, Decision, Keyed, Notifier, NotifierEvent, NotifierType, ObjectKey, Release,
    ReleasePassport, Waiver,
};

/// How long before expiry WaiverExpiring is told, unless the Notifier says.
pub const DEFAULT_WAIVER_LEAD: Duration = Duration::hours(24);
/// Free text in a message: at most this many characters.
const MAX_TEXT: usize = 300;
/// A passport keeps this many notification records (the newest).
pub const MAX_RECORDS: usize = 16;
/// A Notifier keeps this many announced Waiver and Connector events.
pub const MAX_ANNOUNCED: usize = 256;

/// What a message is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Passport(ObjectKey),
    Waiver(ObjectKey),
    Connector(ObjectKey),
}

impl Subject {
    pub fn key(&self) -> &ObjectKey {
        match self {
            Subject::Passport(k) | Subject::Waiver(k) | Subject::Connector(k) => k,
        }
    }

    /// The kind as CloudEvents' `source` path spells it.
    fn resource(&self) -> &'static str {
        match self {
            Subject::Passport(_) => "releasepassports",
            Subject::Waiver(_) => "waivers",
            Subject::Connector(_) => "connectors",
        }
    }
}

/// The release a passport message is about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseFacts {
    pub service: String,
    pub version: String,
    pub environment: String,
    /// `revision.commit`.
    pub commit: Option<String>,
    /// `scope.project` (`owner/repository` on GitHub).
    pub project: Option<String>,
}

/// One thing to tell, in words every receiver type renders its own way. Every free-text field
/// is scrubbed of secret shapes and clipped when it is made.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub event: NotifierEvent,
    pub subject: Subject,
    /// For a passport: the decision told, and the one before it (if any was told).
    pub decision: Option<Decision>,
    pub previous: Option<Decision>,
    /// One line: what happened.
    pub title: String,
    /// The one reason.
    pub reason: String,
    pub release: Option<ReleaseFacts>,
    /// Where the console shows it, when the console's address is known.
    pub link: Option<String>,
    /// When it happened (the decision's time, the waiver's expiry, …).
    pub at: DateTime<Utc>,
}

impl Message {
    /// The same message, always the same id: a receiver can drop our at-least-once repeats.
    pub fn id(&self, notifier: &ObjectKey) -> String {
        let what = format!(
            "{notifier}|{}|{}|{}|{}|{}",
            self.event,
            self.subject.resource(),
            self.subject.key(),
            self.decision.map_or("", Decision::as_str),
            self.at.timestamp()
        );
        let digest = ring::digest::digest(&ring::digest::SHA256, what.as_bytes());
        hex::encode(&digest.as_ref()[..16])
    }

    /// CloudEvents' `source`: the object as an API path.
    pub fn source(&self) -> String {
        let key = self.subject.key();
        format!(
            "/apis/{}/namespaces/{}/{}/{}",
            crate::api::API_VERSION,
            key.namespace,
            self.subject.resource(),
            key.name
        )
    }
}

/// What is recorded in the cluster once a receiver accepted a delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// Appended to the passport's `status.notifications`.
    Passport(Notified),
    /// Added to the Notifier's `status.announced`.
    Announced(Announced),
}

/// One delivery owed.
#[derive(Clone, Debug, PartialEq)]
pub struct Due {
    pub notifier: ObjectKey,
    pub message: Message,
    pub record: Record,
}

/// The identity of a delivery: in flight or backing off, it is not planned again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DueKey {
    pub notifier: ObjectKey,
    pub event: NotifierEvent,
    pub subject: Subject,
    /// The decision, expiry or health told.
    pub what: Said,
}

/// What a delivery tells: a passport's decision, or an announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Said {
    Decision(Decision),
    Announced(Told),
}

impl Due {
    pub fn key(&self) -> DueKey {
        DueKey {
            notifier: self.notifier.clone(),
            event: self.message.event,
            subject: self.message.subject.clone(),
            what: match &self.record {
                Record::Passport(n) => Said::Decision(n.decision),
                Record::Announced(a) => Said::Announced(a.what),
            },
        }
    }
}

/// Everything the plan reads, as the caches hold it.
pub struct World<'a> {
    pub passports: &'a [Arc<ReleasePassport>],
    /// Releases by key (labels for selectors, commit and project for GitHub).
    pub releases: &'a BTreeMap<ObjectKey, &'a Release>,
    pub waivers: &'a [Arc<Waiver>],
    pub connectors: &'a [Arc<Connector>],
    /// The console's external address (`--console-url`), if known.
    pub console: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Free text as a message carries it: no secret shapes, no control characters, bounded.
pub fn clean(text: &str) -> String {
    let scrubbed = crate::scrub::scrub(text, &[]);
    let flat: String = scrubbed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    crate::text::clip(flat.trim(), MAX_TEXT).into_owned()
}

fn link(console: Option<&str>, path: &str) -> Option<String> {
    console.map(|base| format!("{}{path}", base.trim_end_matches('/')))
}

/// Where the console's truth screen shows `release` (the console's `/console/releases` route).
pub fn release_link(console: Option<&str>, release: &ObjectKey) -> Option<String> {
    let encode = |segment: &str| crate::api::links::percent_encode(segment, false);
    link(
        console,
        &format!(
            "/console/releases/{}/{}",
            encode(&release.namespace),
            encode(&release.name)
        ),
    )
}

/// A delivery owed, its message not written yet: a pass writes only those it starts (at most
/// the in-flight bound), however many are owed.
pub struct Owed<'a> {
    pub key: DueKey,
    pub record: Record,
    message: Box<dyn FnOnce() -> Message + 'a>,
}

impl Owed<'_> {
    /// The delivery, its message written.
    pub fn due(self) -> Due {
        Due {
            notifier: self.key.notifier.clone(),
            message: (self.message)(),
            record: self.record,
        }
    }
}

fn owed_now<'a>(notifier: &Notifier, due: Due) -> Owed<'a> {
    let key = due.key();
    debug_assert_eq!(key.notifier, notifier.key());
    Owed {
        key,
        record: due.record,
        message: Box::new(move || due.message),
    }
}

/// Everything `notifier` owes now, messages written.
pub fn plan(notifier: &Notifier, world: &World<'_>) -> Vec<Due> {
    owed(notifier, world).into_iter().map(Owed::due).collect()
}

/// Everything `notifier` owes now, each message written only when asked for.
pub fn owed<'a>(notifier: &'a Notifier, world: &'a World<'a>) -> Vec<Owed<'a>> {
    let ns = crate::api::namespace_of(&notifier.metadata);
    let here = move |meta: &kube::api::ObjectMeta| crate::api::namespace_of(meta) == ns;
    let mut owed = Vec::new();
    for event in &notifier.spec.events {
        match event {
            NotifierEvent::DecisionChanged | NotifierEvent::WatchFailed => {
                owed.extend(
                    world
                        .passports
                        .iter()
                        .filter(|p| here(&p.metadata))
                        .filter_map(|p| passport_due(notifier, *event, p, world)),
                );
            }
            NotifierEvent::WaiverExpiring => owed.extend(
                world
                    .waivers
                    .iter()
                    .filter(|w| here(&w.metadata))
                    .filter_map(|w| waiver_due(notifier, w, world))
                    .map(|d| owed_now(notifier, d)),
            ),
            NotifierEvent::ConnectorUnhealthy => owed.extend(
                world
                    .connectors
                    .iter()
                    .filter(|c| here(&c.metadata))
                    .filter_map(|c| connector_due(notifier, c, world))
                    .map(|d| owed_now(notifier, d)),
            ),
        }
    }
    owed
}

fn selects(notifier: &Notifier, passport: &ReleasePassport, release: Option<&Release>) -> bool {
    notifier.spec.selector.matches(
        &passport.spec.service,
        &passport.spec.environment,
        release.and_then(|r| r.metadata.labels.as_ref()),
    )
}

/// The last record `notifier` left on `passport` for `event`.
pub fn last_told<'p>(
    notifier: &str,
    event: NotifierEvent,
    passport: &'p ReleasePassport,
) -> Option<&'p Notified> {
    passport
        .status
        .as_ref()?
        .notifications
        .iter()
        .rev()
        .find(|n| n.notifier == notifier && n.event == event)
}

fn passport_due<'a>(
    notifier: &'a Notifier,
    event: NotifierEvent,
    passport: &'a ReleasePassport,
    world: &'a World<'a>,
) -> Option<Owed<'a>> {
    let status = passport.status.as_ref()?;
    let decision = status.decision?;
    let name = notifier.metadata.name.as_deref().unwrap_or_default();
    // The cheap refusals first: most passports were told already.
    if event == NotifierEvent::DecisionChanged
        && last_told(name, event, passport).is_some_and(|t| t.decision == decision)
    {
        return None;
    }
    let key = passport.key();
    let release = world.releases.get(&key).copied();
    if !selects(notifier, passport, release) {
        return None;
    }
    let told = last_told(name, event, passport);
    let decided_at = status.decided_at()?;
    match event {
        NotifierEvent::DecisionChanged if told.is_some_and(|t| t.decision == decision) => {
            return None;
        }
        NotifierEvent::WatchFailed
            if told.is_some()
                || status.watch.as_ref().map(|w| w.phase) != Some(WatchPhase::Failed) =>
        {
            return None;
        }
        _ => {}
    }
    // A Notifier tells what happens from its creation on, not the passports' past.
    if told.is_none() && created_at(&notifier.metadata).is_some_and(|c| decided_at < c) {
        return None;
    }
    let facts = ReleaseFacts {
        service: passport.spec.service.clone(),
        version: passport.spec.version.clone(),
        environment: passport.spec.environment.clone(),
        commit: passport
            .spec
            .revision
            .as_ref()
            .and_then(|r| r.commit.clone())
            .or_else(|| release.and_then(|r| r.spec.revision.as_ref()?.commit.clone())),
        project: release.and_then(|r| r.spec.scope.project.clone()),
    };
    if notifier.spec.type_ == NotifierType::GitHubStatus
        && (facts.commit.is_none() || facts.project.is_none())
    {
        // Nothing to put a status on.
        return None;
    }
    let record = Record::Passport(Notified {
        notifier: name.to_string(),
        type_: notifier.spec.type_,
        event,
        decision,
        at: world.now,
    });
    let due_key = DueKey {
        notifier: notifier.key(),
        event,
        subject: Subject::Passport(key.clone()),
        what: Said::Decision(decision),
    };
    let message = move || {
        let what = format!(
            "{} {} → {}",
            facts.service, facts.version, facts.environment
        );
        let (title, reason) = match event {
            NotifierEvent::WatchFailed => (
                format!("{what}: the post-deploy watch failed — roll back"),
                status
                    .watch
                    .as_ref()
                    .and_then(|w| w.message.clone())
                    .unwrap_or_default(),
            ),
            _ => (
                format!("{what}: {}", status.decision_label()),
                status.one_reason(),
            ),
        };
        Message {
            event,
            subject: Subject::Passport(key.clone()),
            decision: Some(decision),
            previous: last_told(name, NotifierEvent::DecisionChanged, passport).map(|t| t.decision),
            title: clean(&title),
            reason: clean(&reason),
            release: Some(facts),
            link: release_link(world.console, &key),
            at: decided_at,
        }
    };
    Some(Owed {
        key: due_key,
        record,
        message: Box::new(message),
    })
}

fn announced(notifier: &Notifier, event: NotifierEvent, name: &str, what: Told) -> bool {
    notifier.status.as_ref().is_some_and(|s| {
        s.announced
            .iter()
            .any(|a| a.event == event && a.name == name && a.what == what)
    })
}

fn waiver_due(notifier: &Notifier, waiver: &Waiver, world: &World<'_>) -> Option<Due> {
    if notifier.spec.type_ == NotifierType::GitHubStatus {
        return None;
    }
    let lead = notifier
        .spec
        .waiver_lead_time
        .as_ref()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DEFAULT_WAIVER_LEAD);
    let expires = waiver.spec.expires_at;
    if world.now >= expires || world.now < expires - lead {
        return None;
    }
    let key = waiver.key();
    // A waiver for one release is told when that release is selected; one with a selector
    // when some selected passport is one it waives.
    let in_scope = world
        .passports
        .iter()
        .filter(|p| p.key().namespace == key.namespace)
        .filter(|p| selects(notifier, p, world.releases.get(&p.key()).copied()))
        .any(
            |p| match (&waiver.spec.release_ref, &waiver.spec.release_selector) {
                (Some(r), _) => p.spec.release_ref.name == r.name,
                (None, Some(s)) => s.matches(
                    &p.spec.service,
                    &p.spec.environment,
                    world
                        .releases
                        .get(&p.key())
                        .and_then(|r| r.metadata.labels.as_ref()),
                ),
                (None, None) => false,
            },
        );
    let what = Told::Expiry(expires);
    if !in_scope || announced(notifier, NotifierEvent::WaiverExpiring, &key.name, what) {
        return None;
    }
    let left = expires - world.now;
    let message = Message {
        event: NotifierEvent::WaiverExpiring,
        subject: Subject::Waiver(key.clone()),
        decision: None,
        previous: None,
        title: clean(&format!(
            "Waiver {key} expires in {} (waives {})",
            crate::api::duration::format_duration(Duration::minutes(left.num_minutes().max(1))),
            waiver.spec.rules.join(", ")
        )),
        reason: clean(&waiver.spec.reason),
        release: None,
        link: link(world.console, "/console/gate"),
        at: expires,
    };
    Some(Due {
        notifier: notifier.key(),
        record: Record::Announced(Announced {
            event: NotifierEvent::WaiverExpiring,
            name: key.name,
            what,
        }),
        message,
    })
}

fn unhealthy(health: Option<ConnectorHealth>) -> bool {
    matches!(
        health,
        Some(ConnectorHealth::Unreachable | ConnectorHealth::CredentialRequired)
    )
}

fn connector_due(notifier: &Notifier, connector: &Connector, world: &World<'_>) -> Option<Due> {
    if notifier.spec.type_ == NotifierType::GitHubStatus {
        return None;
    }
    let status = connector.status.as_ref()?;
    if !unhealthy(status.health) {
        return None;
    }
    let key = connector.key();
    let health = status.health?;
    if announced(
        notifier,
        NotifierEvent::ConnectorUnhealthy,
        &key.name,
        Told::Health(health),
    ) {
        return None;
    }
    let message = Message {
        event: NotifierEvent::ConnectorUnhealthy,
        subject: Subject::Connector(key.clone()),
        decision: None,
        previous: None,
        title: clean(&format!(
            "Connector {key} ({}) is {health:?}",
            connector.spec.type_.wire_name()
        )),
        reason: clean(status.last_error.as_deref().unwrap_or_default()),
        release: None,
        link: link(world.console, "/console/integrations"),
        // When it turned unhealthy, so a retry is the same event to the receiver.
        at: status
            .conditions
            .iter()
            .find(|c| c.type_ == ConditionType::Ready)
            .map_or(world.now, |c| c.last_transition_time),
    };
    Some(Due {
        notifier: notifier.key(),
        record: Record::Announced(Announced {
            event: NotifierEvent::ConnectorUnhealthy,
            name: key.name,
            what: Told::Health(health),
        }),
        message,
    })
}

/// A Notifier's announced list after `record`, bounded, without what is no longer true: a
/// waiver gone or past its expiry, a connector healthy again (so its next failure is told).
pub fn announced_now(
    notifier: &Notifier,
    record: Option<&Announced>,
    waivers: &[Arc<Waiver>],
    connectors: &[Arc<Connector>],
    now: DateTime<Utc>,
) -> Vec<Announced> {
    let ns = notifier.key().namespace;
    let still_true = |a: &Announced| match a.event {
        NotifierEvent::WaiverExpiring => waivers.iter().any(|w| {
            w.key() == ObjectKey::new(&ns, &a.name)
                && Told::Expiry(w.spec.expires_at) == a.what
                && now < w.spec.expires_at
        }),
        NotifierEvent::ConnectorUnhealthy => connectors.iter().any(|c| {
            c.key() == ObjectKey::new(&ns, &a.name)
                && c.status
                    .as_ref()
                    .and_then(|s| s.health)
                    .is_some_and(|h| Told::Health(h) == a.what)
        }),
        _ => false,
    };
    let mut list: Vec<Announced> = notifier
        .status
        .as_ref()
        .map(|s| s.announced.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|a| Some(a) != record)
        .chain(record.cloned())
        .filter(still_true)
        .collect();
    let over = list.len().saturating_sub(MAX_ANNOUNCED);
    list.drain(..over);
    list
}

/// A passport's records after `record` (newest last, bounded).
pub fn records_now(passport: &ReleasePassport, record: &Notified) -> Vec<Notified> {
    let mut list = passport
        .status
        .as_ref()
        .map(|s| s.notifications.clone())
        .unwrap_or_default();
    list.push(record.clone());
    let over = list.len().saturating_sub(MAX_RECORDS);
    list.drain(..over);
    list
}

#[cfg(test)]
mod tests;
