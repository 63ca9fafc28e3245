//! Checks a GatePolicy and prepares it for evaluation: durations parsed, CEL compiled, cron
//! parsed, time zones resolved. An invalid policy keeps every error with the field it names.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::metric::{MetricQuery, MetricRange, SampleWindow};
use crate::api::passport::RuleType;
use crate::api::policy::{ApprovalRule, Comparison, PolicyRule};
use crate::api::{DurationString, GatePolicy, Outcome, PolicyMode};

/// One invalid field, named by its path in the object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A policy ready to evaluate, or the reasons it cannot be.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    pub name: String,
    pub namespace: String,
    pub mode: PolicyMode,
    pub policy: Arc<GatePolicy>,
    pub rules: Vec<CompiledRule>,
    pub watch: Option<CompiledWatch>,
    pub waivers: CompiledWaivers,
    /// Empty when the policy is valid.
    pub errors: Vec<FieldError>,
}

/// The longest waiver when a policy does not say (`spec.waivers.maxDuration`).
pub const DEFAULT_WAIVER_MAX: Duration = Duration::days(7);

/// What a Waiver may do to a policy's rules (`spec.waivers`).
#[derive(Clone, Debug)]
pub struct CompiledWaivers {
    pub max_duration: Duration,
    /// The rules that may be waived; `None`: every rule.
    pub rules: Option<Vec<String>>,
}

impl Default for CompiledWaivers {
    fn default() -> Self {
        Self {
            max_duration: DEFAULT_WAIVER_MAX,
            rules: None,
        }
    }
}

impl CompiledWaivers {
    /// Why a waiver lasting `lasts` may not waive `rule` of policy `policy`, if it may not.
    pub fn refuses(&self, policy: &str, rule: &str, lasts: Duration) -> Option<WaiverRefused> {
        if self
            .rules
            .as_ref()
            .is_some_and(|r| !r.iter().any(|r| r == rule))
        {
            return Some(WaiverRefused::RuleNotWaivable {
                policy: policy.to_string(),
                rule: rule.to_string(),
            });
        }
        (lasts > self.max_duration).then(|| WaiverRefused::TooLong {
            policy: policy.to_string(),
            lasts,
            max: self.max_duration,
        })
    }
}

/// Why a waiver does not waive a rule (or may not be written for it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WaiverRefused {
    #[error("GatePolicy {policy} does not let rule {rule} be waived (spec.waivers.rules)")]
    RuleNotWaivable { policy: String, rule: String },
    #[error(
        "it lasts {}, beyond GatePolicy {policy}'s spec.waivers.maxDuration {}",
        crate::api::duration::format_duration(*lasts),
        crate::api::duration::format_duration(*max)
    )]
    TooLong {
        policy: String,
        lasts: Duration,
        max: Duration,
    },
    /// `passport waive` names a rule none of the release's policies has.
    #[error("no GatePolicy that decides this release has a rule {0:?}")]
    NoSuchRule(String),
}

/// The post-deploy watch of a policy.
#[derive(Clone, Debug)]
pub struct CompiledWatch {
    pub duration: Duration,
    pub duration_text: String,
    pub rules: Vec<CompiledRule>,
}

/// One rule, ready to evaluate.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub name: String,
    pub kind: RuleKind,
}

/// The rule types of BRIEF §2, with their parameters parsed.
#[derive(Clone, Debug)]
pub enum RuleKind {
    Evidence(EvidenceRule),
    Metric(MetricRule),
    Approval(ApprovalRule),
    Window(WindowRule),
    Expression(ExpressionRule),
}

/// An evidence rule: one source, its freshness, and the outcome of each status.
#[derive(Clone, Debug)]
pub struct EvidenceRule {
    pub source: String,
    pub max_age: Option<Duration>,
    pub max_age_text: Option<String>,
    pub on_missing: Outcome,
    pub on_failed: Outcome,
    pub on_stale: Outcome,
    pub on_partial: Outcome,
    pub on_pending: Outcome,
    pub soak: Option<Soak>,
}

/// How long evidence must have been passing without a break before its rule passes.
#[derive(Clone, Debug)]
pub struct Soak {
    pub duration: Duration,
    pub written: String,
}

/// A metric rule: a query, which connector answers it, and how its answer is judged.
#[derive(Clone, Debug)]
pub struct MetricRule {
    pub query: MetricQuery,
    pub connector: Option<String>,
    pub judge: MetricJudge,
    /// How values are written in the trace; never part of the comparison.
    pub unit: Option<crate::api::policy::MetricUnit>,
    pub max_age: Option<Duration>,
    pub on_no_data: Outcome,
    pub on_failed: Outcome,
    pub soak: Option<Soak>,
    /// How much history the query reads back from the moment it is asked: its longest range
    /// selector (`[5m]`, a subquery's `[30m:1m]`) plus a range query's window. Until that long
    /// has passed since the release started, its answer still describes the previous version.
    pub lookback: Duration,
}

/// How a metric rule judges its query.
#[derive(Clone, Debug)]
pub enum MetricJudge {
    /// The latest value against a threshold: `value <op> threshold`.
    Threshold { op: Comparison, threshold: f64 },
    /// The release's samples against its baseline's.
    Compare(Box<CompareRule>),
}

/// A metric compared with the release's baseline.
#[derive(Clone, Debug)]
pub struct CompareRule {
    pub comparison: super::compare::Comparison,
    pub baseline: crate::api::policy::Baseline,
    /// The release's window, and the baseline's length.
    pub window: Duration,
    /// The label the version is matched on, for the previous-version baseline.
    pub version_label: String,
}

/// A window rule: freeze windows in one time zone.
#[derive(Clone, Debug)]
pub struct WindowRule {
    pub tz: Tz,
    pub freezes: Vec<Freeze>,
    pub on_inside: Outcome,
}

/// An expression rule: a compiled CEL program and what it reads.
#[derive(Clone, Debug)]
pub struct ExpressionRule {
    pub source: String,
    pub program: Arc<cel::Program>,
    pub reads: CelReads,
    pub on_false: Outcome,
    pub message: Option<String>,
}

/// What a CEL expression can read, found from its syntax tree, so evaluation builds only that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CelReads {
    /// The evidence sources it names (`evidence['x']`, `evidence.x`, `'x' in evidence`);
    /// `None` when it uses the map as a whole (iterating it, say).
    pub evidence: Option<Vec<String>>,
    /// The fields of an evidence entry it reads (`evidence['x'].passing`); `None` when it uses
    /// an entry any other way, so every field is built.
    pub fields: Option<Vec<String>>,
    pub release: bool,
    pub approvals: bool,
}

impl CelReads {
    fn of(program: &cel::Program) -> Self {
        let mut keys = BTreeSet::new();
        let whole = !named_evidence(program.expression(), &mut keys);
        let references = program.references();
        let mut fields = BTreeSet::new();
        let by_field = entry_fields(program.expression(), &mut fields);
        Self {
            evidence: (!whole).then(|| keys.into_iter().collect()),
            fields: by_field.then(|| fields.into_iter().collect()),
            release: references.has_variable("release"),
            approvals: references.has_variable("approvals"),
        }
    }
}

/// Collects the entry fields `expr` reads (`evidence['x'].f`, `evidence[k].f`, `evidence.x.f`,
/// `has(…f)`); false when it uses an entry any other way (compares it, passes it on).
fn entry_fields(expr: &cel::IdedExpr, fields: &mut BTreeSet<String>) -> bool {
    use cel::common::ast::{Expr, operators};
    let is_evidence =
        |e: &cel::IdedExpr| matches!(&e.expr, Expr::Ident(name) if name == "evidence");
    let is_entry = |e: &cel::IdedExpr| match &e.expr {
        Expr::Select(select) => is_evidence(&select.operand),
        Expr::Call(call) => {
            call.func_name == operators::INDEX && call.args.first().is_some_and(is_evidence)
        }
        _ => false,
    };
    if is_entry(expr) {
        return false;
    }
    match &expr.expr {
        Expr::Select(select) if is_entry(&select.operand) => {
            fields.insert(select.field.clone());
            match &select.operand.expr {
                Expr::Call(call) => call.args.iter().skip(1).all(|a| entry_fields(a, fields)),
                _ => true,
            }
        }
        _ => children(expr).into_iter().all(|e| entry_fields(e, fields)),
    }
}

/// Collects the evidence keys `expr` names; false when it uses `evidence` any other way.
fn named_evidence(expr: &cel::IdedExpr, keys: &mut BTreeSet<String>) -> bool {
    use cel::common::ast::{Expr, LiteralValue, operators};
    let is_evidence =
        |e: &cel::IdedExpr| matches!(&e.expr, Expr::Ident(name) if name == "evidence");
    let literal = |e: &cel::IdedExpr| match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner().to_string()),
        _ => None,
    };
    match &expr.expr {
        Expr::Ident(name) => name != "evidence",
        Expr::Select(select) if is_evidence(&select.operand) => {
            keys.insert(select.field.clone());
            true
        }
        Expr::Call(call) => {
            match (call.func_name.as_str(), call.args.as_slice()) {
                (operators::INDEX, [map, key]) if is_evidence(map) => {
                    if let Some(k) = literal(key) {
                        keys.insert(k);
                        return true;
                    }
                }
                (operators::IN, [key, map]) if is_evidence(map) => {
                    if let Some(k) = literal(key) {
                        keys.insert(k);
                        return true;
                    }
                }
                _ => {}
            }
            children(expr).into_iter().all(|e| named_evidence(e, keys))
        }
        Expr::Comprehension(c) if c.iter_var == "evidence" || c.accu_var == "evidence" => false,
        _ => children(expr).into_iter().all(|e| named_evidence(e, keys)),
    }
}

/// The expressions directly under `expr`, in source order.
fn children(expr: &cel::IdedExpr) -> Vec<&cel::IdedExpr> {
    use cel::common::ast::{EntryExpr, Expr};
    fn entries(entries: &[cel::common::ast::IdedEntryExpr]) -> Vec<&cel::IdedExpr> {
        entries
            .iter()
            .flat_map(|e| match &e.expr {
                EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
                EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect()
    }
    match &expr.expr {
        Expr::Select(select) => vec![&select.operand],
        Expr::Call(call) => call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect(),
        Expr::Comprehension(c) => comprehension_parts(c).to_vec(),
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => entries(&map.entries),
        Expr::Struct(st) => entries(&st.entries),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

impl RuleKind {
    /// The rule type, as traces record it.
    pub fn rule_type(&self) -> RuleType {
        match self {
            RuleKind::Evidence(_) => RuleType::Evidence,
            RuleKind::Metric(_) => RuleType::Metric,
            RuleKind::Approval(_) => RuleType::Approval,
            RuleKind::Window(_) => RuleType::Window,
            RuleKind::Expression(_) => RuleType::Expression,
        }
    }
}

/// A freeze window.
#[derive(Clone, Debug)]
pub struct Freeze {
    pub name: String,
    pub span: FreezeSpan,
}

/// When a freeze window is open.
#[derive(Clone, Debug)]
pub enum FreezeSpan {
    Recurring {
        cron: Box<Cron>,
        duration: Duration,
    },
    Absolute {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

impl CompiledPolicy {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks and prepares a policy. Never fails: errors are kept on the result, so an invalid
/// policy can still block what it selects.
pub fn compile(policy: &GatePolicy) -> CompiledPolicy {
    let mut errors = Vec::new();
    let rules = compile_rules(&policy.spec.rules, "spec.rules", &mut errors);
    let watch = policy.spec.post_deploy_watch.as_ref().map(|w| {
        let duration = parse_duration(&w.duration, "spec.postDeployWatch.duration", &mut errors);
        CompiledWatch {
            duration: duration.unwrap_or_default(),
            duration_text: w.duration.to_string(),
            rules: compile_rules(&w.rules, "spec.postDeployWatch.rules", &mut errors),
        }
    });
    let waivers = compile_waivers(policy, &rules, &mut errors);
    CompiledPolicy {
        name: policy.metadata.name.clone().unwrap_or_default(),
        namespace: crate::api::namespace_of(&policy.metadata).to_string(),
        mode: policy.spec.mode,
        policy: Arc::new(policy.clone()),
        rules,
        watch,
        waivers,
        errors,
    }
}

fn compile_waivers(
    policy: &GatePolicy,
    rules: &[CompiledRule],
    errors: &mut Vec<FieldError>,
) -> CompiledWaivers {
    let Some(limits) = &policy.spec.waivers else {
        return CompiledWaivers::default();
    };
    let max_duration = limits
        .max_duration
        .as_ref()
        .and_then(|d| parse_duration(d, "spec.waivers.maxDuration", errors))
        .unwrap_or(DEFAULT_WAIVER_MAX);
    for (i, name) in limits.rules.iter().flatten().enumerate() {
        if !rules.iter().any(|r| &r.name == name) {
            errors.push(FieldError::new(
                format!("spec.waivers.rules[{i}]"),
                format!("{name:?} is not a rule of this policy"),
            ));
        }
    }
    CompiledWaivers {
        max_duration,
        rules: limits.rules.clone(),
    }
}

fn compile_rules(
    rules: &[PolicyRule],
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<CompiledRule> {
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if !crate::api::key::is_dns_label(&rule.name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!(
                    "{:?} is not a rule name (lowercase letters, digits and '-')",
                    rule.name
                ),
            ));
        }
        if rules[..i].iter().any(|r| r.name == rule.name) {
            errors.push(FieldError::new(
                format!("{at}.name"),
                format!("rule name {:?} is used twice", rule.name),
            ));
        }
        if let Some(kind) = compile_rule(rule, &at, errors) {
            out.push(CompiledRule {
                name: rule.name.clone(),
                kind,
            });
        }
    }
    out
}

fn compile_rule(rule: &PolicyRule, at: &str, errors: &mut Vec<FieldError>) -> Option<RuleKind> {
    let set = [
        rule.evidence.is_some(),
        rule.metric.is_some(),
        rule.approval.is_some(),
        rule.window.is_some(),
        rule.expression.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if set != 1 {
        errors.push(FieldError::new(
            at,
            format!("a rule sets exactly one of evidence, metric, approval, window, expression (this one sets {set})"),
        ));
        return None;
    }
    if let Some(e) = &rule.evidence {
        return Some(compile_evidence(e, at, errors));
    }
    if let Some(m) = &rule.metric {
        return compile_metric(m, at, errors);
    }
    if let Some(a) = &rule.approval {
        if a.min == 0 {
            errors.push(FieldError::new(
                format!("{at}.approval.min"),
                "must be at least 1",
            ));
        }
        return Some(RuleKind::Approval(a.clone()));
    }
    if let Some(w) = &rule.window {
        return Some(compile_window(w, at, errors));
    }
    compile_expression(rule.expression.as_ref()?, at, errors)
}

fn compile_evidence(
    e: &crate::api::policy::EvidenceRule,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> RuleKind {
    if e.source.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{at}.evidence.source"),
            "must not be empty",
        ));
    }
    let max_age = e
        .max_age
        .as_ref()
        .and_then(|d| parse_duration(d, &format!("{at}.evidence.maxAge"), errors));
    RuleKind::Evidence(EvidenceRule {
        source: e.source.clone(),
        max_age,
        max_age_text: e.max_age.as_ref().map(|d| d.to_string()),
        on_missing: e.on_missing.unwrap_or(Outcome::Hold),
        on_failed: e.on_failed.unwrap_or(Outcome::Block),
        on_stale: e.on_stale.unwrap_or(Outcome::Hold),
        on_partial: e.on_partial.unwrap_or(Outcome::Hold),
        on_pending: e.on_pending.unwrap_or(Outcome::Hold),
        soak: soak(e.soak.as_ref(), &format!("{at}.evidence.soak"), errors),
    })
}

fn compile_metric(
    m: &crate::api::policy::MetricRule,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<RuleKind> {
    if m.query.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{at}.metric.query"),
            "must not be empty",
        ));
    }
    let judge = match (&m.compare, m.op, m.threshold) {
        (Some(c), None, None) => {
            compile_compare(m, c, at, errors).map(|c| MetricJudge::Compare(Box::new(c)))
        }
        (None, Some(op), Some(threshold)) => {
            if !threshold.is_finite() {
                errors.push(FieldError::new(
                    format!("{at}.metric.threshold"),
                    "must be a finite number",
                ));
            }
            Some(MetricJudge::Threshold { op, threshold })
        }
        _ => {
            errors.push(FieldError::new(
                format!("{at}.metric"),
                "sets op and threshold, or compare",
            ));
            None
        }
    };
    let max_age = m
        .max_age
        .as_ref()
        .and_then(|d| parse_duration(d, &format!("{at}.metric.maxAge"), errors));
    // A range query is the same question asked over a window: the window travels with the
    // query, so planning, fetching and matching need no other key.
    let range = m.range.as_ref().and_then(|range| {
        let window = parse_duration(range, &format!("{at}.metric.range"), errors)?;
        let Ok(window) = window.to_std() else {
            errors.push(FieldError::new(
                format!("{at}.metric.range"),
                "must be positive",
            ));
            return None;
        };
        Some(MetricRange {
            written: range.to_string(),
            window,
            aggregate: m.aggregate.unwrap_or_default(),
        })
    });
    let lookback = super::metric::longest_range_selector(&m.query)
        + range
            .as_ref()
            .and_then(|r| Duration::from_std(r.window).ok())
            .unwrap_or_default();
    let query = MetricQuery {
        text: m.query.clone(),
        labels: std::collections::BTreeMap::new(),
        range,
        samples: None,
    };
    Some(RuleKind::Metric(MetricRule {
        query,
        connector: m.connector.clone(),
        judge: judge?,
        unit: m.unit,
        max_age,
        on_no_data: m.on_no_data.unwrap_or(Outcome::Hold),
        on_failed: m.on_failed.unwrap_or(Outcome::Block),
        soak: soak(m.soak.as_ref(), &format!("{at}.metric.soak"), errors),
        lookback,
    }))
}

/// The two questions a comparison asks of one release: the same query over the release's
/// window and over the baseline's.
#[derive(Clone, Debug, PartialEq)]
pub struct Questions {
    pub release: MetricQuery,
    pub baseline: MetricQuery,
    /// The release's window and the baseline's (the same one for the previous version).
    pub windows: (SampleWindow, SampleWindow),
}

/// Why a comparison cannot be asked for a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unasked {
    /// The query uses `$labels` and the release sets no `spec.scope.metricLabels`.
    Unscoped,
    /// A metric label of the release is not a label name.
    BadLabel(String),
    /// The previous-version baseline with no previous release known.
    NoPreviousRelease,
    /// No start is known to compare from.
    NoStart,
}

impl CompareRule {
    /// Which way is worse, as the API writes it.
    pub fn worse(&self) -> crate::api::policy::WorseWhen {
        match self.comparison.worse {
            super::compare::Worse::Higher => crate::api::policy::WorseWhen::Higher,
            super::compare::Worse::Lower => crate::api::policy::WorseWhen::Lower,
        }
    }

    /// The release's window: from its start, once the query's range selectors (`[5m]`) have
    /// left the previous version behind, for `window`.
    pub fn release_window(&self, query: &MetricQuery, started: DateTime<Utc>) -> SampleWindow {
        SampleWindow {
            from: started + super::metric::longest_range_selector(&query.text),
            length: self.window,
        }
    }

    /// The questions for `release`, whose predecessor ran `previous_version`: one definition
    /// for what the connectors fetch and what the rule reads. The windows are fixed from the
    /// start the Release records (`spec.startedAt`, else `status.startedAt` — the rollout the
    /// controller saw — else its creation), so a question never changes once asked.
    pub fn questions(
        &self,
        query: &MetricQuery,
        release: &crate::api::Release,
        previous_version: Option<&str>,
    ) -> Result<Questions, Unasked> {
        use crate::api::policy::Baseline;
        let labels = &release.spec.scope.metric_labels;
        let version = release.spec.version.as_str();
        let started = release.started_at(None).ok_or(Unasked::NoStart)?;
        let window = self.release_window(query, started);
        let ask = |labels: &std::collections::BTreeMap<String, String>, samples: SampleWindow| {
            let mut q = (query.scoped(labels))
                .map_err(|e| Unasked::BadLabel(e.key))?
                .ok_or(Unasked::Unscoped)?;
            q.samples = Some(samples);
            Ok(q)
        };
        match self.baseline {
            Baseline::Before => {
                let before = SampleWindow {
                    from: started - self.window,
                    length: self.window,
                };
                Ok(Questions {
                    release: ask(labels, window)?,
                    baseline: ask(labels, before)?,
                    windows: (window, before),
                })
            }
            Baseline::PreviousVersion => {
                let previous = previous_version.ok_or(Unasked::NoPreviousRelease)?;
                let at = |v: &str| {
                    let mut l = labels.clone();
                    l.insert(self.version_label.clone(), v.to_string());
                    l
                };
                Ok(Questions {
                    release: ask(&at(version), window)?,
                    baseline: ask(&at(previous), window)?,
                    windows: (window, window),
                })
            }
        }
    }
}

/// The most samples a comparison reads per window: the connector picks its step to stay under.
pub const MAX_SAMPLES: usize = 1_000;

fn compile_compare(
    m: &crate::api::policy::MetricRule,
    c: &crate::api::policy::MetricCompare,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<CompareRule> {
    use crate::api::policy::Baseline;
    let field = |name: &str| format!("{at}.metric.compare.{name}");
    let before = errors.len();
    for (name, set) in [
        ("range", m.range.is_some()),
        ("aggregate", m.aggregate.is_some()),
        ("maxAge", m.max_age.is_some()),
        ("soak", m.soak.is_some()),
    ] {
        if set {
            errors.push(FieldError::new(
                format!("{at}.metric.{name}"),
                "does not apply to compare (its windows are compare.window)",
            ));
        }
    }
    let window = parse_duration(&c.window, &field("window"), errors);
    if window.is_some_and(|w| w <= Duration::zero()) {
        errors.push(FieldError::new(field("window"), "must be positive"));
    }
    for (name, value) in [
        ("tolerancePercent", c.tolerance_percent),
        ("toleranceAbsolute", c.tolerance_absolute),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            errors.push(FieldError::new(
                field(name),
                "must be a number, zero or more",
            ));
        }
    }
    if c.significance.is_some_and(|a| !(a > 0.0 && a < 1.0)) {
        errors.push(FieldError::new(
            field("significance"),
            "must be between 0 and 1",
        ));
    }
    if c.baseline == Baseline::PreviousVersion && !m.query.contains("$labels") {
        errors.push(FieldError::new(
            field("baseline"),
            "previousVersion needs $labels in the query: the version matcher goes there",
        ));
    }
    let version_label = c.version_label.clone().unwrap_or_else(|| "version".into());
    if !super::labels::is_label_name(&version_label) {
        errors.push(FieldError::new(
            field("versionLabel"),
            "must be a Prometheus label name",
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(CompareRule {
        comparison: super::compare::Comparison {
            worse: match c.worse {
                crate::api::policy::WorseWhen::Higher => super::compare::Worse::Higher,
                crate::api::policy::WorseWhen::Lower => super::compare::Worse::Lower,
            },
            tolerance: super::compare::Tolerance {
                relative: c.tolerance_percent.map(|p| p / 100.0),
                absolute: c.tolerance_absolute,
            },
            test: c
                .significance
                .map(|alpha| super::compare::Significance { alpha }),
            min_samples: c.min_samples.map_or(10, |n| n as usize),
        },
        baseline: c.baseline,
        window: window?,
        version_label,
    })
}

fn compile_window(
    w: &crate::api::policy::WindowRule,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> RuleKind {
    let tz_name = w.time_zone.as_deref().unwrap_or("UTC");
    let tz = match Tz::from_str(tz_name) {
        Ok(tz) => tz,
        Err(_) => {
            errors.push(FieldError::new(
                format!("{at}.window.timeZone"),
                format!("{tz_name:?} is not an IANA time zone (e.g. Europe/Berlin)"),
            ));
            Tz::UTC
        }
    };
    if w.freezes.is_empty() {
        errors.push(FieldError::new(
            format!("{at}.window.freezes"),
            "needs at least one freeze",
        ));
    }
    let freezes = w
        .freezes
        .iter()
        .enumerate()
        .filter_map(|(i, f)| compile_freeze(f, i, tz, &format!("{at}.window.freezes[{i}]"), errors))
        .collect();
    RuleKind::Window(WindowRule {
        tz,
        freezes,
        on_inside: w.on_inside.unwrap_or(Outcome::Hold),
    })
}

fn compile_expression(
    x: &crate::api::policy::ExpressionRule,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<RuleKind> {
    if let Some(depth) = too_deep(&x.cel) {
        errors.push(FieldError::new(
            format!("{at}.expression.cel"),
            format!("nested {depth} deep; at most {MAX_CEL_BRACKETS}"),
        ));
        return None;
    }
    // The parser's error recovery miscounted its own recursion on brackets that close nothing
    // (found by fuzzing cel 0.13: a subtraction that overflows): such an expression never reaches
    // it, and the refusal names the bracket, which the parser's own error does not.
    if let Some(why) = unbalanced(&x.cel) {
        errors.push(FieldError::new(
            format!("{at}.expression.cel"),
            format!("does not compile: {why}"),
        ));
        return None;
    }
    match compile_cel(&x.cel) {
        Ok(program) => Some(RuleKind::Expression(ExpressionRule {
            source: x.cel.clone(),
            reads: CelReads::of(&program),
            program: Arc::new(program),
            on_false: x.on_false.unwrap_or(Outcome::Hold),
            message: x.message.clone(),
        })),
        Err(e) => {
            errors.push(FieldError::new(
                format!("{at}.expression.cel"),
                format!("does not compile: {}", one_line(&e.to_string())),
            ));
            None
        }
    }
}

fn compile_freeze(
    f: &crate::api::policy::FreezeWindow,
    index: usize,
    tz: Tz,
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Freeze> {
    let name = f.name.clone().unwrap_or_else(|| format!("freeze-{index}"));
    match (&f.cron, &f.duration, &f.start, &f.end) {
        (Some(cron), Some(duration), None, None) => {
            let parsed = Cron::from_str(cron).map_err(|e| {
                errors.push(FieldError::new(
                    format!("{at}.cron"),
                    format!("{cron:?} is not a five-field cron expression: {e}"),
                ))
            });
            let duration = parse_duration(duration, &format!("{at}.duration"), errors);
            match (parsed, duration) {
                (Ok(cron), Some(duration)) if duration > Duration::zero() => Some(Freeze {
                    name,
                    span: FreezeSpan::Recurring {
                        cron: Box::new(cron),
                        duration,
                    },
                }),
                (Ok(_), Some(_)) => {
                    errors.push(FieldError::new(
                        format!("{at}.duration"),
                        "must be longer than zero",
                    ));
                    None
                }
                _ => None,
            }
        }
        (None, None, Some(start), Some(end)) => {
            let s = parse_instant(start, tz)
                .map_err(|m| errors.push(FieldError::new(format!("{at}.start"), m.to_string())));
            let e = parse_instant(end, tz)
                .map_err(|m| errors.push(FieldError::new(format!("{at}.end"), m.to_string())));
            match (s, e) {
                (Ok(start), Ok(end)) if end > start => Some(Freeze {
                    name,
                    span: FreezeSpan::Absolute { start, end },
                }),
                (Ok(_), Ok(_)) => {
                    errors.push(FieldError::new(format!("{at}.end"), "must be after start"));
                    None
                }
                _ => None,
            }
        }
        _ => {
            errors.push(FieldError::new(
                at,
                "a freeze is either cron + duration or start + end",
            ));
            None
        }
    }
}

/// Why a freeze's start or end is not a moment.
#[derive(Debug, thiserror::Error)]
enum InstantError {
    /// A local time skipped by a daylight-saving change.
    #[error("{0:?} does not exist in time zone {1}")]
    NotInZone(String, Tz),
    #[error("{0:?} is not a time (RFC 3339, or YYYY-MM-DDTHH:MM in the rule's time zone)")]
    NotATime(String),
}

/// RFC 3339, or a local date-time interpreted in `tz`.
fn parse_instant(text: &str, tz: Tz) -> Result<DateTime<Utc>, InstantError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| InstantError::NotInZone(text.to_string(), tz));
        }
    }
    Err(InstantError::NotATime(text.to_string()))
}

fn parse_duration(
    d: &DurationString,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Duration> {
    d.parse()
        .map_err(|e| errors.push(FieldError::new(field, e.to_string())))
        .ok()
}

/// How deep a CEL expression's syntax tree may be: evaluation recurses once per level (an
/// unoptimised build overflowed a 2 MiB thread stack at 64 chained `+`). 32 `&&`-joined
/// conditions fit.
pub const MAX_CEL_NESTING: usize = 32;

/// How deep a CEL expression's text may nest brackets (and runs of unary operators). Found by
/// fuzzing: the `cel` parser underflows a counter past its own limit of 96 (a panic with
/// overflow checks on), and its error recovery grows exponentially with the nesting of a
/// malformed expression — 1 KiB nested 22 deep took minutes and gigabytes, 14 deep 0.6 s,
/// 9 deep 0.1 s. Gate rules rarely nest past 4.
pub const MAX_CEL_BRACKETS: usize = 12;

/// The `cel` parser's frames are large (an unoptimised build overflowed a 2 MiB stack at 16
/// nested brackets): it runs on a thread of its own with room to spare, whatever thread asks
/// (a controller's runtime threads have 2 MiB). One such thread serves every compile, started
/// on first use (starting a 64 MiB thread per expression cost 4× a decision), and started again
/// if it ever stops.
/// Why a CEL expression did not compile.
#[derive(Debug, thiserror::Error)]
pub enum CelError {
    #[error(transparent)]
    Parse(#[from] cel::ParseErrors),
    /// Deeper than [`MAX_CEL_NESTING`]: evaluation would recurse past its stack.
    #[error("{0} levels deep; at most {MAX_CEL_NESTING}")]
    TooDeep(usize),
    /// The parser panicked on this expression (the thread goes on serving).
    #[error("the CEL compiler failed")]
    Panicked,
    #[error("could not start the CEL compiler")]
    Start(#[source] std::io::Error),
    /// Started again, and stopped again before it answered.
    #[error("the CEL compiler stopped")]
    Stopped,
}

fn compile_cel(source: &str) -> Result<cel::Program, CelError> {
    let (reply, answer) = mpsc::channel();
    let mut job = (source.to_string(), reply);
    let mut slot = CEL_COMPILER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..2 {
        let sender = match slot.as_ref() {
            Some(s) => s.clone(),
            None => {
                let s = start_cel_compiler()?;
                *slot = Some(s.clone());
                s
            }
        };
        match sender.send(job) {
            Ok(()) => {
                drop(slot);
                return answer.recv().map_err(|_| CelError::Panicked)?;
            }
            Err(mpsc::SendError(back)) => {
                job = back;
                *slot = None;
            }
        }
    }
    Err(CelError::Stopped)
}

type CelJob = (String, mpsc::Sender<Result<cel::Program, CelError>>);

static CEL_COMPILER: std::sync::Mutex<Option<mpsc::Sender<CelJob>>> = std::sync::Mutex::new(None);

fn start_cel_compiler() -> Result<mpsc::Sender<CelJob>, CelError> {
    const STACK: usize = 64 << 20;
    let (jobs, queue) = mpsc::channel::<CelJob>();
    std::thread::Builder::new()
        .name("cel-compile".into())
        .stack_size(STACK)
        .spawn(move || {
            for (source, reply) in queue {
                // A parser panic answers that one expression and leaves the thread serving.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let program = cel::Program::compile(&source)?;
                    let depth = tree_depth(program.expression());
                    if depth > MAX_CEL_NESTING {
                        return Err(CelError::TooDeep(depth));
                    }
                    Ok(program)
                }))
                .unwrap_or(Err(CelError::Panicked));
                let _ = reply.send(result);
            }
        })
        .map_err(CelError::Start)?;
    Ok(jobs)
}

/// A comprehension's sub-expressions.
fn comprehension_parts(c: &cel::common::ast::ComprehensionExpr) -> [&cel::IdedExpr; 5] {
    [
        &c.iter_range,
        &c.accu_init,
        &c.loop_cond,
        &c.loop_step,
        &c.result,
    ]
}

/// The levels of a CEL syntax tree.
fn tree_depth(expr: &cel::IdedExpr) -> usize {
    1 + children(expr)
        .into_iter()
        .map(tree_depth)
        .max()
        .unwrap_or(0)
}

/// How deep `cel` nests, if deeper than [`MAX_CEL_BRACKETS`]: brackets, and runs of unary
/// operators (`- - - 1`, `!!!x`), each of which is a level too. Brackets and operators inside
/// string literals count too: no gate rule needs 12 of them.
fn too_deep(cel: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut unary = 0usize;
    for b in cel.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        match b {
            b'-' | b'!' => {
                unary += 1;
                deepest = deepest.max(unary);
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => unary = 0,
        }
    }
    (deepest > MAX_CEL_BRACKETS).then_some(deepest)
}

/// Why `cel`'s brackets do not pair up, outside string literals and `//` comments: one that
/// closes nothing, closes another kind, or is never closed. A valid expression always pairs.
fn unbalanced(cel: &str) -> Option<String> {
    let chars: Vec<char> = cel.chars().collect();
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '"' | '\'' => {
                i = after_string(&chars, i);
                continue;
            }
            '(' | '[' | '{' => open.push((c, i)),
            ')' | ']' | '}' => {
                let wanted = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match open.pop() {
                    Some((o, _)) if o == wanted => {}
                    Some((o, at)) => {
                        return Some(format!(
                            "'{c}' at character {} closes the '{o}' at character {}",
                            i + 1,
                            at + 1
                        ));
                    }
                    None => return Some(format!("'{c}' at character {} closes nothing", i + 1)),
                }
            }
            _ => {}
        }
        i += 1;
    }
    open.last()
        .map(|(o, at)| format!("the '{o}' at character {} is never closed", at + 1))
}

/// Where the string literal starting with the quote at `start` ends (one past its closing
/// quote, or the end): single or triple quoted, raw (`r"…"`, no escapes) or not.
fn after_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let ident = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let prefix_raw = |at: usize| {
        at > 0
            && matches!(chars[at - 1], 'r' | 'R')
            && (!ident(at.checked_sub(2).and_then(|j| chars.get(j)))
                || matches!(chars[at - 2], 'b' | 'B')
                    && !ident(at.checked_sub(3).and_then(|j| chars.get(j))))
    };
    let raw = prefix_raw(start)
        || (start > 1 && matches!(chars[start - 1], 'b' | 'B') && prefix_raw(start - 1));
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    while i < chars.len() {
        match chars[i] {
            '\\' if !raw => i += 2,
            c if c == quote
                && (!triple
                    || (chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote))) =>
            {
                return i + if triple { 3 } else { 1 };
            }
            _ => i += 1,
        }
    }
    chars.len()
}

fn soak(d: Option<&DurationString>, field: &str, errors: &mut Vec<FieldError>) -> Option<Soak> {
    let d = d?;
    Some(Soak {
        duration: parse_duration(d, field, errors)?,
        written: d.to_string(),
    })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every error in a policy, one per line, for conditions and CLI output.
pub fn describe_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(cel: &str) -> CelReads {
        CelReads::of(&compile_cel(cel).unwrap())
    }

    #[test]
    fn an_expression_reads_the_entries_and_fields_it_names() {
        let r = reads(
            "'journeys' in evidence && evidence['journeys'].passing == evidence.journeys.total",
        );
        assert_eq!(r.evidence, Some(vec!["journeys".to_string()]));
        assert_eq!(
            r.fields,
            Some(vec!["passing".to_string(), "total".to_string()])
        );
        assert!(!r.release && !r.approvals);
        // A field read through a computed key still names the field.
        let r = reads("evidence.all(k, evidence[k].status == 'Complete')");
        assert_eq!(r.evidence, None);
        assert_eq!(r.fields, Some(vec!["status".to_string()]));
        assert_eq!(
            reads("has(evidence.ci.ageSeconds)").fields,
            Some(vec!["ageSeconds".to_string()])
        );
        // An entry used whole needs every field.
        assert_eq!(
            reads("evidence['ci'] == {'status': 'Complete'}").fields,
            None
        );
        assert_eq!(reads("size(evidence.ci) > 0").fields, None);
        assert_eq!(reads("release.service == 'web'").fields, Some(vec![]));
    }
    /// Brackets pair up outside strings and comments in every valid expression, so only a
    /// broken one is refused before the parser — among them the input the policy fuzz target
    /// crashed the parser with (a recursion counter subtracted below zero).
    #[test]
    fn brackets_that_close_nothing_never_reach_the_parser() {
        for valid in [
            r#"release.service == ')' && [1, 2].size() == 2"#,
            r#"'(' + "[" + '''}''' + r'\' != '' // ) ] }"#,
            r#"{'a': [(1)]}.a[0] == 1 && b")" != b'(' && R"]" == br'['"#,
            r#""""a "" ) """.size() > 0"#,
        ] {
            assert_eq!(unbalanced(valid), None, "{valid}");
            if let Err(e) = compile_cel(valid) {
                panic!("{valid}: {e}")
            }
        }
        assert_eq!(
            unbalanced("a)"),
            Some("')' at character 2 closes nothing".into())
        );
        assert_eq!(
            unbalanced("[a)"),
            Some("')' at character 3 closes the '[' at character 1".into())
        );
        assert_eq!(
            unbalanced("f(a, [b]"),
            Some("the '(' at character 2 is never closed".into())
        );
        let crash = String::from_utf8_lossy(include_bytes!(
            "../../tests/fuzz/corpus/policy/cel-recursion-closers"
        ));
        assert!(unbalanced(&crash).is_some());
    }
}
