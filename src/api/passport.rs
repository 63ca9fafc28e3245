//! `ReleasePassport`: the decision record for one Release, written only by the controller.

use chrono::{DateTime, Utc};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, Decision, EvidenceStatus};
use super::policy::PolicyMode;

/// The decision record for one Release (same name, owned by it): the decision, the evidence it
/// was made from, and why. Written only by the Release Passport controller.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[kube(
    group = "releasepassport.io",
    version = "v1alpha1",
    kind = "ReleasePassport",
    derive = "Default",
    doc = "The decision record for one Release: Allow, Hold or Block, the evidence and the trace. Written by the controller only.",
    namespaced,
    status = "ReleasePassportStatus",
    shortname = "rp",
    category = "passport",
    printcolumn = r#"{"name":"Service","type":"string","jsonPath":".spec.service"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Env","type":"string","jsonPath":".spec.environment"}"#,
    printcolumn = r#"{"name":"Decision","type":"string","jsonPath":".status.decision"}"#,
    printcolumn = r#"{"name":"Evidence","type":"string","jsonPath":".status.evidenceSummary"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePassportSpec {
    /// The Release this passport belongs to.
    pub release_ref: super::common::ReleaseRef,
    /// The release's service.
    pub service: String,
    /// The release's version.
    pub version: String,
    /// The release's environment.
    pub environment: String,
    /// The release's `scope.metricLabels` when decided: what `$labels` meant, kept so the
    /// decision can be replayed (`passport simulate`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metric_labels: std::collections::BTreeMap<String, String>,
    /// The release's source revision (commit, committedAt, author), kept so change lead time
    /// outlives the Release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<super::release::Revision>,
    /// The release is a hotfix (label `releasepassport.io/hotfix: "true"`): the release it
    /// replaces counts as a failed change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hotfix: bool,
}

/// The decision and everything it was made from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleasePassportStatus {
    /// Whether this release may be promoted now. Allow: every enforced rule passes (or a
    /// Waiver let a rule through, named in `timeline` and `trace`); the gate answers yes.
    /// Hold: something is still missing or pending (an approval, fresh evidence, a freeze
    /// window) and the release is re-decided by itself when it arrives. Block: a rule failed (a
    /// metric over its threshold, failed evidence, a Reject); it stays blocked until the input
    /// changes. It changes whenever an input does — a Release, policy, Approval, Waiver or
    /// evidence — and each change is added to `timeline`. Why: `reasons` (first line) and
    /// `trace` (every rule); unset until the controller has decided once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Why the decision is not Allow: one line per holding or blocking enforced rule, blocking
    /// ones first, each "policy/rule: what was found" (e.g. "staging-standard/error-rate: 8.3%
    /// is above 5%"). Empty for an Allow; `passport gate` and notifications quote the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Complete evidence items out of those the enforced rules read, e.g. `7/8` (the EVIDENCE
    /// column of `kubectl get rp`); the items themselves are in `evidence`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "EvidenceCount::read"
    )]
    #[schemars(with = "Option<String>")]
    pub evidence_summary: Option<EvidenceCount>,
    /// Every evidence item the enforced rules read, as the latest decision saw it: its status
    /// (Complete, Partial, Pending, Stale, Failed, Missing), when it was observed, which
    /// Connector reported it and what it said. Refreshed on every decision, so an item may be
    /// newer than the decision in `timeline` it did not change.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EvidenceEntry>,
    /// When the release started, as this decision took it: evidence observed before it was
    /// Stale (`spec.startedAt`, else its version's rollout start, else `status.startedAt`,
    /// else its creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Every rule of every policy that selects this release, in policy order: its effect
    /// (Pass, Hold, Block, Waived; Simulate-mode policies are traced but never decide) and the
    /// one line that says why. Read this to see exactly how the decision was reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TraceEntry>,
    /// The Approvals and rejections given for this release: how many each approval rule
    /// needs and has, and every record with its approver, time and — when it did not count —
    /// why (the author, a group the rule does not accept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalsSummary>,
    /// The Waivers that name this release: which rules each lets through, who granted it,
    /// why, and until when (an expired one is kept here, inactive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<WaiverEntry>,
    /// Whether there is a known-good release to return to (`spec.previous`, an Allowed
    /// passport), its revision, and whether rolling back is recommended (a failed post-deploy
    /// watch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackStatus>,
    /// The post-deploy watch: after an Allow, the rules of `spec.watch` are checked for its
    /// duration; NotStarted → Watching → Passed, or Failed (which recommends a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchStatus>,
    /// Every change of decision, newest last (the last 20): when, to what, the line that
    /// explains it, and the rules a Waiver let through. `kubectl get rp -o yaml` shows the
    /// history here; the console draws it beside the evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// Kubernetes conditions for tools that wait on them (kstatus, Flux, Argo CD, `kubectl
    /// wait`): `Ready` is True exactly when the decision is Allow, `Reconciling` is True while
    /// evidence is pending, `Stalled` is True when a policy or the Release is invalid (its
    /// message names the field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Release `metadata.generation` this decision was made for: when it lags the
    /// Release's, a change is not decided yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// What Notifiers told of this passport, newest last (bounded). Written by the leader's
    /// delivery under a field manager of its own, so decisions never overwrite it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<super::notifier::Notified>,
}

impl ReleasePassportStatus {
    /// Enforced rules a Waiver turned from Hold or Block into a pass.
    pub fn waived_rules(&self) -> usize {
        // Counted without building the records: every list row's label asks.
        self.trace.iter().filter(|t| is_waived(t)).count()
    }

    /// The enforced rules a Waiver let through, and by which Waiver.
    pub fn waived(&self) -> impl Iterator<Item = WaivedRule> + '_ {
        waived_in(&self.trace)
    }

    /// Why the decision is what it is, a line each: the holding and blocking rules' reasons,
    /// else the rules a Waiver let through ("waived: p/r by w"); empty for a plain Allow. What
    /// every table, export and message gives as the reason.
    pub fn why(&self) -> Vec<String> {
        if !self.reasons.is_empty() {
            return self.reasons.clone();
        }
        self.waived().map(|w| format!("waived: {w}")).collect()
    }

    /// The same status without what Notifiers recorded: what a decision writes.
    pub fn decided_part(&self) -> std::borrow::Cow<'_, Self> {
        if self.notifications.is_empty() {
            return std::borrow::Cow::Borrowed(self);
        }
        std::borrow::Cow::Owned(Self {
            notifications: Vec::new(),
            ..self.clone()
        })
    }

    /// The one reason a message gives: the first holding or blocking rule's line, else what
    /// the last decision change said (an Allow's headline).
    pub fn one_reason(&self) -> String {
        self.reasons
            .first()
            .or_else(|| self.timeline.last().map(|t| &t.message))
            .cloned()
            .unwrap_or_default()
    }

    /// When the current decision was reached (its timeline's last entry).
    pub fn decided_at(&self) -> Option<DateTime<Utc>> {
        self.timeline.last().map(|t| t.at)
    }

    /// The decision in the words every view uses: "Allow (1 waived)", "Hold", "Undecided".
    pub fn decision_label(&self) -> String {
        label(self.decision, self.waived_rules())
    }
}

/// One evidence item as the decision saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceEntry {
    /// The evidence source (for metrics, the rule's name).
    pub source: String,
    /// What the decision made of it: Complete (counts as passing), Partial (some targets
    /// pass), Pending (still rolling out or inside a metric's window), Stale (older than the
    /// rule's `maxAge`, or observed before this release started), Failed, or Missing (never
    /// reported, or refused — the summary says why).
    pub status: EvidenceStatus,
    /// When it was last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    /// The connector that observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// What was observed, in a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// For a metric: the expanded query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// For a metric: the observed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Targets passing out of targets in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// Since when this evidence has been passing without a break (what a rule's `soak`
    /// reads); unset while it does not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passing_since: Option<DateTime<Utc>>,
    /// For a metric rule with `compare`: what the comparison with the baseline found — both
    /// medians, the limit the tolerance allows, the test's p-value and the sample counts (never
    /// the samples). Set once both windows have been read; the rule's trace message says it in
    /// words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<ComparisonSummary>,
}

/// What a comparison with the baseline found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonSummary {
    /// The median of the release's samples over its window.
    pub release_median: f64,
    /// The median of the baseline's samples.
    pub baseline_median: f64,
    /// The worst median that still passes: the baseline moved by the tolerance in the worse
    /// direction (the baseline itself without a tolerance).
    pub limit: f64,
    /// Which way the metric gets worse: higher or lower.
    pub worse: crate::api::policy::WorseWhen,
    /// The one-sided Mann-Whitney U test's p-value, when the rule asks for a test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// How many samples the release's window held.
    pub release_samples: u32,
    /// How many samples the baseline's window held.
    pub baseline_samples: u32,
    /// What the baseline was, in words: "the 30m before", "1.0.0 at the same time".
    pub baseline: String,
    /// What the values measure (the rule's `unit`), for writing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<crate::api::policy::MetricUnit>,
}

impl ComparisonSummary {
    /// How much of its tolerance the release used: 0 at the baseline, 1 at the limit, more past
    /// it; `None` without a tolerance (the limit is the baseline).
    pub fn tolerance_used(&self) -> Option<f64> {
        let band = self.limit - self.baseline_median;
        (band != 0.0 && band.is_finite())
            .then(|| (self.release_median - self.baseline_median) / band)
    }

    /// Within a fifth of the tolerance of the limit, on either side: a release Radar flags.
    pub fn near_the_line(&self) -> bool {
        self.tolerance_used()
            .is_some_and(|used| (0.8..=1.2).contains(&used))
    }
}

/// A count of targets in scope and how many pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Targets {
    /// Targets in scope.
    pub total: u32,
    /// Targets currently passing.
    pub passing: u32,
}

impl Targets {
    /// Targets of several observations added up; `None` when none counted targets.
    pub fn sum(all: impl IntoIterator<Item = Targets>) -> Option<Targets> {
        all.into_iter().reduce(|a, t| Targets {
            total: a.total + t.total,
            passing: a.passing + t.passing,
        })
    }
}

/// The effect of one rule.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Effect {
    /// The rule is satisfied.
    Pass,
    /// The rule holds the release.
    Hold,
    /// The rule blocks the release.
    Block,
    /// The rule would hold or block, but an active Waiver names it.
    Waived,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Pass => "Pass",
            Effect::Hold => "Hold",
            Effect::Block => "Block",
            Effect::Waived => "Waived",
        }
    }
}

/// How many of the evidence items the rules read were complete: written `7/8` (a printer column
/// shows it), typed everywhere else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceCount {
    pub complete: u32,
    pub read: u32,
}

impl EvidenceCount {
    /// Reads the written form; one that does not parse (no version wrote one) counts as unknown
    /// rather than failing the whole passport.
    fn read<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        let written = Option::<String>::deserialize(d)?;
        Ok(written.as_deref().and_then(|w| {
            let (complete, read) = w.split_once('/')?;
            Some(Self {
                complete: complete.parse().ok()?,
                read: read.parse().ok()?,
            })
        }))
    }
}

impl std::fmt::Display for EvidenceCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{}/{}", self.complete, self.read))
    }
}

impl Serialize for EvidenceCount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a rule read: an evidence source, or a metric (written `metric:NAME` in the trace, so a
/// reader of the YAML tells them apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvidenceRead {
    Source(String),
    Metric(String),
}

impl EvidenceRead {
    /// The evidence item's source: what `status.evidence[].source` names.
    pub fn source(&self) -> &str {
        match self {
            EvidenceRead::Source(name) | EvidenceRead::Metric(name) => name,
        }
    }

    /// Every item of `read`, as the trace writes them, comma-separated.
    pub fn list(read: &[EvidenceRead]) -> String {
        read.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for EvidenceRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvidenceRead::Source(name) => f.write_str(name),
            EvidenceRead::Metric(name) => write!(f, "metric:{name}"),
        }
    }
}

impl Serialize for EvidenceRead {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EvidenceRead {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let written = String::deserialize(d)?;
        Ok(match written.strip_prefix("metric:") {
            Some(name) => EvidenceRead::Metric(name.to_string()),
            None => EvidenceRead::Source(written),
        })
    }
}

/// What a trace entry judged: a rule of one of the five kinds, the policy itself (invalid, not
/// found), or the summary standing for entries left out of a long trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleType {
    Evidence,
    Metric,
    Approval,
    Window,
    Expression,
    Policy,
    Summary,
    /// A type this version does not know (written by a newer one during a rollout).
    #[serde(other)]
    Other,
}

impl RuleType {
    /// As written in manifests and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::Evidence => "evidence",
            RuleType::Metric => "metric",
            RuleType::Approval => "approval",
            RuleType::Window => "window",
            RuleType::Expression => "expression",
            RuleType::Policy => "policy",
            RuleType::Summary => "summary",
            RuleType::Other => "other",
        }
    }
}

impl std::fmt::Display for RuleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One line of the decision trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceEntry {
    /// The GatePolicy.
    pub policy: String,
    /// The policy's mode; Simulate entries never change the decision.
    pub mode: PolicyMode,
    /// The rule's name (`policy` for policy-level entries such as an invalid policy).
    pub rule: String,
    /// The rule type: evidence, metric, approval, window, expression, or policy.
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    pub type_: RuleType,
    /// The effect the rule produced.
    pub effect: Effect,
    /// The evidence sources the rule read (`metric:NAME` for a metric).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub evidence: Vec<EvidenceRead>,
    /// Why, in a sentence.
    pub message: String,
    /// The Waiver that waived it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
}

/// Approvals and rejections recorded for a release.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalsSummary {
    /// What the furthest-behind enforced approval rule asks for (the largest `min` when every
    /// rule is met).
    pub required: u32,
    /// What that rule counts: distinct approvers from its groups, the author left out if it says so.
    pub approved: u32,
    /// Each enforced approval rule, counted as the rule counted it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ApprovalCount>,
    /// Every Approval and Reject for this release, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<ApprovalRecord>,
}

/// One approval rule's count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalCount {
    pub policy: String,
    pub rule: String,
    /// The rule's `min`.
    pub required: u32,
    /// Distinct approvers it counted.
    pub approved: u32,
    /// Only approvers in these groups count (empty: anyone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_groups: Vec<String>,
    /// Who it counted, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
}

/// One Approval object as the decision saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The Approval object's name.
    pub name: String,
    /// Who.
    pub approver: String,
    /// The approver's groups as the Approval recorded them (what `fromGroups` counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `Approve` or `Reject`.
    pub decision: super::approval::ApprovalDecision,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The approver's comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Seconds from the Release's creation to this verdict: the approval wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<i64>,
    /// Why an approval did not count, when it did not (e.g. the release's author).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_counted: Option<String>,
}

/// One Waiver as the decision saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaiverEntry {
    /// The Waiver object's name.
    pub name: String,
    /// The rules it names.
    pub rules: Vec<String>,
    /// Its reason.
    pub reason: String,
    /// Who granted it.
    pub approver: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether it was in force at decision time.
    pub active: bool,
}

/// Whether there is somewhere safe to roll back to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackStatus {
    /// Whether a rollback target is known and can be returned to.
    pub ready: bool,
    /// Set when the post-deploy watch failed: roll back.
    #[serde(default)]
    pub recommended: bool,
    /// The previous Release, if one is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The revision to return to (a GitOps history entry or a workload revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Why it is or is not ready.
    pub reason: String,
}

/// Post-deploy watch progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WatchStatus {
    /// NotStarted, Watching, Passed or Failed.
    pub phase: WatchPhase,
    /// How long the watch lasts once promotion is observed.
    pub duration: String,
    /// When the watch started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// The watched rules, as `policy/rule`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Phases of a post-deploy watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WatchPhase {
    /// Promotion has not been observed yet.
    NotStarted,
    /// Watch rules are being evaluated.
    Watching,
    /// The watch ended with every rule passing.
    Passed,
    /// A watch rule failed: rollback is recommended.
    Failed,
}

/// A decision change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// When the decision changed.
    pub at: DateTime<Utc>,
    /// The decision it changed to.
    pub decision: Decision,
    /// What caused it, in a line: the first holding or blocking rule's reason, or for an
    /// Allow how many enforced rules pass (and which a Waiver let through).
    pub message: String,
    /// The enforced rules a Waiver let through when this decision was reached (an Allow that
    /// would otherwise have held or blocked). Empty when none was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<WaivedRule>,
}

impl TimelineEntry {
    /// The decision in the words every view uses: "Allow (1 waived)".
    pub fn label(&self) -> String {
        label(Some(self.decision), self.waived.len())
    }
}

/// A rule a Waiver turned from Hold or Block into a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaivedRule {
    /// The GatePolicy the rule belongs to.
    pub policy: String,
    /// The rule.
    pub rule: String,
    /// The Waiver that let it through.
    pub waiver: String,
}

impl std::fmt::Display for WaivedRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} by {}", self.policy, self.rule, self.waiver)
    }
}

/// The enforced rules of `trace` a Waiver let through.
pub fn waived_in(trace: &[TraceEntry]) -> impl Iterator<Item = WaivedRule> + '_ {
    trace.iter().filter(|t| is_waived(t)).map(|t| WaivedRule {
        policy: t.policy.clone(),
        rule: t.rule.clone(),
        waiver: t.waiver.clone().unwrap_or_default(),
    })
}

/// An enforced rule a Waiver turned from Hold or Block into a pass.
fn is_waived(t: &TraceEntry) -> bool {
    t.mode == PolicyMode::Enforce && t.effect == Effect::Waived
}

/// "Allow", "Allow (1 waived)", "Undecided".
fn label(decision: Option<Decision>, waived: usize) -> String {
    match (decision, waived) {
        (None, _) => "Undecided".to_string(),
        (Some(d), 0) => d.to_string(),
        (Some(d), n) => format!("{d} ({n} waived)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed seams keep the written form: `7/8`, `metric:NAME`, a source's bare name.
    #[test]
    fn typed_status_fields_round_trip_their_written_form() {
        let status: ReleasePassportStatus = serde_json::from_value(serde_json::json!({
            "evidenceSummary": "7/8",
            "trace": [{"policy": "p", "mode": "Enforce", "rule": "r", "type": "metric",
                       "effect": "Pass", "message": "m", "evidence": ["metric:error-rate", "ci"]}]
        }))
        .unwrap();
        assert_eq!(
            status.evidence_summary,
            Some(EvidenceCount {
                complete: 7,
                read: 8
            })
        );
        assert_eq!(
            status.trace[0].evidence,
            [
                EvidenceRead::Metric("error-rate".into()),
                EvidenceRead::Source("ci".into())
            ]
        );
        assert_eq!(status.trace[0].type_, RuleType::Metric);
        let written = serde_json::to_value(&status).unwrap();
        assert_eq!(written["evidenceSummary"], "7/8");
        assert_eq!(
            written["trace"][0]["evidence"],
            serde_json::json!(["metric:error-rate", "ci"])
        );
        assert_eq!(written["trace"][0]["type"], "metric");
        // A summary no version wrote reads as unknown, not as a broken passport.
        let odd: ReleasePassportStatus =
            serde_json::from_value(serde_json::json!({"evidenceSummary": "seven"})).unwrap();
        assert_eq!(odd.evidence_summary, None);
        // A rule type a newer version writes reads as Other.
        let newer: TraceEntry = serde_json::from_value(serde_json::json!(
            {"policy": "p", "mode": "Enforce", "rule": "r", "type": "comparison",
             "effect": "Pass", "message": "m"}))
        .unwrap();
        assert_eq!(newer.type_, RuleType::Other);
    }
}
