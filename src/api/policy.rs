//! `GatePolicy`: the rules that decide the releases a policy selects.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Outcome, ReleaseSelector};
use super::duration::DurationString;

/// Rules that decide whether the releases it selects may be promoted. Every Enforce policy that
/// selects a release must pass; Simulate policies are evaluated and traced but never decide.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "GatePolicy",
    derive = "Default",
    doc = "Rules that decide whether the releases a policy selects may be promoted.",
    namespaced,
    status = "GatePolicyStatus",
    shortname = "gp",
    category = "passport",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Rules","type":"integer","jsonPath":".status.ruleCount"}"#,
    printcolumn = r#"{"name":"Matched","type":"integer","jsonPath":".status.matchedReleases"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GatePolicySpec {
    /// Which releases (in this namespace) the policy decides. Empty selects every release.
    #[serde(default)]
    pub selector: ReleaseSelector,
    /// `Enforce` (default) decides; `Simulate` only records what it would have decided.
    #[serde(default)]
    pub mode: PolicyMode,
    /// What this policy is for, shown in the console.
    /// At most 1024 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::prose::redacted_opt"
    )]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// The rules; each names exactly one rule type.
    /// At most 64 items.
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(o, o.name == r.name))").message("rule names must be unique within a policy"))]
    #[schemars(length(max = 64))]
    pub rules: Vec<PolicyRule>,
    /// Rules kept evaluated for a while after promotion; a failure recommends rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_deploy_watch: Option<PostDeployWatch>,
    /// What a Waiver may do to this policy's rules; the engine ignores a waiver beyond it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waivers: Option<WaiverLimits>,
}

/// The limits on waiving a policy's rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaiverLimits {
    /// The longest a waiver may last, from its creation to its `expiresAt` (default `7d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<DurationString>,
    /// The rules that may be waived at all. Unset: every rule; empty: none.
    /// At most 64 items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub rules: Option<Vec<String>>,
}

/// Whether a policy decides or only records.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub enum PolicyMode {
    /// The policy's rules decide the release.
    #[default]
    Enforce,
    /// The policy is evaluated and shown in the trace, but never changes the decision.
    Simulate,
}

impl PolicyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyMode::Enforce => "Enforce",
            PolicyMode::Simulate => "Simulate",
        }
    }
}

/// One rule. Set exactly one of `evidence`, `metric`, `approval`, `window`, `expression`.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("(has(self.evidence) ? 1 : 0) + (has(self.metric) ? 1 : 0) + (has(self.approval) ? 1 : 0) + (has(self.window) ? 1 : 0) + (has(self.expression) ? 1 : 0) == 1").message("a rule sets exactly one of evidence, metric, approval, window, expression"))]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// The rule's name: shown in the trace, and what Waivers name.
    /// At most 63 characters.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("rule names are lowercase letters, digits and '-'"))]
    #[schemars(length(max = 63))]
    pub name: String,
    /// What the rule protects against, shown in the console.
    /// At most 1024 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::prose::redacted_opt"
    )]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Requires an evidence source to be fresh and passing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceRule>,
    /// Compares a Prometheus query's value with a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricRule>,
    /// Requires approvals; any Reject blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalRule>,
    /// Holds releases inside freeze windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowRule>,
    /// A CEL expression over the evidence map, for what the other types cannot say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<ExpressionRule>,
}

/// Requires one evidence source (e.g. `workload-health`, `gitops-sync`, `ci`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceRule {
    /// The evidence source's name.
    /// At most 253 characters.
    #[schemars(length(max = 253))]
    pub source: String,
    /// Observations older than this are Stale. Unset: never stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<DurationString>,
    /// Effect when the evidence was never observed (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_missing: Option<Outcome>,
    /// Effect when the evidence is observed failing (default Block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failed: Option<Outcome>,
    /// Effect when the last observation is older than `maxAge` (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_stale: Option<Outcome>,
    /// Effect when only some targets pass so far (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_partial: Option<Outcome>,
    /// Effect while a check is still running (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_pending: Option<Outcome>,
    /// Passes only once the evidence has been passing continuously this long (e.g. `15m`);
    /// before that the rule holds ("soaking").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<DurationString>,
}

/// Judges a Prometheus query: against a threshold (the rule passes when `value <op> threshold`
/// holds), or against the release's own baseline (`compare`).
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.op) && has(self.threshold) && !has(self.compare)) || (!has(self.op) && !has(self.threshold) && has(self.compare))").message("a metric rule sets op and threshold, or compare"))]
#[x_kube(validation = Rule::new("!has(self.compare) || (!has(self.range) && !has(self.aggregate) && !has(self.maxAge) && !has(self.soak))").message("range, aggregate, maxAge and soak do not apply to compare (its windows are compare.window)"))]
pub struct MetricRule {
    /// PromQL; `$labels` expands to the Release's `scope.metricLabels` as escaped matchers.
    /// At most 4096 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("query must not be empty"))]
    #[schemars(length(max = 4096))]
    pub query: String,
    /// The comparison the value must satisfy (with `threshold`; unset with `compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Comparison>,
    /// The threshold compared with (with `op`; unset with `compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Judge the release against its baseline instead of a threshold: the same query over the
    /// release's window and over the baseline's, compared with a tolerance and, optionally, a
    /// Mann-Whitney U test (docs/policies.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<MetricCompare>,
    /// The Prometheus Connector to ask (default: the namespace's only Prometheus connector).
    /// At most 253 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub connector: Option<String>,
    /// Evaluate over a window with a range query (e.g. `30m`) instead of an instant query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<DurationString>,
    /// How a range query's samples become one value (default max).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<Aggregate>,
    /// Values older than this count as no data. Unset: never stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<DurationString>,
    /// Effect when the query returns no data, NaN, or only stale data (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_no_data: Option<Outcome>,
    /// Effect when the value breaks the threshold (default Block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failed: Option<Outcome>,
    /// Passes only once the value has held the threshold continuously this long (e.g. `15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak: Option<DurationString>,
    /// What the value measures, so the trace and the console say "8.3% is above 5%" rather
    /// than "0.083": `ratio` (0.083 is 8.3%), `percent`, `seconds` or `milliseconds`. Unset: a
    /// plain number. It never changes the comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<MetricUnit>,
}

impl MetricRule {
    /// What the rule asks of the value, in words: "< 5%", or "no more than 20% higher than in
    /// the 30m before".
    pub fn bar(&self) -> String {
        match (&self.compare, self.op, self.threshold) {
            (Some(c), _, _) => c.words(self.unit),
            (None, Some(op), Some(t)) => format!("{} {}", op.symbol(), show_value(t, self.unit)),
            _ => "(neither a threshold nor a comparison)".to_string(),
        }
    }
}

impl MetricCompare {
    /// "no more than 20% higher than in the 30m before".
    pub fn words(&self, unit: Option<MetricUnit>) -> String {
        let direction = match self.worse {
            WorseWhen::Higher => "higher",
            WorseWhen::Lower => "lower",
        };
        let tolerance = match (self.tolerance_percent, self.tolerance_absolute) {
            (Some(p), Some(a)) => format!(
                "no more than {}% and {} {direction}",
                show_value(p, None),
                show_value(a, unit)
            ),
            (Some(p), None) => format!("no more than {}% {direction}", show_value(p, None)),
            (None, Some(a)) => format!("no more than {} {direction}", show_value(a, unit)),
            (None, None) => format!("no {direction}"),
        };
        let baseline = match self.baseline {
            Baseline::Before => format!("than in the {} before", self.window),
            Baseline::PreviousVersion => "than the previous version".to_string(),
        };
        let test = self
            .significance
            .map(|a| format!(" (Mann-Whitney at {})", show_value(a, None)))
            .unwrap_or_default();
        format!("{tolerance} {baseline}{test}")
    }
}

/// A metric judged against the release's own baseline: a fixed threshold misses a service
/// that ran at 0.1% errors and now runs at 0.8%.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricCompare {
    /// What the release is compared with: `before` — the same query over the equal window just
    /// before the release started; `previousVersion` — the same window, the query's version
    /// label set to the version of `spec.previous` (a canary beside the stable version).
    pub baseline: Baseline,
    /// The release's window from its start (e.g. `30m`); the baseline's is as long. Until it
    /// has passed, the rule holds (Pending).
    pub window: DurationString,
    /// Which way the metric gets worse: `higher` (errors, latency) or `lower` (throughput).
    pub worse: WorseWhen,
    /// Worse than the baseline by up to this share, in percent, still passes (e.g. `20`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0").message("tolerancePercent must not be negative"))]
    pub tolerance_percent: Option<f64>,
    /// Worse by up to this, in the metric's own unit, still passes. With `tolerancePercent`,
    /// the release fails only when worse beyond both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0.0").message("toleranceAbsolute must not be negative"))]
    pub tolerance_absolute: Option<f64>,
    /// Run a one-sided Mann-Whitney U test at this significance level (e.g. `0.05`): worse
    /// beyond tolerance fails only when the release's samples are significantly worse. Unset:
    /// no test, the medians decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 1.0").message("significance is between 0 and 1"))]
    pub significance: Option<f64>,
    /// Fewer samples than this in either window decide nothing: the rule's `onNoData` (default
    /// 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("minSamples must be at least 1"))]
    pub min_samples: Option<u32>,
    /// The label the query's series carry the version in, for `previousVersion` (default
    /// `version`): the query is asked with `<label>="<version>"` for each side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub version_label: Option<String>,
}

/// What a release's metric is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Baseline {
    /// The equal window just before the release started, same series.
    Before,
    /// The same window, the previous release's version (the canary case).
    PreviousVersion,
}

/// Which way a compared metric gets worse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorseWhen {
    Higher,
    Lower,
}

/// What a metric's value measures: only how it is written for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricUnit {
    /// A share from 0 to 1, written as a percentage (0.083 → 8.3%).
    Ratio,
    /// Already a percentage (8.3 → 8.3%).
    Percent,
    /// Seconds (0.42 → 420 ms, 2.5 → 2.5 s).
    Seconds,
    /// Milliseconds (420 → 420 ms).
    Milliseconds,
}

/// `value` as people read it: three significant digits (0.08360000000000001 → 0.0836), in
/// `unit` when there is one.
pub fn show_value(value: f64, unit: Option<MetricUnit>) -> String {
    show(value, unit, 3)
}

/// `value` and `threshold` as people read them, with as many more digits as it takes for two
/// different numbers not to read the same (0.05001 against 0.05: 5.001% and 5%).
pub fn show_pair(value: f64, threshold: f64, unit: Option<MetricUnit>) -> (String, String) {
    let mut digits = 3;
    loop {
        let (v, t) = (show(value, unit, digits), show(threshold, unit, digits));
        if v != t || value == threshold || digits >= 17 {
            return (v, t);
        }
        digits += 1;
    }
}

fn show(value: f64, unit: Option<MetricUnit>, digits: i32) -> String {
    let n = |v: f64| significant(v, digits);
    match unit {
        None => n(value),
        Some(MetricUnit::Ratio) => format!("{}%", n(value * 100.0)),
        Some(MetricUnit::Percent) => format!("{}%", n(value)),
        Some(MetricUnit::Seconds) if value.abs() < 1.0 => format!("{} ms", n(value * 1000.0)),
        Some(MetricUnit::Seconds) => format!("{} s", n(value)),
        Some(MetricUnit::Milliseconds) => format!("{} ms", n(value)),
    }
}

/// `digits` significant digits, no trailing zeros, no exponent for everyday magnitudes.
fn significant(value: f64, digits: i32) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    if !(-6..15).contains(&magnitude) {
        return format!("{value:.2e}");
    }
    let decimals = usize::try_from((digits - 1 - magnitude).max(0)).unwrap_or(0);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// How the samples of a range query become one value.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// The largest sample (the worst error rate or latency in the window).
    #[default]
    Max,
    /// The smallest sample.
    Min,
    /// The mean of the samples.
    Avg,
    /// The latest sample.
    Last,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Avg => "avg",
            Aggregate::Last => "last",
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Comparison {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
        }
    }

    /// "8.3% is above 5%": how `value` stands against `threshold` under this comparison, in
    /// words, whether it holds or not.
    pub fn words(self, value: f64, threshold: f64, unit: Option<MetricUnit>) -> String {
        let (v, t) = show_pair(value, threshold, unit);
        let holds = self.holds(value, threshold);
        if value == threshold {
            return match (holds, self) {
                (true, _) => format!("{v} equals {t}"),
                (false, Comparison::Ne) => format!("{v} equals {t} (must be anything but {t})"),
                (false, _) => format!("{v} is at the limit (must be {} {t})", self.wanted()),
            };
        }
        let relation = if value > threshold {
            "is above"
        } else {
            "is below"
        };
        // Above or below says why a bound is broken; not why an exact value is missed.
        if !holds && self == Comparison::Eq {
            format!("{v} {relation} {t} (must be exactly {t})")
        } else {
            format!("{v} {relation} {t}")
        }
    }

    /// What the value must be, in words: "below", "at most"…
    fn wanted(self) -> &'static str {
        match self {
            Comparison::Lt => "below",
            Comparison::Le => "at most",
            Comparison::Gt => "above",
            Comparison::Ge => "at least",
            Comparison::Eq | Comparison::Ne => "exactly",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Eq => value == threshold,
            Comparison::Ne => value != threshold,
        }
    }
}

/// Requires approvals from people (Approval objects). Any Reject blocks.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRule {
    /// How many distinct approvers are needed (default 1).
    #[serde(default = "default_min_approvals")]
    #[x_kube(validation = Rule::new("self >= 1").message("min must be at least 1"))]
    pub min: u32,
    /// Only approvers in one of these groups count. Empty: anyone.
    /// At most 32 items of at most 253 characters each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(max = 253)))]
    pub from_groups: Vec<String>,
    /// Approvals by the release's author (`spec.revision.author`) do not count.
    #[serde(default)]
    pub exclude_author: bool,
}

fn default_min_approvals() -> u32 {
    1
}

/// Freeze windows: inside one, the release is held.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowRule {
    /// IANA time zone the windows are written in (default `UTC`), e.g. `Europe/Berlin`.
    /// At most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub time_zone: Option<String>,
    /// The freeze windows.
    /// At most 32 items.
    #[x_kube(validation = Rule::new("size(self) > 0").message("a window rule needs at least one freeze"))]
    #[schemars(length(max = 32))]
    pub freezes: Vec<FreezeWindow>,
    /// Effect inside a window (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_inside: Option<Outcome>,
}

/// A recurring window (`cron` + `duration`) or an absolute one (`start` + `end`).
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("(has(self.cron) && has(self.duration) && !has(self.start) && !has(self.end)) || (!has(self.cron) && !has(self.duration) && has(self.start) && has(self.end))").message("a freeze is either cron + duration or start + end"))]
#[serde(rename_all = "camelCase")]
pub struct FreezeWindow {
    /// Shown in the trace, e.g. `weekend` or `black-friday`.
    /// At most 63 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
    /// Five-field cron expression for when a recurring window opens, e.g. `0 18 * * FRI`.
    /// At most 128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub cron: Option<String>,
    /// How long a recurring window stays open, e.g. `62h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationString>,
    /// Start of an absolute window: RFC 3339, or local `YYYY-MM-DDTHH:MM[:SS]` in `timeZone`.
    /// At most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub start: Option<String>,
    /// End of an absolute window (exclusive), in the same forms as `start`.
    /// At most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub end: Option<String>,
}

/// A CEL expression that must be true. Variables: `evidence` (map of source → {status,
/// ageSeconds, value, total, passing}), `release` ({name, namespace, service, version,
/// environment, labels}), `approvals` ({approved, rejected}).
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpressionRule {
    /// The CEL expression; it must return a bool.
    /// At most 4096 characters.
    #[x_kube(validation = Rule::new("size(self) > 0").message("cel must not be empty"))]
    #[schemars(length(max = 4096))]
    pub cel: String,
    /// Effect when it is false (default Hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_false: Option<Outcome>,
    /// Shown in the trace when it is false.
    /// At most 1024 characters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::prose::redacted_opt"
    )]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}

/// Rules evaluated after promotion, for a while.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostDeployWatch {
    /// How long to keep watching after promotion, e.g. `30m`.
    pub duration: DurationString,
    /// The rules watched; a Block recommends rollback.
    /// At most 64 items.
    #[schemars(length(max = 64))]
    pub rules: Vec<PolicyRule>,
}

/// What the controller found about this policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatePolicyStatus {
    /// How many releases the policy currently selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_releases: Option<u32>,
    /// Releases it selects whose metric queries use `$labels` but that set no
    /// `spec.scope.metricLabels`: those queries are never sent and the rules hold.
    /// At most 20 names, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unscoped_releases: Vec<String>,
    /// How many rules the policy has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_count: Option<u32>,
    /// The `metadata.generation` last validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, or `Stalled` with the invalid field when the policy is invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_people_write_them() {
        assert_eq!(show_value(0.08360000000000001, None), "0.0836");
        assert_eq!(show_value(0.07869999999999999, None), "0.0787");
        assert_eq!(show_value(0.083, Some(MetricUnit::Ratio)), "8.3%");
        assert_eq!(show_value(8.3, Some(MetricUnit::Percent)), "8.3%");
        assert_eq!(show_value(0.42, Some(MetricUnit::Seconds)), "420 ms");
        assert_eq!(show_value(2.5, Some(MetricUnit::Seconds)), "2.5 s");
        assert_eq!(show_value(1234.0, None), "1234");
        assert_eq!(show_value(0.0, None), "0");
        assert_eq!(
            show_pair(0.05001, 0.05, Some(MetricUnit::Ratio)),
            ("5.001%".into(), "5%".into())
        );
    }

    #[test]
    fn a_comparison_says_how_the_value_stands() {
        let ratio = Some(MetricUnit::Ratio);
        assert_eq!(Comparison::Lt.words(0.083, 0.05, ratio), "8.3% is above 5%");
        assert_eq!(Comparison::Lt.words(0.004, 0.05, ratio), "0.4% is below 5%");
        assert_eq!(
            Comparison::Lt.words(0.05, 0.05, ratio),
            "5% is at the limit (must be below 5%)"
        );
        assert_eq!(Comparison::Le.words(0.05, 0.05, ratio), "5% equals 5%");
        assert_eq!(
            Comparison::Eq.words(2.0, 3.0, None),
            "2 is below 3 (must be exactly 3)"
        );
        assert_eq!(
            Comparison::Ne.words(3.0, 3.0, None),
            "3 equals 3 (must be anything but 3)"
        );
    }
}
