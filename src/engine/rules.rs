//! Evaluates one compiled rule against one release's evidence, approvals and `now`.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::compile::{CompiledRule, RuleKind};
use super::evidence::{EvidenceItem, combine, severity, stale_at, status_at};
use super::labels;
use super::window::{self, WindowState};
use crate::api::passport::{Effect, EvidenceEntry, Targets};
use crate::api::{Approval, ApprovalDecision, EvidenceStatus, Outcome, Release};

/// What one rule concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub effect: Effect,
    pub message: String,
    /// Evidence sources read, for the trace.
    pub evidence: Vec<String>,
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
    cel_variables: OnceCell<Result<Vec<(&'static str, cel::Value)>, String>>,
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
            cel_variables: OnceCell::new(),
        }
    }
}

pub fn outcome_effect(o: Outcome) -> Effect {
    match o {
        Outcome::Pass => Effect::Pass,
        Outcome::Hold => Effect::Hold,
        Outcome::Block => Effect::Block,
    }
}

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Evaluates one rule.
pub fn evaluate(rule: &CompiledRule, ctx: &RuleContext<'_>) -> RuleResult {
    match &rule.kind {
        RuleKind::Evidence {
            source,
            max_age,
            max_age_text,
            on_missing,
            on_failed,
            on_stale,
            on_partial,
            on_pending,
        } => {
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
                .max_by_key(|(i, s)| (severity(**s), i.observed_at))
                .map(|(i, _)| *i);
            let latest = items.iter().filter_map(|i| i.observed_at).max();
            let targets =
                items
                    .iter()
                    .filter_map(|i| i.targets)
                    .fold(None, |acc: Option<Targets>, t| {
                        let a = acc.unwrap_or_default();
                        Some(Targets {
                            total: a.total + t.total,
                            passing: a.passing + t.passing,
                        })
                    });
            let detail = worst
                .and_then(|i| i.summary.as_deref())
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            let (outcome, message) = match status {
                EvidenceStatus::Complete => (
                    Outcome::Pass,
                    format!("{source} is Complete{}{detail}", observed_phrase(latest)),
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
            let mut result = RuleResult::new(outcome_effect(outcome), message);
            result.evidence.push(source.clone());
            result.next_change = items
                .iter()
                .filter_map(|i| stale_at(i, *max_age, ctx.now))
                .min();
            result.observed.push((
                format!("source:{source}"),
                EvidenceEntry {
                    source: source.clone(),
                    status,
                    observed_at: latest,
                    connector: worst.and_then(|i| i.connector.clone()),
                    summary: worst.and_then(|i| i.summary.clone()),
                    query: None,
                    value: None,
                    targets,
                },
            ));
            result
        }
        RuleKind::Metric {
            query,
            op,
            threshold,
            max_age,
            on_no_data,
            on_failed,
        } => {
            let expanded = match labels::expand(query, &ctx.release.spec.scope.metric_labels) {
                Ok(q) => q,
                Err(e) => {
                    let mut r =
                        RuleResult::new(Effect::Block, format!("cannot build the query: {e}"));
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
            let (status, outcome, message) = match (observed, value) {
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
                (Some(_), None) => (
                    EvidenceStatus::Missing,
                    *on_no_data,
                    format!("no data (empty or NaN) for {expanded}"),
                ),
                (Some(_), Some(v)) if op.holds(v, *threshold) => (
                    EvidenceStatus::Complete,
                    Outcome::Pass,
                    format!("value {v} {} {threshold} holds", op.symbol()),
                ),
                (Some(_), Some(v)) => (
                    EvidenceStatus::Failed,
                    *on_failed,
                    format!("value {v} breaks {} {threshold}", op.symbol()),
                ),
            };
            let mut result = RuleResult::new(outcome_effect(outcome), message);
            result.evidence.push(format!("metric:{}", rule.name));
            result.next_change = item.and_then(|i| stale_at(i, *max_age, ctx.now));
            result.observed.push((
                format!("query:{expanded}"),
                EvidenceEntry {
                    source: rule.name.clone(),
                    status,
                    observed_at: item.and_then(|i| i.observed_at),
                    connector: item.and_then(|i| i.connector.clone()),
                    summary: item.and_then(|i| i.summary.clone()),
                    query: Some(expanded),
                    value,
                    targets: None,
                },
            ));
            result
        }
        RuleKind::Approval(rule) => approval(rule, ctx),
        RuleKind::Window {
            tz,
            freezes,
            on_inside,
        } => {
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
        RuleKind::Expression {
            source,
            program,
            on_false,
            message,
        } => {
            let mut result = match run_cel(program, ctx) {
                Ok(cel::Value::Bool(true)) => {
                    RuleResult::new(Effect::Pass, format!("{source} is true"))
                }
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
            result.evidence = referenced_sources(source, ctx.evidence);
            result
        }
    }
}

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
    let mut approvers: Vec<&str> = ctx
        .approvals
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
        RuleResult::new(
            Effect::Pass,
            format!(
                "{count} of {} approvals{groups} ({}){author_note}",
                rule.min,
                approvers.join(", ")
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
    at.map(|t| format!(" (observed {})", time(t)))
        .unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CelEvidence {
    status: &'static str,
    age_seconds: Option<i64>,
    value: Option<f64>,
    total: u32,
    passing: u32,
}

#[derive(Serialize)]
struct CelRelease<'a> {
    name: &'a str,
    namespace: &'a str,
    service: &'a str,
    version: &'a str,
    environment: &'a str,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct CelApprovals {
    approved: u32,
    rejected: u32,
}

fn cel_variables(ctx: &RuleContext<'_>) -> Result<Vec<(&'static str, cel::Value)>, String> {
    let mut by_source: BTreeMap<&str, Vec<&EvidenceItem>> = BTreeMap::new();
    for item in ctx.evidence {
        by_source
            .entry(item.source.as_str())
            .or_default()
            .push(item);
    }
    let evidence: BTreeMap<&str, CelEvidence> = by_source
        .into_iter()
        .map(|(source, items)| {
            let statuses: Vec<EvidenceStatus> = items.iter().map(|i| i.status).collect();
            let latest = items.iter().filter_map(|i| i.observed_at).max();
            let targets =
                items
                    .iter()
                    .filter_map(|i| i.targets)
                    .fold(Targets::default(), |a, t| Targets {
                        total: a.total + t.total,
                        passing: a.passing + t.passing,
                    });
            let value = items.iter().filter_map(|i| i.value).find(|v| v.is_finite());
            (
                source,
                CelEvidence {
                    status: combine(&statuses).as_str(),
                    age_seconds: latest.map(|t| (ctx.now - t).num_seconds()),
                    value,
                    total: targets.total,
                    passing: targets.passing,
                },
            )
        })
        .collect();
    let meta = &ctx.release.metadata;
    let release = CelRelease {
        name: meta.name.as_deref().unwrap_or(""),
        namespace: meta.namespace.as_deref().unwrap_or("default"),
        service: &ctx.release.spec.service,
        version: &ctx.release.spec.version,
        environment: &ctx.release.spec.environment,
        labels: meta.labels.clone().unwrap_or_default(),
    };
    let approvals = CelApprovals {
        approved: ctx
            .approvals
            .iter()
            .filter(|a| a.spec.decision == ApprovalDecision::Approve)
            .count() as u32,
        rejected: ctx
            .approvals
            .iter()
            .filter(|a| a.spec.decision == ApprovalDecision::Reject)
            .count() as u32,
    };
    let err = |e: cel::SerializationError| e.to_string();
    Ok(vec![
        ("evidence", cel::to_value(&evidence).map_err(err)?),
        ("release", cel::to_value(&release).map_err(err)?),
        ("approvals", cel::to_value(&approvals).map_err(err)?),
    ])
}

fn run_cel(program: &cel::Program, ctx: &RuleContext<'_>) -> Result<cel::Value, String> {
    let variables = ctx
        .cel_variables
        .get_or_init(|| cel_variables(ctx))
        .as_ref()
        .map_err(Clone::clone)?;
    let mut context = cel::Context::default();
    for (name, value) in variables {
        context.add_variable_from_value(*name, value.clone());
    }
    program.execute(&context).map_err(|e| e.to_string())
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

/// The evidence sources an expression mentions by name, for the trace.
fn referenced_sources(source: &str, evidence: &[EvidenceItem]) -> Vec<String> {
    let mut names: Vec<String> = evidence
        .iter()
        .map(|i| i.source.as_str())
        .filter(|name| {
            source.contains(&format!("'{name}'"))
                || source.contains(&format!("\"{name}\""))
                || source.contains(&format!("evidence.{name}"))
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}
