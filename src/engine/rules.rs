//! Evaluates one compiled rule against one release's evidence, approvals and `now`.

use cel::common::types::{CelDouble, CelInt, CelMap, CelMapKey, CelNull, CelString};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

use super::compare::Verdict;
use super::compile::{
    CelReads, CompareRule, CompiledRule, EvidenceRule, ExpressionRule, MetricJudge, MetricRule,
    RuleKind, Unasked, WindowRule,
};
use super::evidence::{EvidenceItem, combine, severity, stale_at, status_at};
use super::labels;
use super::window::{self, WindowState};
use crate::api::passport::{ComparisonSummary, Effect, EvidenceEntry, EvidenceRead, Targets};
use crate::api::{Approval, ApprovalDecision, EvidenceStatus, Outcome, Release, namespace_of};

/// What one rule concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub effect: Effect,
    pub message: String,
    /// Evidence sources read, for the trace.
    pub evidence: Vec<EvidenceRead>,
    /// Evidence entries for the passport, keyed for de-duplication.
    pub observed: Vec<(String, EvidenceEntry)>,
    /// The earliest future moment this rule's result can change by itself.
    pub next_change: Option<DateTime<Utc>>,
    /// Set when the release itself (not the policy) is invalid for this rule.
    pub release_error: Option<String>,
}

impl RuleResult {
    fn new(effect: Effect, message: String) -> Self {
        Self {
            effect,
            message,
            evidence: Vec::new(),
            observed: Vec::new(),
            next_change: None,
            release_error: None,
        }
    }
}

/// Everything a rule may read, for one release at one moment.
pub struct RuleContext<'a> {
    pub release: &'a Release,
    pub evidence: &'a [EvidenceItem],
    pub approvals: &'a [&'a Approval],
    pub now: DateTime<Utc>,
    /// When the release started ([`Release::started_at`]).
    pub started_at: Option<DateTime<Utc>>,
    /// The evidence the passport recorded last time: how long each item has been passing.
    pub previous: &'a [EvidenceEntry],
    /// The version of the release `spec.previous` names, when known: a previous-version
    /// comparison's baseline.
    pub previous_version: Option<&'a str>,
    /// `$labels` rendered once per decision, shared by every metric rule.
    matchers: OnceCell<Result<String, labels::LabelError>>,
}

impl<'a> RuleContext<'a> {
    pub fn new(
        release: &'a Release,
        evidence: &'a [EvidenceItem],
        approvals: &'a [&'a Approval],
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            release,
            evidence,
            approvals,
            now,
            started_at: None,
            previous: &[],
            previous_version: None,
            matchers: OnceCell::new(),
        }
    }

    /// The same context, knowing the version of the release `spec.previous` names.
    pub fn after(mut self, previous_version: Option<&'a str>) -> Self {
        self.previous_version = previous_version;
        self
    }

    /// The same context, knowing when the release started and what was recorded last time.
    pub fn since(
        mut self,
        started_at: Option<DateTime<Utc>>,
        previous: &'a [EvidenceEntry],
    ) -> Self {
        self.started_at = started_at;
        self.previous = previous;
        self
    }

    /// Since when evidence now `status` has been passing: the previous record's moment if it
    /// was passing then too, else what the recorder says, else when it was seen passing; never
    /// before the release started. `None` unless it passes now.
    fn passing_since(
        &self,
        status: EvidenceStatus,
        previous: Option<&EvidenceEntry>,
        recorded: Option<DateTime<Utc>>,
        seen: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        if status != EvidenceStatus::Complete {
            return None;
        }
        let carried = previous
            .filter(|e| e.status == EvidenceStatus::Complete)
            .and_then(|e| e.passing_since);
        let since = carried.or(recorded).or(seen)?;
        Some(self.started_at.map_or(since, |s| since.max(s)))
    }
}

/// A soaking rule's answer while its evidence has not yet passed long enough: the hold's
/// words and when the soak ends.
fn soaking(
    soak: &super::compile::Soak,
    passing_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<(String, DateTime<Utc>)> {
    let since = passing_since?;
    let ends = since + soak.duration;
    (now < ends).then(|| {
        (
            format!(
                "soaking: {} of {} passing (since {})",
                crate::api::duration::format_duration((now - since).max(chrono::Duration::zero())),
                soak.written,
                time(since)
            ),
            ends,
        )
    })
}

pub fn outcome_effect(o: Outcome) -> Effect {
    match o {
        Outcome::Pass => Effect::Pass,
        Outcome::Hold => Effect::Hold,
        Outcome::Block => Effect::Block,
    }
}

/// RFC 3339 in UTC to the second (`2026-11-25T14:00:00Z`), written by hand: chrono's general
/// formatter dominated the engine's profile.
pub fn time(t: DateTime<Utc>) -> String {
    let (year, month, day) = (t.year(), t.month(), t.day());
    if !(0..=9999).contains(&year) {
        return t.to_rfc3339_opts(SecondsFormat::Secs, true);
    }
    let mut out = String::with_capacity(20);
    for (n, width, separator) in [
        (year as u32, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (t.hour(), 2, ':'),
        (t.minute(), 2, ':'),
        (t.second(), 2, 'Z'),
    ] {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + ((n / 10u32.pow(i)) % 10) as u8));
        }
        out.push(separator);
    }
    out
}

/// Evaluates one rule.
pub fn evaluate(rule: &CompiledRule, ctx: &RuleContext<'_>) -> RuleResult {
    match &rule.kind {
        RuleKind::Evidence(r) => evidence(r, ctx),
        RuleKind::Metric(r) => metric(&rule.name, r, ctx),
        RuleKind::Approval(r) => approval(r, ctx),
        RuleKind::Window(r) => window(r, ctx),
        RuleKind::Expression(r) => expression(r, ctx),
    }
}

/// An evidence rule: the combined status of its source's observations at `now`.
fn evidence(rule: &EvidenceRule, ctx: &RuleContext<'_>) -> RuleResult {
    let EvidenceRule {
        source,
        max_age,
        max_age_text,
        on_missing,
        on_failed,
        on_stale,
        on_partial,
        on_pending,
        soak,
    } = rule;
    let items: Vec<&EvidenceItem> = ctx
        .evidence
        .iter()
        .filter(|i| &i.source == source)
        .collect();
    let statuses: Vec<EvidenceStatus> = items
        .iter()
        .map(|i| status_at(i, *max_age, ctx.now))
        .collect();
    let status = combine(&statuses);
    let worst = items
        .iter()
        .zip(&statuses)
        // Ties broken by the words too, so the order items arrive in never shows.
        .max_by_key(|(i, s)| {
            (
                severity(**s),
                i.observed_at,
                i.summary.as_deref(),
                severity(i.status),
                i.connector.as_deref(),
            )
        })
        .map(|(i, _)| *i);
    let latest = items.iter().filter_map(|i| i.observed_at).max();
    let targets = Targets::sum(items.iter().filter_map(|i| i.targets));
    let detail = match (status, worst.and_then(|i| i.summary.as_deref())) {
        (EvidenceStatus::Complete, _) | (_, None) => String::new(),
        (_, Some(s)) => [": ", s].concat(),
    };
    let (outcome, message) = match status {
        // The summary of passing evidence is in the passport's evidence list already.
        EvidenceStatus::Complete => (
            Outcome::Pass,
            [source.as_str(), " is Complete", &observed_phrase(latest)].concat(),
        ),
        EvidenceStatus::Partial => (
            *on_partial,
            match targets {
                Some(t) => format!(
                    "{source} is Partial: {}/{} targets pass{detail}",
                    t.passing, t.total
                ),
                None => format!("{source} is Partial{detail}"),
            },
        ),
        EvidenceStatus::Pending => (*on_pending, format!("{source} is Pending{detail}")),
        // Recorded Stale (before the release started, say): the observation says why.
        EvidenceStatus::Stale
            if worst.is_some_and(|i| i.status == EvidenceStatus::Stale && i.summary.is_some()) =>
        {
            (*on_stale, format!("{source} is Stale{detail}"))
        }
        EvidenceStatus::Stale => (
            *on_stale,
            format!(
                "{source} is Stale: last observed {}, older than maxAge {}",
                latest.map_or_else(|| "at an unknown time".to_string(), time),
                max_age_text.as_deref().unwrap_or("-")
            ),
        ),
        EvidenceStatus::Missing if items.is_empty() => {
            (*on_missing, format!("{source} is Missing: never observed"))
        }
        EvidenceStatus::Missing => (*on_missing, format!("{source} is Missing{detail}")),
        EvidenceStatus::Failed => (*on_failed, format!("{source} is Failed{detail}")),
    };
    let key = ["source:", source.as_str()].concat();
    let previous = ctx
        .previous
        .iter()
        .find(|e| &e.source == source && e.query.is_none());
    let recorded = items.iter().filter_map(|i| i.passing_since).max();
    let passing_since = ctx.passing_since(status, previous, recorded, latest);
    let soaked = soak
        .as_ref()
        .and_then(|s| soaking(s, passing_since, ctx.now));
    let (outcome, message) = match &soaked {
        Some((words, _)) => (Outcome::Hold, format!("{source} is {words}")),
        None => (outcome, message),
    };
    let mut result = RuleResult::new(outcome_effect(outcome), message);
    result.evidence.push(EvidenceRead::Source(source.clone()));
    result.next_change = items
        .iter()
        .filter_map(|i| stale_at(i, *max_age, ctx.now))
        .chain(soaked.map(|(_, ends)| ends))
        .min();
    result.observed.push((
        key,
        EvidenceEntry {
            source: source.clone(),
            status,
            observed_at: latest,
            connector: worst.and_then(|i| i.connector.clone()),
            summary: worst.and_then(|i| i.summary.clone()),
            query: None,
            value: None,
            targets,
            passing_since,
            comparison: None,
        },
    ));
    result
}

/// Why a metric rule whose query uses `$labels` holds for a release without metric labels.
pub const UNSCOPED: &str = "cannot be scoped: the query uses $labels and the Release sets no spec.scope.metricLabels, so it is not sent (a query without them would read every service's series)";

/// A metric rule: the latest value of its (scoped) query against the threshold.
fn metric(name: &str, rule: &MetricRule, ctx: &RuleContext<'_>) -> RuleResult {
    let (op, threshold) = match &rule.judge {
        MetricJudge::Threshold { op, threshold } => (*op, *threshold),
        MetricJudge::Compare(c) => return compared(name, rule, c, ctx),
    };
    let MetricRule {
        query,
        max_age,
        soak,
        lookback,
        ..
    } = rule;
    let matchers = ctx
        .matchers
        .get_or_init(|| labels::matchers(&ctx.release.spec.scope.metric_labels));
    let expanded = match matchers {
        Ok(m) => match query.recorded(m) {
            Some(q) => q,
            None => {
                let mut r = RuleResult::new(Effect::Hold, UNSCOPED.to_string());
                r.evidence.push(EvidenceRead::Metric(name.to_string()));
                return r;
            }
        },
        Err(e) => {
            let mut r = RuleResult::new(Effect::Block, format!("cannot build the query: {e}"));
            r.release_error = Some(e.to_string());
            return r;
        }
    };
    let item = ctx
        .evidence
        .iter()
        .filter(|i| i.query.as_deref() == Some(expanded.as_str()))
        .max_by_key(|i| i.observed_at);
    let value = item.and_then(|i| i.value).filter(|v| v.is_finite());
    let observed = item.map(|i| status_at(i, *max_age, ctx.now));
    // Until the query's lookback has passed since the start, its answer is partly about the
    // previous version.
    let window_ends = ctx
        .started_at
        .map(|s| s + *lookback)
        .filter(|ends| *lookback > chrono::Duration::zero() && ctx.now < *ends);
    let (status, outcome, message) = judge(rule, (op, threshold), item, observed, value, &expanded);
    // Until the lookback has passed, an answer that would pass is only about the previous
    // version in part: it waits. One that fails or holds keeps its effect (never towards Allow).
    let (status, outcome, message) = match window_ends {
        Some(_) if outcome == Outcome::Pass => (
            EvidenceStatus::Pending,
            Outcome::Hold,
            format!(
                "metric window not yet elapsed: {} of {} since the release started, for {expanded}",
                crate::api::duration::format_duration(
                    (ctx.now - ctx.started_at.unwrap_or(ctx.now)).max(chrono::Duration::zero())
                ),
                crate::api::duration::format_duration(*lookback)
            ),
        ),
        _ => (status, outcome, message),
    };
    let previous = ctx
        .previous
        .iter()
        .find(|e| e.query.as_deref() == Some(expanded.as_str()));
    let passing_since = ctx.passing_since(
        status,
        previous,
        item.and_then(|i| i.passing_since),
        item.and_then(|i| i.observed_at),
    );
    let soaked = soak
        .as_ref()
        .and_then(|s| soaking(s, passing_since, ctx.now));
    let (outcome, message) = match &soaked {
        Some((words, _)) => (Outcome::Hold, format!("{message}; {words}")),
        None => (outcome, message),
    };
    let mut result = RuleResult::new(outcome_effect(outcome), message);
    result.evidence.push(EvidenceRead::Metric(name.to_string()));
    result.next_change = [
        item.and_then(|i| stale_at(i, *max_age, ctx.now)),
        window_ends,
        soaked.map(|(_, ends)| ends),
    ]
    .into_iter()
    .flatten()
    .min();
    result.observed.push((
        ["query:", expanded.as_str()].concat(),
        EvidenceEntry {
            source: name.to_string(),
            status,
            observed_at: item.and_then(|i| i.observed_at),
            connector: item.and_then(|i| i.connector.clone()),
            summary: item.and_then(|i| i.summary.clone()),
            query: Some(expanded),
            value,
            targets: None,
            passing_since,
            comparison: None,
        },
    ));
    result
}

/// What a metric rule's latest answer says, before the lookback window and soak: the evidence
/// status, the rule's outcome and why.
fn judge(
    rule: &MetricRule,
    (op, threshold): (crate::api::policy::Comparison, f64),
    item: Option<&EvidenceItem>,
    observed: Option<EvidenceStatus>,
    value: Option<f64>,
    expanded: &str,
) -> (EvidenceStatus, Outcome, String) {
    let MetricRule {
        unit,
        on_no_data,
        on_failed,
        ..
    } = rule;
    match (observed, value) {
        (Some(EvidenceStatus::Stale), _)
            if item.is_some_and(|i| i.status == EvidenceStatus::Stale && i.summary.is_some()) =>
        {
            (
                EvidenceStatus::Stale,
                *on_no_data,
                format!(
                    "last value is Stale: {}",
                    item.and_then(|i| i.summary.as_deref()).unwrap_or_default()
                ),
            )
        }
        (None, _) => (
            EvidenceStatus::Missing,
            *on_no_data,
            format!("no data for {expanded}"),
        ),
        (Some(EvidenceStatus::Pending), _) => (
            EvidenceStatus::Pending,
            Outcome::Hold,
            format!("metric window not yet elapsed for {expanded}"),
        ),
        (Some(EvidenceStatus::Stale), _) => (
            EvidenceStatus::Stale,
            *on_no_data,
            format!(
                "last value {} is older than maxAge",
                item.and_then(|i| i.observed_at)
                    .map_or_else(|| "at an unknown time".into(), time)
            ),
        ),
        (Some(EvidenceStatus::Failed), None) => (
            EvidenceStatus::Missing,
            *on_no_data,
            format!(
                "query failed: {}",
                item.and_then(|i| i.summary.as_deref())
                    .unwrap_or("no detail")
            ),
        ),
        (Some(EvidenceStatus::Missing), None)
            if item.and_then(|i| i.summary.as_ref()).is_some() =>
        {
            (
                EvidenceStatus::Missing,
                *on_no_data,
                format!(
                    "no data for {expanded}: {}",
                    item.and_then(|i| i.summary.as_deref()).unwrap_or_default()
                ),
            )
        }
        (Some(_), None) => (
            EvidenceStatus::Missing,
            *on_no_data,
            format!("no data (empty or NaN) for {expanded}"),
        ),
        (Some(_), Some(v)) if op.holds(v, threshold) => (
            EvidenceStatus::Complete,
            Outcome::Pass,
            op.words(v, threshold, *unit),
        ),
        (Some(_), Some(v)) => (
            EvidenceStatus::Failed,
            *on_failed,
            op.words(v, threshold, *unit),
        ),
    }
}

/// What a passport keeps of a comparison: never the samples.
fn summary_of(
    judged: &super::compare::Judged,
    c: &CompareRule,
    rule: &MetricRule,
    baseline: String,
) -> Option<ComparisonSummary> {
    Some(ComparisonSummary {
        release_median: judged.release_median?,
        baseline_median: judged.baseline_median?,
        limit: judged.limit?,
        worse: c.worse(),
        p_value: judged.p,
        release_samples: u32::try_from(judged.samples.0).unwrap_or(u32::MAX),
        baseline_samples: u32::try_from(judged.samples.1).unwrap_or(u32::MAX),
        baseline,
        unit: rule.unit,
    })
}

/// Why a comparison could not be asked, as the rule's result.
fn unasked(name: &str, rule: &MetricRule, why: Unasked) -> RuleResult {
    let (effect, message, release_error) = match why {
        Unasked::Unscoped => (Effect::Hold, UNSCOPED.to_string(), None),
        Unasked::BadLabel(key) => (
            Effect::Block,
            format!(
                "cannot build the query: spec.scope.metricLabels key {key:?} is not a label name"
            ),
            Some(format!(
                "spec.scope.metricLabels: {key:?} is not a label name"
            )),
        ),
        Unasked::NoPreviousRelease => (
            outcome_effect(rule.on_no_data),
            "no previous release (spec.previous) to compare with".to_string(),
            None,
        ),
        Unasked::NoStart => (
            Effect::Hold,
            "the release's start is not known, so there is no window to compare".to_string(),
            None,
        ),
    };
    let mut r = RuleResult::new(effect, message);
    r.evidence.push(EvidenceRead::Metric(name.to_string()));
    r.release_error = release_error;
    r
}

/// A metric rule with `compare`: the release's samples against its baseline's, once the
/// release's window has passed and samples from after it have arrived.
fn compared(name: &str, rule: &MetricRule, c: &CompareRule, ctx: &RuleContext<'_>) -> RuleResult {
    let release = ctx.release;
    let hold = |effect: Effect, why: String| {
        let mut r = RuleResult::new(effect, why);
        r.evidence.push(EvidenceRead::Metric(name.to_string()));
        r
    };
    let questions = match c.questions(&rule.query, release, ctx.previous_version) {
        Ok(q) => q,
        Err(why) => return unasked(name, rule, why),
    };
    let (window, baseline_window) = questions.windows;
    let asked = questions.release.to_string();
    let latest = |q: &str| {
        ctx.evidence
            .iter()
            .filter(|i| i.query.as_deref() == Some(q))
            .max_by_key(|i| i.observed_at)
    };
    let (mine, theirs) = (latest(&asked), latest(&questions.baseline.to_string()));
    let ends = window.to();
    let entry = |status, summary: Option<String>, value| EvidenceEntry {
        source: name.to_string(),
        status,
        observed_at: mine.and_then(|i| i.observed_at),
        connector: mine.and_then(|i| i.connector.clone()),
        summary,
        query: Some(asked.clone()),
        value,
        targets: None,
        passing_since: None,
        comparison: None,
    };
    // A passport read back (the simulator) holds what the comparison found, not the samples.
    let recorded = mine
        .filter(|i| i.samples.is_empty())
        .and_then(|i| i.comparison.as_ref());
    // Read back under this rule's name, over another window: nothing to judge this one by.
    let elsewhere = ctx
        .evidence
        .iter()
        .find(|i| mine.is_none() && i.source == name && i.comparison.is_some());
    if let Some(other) = elsewhere {
        return hold(
            outcome_effect(rule.on_no_data),
            format!(
                "the passport recorded this comparison as {}, not as {asked}: a replay cannot judge another window",
                other.query.as_deref().unwrap_or("another question")
            ),
        );
    }
    // The window is over only once samples from after it have been read.
    let complete =
        |i: Option<&EvidenceItem>| i.and_then(|i| i.observed_at).is_some_and(|at| at >= ends);
    if ctx.now < ends || (recorded.is_none() && (!complete(mine) || !complete(theirs))) {
        let so_far = (ctx.now.min(ends) - window.from).max(chrono::Duration::zero());
        let why = if ctx.now < ends {
            format!(
                "comparison window not yet elapsed: {} of {} since {}",
                crate::api::duration::format_duration(so_far),
                crate::api::duration::format_duration(c.window),
                time(window.from)
            )
        } else {
            format!("waiting for the samples up to {}", time(ends))
        };
        let mut r = hold(Effect::Hold, why.clone());
        r.next_change = (ctx.now < ends).then_some(ends);
        r.observed.push((
            ["query:", asked.as_str()].concat(),
            entry(EvidenceStatus::Pending, Some(why), None),
        ));
        return r;
    }
    // A recorded comparison's status is its verdict, not a failed read.
    let failed = [mine, theirs]
        .into_iter()
        .flatten()
        .filter(|_| recorded.is_none())
        .find(|i| i.status == EvidenceStatus::Failed);
    if let Some(f) = failed {
        let why = format!(
            "query failed: {}",
            f.summary.as_deref().unwrap_or("no detail")
        );
        let mut r = hold(outcome_effect(rule.on_no_data), why.clone());
        r.observed.push((
            ["query:", asked.as_str()].concat(),
            entry(EvidenceStatus::Missing, Some(why), None),
        ));
        return r;
    }
    fn samples(i: Option<&EvidenceItem>) -> &[f64] {
        i.map_or(&[], |i| i.samples.as_slice())
    }
    // What the baseline is ("the 30m before"), and how the trace puts it ("in the 30m before").
    let (baseline_is, baseline_words) = match c.baseline {
        crate::api::policy::Baseline::Before => {
            let is = format!(
                "the {} before",
                crate::api::duration::format_duration(baseline_window.length)
            );
            (is.clone(), format!("in {is}"))
        }
        crate::api::policy::Baseline::PreviousVersion => {
            let is = format!(
                "{} at the same time",
                ctx.previous_version.unwrap_or("the previous version")
            );
            (is.clone(), format!("for {is}"))
        }
    };
    let since = format!("since {}", time(window.from));
    let judged = match recorded {
        Some(found) => super::compare::rejudge(found, &c.comparison, &since),
        None => super::compare::judge(
            samples(mine),
            samples(theirs),
            &c.comparison,
            rule.unit,
            &since,
            &baseline_words,
        ),
    };
    let (status, outcome) = match judged.verdict {
        Verdict::NotWorse => (EvidenceStatus::Complete, Outcome::Pass),
        Verdict::Worse => (EvidenceStatus::Failed, rule.on_failed),
        Verdict::TooFewSamples => (EvidenceStatus::Missing, rule.on_no_data),
    };
    let mut r = hold(outcome_effect(outcome), judged.words.clone());
    let comparison = summary_of(&judged, c, rule, baseline_is);
    r.observed.push((
        ["query:", asked.as_str()].concat(),
        EvidenceEntry {
            comparison,
            ..entry(
                status,
                Some(judged.summary(rule.unit)),
                judged.release_median,
            )
        },
    ));
    r
}

/// A window rule: inside any freeze window, or outside all of them until the next opens.
fn window(rule: &WindowRule, ctx: &RuleContext<'_>) -> RuleResult {
    let WindowRule {
        tz,
        freezes,
        on_inside,
    } = rule;
    let mut inside: Vec<(String, DateTime<Utc>)> = Vec::new();
    let mut next: Option<DateTime<Utc>> = None;
    for f in freezes {
        match window::state(f, *tz, ctx.now) {
            WindowState::Inside { until } => {
                inside.push((f.name.clone(), until));
                next = earliest(next, Some(until));
            }
            WindowState::Outside { opens } => next = earliest(next, opens),
        }
    }
    let mut result = if inside.is_empty() {
        RuleResult::new(
            Effect::Pass,
            match next {
                Some(t) => {
                    format!("outside freeze windows ({tz}); the next opens {}", time(t))
                }
                None => format!("outside freeze windows ({tz})"),
            },
        )
    } else {
        let names = inside
            .iter()
            .map(|(n, until)| format!("{n} until {}", time(*until)))
            .collect::<Vec<_>>()
            .join(", ");
        RuleResult::new(
            outcome_effect(*on_inside),
            format!("inside freeze window {names} ({tz})"),
        )
    };
    result.next_change = next;
    result
}

/// An expression rule: the CEL program over what it reads.
fn expression(rule: &ExpressionRule, ctx: &RuleContext<'_>) -> RuleResult {
    let ExpressionRule {
        source,
        program,
        reads,
        on_false,
        message,
    } = rule;
    let mut result = match run_cel(program, reads, ctx) {
        Ok(cel::Value::Bool(true)) => RuleResult::new(Effect::Pass, format!("{source} is true")),
        Ok(cel::Value::Bool(false)) => RuleResult::new(
            outcome_effect(*on_false),
            message
                .clone()
                .unwrap_or_else(|| format!("{source} is false")),
        ),
        Ok(other) => RuleResult::new(
            Effect::Hold,
            format!("{source} returned {}, not a bool", cel_type(&other)),
        ),
        Err(e) => RuleResult::new(
            Effect::Hold,
            format!("{source} could not be evaluated: {e}"),
        ),
    };
    // What the expression names is the passport's evidence too: "journeys" read by a CEL rule
    // is shown (and counted complete or not) like evidence an evidence rule reads.
    for key in reads.evidence.iter().flatten() {
        let items: Vec<&EvidenceItem> = ctx.evidence.iter().filter(|i| &i.source == key).collect();
        if items.is_empty() {
            continue;
        }
        let statuses: Vec<EvidenceStatus> =
            items.iter().map(|i| status_at(i, None, ctx.now)).collect();
        let worst = items
            .iter()
            .zip(&statuses)
            .max_by_key(|(i, s)| (severity(**s), i.observed_at, i.summary.as_deref()))
            .map(|(i, _)| *i);
        result.observed.push((
            ["source:", key.as_str()].concat(),
            EvidenceEntry {
                source: key.clone(),
                status: combine(&statuses),
                observed_at: items.iter().filter_map(|i| i.observed_at).max(),
                connector: worst.and_then(|i| i.connector.clone()),
                summary: worst.and_then(|i| i.summary.clone()),
                query: None,
                value: None,
                targets: Targets::sum(items.iter().filter_map(|i| i.targets)),
                passing_since: None,
                comparison: None,
            },
        ));
    }
    let read: Vec<String> = match &reads.evidence {
        Some(keys) => keys.clone(),
        None => {
            let mut all: Vec<String> = ctx.evidence.iter().map(|i| i.source.clone()).collect();
            all.sort();
            all.dedup();
            all
        }
    };
    result.evidence = read.into_iter().map(EvidenceRead::Source).collect();
    result
}

/// The distinct approvers an approval rule counts (sorted): approvals from its groups, the
/// author's left out when it says so. The rule and the passport's approvals summary both count
/// with this, so the two cannot disagree.
pub fn counted_approvers<'a>(
    rule: &crate::api::policy::ApprovalRule,
    approvals: &[&'a Approval],
    author: Option<&str>,
) -> Vec<&'a str> {
    let mut approvers: Vec<&str> = approvals
        .iter()
        .filter(|a| a.spec.decision == ApprovalDecision::Approve)
        .filter(|a| !(rule.exclude_author && Some(a.spec.approver.as_str()) == author))
        .filter(|a| {
            rule.from_groups.is_empty()
                || a.spec.groups.iter().any(|g| rule.from_groups.contains(g))
        })
        .map(|a| a.spec.approver.as_str())
        .collect();
    approvers.sort_unstable();
    approvers.dedup();
    approvers
}

/// An approval rule: enough approvals from the right groups, none rejecting.
fn approval(rule: &crate::api::policy::ApprovalRule, ctx: &RuleContext<'_>) -> RuleResult {
    let author = ctx
        .release
        .spec
        .revision
        .as_ref()
        .and_then(|r| r.author.as_deref());
    let rejects: Vec<&Approval> = ctx
        .approvals
        .iter()
        .copied()
        .filter(|a| a.spec.decision == ApprovalDecision::Reject)
        .collect();
    if !rejects.is_empty() {
        let who = rejects
            .iter()
            .map(|a| match &a.spec.comment {
                Some(c) => format!("{} ({c})", a.spec.approver),
                None => a.spec.approver.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        return RuleResult::new(Effect::Block, format!("rejected by {who}"));
    }
    let approvers = counted_approvers(rule, ctx.approvals, author);
    let count = approvers.len() as u32;
    let groups = if rule.from_groups.is_empty() {
        String::new()
    } else {
        format!(" from {}", rule.from_groups.join(" or "))
    };
    let author_note = if rule.exclude_author {
        author
            .map(|a| format!(", author {a} excluded"))
            .unwrap_or_default()
    } else {
        String::new()
    };
    if count >= rule.min {
        // "2 of 1 approvals" read as a miscount when more came than were needed.
        RuleResult::new(
            Effect::Pass,
            format!(
                "{}{groups} ({}), {} required{author_note}",
                crate::text::count(approvers.len(), "approval", "approvals"),
                approvers.join(", "),
                rule.min
            ),
        )
    } else {
        RuleResult::new(
            Effect::Hold,
            format!("{count} of {} approvals{groups}{author_note}", rule.min),
        )
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn observed_phrase(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| [" (observed ", &time(t), ")"].concat())
        .unwrap_or_default()
}

/// A value in cel's own model, borrowing its strings from the decision's inputs for `'v`: bound
/// as it is built, with no copy into an intermediate `cel::Value` and none back out.
type CelVal<'v> = Box<dyn cel::common::value::Val + 'v>;

fn cel_map<'v>(entries: impl IntoIterator<Item = (&'v str, CelVal<'v>)>) -> CelVal<'v> {
    let map: HashMap<CelMapKey<'v>, CelVal<'v>> = entries
        .into_iter()
        .map(|(k, v)| (CelMapKey::from(k), v))
        .collect();
    Box::new(CelMap::from(map))
}

fn cel_str(s: &str) -> CelVal<'_> {
    Box::new(CelString::from(s))
}

fn cel_int(i: i64) -> CelVal<'static> {
    Box::new(CelInt::from(i))
}

fn cel_opt<'v, T>(v: Option<T>, val: impl FnOnce(T) -> CelVal<'v>) -> CelVal<'v> {
    v.map_or_else(|| Box::new(CelNull) as CelVal<'v>, val)
}

/// The CEL variables an expression reads, built directly (no serde round trip) and only as far
/// as the expression looks.
fn cel_variables<'v>(ctx: &RuleContext<'v>, reads: &CelReads) -> Vec<(&'static str, CelVal<'v>)> {
    let wanted = |source: &str| {
        reads
            .evidence
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == source))
    };
    let mut by_source: BTreeMap<&'v str, Vec<&'v EvidenceItem>> = BTreeMap::new();
    for item in ctx.evidence.iter().filter(|i| wanted(&i.source)) {
        by_source
            .entry(item.source.as_str())
            .or_default()
            .push(item);
    }
    // Only the fields the expression reads are built (all of them when it cannot tell).
    let field = |name: &str| {
        reads
            .fields
            .as_ref()
            .is_none_or(|f| f.iter().any(|k| k == name))
    };
    let evidence = cel_map(by_source.into_iter().map(|(source, items)| {
        let mut entry: Vec<(&'v str, CelVal<'v>)> = Vec::with_capacity(5);
        if field("status") {
            let statuses: Vec<EvidenceStatus> = items.iter().map(|i| i.status).collect();
            entry.push(("status", cel_str(combine(&statuses).as_str())));
        }
        if field("ageSeconds") {
            let latest = items.iter().filter_map(|i| i.observed_at).max();
            let age = latest.map(|t| (ctx.now - t).num_seconds());
            entry.push(("ageSeconds", cel_opt(age, cel_int)));
        }
        if field("value") {
            let value = items.iter().filter_map(|i| i.value).find(|v| v.is_finite());
            entry.push((
                "value",
                cel_opt(value, |v| Box::new(CelDouble::from(v)) as CelVal<'v>),
            ));
        }
        if field("total") || field("passing") {
            let targets = Targets::sum(items.iter().filter_map(|i| i.targets)).unwrap_or_default();
            entry.push(("total", cel_int(i64::from(targets.total))));
            entry.push(("passing", cel_int(i64::from(targets.passing))));
        }
        (source, cel_map(entry))
    }));
    let mut variables = vec![("evidence", evidence)];
    if reads.release {
        let release = ctx.release;
        let meta = &release.metadata;
        let labels = cel_map(
            meta.labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), cel_str(v))),
        );
        variables.push((
            "release",
            cel_map([
                ("name", cel_str(meta.name.as_deref().unwrap_or(""))),
                ("namespace", cel_str(namespace_of(meta))),
                ("service", cel_str(&release.spec.service)),
                ("version", cel_str(&release.spec.version)),
                ("environment", cel_str(&release.spec.environment)),
                ("labels", labels),
            ]),
        ));
    }
    if reads.approvals {
        let count = |d: ApprovalDecision| {
            ctx.approvals
                .iter()
                .filter(|a| a.spec.decision == d)
                .count() as i64
        };
        variables.push((
            "approvals",
            cel_map([
                ("approved", cel_int(count(ApprovalDecision::Approve))),
                ("rejected", cel_int(count(ApprovalDecision::Reject))),
            ]),
        ));
    }
    variables
}

/// The standard CEL functions, declared once per process rather than once per evaluation.
fn cel_env() -> Arc<cel::Env> {
    static ENV: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
    Arc::clone(ENV.get_or_init(|| Arc::new(cel::Env::stdlib())))
}

fn run_cel(
    program: &cel::Program,
    reads: &CelReads,
    ctx: &RuleContext<'_>,
) -> Result<cel::Value, cel::ExecutionError> {
    let mut context = cel::Context::with_env(cel_env());
    for (name, value) in cel_variables(ctx, reads) {
        context.add_variable_as_val(name, value);
    }
    program.execute(&context)
}

fn cel_type(v: &cel::Value) -> &'static str {
    match v {
        cel::Value::List(_) => "a list",
        cel::Value::Map(_) => "a map",
        cel::Value::Int(_) | cel::Value::UInt(_) => "an int",
        cel::Value::Float(_) => "a double",
        cel::Value::String(_) => "a string",
        cel::Value::Null => "null",
        _ => "a non-bool value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_matches_chrono() {
        for text in [
            "2026-11-25T14:00:00Z",
            "0999-01-02T03:04:05Z",
            "2026-12-31T23:59:59Z",
        ] {
            let t = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(time(t), t.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
    }
}
