//! Post-deploy watch: once a release is observed promoted — allowed, and its workloads running
//! healthy at its version — each Enforce policy's `postDeployWatch` rules keep being evaluated
//! for the watch's duration. A blocking watch rule fails the watch (for good) and recommends
//! rollback. It never changes the decision: the release is already out.

use chrono::{DateTime, Utc};

use super::compile::CompiledPolicy;
use super::rules::{self, RuleContext, time};
use crate::api::passport::{Effect, EvidenceEntry, WatchPhase, WatchStatus};
use crate::api::{Decision, EvidenceStatus, PolicyMode};

/// The evidence source whose Complete status, after an Allow, means "observed promoted".
pub const PROMOTION_SOURCE: &str = "workload-health";

/// What the watch concluded.
#[derive(Clone, Debug, PartialEq)]
pub struct Watched {
    pub status: Option<WatchStatus>,
    /// When the watch next changes by itself (its end).
    pub next_change: Option<DateTime<Utc>>,
    pub rollback_recommended: bool,
}

pub fn evaluate(
    selected: &[&CompiledPolicy],
    ctx: &RuleContext<'_>,
    decision: Decision,
    evidence: &[EvidenceEntry],
    previous: Option<&WatchStatus>,
    now: DateTime<Utc>,
) -> Watched {
    let watches: Vec<(&CompiledPolicy, &super::compile::CompiledWatch)> = selected
        .iter()
        .filter(|p| p.mode == PolicyMode::Enforce && p.is_valid())
        .filter_map(|p| p.watch.as_ref().map(|w| (*p, w)))
        .collect();
    let Some(longest) = watches.iter().map(|(_, w)| w).max_by_key(|w| w.duration) else {
        return Watched {
            status: None,
            next_change: None,
            rollback_recommended: false,
        };
    };
    let rules: Vec<String> = watches
        .iter()
        .flat_map(|(p, w)| {
            w.rules
                .iter()
                .map(move |r| format!("{}/{}", p.name, r.name))
        })
        .collect();
    let promoted = decision == Decision::Allow
        && evidence
            .iter()
            .any(|e| e.source == PROMOTION_SOURCE && e.status == EvidenceStatus::Complete);
    let started_at = previous
        .and_then(|w| w.started_at)
        .or(promoted.then_some(now));
    let status = |phase, message: String| WatchStatus {
        phase,
        duration: longest.duration_text.clone(),
        started_at,
        rules: rules.clone(),
        message: Some(message),
    };
    let Some(start) = started_at else {
        return Watched {
            status: Some(status(
                WatchPhase::NotStarted,
                format!("starts when the release is allowed and {PROMOTION_SOURCE} is Complete"),
            )),
            next_change: None,
            rollback_recommended: false,
        };
    };
    if let Some(failed) = previous.filter(|w| w.phase == WatchPhase::Failed) {
        return Watched {
            status: Some(failed.clone()),
            next_change: None,
            rollback_recommended: true,
        };
    }
    let end = start + longest.duration;
    if now >= end {
        return Watched {
            status: Some(status(
                WatchPhase::Passed,
                format!(
                    "no watch rule failed between {} and {}",
                    time(start),
                    time(end)
                ),
            )),
            next_change: None,
            rollback_recommended: false,
        };
    }
    let mut holding = Vec::new();
    for (policy, watch) in &watches {
        for rule in &watch.rules {
            let result = rules::evaluate(rule, ctx);
            match result.effect {
                Effect::Block => {
                    return Watched {
                        status: Some(status(
                            WatchPhase::Failed,
                            format!(
                                "{}/{} failed at {}: {}; rollback recommended",
                                policy.name,
                                rule.name,
                                time(now),
                                result.message
                            ),
                        )),
                        next_change: None,
                        rollback_recommended: true,
                    };
                }
                Effect::Hold => {
                    holding.push(format!("{}/{}: {}", policy.name, rule.name, result.message))
                }
                _ => {}
            }
        }
    }
    let message = if holding.is_empty() {
        format!("watching until {}; every watch rule passes", time(end))
    } else {
        format!(
            "watching until {}; waiting on {}",
            time(end),
            holding.join("; ")
        )
    };
    Watched {
        status: Some(status(WatchPhase::Watching, message)),
        next_change: Some(end),
        rollback_recommended: false,
    }
}
