//! `Notifier`: where decisions and trouble are told — Slack, Microsoft Teams, any webhook
//! (CloudEvents), or GitHub commit statuses and check runs.

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Decision, ReleaseSelector};
use super::connector::{ConnectorHealth, SecretKeyRef};
use super::duration::DurationString;

/// Tells people and systems when the passports of the Releases it selects (same namespace)
/// change decision, when a post-deploy watch fails, before a Waiver expires and when a
/// Connector turns unhealthy. Delivered by the leader, at least once, never twice for the same
/// passport and decision.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "Notifier",
    doc = "Tells Slack, Microsoft Teams, a webhook (CloudEvents) or GitHub when passports change decision, a watch fails, a waiver is about to expire or a connector turns unhealthy.",
    namespaced,
    status = "NotifierStatus",
    shortname = "ntf",
    category = "passport",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Last-Delivery","type":"date","jsonPath":".status.lastDelivery.at"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.type != 'Webhook' || has(self.url)").message("a Webhook notifier needs a url"))]
#[serde(rename_all = "camelCase")]
pub struct NotifierSpec {
    /// Where messages go.
    #[serde(rename = "type")]
    pub type_: NotifierType,
    /// Slack and MSTeams: unset (the webhook URL is the credential). Webhook: the receiver's
    /// URL. GitHubStatus: the API base (default `https://api.github.com`).
    /// At most 2048 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("url must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// The Secret key (same namespace) holding the credential: the incoming-webhook URL (Slack,
    /// MSTeams), the HMAC signing key (Webhook) or a token (GitHubStatus). Never shown or logged.
    pub credentials_secret_ref: SecretKeyRef,
    /// Which Releases' passports it tells of (same namespace); empty: all of them.
    #[serde(default)]
    pub selector: ReleaseSelector,
    /// What it tells of (default: DecisionChanged). (Not `on`: YAML 1.1, which kubectl
    /// reads, takes an `on:` key for the boolean true.)
    #[serde(default = "default_events", skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub events: Vec<NotifierEvent>,
    /// How long before a Waiver expires WaiverExpiring is told (default 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver_lead_time: Option<DurationString>,
    /// GitHubStatus: post a check run (a GitHub App token) instead of a commit status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_run: bool,
    /// How many deliveries of this notifier may be in flight at once (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 16").message("maxConcurrency must be between 1 and 16"))]
    pub max_concurrency: Option<u32>,
}

fn default_events() -> Vec<NotifierEvent> {
    vec![NotifierEvent::DecisionChanged]
}

/// Kinds of receivers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum NotifierType {
    /// A Slack incoming webhook (JSON with blocks).
    Slack,
    /// A Microsoft Teams workflow webhook (an Adaptive Card).
    MSTeams,
    /// Any HTTP receiver: CloudEvents 1.0 structured JSON, signed with HMAC-SHA256.
    Webhook,
    /// GitHub: a commit status (or check run) on the release's `revision.commit`.
    GitHubStatus,
}

impl NotifierType {
    pub const ALL: [NotifierType; 4] = [
        NotifierType::Slack,
        NotifierType::MSTeams,
        NotifierType::Webhook,
        NotifierType::GitHubStatus,
    ];

    /// As manifests and metric labels spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierType::Slack => "Slack",
            NotifierType::MSTeams => "MSTeams",
            NotifierType::Webhook => "Webhook",
            NotifierType::GitHubStatus => "GitHubStatus",
        }
    }
}

impl std::fmt::Display for NotifierType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a notifier tells of.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum NotifierEvent {
    /// A passport reached a new decision (its first, or a change).
    DecisionChanged,
    /// A passport's post-deploy watch failed: rollback is recommended.
    WatchFailed,
    /// A Waiver naming a selected release expires within `waiverLeadTime`.
    WaiverExpiring,
    /// A Connector in the namespace turned Unreachable or CredentialRequired.
    ConnectorUnhealthy,
}

impl NotifierEvent {
    pub const ALL: [NotifierEvent; 4] = [
        NotifierEvent::DecisionChanged,
        NotifierEvent::WatchFailed,
        NotifierEvent::WaiverExpiring,
        NotifierEvent::ConnectorUnhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifierEvent::DecisionChanged => "DecisionChanged",
            NotifierEvent::WatchFailed => "WatchFailed",
            NotifierEvent::WaiverExpiring => "WaiverExpiring",
            NotifierEvent::ConnectorUnhealthy => "ConnectorUnhealthy",
        }
    }
}

impl std::fmt::Display for NotifierEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One delivery, as a Notifier's status or a passport's record shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivered {
    /// When the receiver accepted it.
    pub at: DateTime<Utc>,
    /// What it told of.
    pub event: NotifierEvent,
    /// What it was about: a passport, Waiver or Connector, as `namespace/name`.
    pub subject: String,
    /// For a passport: the decision told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// A Waiver or Connector event already told (so a restart does not tell it again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Announced {
    /// WaiverExpiring or ConnectorUnhealthy.
    pub event: NotifierEvent,
    /// The Waiver or Connector's name (same namespace).
    pub name: String,
    /// What was told: the waiver's expiry, or the connector's health.
    #[schemars(with = "String")]
    pub what: Told,
}

/// What an announcement told: a waiver's expiry, or a connector's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Told {
    Expiry(DateTime<Utc>),
    Health(ConnectorHealth),
}

/// What the leader last did for this notifier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotifierStatus {
    /// `Ready`: True while the last delivery succeeded and the credential could be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last delivery a receiver accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<Delivered>,
    /// The last failure (credentials and URLs scrubbed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last failure happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<DateTime<Utc>>,
    /// Waiver and Connector events told and still true (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announced: Vec<Announced>,
    /// The `metadata.generation` last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What one notifier told of a passport (kept in the passport's status, newest last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notified {
    /// The Notifier (same namespace).
    pub notifier: String,
    /// Its type.
    #[serde(rename = "type")]
    pub type_: NotifierType,
    /// DecisionChanged or WatchFailed.
    pub event: NotifierEvent,
    /// The decision told.
    pub decision: Decision,
    /// When the receiver accepted it.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What earlier versions wrote (an RFC 3339 expiry with `+00:00`, a health's name) reads as
    /// the typed value, so nothing already told is told again after an upgrade.
    #[test]
    fn announcements_read_as_written_before() {
        let expiry: Told = serde_json::from_str("\"2026-12-07T10:00:00+00:00\"").unwrap();
        assert_eq!(
            expiry,
            Told::Expiry("2026-12-07T10:00:00Z".parse().unwrap())
        );
        let health: Told = serde_json::from_str("\"Unreachable\"").unwrap();
        assert_eq!(health, Told::Health(ConnectorHealth::Unreachable));
        assert!(serde_json::from_str::<Told>("\"Sideways\"").is_err());
    }
}
