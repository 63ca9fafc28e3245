//! `Connector`: how evidence is read from one upstream system.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::core::Rule;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Condition;
use super::duration::DurationString;

/// A source of evidence: an upstream system and how to reach it. Connectors read only what a
/// Release's scope, a rule or this object names.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "Connector",
    doc = "A source of evidence: an upstream system and how to reach it.",
    namespaced,
    status = "ConnectorStatus",
    shortname = "conn",
    category = "passport",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health"}"#,
    printcolumn = r#"{"name":"Last Success","type":"date","jsonPath":".status.lastSuccessAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = endpoint_rule())]
#[x_kube(validation = Rule::new("self.type != 'InfluxDB' || has(self.influxdb)").message("an InfluxDB connector names its database in spec.influxdb.database"))]
#[x_kube(validation = Rule::new("self.type != 'Datadog' || has(self.credentialsSecretRef)").message("a Datadog connector names its API key in spec.credentialsSecretRef (and its application key, app-key by default, in the same Secret)"))]
#[x_kube(validation = Rule::new("self.type != 'NewRelic' || (has(self.newRelic) && has(self.credentialsSecretRef))").message("a NewRelic connector names its account in spec.newRelic.accountId and its user key in spec.credentialsSecretRef"))]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSpec {
    /// Which kind of system this is.
    #[serde(rename = "type")]
    pub type_: ConnectorType,
    /// Base URL of the upstream API, e.g. `http://prometheus.monitoring:9090`.
    /// At most 2048 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')").message("endpoint must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub endpoint: Option<String>,
    /// The Secret key (same namespace) holding the credential. Its value is never shown or logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretKeyRef>,
    /// The evidence source name rules use for what this connector observes (default: the
    /// connector's name). Metric observations are matched by query instead.
    /// At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub source: Option<String>,
    /// How often evidence is refreshed (default 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<DurationString>,
    /// How long one upstream call may take (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationString>,
    /// The synthetic journey an `HTTP` connector runs: requests in order, each checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey: Option<Journey>,
    /// Which alerts an `Alertmanager` connector counts against a release, besides those
    /// matching the release's `scope.metricLabels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsSpec>,
    /// The database an `InfluxDB` connector's InfluxQL queries read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influxdb: Option<InfluxDbSpec>,
    /// The account a `NewRelic` connector's NRQL queries read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_relic: Option<NewRelicSpec>,
    /// Where a `Datadog` connector finds its application key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogSpec>,
    /// How many upstream calls may run at once (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 64").message("maxConcurrency must be between 1 and 64"))]
    pub max_concurrency: Option<u32>,
    /// Namespaces besides its own whose objects (Kubernetes workloads, Flux objects) the Releases
    /// of this namespace may name in their scope and read through this connector; `*` for any.
    /// Empty: its own namespace only, so whoever may create a Release here cannot read another
    /// team's workloads through its passport. At most 64 items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub allowed_namespaces: Vec<String>,
    /// URL templates that link its evidence to where it can be seen upstream (the console's
    /// truth screen shows them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<super::links::ConnectorLinks>,
}

impl Connector {
    /// The second key of the credential Secret its type reads, if it reads one (Datadog's
    /// application key).
    pub fn second_key(&self) -> Option<&str> {
        match self.spec.type_ {
            ConnectorType::Datadog => Some(
                self.spec
                    .datadog
                    .as_ref()
                    .and_then(|d| d.application_key_key.as_deref())
                    .unwrap_or(DATADOG_APPLICATION_KEY),
            ),
            _ => None,
        }
    }

    /// Whether a Release of this connector's namespace may read objects in `namespace` through
    /// it.
    pub fn permits_namespace(&self, namespace: &str) -> bool {
        self.metadata.namespace.as_deref() == Some(namespace)
            || self
                .spec
                .allowed_namespaces
                .iter()
                .any(|n| n == "*" || n == namespace)
    }
}

/// A scripted synthetic journey: every step must pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Journey {
    /// The steps, run in order; a failing step ends the journey.
    /// At most 32 items.
    #[schemars(length(max = 32))]
    pub steps: Vec<JourneyStep>,
}

/// One request of a journey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JourneyStep {
    /// Shown in the trace, e.g. `add-to-cart`.
    pub name: String,
    /// HTTP method (default GET).
    /// At most 16 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub method: Option<String>,
    /// Path appended to the connector's endpoint, e.g. `/api/cart`.
    /// At most 2048 characters.
    #[schemars(length(max = 2048))]
    pub path: String,
    /// Request headers (literal values; the connector's credential goes in as a bearer token).
    /// At most 32 entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    /// At most 65536 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub body: Option<String>,
    /// The status the step expects (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    /// Text the response body must contain.
    /// At most 4096 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub body_contains: Option<String>,
    /// The longest the step may take, e.g. `500ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_budget: Option<DurationString>,
}

/// What an `Alertmanager` connector counts as alerting for a release: the active alerts that
/// carry every one of the release's `scope.metricLabels` and match every matcher here.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertsSpec {
    /// Label matchers in Alertmanager's syntax, each value quoted, e.g. `severity=~"critical|page"`
    /// or `team!="platform"`. At most 16 items, each at most 1024 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 1024)))]
    #[x_kube(validation = Rule::new(r#"self.all(m, m.matches('^\\s*[a-zA-Z_:][a-zA-Z0-9_:]*\\s*(=|!=|=~|!~)\\s*"([^"\\\\]|\\\\.)*"\\s*$'))"#).message(r#"each matcher is NAME OP "VALUE": a label name, one of = != =~ !~, and a double-quoted value (\" and \\ escaped)"#))]
    pub matchers: Vec<String>,
    /// Count silenced and inhibited alerts too (default false: they are named in the evidence,
    /// not counted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count_suppressed: bool,
}

/// Where an `InfluxDB` connector's queries run: InfluxQL over the 1.x `/query` API (which
/// InfluxDB 2.x and 3.x also serve, through their database and retention policy mappings).
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InfluxDbSpec {
    /// The database (`db`). At most 253 characters.
    #[schemars(length(max = 253))]
    #[x_kube(validation = Rule::new("size(self) > 0").message("database must not be empty"))]
    pub database: String,
    /// The retention policy (`rp`; default: the database's default). At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub retention_policy: Option<String>,
}

/// Where a `NewRelic` connector's NRQL queries run, through NerdGraph.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRelicSpec {
    /// The New Relic account id.
    #[x_kube(validation = Rule::new("self > 0").message("accountId is a New Relic account id (a positive number)"))]
    pub account_id: i64,
}

/// The key of a Datadog connector's credential Secret that holds the application key, unless
/// `spec.datadog.applicationKeyKey` says otherwise (the Datadog Operator's Secret layout:
/// `api-key` and `app-key`).
pub const DATADOG_APPLICATION_KEY: &str = "app-key";

/// A `Datadog` connector's second key: its API key is the key `credentialsSecretRef` names,
/// its application key another key of the same Secret.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatadogSpec {
    /// The key of the credential Secret holding the application key (default `app-key`).
    /// At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub application_key_key: Option<String>,
}

/// Declares the connector types the API accepts, each with whether it needs `spec.endpoint`;
/// the CRD's endpoint rule is generated from the same list.
macro_rules! connector_types {
    ($($(#[$doc:meta])* $variant:ident $(as $wire:literal)?, endpoint: $endpoint:literal;)*) => {
        /// Kinds of upstream systems.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            JsonSchema,
        )]
        pub enum ConnectorType {
            $($(#[$doc])* $(#[serde(rename = $wire)])? $variant,)*
        }

        impl ConnectorType {
            /// Every type, in the order pages and docs list them.
            pub const ALL: &'static [ConnectorType] = &[$(ConnectorType::$variant),*];

            /// Whether a Connector of this type must name `spec.endpoint`.
            pub fn needs_endpoint(self) -> bool {
                match self {
                    $(ConnectorType::$variant => $endpoint,)*
                }
            }

            /// How the type is spelled in manifests (and in metric labels).
            pub fn wire_name(self) -> &'static str {
                match self {
                    $(ConnectorType::$variant => connector_types!(@wire $variant $($wire)?),)*
                }
            }
        }
    };
    (@wire $variant:ident $wire:literal) => { $wire };
    (@wire $variant:ident) => { stringify!($variant) };
}

connector_types! {
    /// Workloads and Pods in the release scope.
    Kubernetes, endpoint: false;
    /// Argo CD Applications.
    ArgoCD, endpoint: true;
    /// Flux Kustomizations and HelmReleases.
    Flux, endpoint: false;
    /// The Prometheus HTTP API.
    Prometheus, endpoint: true;
    /// Scripted synthetic HTTP journeys.
    Http as "HTTP", endpoint: false;
    /// A statuspage `/api/v2/status.json`.
    StatusPage, endpoint: true;
    /// GitHub Actions workflow runs.
    GitHubActions, endpoint: true;
    /// Signed results pushed by any CI.
    Webhook, endpoint: false;
    /// Evidence recorded by a person.
    Manual, endpoint: false;
    /// Firing alerts, from the Alertmanager API v2.
    Alertmanager, endpoint: true;
    /// InfluxQL queries for metric rules.
    InfluxDB, endpoint: true;
    /// NRQL queries for metric rules, through NerdGraph.
    NewRelic, endpoint: true;
    /// Metric queries for metric rules, through the Datadog API.
    Datadog, endpoint: true;
}

/// The admission rule that a type needing an endpoint names one.
fn endpoint_rule() -> Rule {
    let optional: Vec<String> = ConnectorType::ALL
        .iter()
        .filter(|t| !t.needs_endpoint())
        .map(|t| format!("'{}'", t.wire_name()))
        .collect();
    Rule::new(format!(
        "self.type in [{}] || has(self.endpoint)",
        optional.join(", ")
    ))
    .message("this connector type needs an endpoint")
}

/// A key in a Secret in the Connector's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key inside it.
    pub key: String,
}

// Whether a connector can authenticate, read its scope and produce fresh evidence.
// (`//`, not `///`: on Option fields schemars would show this instead of the field's doc.)
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum ConnectorHealth {
    /// Reads succeed and evidence is fresh.
    Healthy,
    /// Some reads fail or evidence is late.
    Degraded,
    /// The credential Secret is absent or the upstream rejected it.
    CredentialRequired,
    /// The upstream cannot be reached.
    Unreachable,
}

/// What the controller last saw of this connector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatus {
    /// Current health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ConnectorHealth>,
    /// When a read last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last error, with credentials and URL secrets removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The `metadata.generation` last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
