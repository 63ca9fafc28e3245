//! The decision engine: a pure function from a Release, the policies, approvals, waivers,
//! evidence and `now` to the passport status. No clock, client, environment or I/O in here:
//! the same inputs always produce the same status, byte for byte.

pub mod bound;
pub mod compare;
pub mod compile;
pub mod conditions;
pub mod evidence;
pub mod labels;
pub mod metric;
pub mod needs;
pub mod post_deploy;
pub mod provenance;
pub mod rules;
pub mod window;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use compile::{CompiledPolicy, FieldError, compile};
pub use evidence::EvidenceItem;

use crate::api::ConditionType;
use crate::api::passport::{
    ApprovalCount, ApprovalRecord, ApprovalsSummary, Effect, EvidenceCount, EvidenceEntry,
    RollbackStatus, RuleType, TimelineEntry, TraceEntry, WaiverEntry,
};
use crate::api::{
    Approval, ApprovalDecision, Decision, EvidenceStatus, PolicyMode, Release,
    ReleasePassportStatus, Waiver, namespace_of,
};
use compile::RuleKind;
use conditions::Desired;
use rules::{RuleContext, RuleResult};

/// The evidence source that says whether a known-good previous release can be returned to.
pub const ROLLBACK_SOURCE: &str = "rollback-ready";

/// How many decision changes a passport's timeline keeps.
pub const TIMELINE_LIMIT: usize = 20;

/// The evidence source connectors record a rollback target under: Complete when the previous
/// release's revision is still present (a retained workload revision, a GitOps history entry).
pub const ROLLBACK_REVISION_SOURCE: &str = "rollback-revision";

/// The evidence source a release's smoke and verification Jobs are recorded under.
pub const JOBS_SOURCE: &str = "jobs";

/// The release a passport's rollback would return to, as the caller found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousRelease {
    pub name: String,
    pub version: String,
    /// Its GitOps revision: the commit when known, else the version.
    pub revision: String,
    /// Its passport's decision, if it has one.
    pub decision: Option<Decision>,
}

impl PreviousRelease {
    /// What connectors must look for to confirm the rollback target exists.
    pub fn need(&self) -> needs::RollbackNeed {
        needs::RollbackNeed {
            version: self.version.clone(),
            revision: self.revision.clone(),
        }
    }
}

/// Everything one decision is made from.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub release: &'a Release,
    /// Policies of any namespace; the engine picks those that select the release.
    pub policies: &'a [Arc<CompiledPolicy>],
    /// Approvals of any release; the engine picks this release's.
    pub approvals: &'a [Approval],
    /// Waivers of any release; the engine picks those that apply.
    pub waivers: &'a [Waiver],
    /// This release's evidence.
    pub evidence: &'a [EvidenceItem],
    /// The passport's current status, so unchanged conditions keep their transition times.
    pub previous: Option<&'a ReleasePassportStatus>,
    /// The release named by `spec.previous`, if it was found.
    pub previous_release: Option<&'a PreviousRelease>,
    pub now: DateTime<Utc>,
    /// How far in the future an observation may be dated ([`provenance::DEFAULT_CLOCK_SKEW`]).
    pub clock_skew: chrono::Duration,
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub status: ReleasePassportStatus,
    /// The earliest future moment the decision can change with no new input (evidence going
    /// stale, a waiver expiring, a window opening or closing).
    pub next_review: Option<DateTime<Utc>>,
    /// Names of the policies that selected the release, sorted.
    pub selected_policies: Vec<String>,
}

/// Whether `policy` selects `release` by its selector (same namespace only).
pub fn selects(policy: &CompiledPolicy, release: &Release) -> bool {
    policy.namespace == namespace_of(&release.metadata)
        && policy.policy.spec.selector.matches(
            &release.spec.service,
            &release.spec.environment,
            release.metadata.labels.as_ref(),
        )
}

/// Whether `waiver` names `release` (same namespace, by reference or selector).
pub fn waiver_applies(waiver: &Waiver, release: &Release) -> bool {
    namespace_of(&waiver.metadata) == namespace_of(&release.metadata)
        && match (&waiver.spec.release_ref, &waiver.spec.release_selector) {
            (Some(r), _) => Some(&r.name) == release.metadata.name.as_ref(),
            (None, Some(s)) => s.matches(
                &release.spec.service,
                &release.spec.environment,
                release.metadata.labels.as_ref(),
            ),
            (None, None) => false,
        }
}

/// Whether `policy` decides `release`, as [`select`] chooses: the policy its `policyRef` names,
/// or, without one, a policy whose selector matches (same namespace only).
pub fn policy_applies(policy: &crate::api::GatePolicy, release: &Release) -> bool {
    namespace_of(&policy.metadata) == namespace_of(&release.metadata)
        && match &release.spec.policy_ref {
            Some(r) => Some(&r.name) == policy.metadata.name.as_ref(),
            None => policy.spec.selector.matches(
                &release.spec.service,
                &release.spec.environment,
                release.metadata.labels.as_ref(),
            ),
        }
}

/// Whether `approval` is about `release`.
pub fn approval_applies(approval: &Approval, release: &Release) -> bool {
    namespace_of(&approval.metadata) == namespace_of(&release.metadata)
        && Some(&approval.spec.release_ref.name) == release.metadata.name.as_ref()
}

fn waiver_names(waiver: &Waiver, policy: &str, rule: &str) -> bool {
    waiver
        .spec
        .rules
        .iter()
        .any(|written| names_rule(written, policy, rule))
}

/// Whether a waiver's rule, written `rule` or `policy/rule`, is `rule` of `policy`.
fn names_rule(written: &str, policy: &str, rule: &str) -> bool {
    written == rule || written.split_once('/') == Some((policy, rule))
}

/// The longest a waiver of `rules` may last under the policies that decide a release (the
/// shortest of their limits), or why it may not be written: a rule no policy has, or one a
/// policy does not let be waived. What `passport waive` checks before creating a Waiver.
pub fn waiver_limit(
    selected: &[&CompiledPolicy],
    rules: &[String],
) -> Result<chrono::Duration, compile::WaiverRefused> {
    let mut limit: Option<chrono::Duration> = None;
    for written in rules {
        let mut found = false;
        for policy in selected {
            for rule in policy
                .rules
                .iter()
                .filter(|r| names_rule(written, &policy.name, &r.name))
            {
                found = true;
                if let Some(why) =
                    policy
                        .waivers
                        .refuses(&policy.name, &rule.name, chrono::Duration::zero())
                {
                    return Err(why);
                }
                let max = policy.waivers.max_duration;
                limit = Some(limit.map_or(max, |l| l.min(max)));
            }
        }
        if !found {
            return Err(compile::WaiverRefused::NoSuchRule(written.clone()));
        }
    }
    Ok(limit.unwrap_or(compile::DEFAULT_WAIVER_MAX))
}

/// The policies that decide `release`, sorted by name: its `policyRef` (and the name, when that
/// policy does not exist), or every policy in its namespace whose selector matches.
pub fn select<'p>(
    release: &Release,
    policies: &'p [Arc<CompiledPolicy>],
) -> (Vec<&'p CompiledPolicy>, Option<String>) {
    let ns = namespace_of(&release.metadata);
    let mut missing = None;
    let mut selected: Vec<&CompiledPolicy> = match &release.spec.policy_ref {
        Some(r) => {
            let found: Vec<&CompiledPolicy> = policies
                .iter()
                .map(|p| &**p)
                .filter(|p| p.namespace == ns && p.name == r.name)
                .collect();
            if found.is_empty() {
                missing = Some(r.name.clone());
            }
            found
        }
        None => policies
            .iter()
            .map(|p| &**p)
            .filter(|p| selects(p, release))
            .collect(),
    };
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    (selected, missing)
}

/// Decides one release.
pub fn evaluate(input: &Input<'_>) -> Evaluation {
    let (release, now) = (input.release, input.now);
    let (selected, policy_missing) = select(release, input.policies);
    let applicable = Applicable::of(input);
    let rolled_out = input
        .evidence
        .iter()
        .filter_map(|i| i.rollout_started_at)
        .min();
    let started = release.started_at(rolled_out);
    let screened = provenance::screen(
        input.evidence,
        provenance::Start {
            at: started,
            committed: started.is_some() && started == release.committed_at(),
        },
        now,
        input.clock_skew,
    );
    let rollback_status = rollback(release, input.previous_release, &screened, now);
    let evidence = with_rollback_evidence(&selected, &screened, &rollback_status, now);
    let previous_evidence = input
        .previous
        .map(|p| p.evidence.as_slice())
        .unwrap_or_default();
    let ctx = RuleContext::new(release, &evidence, &applicable.approvals, now)
        .since(started, previous_evidence)
        .after(input.previous_release.map(|p| p.version.as_str()));
    let mut ran = run_rules(&selected, &ctx, &applicable.active);
    let (decision, reasons) = decide(&selected, &ran.trace, policy_missing.as_deref());
    let evidence = ran.evidence();
    let watched = post_deploy::evaluate(
        &selected,
        &ctx,
        decision,
        &evidence,
        input.previous.and_then(|p| p.watch.as_ref()),
        now,
    );
    ran.next_review = earliest(ran.next_review, watched.next_change);
    ran.next_review = earliest(ran.next_review, applicable.appears);
    let mut rollback_status = rollback_status;
    rollback_status.recommended = watched.rollback_recommended;
    let next_review = ran.next_review.filter(|t| *t > now);
    let stalled = stalled(&ran, policy_missing.as_deref());
    let mut status = build_status(
        input,
        &selected,
        &applicable,
        Decided {
            decision,
            reasons,
            stalled,
            evidence,
            rollback: rollback_status,
            watch: watched.status,
            started,
        },
        ran,
    );
    bound::compact(&mut status);
    Evaluation {
        status,
        next_review,
        selected_policies: selected.iter().map(|p| p.name.clone()).collect(),
    }
}

/// The approvals and waivers that are this release's and existed at the moment decided, in a
/// stable order.
struct Applicable<'a> {
    /// Oldest first.
    approvals: Vec<&'a Approval>,
    /// By name.
    waivers: Vec<&'a Waiver>,
    /// The waivers not yet expired.
    active: Vec<&'a Waiver>,
    /// When the first of this release's approvals and waivers dated after the moment decided
    /// appears: the decision is reviewed then, so a clock ahead of ours delays a count by no
    /// more than its lead.
    appears: Option<DateTime<Utc>>,
}

impl<'a> Applicable<'a> {
    fn of(input: &Input<'a>) -> Self {
        let release = input.release;
        // An Approval or Waiver created after the moment decided did not exist then: a replay
        // (`passport simulate`, `evaluate --at`, the demo's history) must not count it early.
        // One a clock ahead of ours dated later is counted at its own time ([`Self::appears`]).
        let existed = |meta: &kube::api::ObjectMeta| {
            crate::api::common::created_at(meta).is_none_or(|t| t <= input.now)
        };
        let mut approvals: Vec<&Approval> = input
            .approvals
            .iter()
            .filter(|a| approval_applies(a, release) && existed(&a.metadata))
            .collect();
        approvals.sort_by(|a, b| {
            (
                a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                &a.metadata.name,
            )
                .cmp(&(
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    &b.metadata.name,
                ))
        });
        let mut waivers: Vec<&Waiver> = input
            .waivers
            .iter()
            .filter(|w| waiver_applies(w, release) && existed(&w.metadata))
            .collect();
        waivers.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let active = waivers
            .iter()
            .copied()
            .filter(|w| input.now < w.spec.expires_at)
            .collect();
        let later = |meta: &kube::api::ObjectMeta| {
            crate::api::common::created_at(meta).filter(|t| *t > input.now)
        };
        let appears = input
            .approvals
            .iter()
            .filter(|a| approval_applies(a, release))
            .filter_map(|a| later(&a.metadata))
            .chain(
                input
                    .waivers
                    .iter()
                    .filter(|w| waiver_applies(w, release))
                    .filter_map(|w| later(&w.metadata)),
            )
            .min();
        Self {
            approvals,
            waivers,
            active,
            appears,
        }
    }
}

/// The evidence the rules read: the release's, plus rollback readiness when a policy requires
/// it (`evidence: {source: rollback-ready}`).
fn with_rollback_evidence<'e>(
    selected: &[&CompiledPolicy],
    evidence: &'e [EvidenceItem],
    rollback: &RollbackStatus,
    now: DateTime<Utc>,
) -> std::borrow::Cow<'e, [EvidenceItem]> {
    let reads_rollback = selected.iter().any(|p| {
        p.rules
            .iter()
            .any(|r| matches!(&r.kind, RuleKind::Evidence(e) if e.source == ROLLBACK_SOURCE))
    });
    if !reads_rollback {
        return std::borrow::Cow::Borrowed(evidence);
    }
    let mut items = evidence.to_vec();
    let status = if rollback.ready {
        EvidenceStatus::Complete
    } else {
        EvidenceStatus::Missing
    };
    items.push(EvidenceItem {
        observed_at: Some(now),
        summary: Some(rollback.reason.clone()),
        ..EvidenceItem::new(ROLLBACK_SOURCE, status)
    });
    std::borrow::Cow::Owned(items)
}

/// What running every rule of the selected policies found.
struct Ran {
    trace: Vec<TraceEntry>,
    /// The evidence enforced rules read, by key.
    observed: BTreeMap<String, EvidenceEntry>,
    next_review: Option<DateTime<Utc>>,
    invalid_policies: Vec<String>,
    release_errors: Vec<String>,
}

impl Ran {
    /// The passport's evidence list, sorted (taken out of what was observed).
    fn evidence(&mut self) -> Vec<EvidenceEntry> {
        let mut evidence: Vec<EvidenceEntry> =
            std::mem::take(&mut self.observed).into_values().collect();
        evidence.sort_by(|a, b| (&a.source, &a.query).cmp(&(&b.source, &b.query)));
        evidence
    }
}

/// Runs every rule of every selected policy, each waived when an active waiver names it.
fn run_rules(selected: &[&CompiledPolicy], ctx: &RuleContext<'_>, active: &[&Waiver]) -> Ran {
    let mut ran = Ran {
        trace: Vec::new(),
        observed: BTreeMap::new(),
        next_review: None,
        invalid_policies: Vec::new(),
        release_errors: Vec::new(),
    };
    for policy in selected {
        if !policy.is_valid() {
            if policy.mode == PolicyMode::Enforce {
                ran.invalid_policies.push(policy.name.clone());
            }
            ran.trace.push(TraceEntry {
                policy: policy.name.clone(),
                mode: policy.mode,
                rule: policy.name.clone(),
                type_: RuleType::Policy,
                effect: Effect::Block,
                evidence: Vec::new(),
                message: format!(
                    "policy is invalid: {}",
                    compile::describe_errors(&policy.errors)
                ),
                waiver: None,
            });
            continue;
        }
        for rule in &policy.rules {
            let RuleResult {
                effect,
                message,
                evidence,
                observed: entries,
                next_change,
                release_error,
            } = rules::evaluate(rule, ctx);
            ran.release_errors.extend(release_error);
            ran.next_review = earliest(ran.next_review, next_change);
            // Only what enforced rules read is the passport's evidence: a Simulate policy must
            // not change how complete a passport looks.
            if policy.mode == PolicyMode::Enforce {
                for (key, entry) in entries {
                    merge_entry(&mut ran.observed, key, entry);
                }
            }
            let waived = waive(effect, active, policy, &rule.name, ctx.now);
            ran.trace.push(TraceEntry {
                policy: policy.name.clone(),
                mode: policy.mode,
                rule: rule.name.clone(),
                type_: rule.kind.rule_type(),
                effect: waived.effect,
                evidence,
                message: match (&waived.waiver, &waived.refused) {
                    (Some(w), _) => format!("{message} — waived by {w}"),
                    (None, Some((w, why))) => format!("{message} — waiver {w} not applied: {why}"),
                    (None, None) => message,
                },
                waiver: waived.waiver,
            });
        }
    }
    for w in active {
        ran.next_review = earliest(ran.next_review, Some(w.spec.expires_at));
    }
    ran
}

/// What the waivers did to one rule's effect.
struct Waived {
    effect: Effect,
    /// The waiver applied.
    waiver: Option<String>,
    /// A waiver that names the rule but is beyond the policy's limits, and why.
    refused: Option<(String, compile::WaiverRefused)>,
}

/// A Hold or Block becomes Waived when an active waiver names its rule and stays within the
/// policy's `spec.waivers` limits (how long, which rules): the engine, not the CLI or an
/// admission check, is what guarantees them.
fn waive(
    effect: Effect,
    active: &[&Waiver],
    policy: &CompiledPolicy,
    rule: &str,
    now: DateTime<Utc>,
) -> Waived {
    let mut waived = Waived {
        effect,
        waiver: None,
        refused: None,
    };
    if !matches!(effect, Effect::Hold | Effect::Block) {
        return waived;
    }
    for w in active
        .iter()
        .filter(|w| waiver_names(w, &policy.name, rule))
    {
        let name = w.metadata.name.clone().unwrap_or_default();
        match policy
            .waivers
            .refuses(&policy.name, rule, waiver_lasts(w, now))
        {
            None => {
                waived.effect = Effect::Waived;
                waived.waiver = Some(name);
                waived.refused = None;
                return waived;
            }
            Some(why) => {
                waived.refused.get_or_insert((name, why));
            }
        }
    }
    waived
}

/// How long a waiver lasts: from its creation (from `now` when it has none, as in a file) to
/// its `expiresAt`.
pub fn waiver_lasts(waiver: &Waiver, now: DateTime<Utc>) -> chrono::Duration {
    let created = crate::api::common::created_at(&waiver.metadata).unwrap_or(now);
    waiver.spec.expires_at - created
}

/// The decision from the enforced rules' effects, and its reasons (blocks first).
fn decide(
    selected: &[&CompiledPolicy],
    trace: &[TraceEntry],
    policy_missing: Option<&str>,
) -> (Decision, Vec<String>) {
    let enforced: Vec<&TraceEntry> = trace
        .iter()
        .filter(|t| t.mode == PolicyMode::Enforce)
        .collect();
    let any_enforce = selected.iter().any(|p| p.mode == PolicyMode::Enforce);
    let mut reasons: Vec<String> = Vec::new();
    for wanted in [Effect::Block, Effect::Hold] {
        reasons.extend(
            enforced
                .iter()
                .filter(|t| t.effect == wanted)
                .map(|t| format!("{}/{}: {}", t.policy, t.rule, t.message)),
        );
    }
    let blocks = enforced.iter().any(|t| t.effect == Effect::Block);
    let decision = if let Some(name) = policy_missing {
        reasons.insert(
            0,
            format!("policyRef names GatePolicy {name}, which does not exist"),
        );
        if blocks {
            Decision::Block
        } else {
            Decision::Hold
        }
    } else if !any_enforce {
        reasons.insert(0, "no policy selects this release".into());
        Decision::Hold
    } else if blocks {
        Decision::Block
    } else if enforced.iter().any(|t| t.effect == Effect::Hold) {
        Decision::Hold
    } else {
        Decision::Allow
    };
    (decision, reasons)
}

/// Why the release cannot be decided as written, if it cannot: the Stalled condition.
fn stalled(ran: &Ran, policy_missing: Option<&str>) -> Option<(&'static str, String)> {
    if !ran.invalid_policies.is_empty() {
        Some((
            conditions::REASON_INVALID_POLICY,
            format!("invalid GatePolicy: {}", ran.invalid_policies.join(", ")),
        ))
    } else if let Some(name) = policy_missing {
        Some((
            conditions::REASON_POLICY_NOT_FOUND,
            format!("policyRef names GatePolicy {name}, which does not exist"),
        ))
    } else {
        ran.release_errors
            .first()
            .map(|e| (conditions::REASON_INVALID_RELEASE, e.clone()))
    }
}

/// What the decision phases found, for the status.
struct Decided {
    decision: Decision,
    reasons: Vec<String>,
    stalled: Option<(&'static str, String)>,
    /// What enforced rules read, sorted.
    evidence: Vec<EvidenceEntry>,
    rollback: RollbackStatus,
    watch: Option<crate::api::passport::WatchStatus>,
    started: Option<DateTime<Utc>>,
}

/// The status phase: the passport's status from what the other phases found.
fn build_status(
    input: &Input<'_>,
    selected: &[&CompiledPolicy],
    applicable: &Applicable<'_>,
    decided: Decided,
    ran: Ran,
) -> ReleasePassportStatus {
    let (release, now) = (input.release, input.now);
    let Decided {
        decision,
        reasons,
        stalled,
        evidence,
        rollback,
        watch,
        started,
    } = decided;
    let complete = evidence
        .iter()
        .filter(|e| e.status == EvidenceStatus::Complete)
        .count();
    let pending: Vec<&str> = evidence
        .iter()
        .filter(|e| e.status == EvidenceStatus::Pending)
        .map(|e| e.source.as_str())
        .collect();
    let headline = reasons
        .first()
        .cloned()
        .unwrap_or_else(|| passing_headline(&ran.trace));
    let generation = release.metadata.generation;
    let previous_conditions = input
        .previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let desired = desired_conditions(decision, &headline, &pending, stalled);
    let conditions = conditions::merge(previous_conditions, desired, generation, now);
    ReleasePassportStatus {
        decision: Some(decision),
        reasons,
        evidence_summary: Some(EvidenceCount {
            complete: u32::try_from(complete).unwrap_or(u32::MAX),
            read: u32::try_from(evidence.len()).unwrap_or(u32::MAX),
        }),
        evidence,
        started_at: started,
        approvals: approvals_summary(selected, &applicable.approvals, release),
        waivers: applicable
            .waivers
            .iter()
            .map(|w| WaiverEntry {
                name: w.metadata.name.clone().unwrap_or_default(),
                rules: w.spec.rules.clone(),
                reason: w.spec.reason.clone(),
                approver: w.spec.approver.clone(),
                expires_at: w.spec.expires_at,
                active: now < w.spec.expires_at,
            })
            .collect(),
        rollback: Some(rollback),
        watch,
        timeline: timeline(
            input.previous,
            decision,
            headline,
            crate::api::passport::waived_in(&ran.trace).collect(),
            now,
        ),
        conditions,
        observed_generation: generation,
        trace: ran.trace,
        notifications: Vec::new(),
    }
}

/// What an Allow says: how many enforced rules pass, and which were waived (a waived rule did
/// not pass; the waiver is what let the release through).
fn passing_headline(trace: &[TraceEntry]) -> String {
    let enforced = || {
        trace
            .iter()
            .filter(|t| t.mode == PolicyMode::Enforce && t.type_ != RuleType::Policy)
    };
    let waived: Vec<String> = enforced()
        .filter(|t| t.effect == Effect::Waived)
        .map(|t| match &t.waiver {
            Some(w) => format!("{}/{} by {w}", t.policy, t.rule),
            None => format!("{}/{}", t.policy, t.rule),
        })
        .collect();
    let passing = enforced().filter(|t| t.effect == Effect::Pass).count();
    let pass = if passing == 1 { "passes" } else { "pass" };
    let rules = crate::text::count(passing, "enforced rule", "enforced rules");
    if waived.is_empty() && passing == 1 {
        "its one enforced rule passes".to_string()
    } else if waived.is_empty() {
        format!("all {rules} {pass}")
    } else {
        format!(
            "{rules} {pass}, {} waived: {}",
            waived.len(),
            waived.join(", ")
        )
    }
}

/// Ready, Reconciling and Stalled as the decision leaves them.
fn desired_conditions(
    decision: Decision,
    headline: &str,
    pending: &[&str],
    stalled: Option<(&'static str, String)>,
) -> Vec<Desired> {
    vec![
        Desired {
            type_: ConditionType::Ready,
            status: decision == Decision::Allow,
            reason: match decision {
                Decision::Allow => conditions::REASON_ALLOWED,
                Decision::Hold => conditions::REASON_HELD,
                Decision::Block => conditions::REASON_BLOCKED,
            },
            message: headline.to_string(),
        },
        Desired {
            type_: ConditionType::Reconciling,
            status: !pending.is_empty(),
            reason: if pending.is_empty() {
                conditions::REASON_DECIDED
            } else {
                conditions::REASON_EVIDENCE_PENDING
            },
            message: if pending.is_empty() {
                String::new()
            } else {
                format!("waiting for {}", pending.join(", "))
            },
        },
        match stalled {
            Some((reason, message)) => Desired {
                type_: ConditionType::Stalled,
                status: true,
                reason,
                message,
            },
            None => Desired {
                type_: ConditionType::Stalled,
                status: false,
                reason: conditions::REASON_VALID,
                message: String::new(),
            },
        },
    ]
}

/// The decision changes so far, with this one added when it differs (the newest kept).
fn timeline(
    previous: Option<&ReleasePassportStatus>,
    decision: Decision,
    headline: String,
    waived: Vec<crate::api::passport::WaivedRule>,
    now: DateTime<Utc>,
) -> Vec<TimelineEntry> {
    let mut timeline = previous.map(|p| p.timeline.clone()).unwrap_or_default();
    if previous.and_then(|p| p.decision) != Some(decision) {
        timeline.push(TimelineEntry {
            at: now,
            decision,
            message: headline,
            waived,
        });
        if timeline.len() > TIMELINE_LIMIT {
            timeline.drain(..timeline.len() - TIMELINE_LIMIT);
        }
    }
    timeline
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Two rules reading the same evidence keep the worse status.
fn merge_entry(map: &mut BTreeMap<String, EvidenceEntry>, key: String, entry: EvidenceEntry) {
    match map.get(&key) {
        Some(existing)
            if evidence::severity(existing.status) >= evidence::severity(entry.status) => {}
        _ => {
            map.insert(key, entry);
        }
    }
}

fn approvals_summary(
    selected: &[&CompiledPolicy],
    approvals: &[&Approval],
    release: &Release,
) -> Option<ApprovalsSummary> {
    let rules: Vec<(&str, &str, &crate::api::policy::ApprovalRule)> = selected
        .iter()
        .filter(|p| p.mode == PolicyMode::Enforce)
        .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
        .filter_map(|(p, r)| match &r.kind {
            RuleKind::Approval(a) => Some((p.name.as_str(), r.name.as_str(), a)),
            _ => None,
        })
        .collect();
    if rules.is_empty() && approvals.is_empty() {
        return None;
    }
    let author = release
        .spec
        .revision
        .as_ref()
        .and_then(|r| r.author.as_deref());
    let counts: Vec<ApprovalCount> = rules
        .iter()
        .map(|(policy, rule, a)| {
            let approvers = rules::counted_approvers(a, approvals, author);
            ApprovalCount {
                policy: (*policy).to_string(),
                rule: (*rule).to_string(),
                required: a.min,
                approved: approvers.len() as u32,
                from_groups: a.from_groups.clone(),
                approvers: approvers.into_iter().map(str::to_string).collect(),
            }
        })
        .collect();
    let records: Vec<ApprovalRecord> = approvals
        .iter()
        .map(|a| {
            let counted = rules.is_empty()
                || counts
                    .iter()
                    .any(|c| c.approvers.contains(&a.spec.approver));
            ApprovalRecord {
                name: a.metadata.name.clone().unwrap_or_default(),
                approver: a.spec.approver.clone(),
                groups: a.spec.groups.clone(),
                decision: a.spec.decision,
                at: a.metadata.creation_timestamp.as_ref().and_then(|t| {
                    DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
                }),
                comment: a.spec.comment.clone(),
                wait_seconds: release
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .and_then(|created| {
                        let at = a.metadata.creation_timestamp.as_ref()?;
                        Some((at.0.as_second() - created.0.as_second()).max(0))
                    }),
                not_counted: (a.spec.decision == ApprovalDecision::Approve && !counted)
                    .then(|| not_counted_why(&rules, a, author)),
            }
        })
        .collect();
    // The headline is the rule furthest from being met, so "1 of 2" is what holds the release.
    let headline = counts.iter().max_by_key(|c| {
        (
            c.required.saturating_sub(c.approved),
            c.required,
            std::cmp::Reverse(c.rule.clone()),
        )
    });
    Some(ApprovalsSummary {
        required: headline.map_or(0, |c| c.required),
        approved: headline.map_or_else(
            || {
                let mut who: Vec<&str> = records
                    .iter()
                    .filter(|r| r.decision == ApprovalDecision::Approve)
                    .map(|r| r.approver.as_str())
                    .collect();
                who.sort_unstable();
                who.dedup();
                who.len() as u32
            },
            |c| c.approved,
        ),
        rules: counts,
        records,
    })
}

/// Why no approval rule counted an approval: the author's own, or from outside every rule's groups.
fn not_counted_why(
    rules: &[(&str, &str, &crate::api::policy::ApprovalRule)],
    approval: &Approval,
    author: Option<&str>,
) -> String {
    let by_author = author == Some(approval.spec.approver.as_str());
    if by_author && rules.iter().any(|(_, _, r)| r.exclude_author) {
        return "the release's author cannot approve it".to_string();
    }
    let mut groups: Vec<&str> = rules
        .iter()
        .flat_map(|(_, _, r)| r.from_groups.iter().map(String::as_str))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    format!("not in {}", groups.join(" or "))
}

/// Rollback readiness: a named previous release that was itself allowed, whose revision a
/// connector has confirmed is still present (`rollback-revision` evidence).
pub fn rollback(
    release: &Release,
    previous: Option<&PreviousRelease>,
    evidence: &[EvidenceItem],
    now: DateTime<Utc>,
) -> RollbackStatus {
    let not_ready =
        |target: Option<String>, revision: Option<String>, reason: String| RollbackStatus {
            ready: false,
            recommended: false,
            target,
            revision,
            reason,
        };
    let (name, p) = match (&release.spec.previous, previous) {
        (None, _) => {
            return not_ready(
                None,
                None,
                "no previous release is named (spec.previous)".into(),
            );
        }
        (Some(name), None) => {
            return not_ready(
                Some(name.clone()),
                None,
                format!("previous release {name} was not found"),
            );
        }
        (Some(name), Some(p)) => (name, p),
    };
    let target = Some(name.clone());
    let revision = Some(p.version.clone());
    match p.decision {
        Some(Decision::Allow) => {}
        Some(d) => {
            return not_ready(
                target,
                revision,
                format!(
                    "previous release {name} ({}) is not known good: its decision is {d}",
                    p.version
                ),
            );
        }
        None => {
            return not_ready(
                target,
                revision,
                format!(
                    "previous release {name} ({}) has no decision yet",
                    p.version
                ),
            );
        }
    }
    let confirmations: Vec<&EvidenceItem> = evidence
        .iter()
        .filter(|e| e.source == ROLLBACK_REVISION_SOURCE)
        .filter(|e| e.expires_at.is_none_or(|at| now < at))
        .collect();
    let seen = |status: EvidenceStatus| {
        confirmations
            .iter()
            .find(|e| e.status == status)
            .map(|e| e.summary.clone().unwrap_or_default())
    };
    if let Some(present) = seen(EvidenceStatus::Complete) {
        return RollbackStatus {
            ready: true,
            recommended: false,
            target,
            revision,
            reason: format!(
                "previous release {name} ({}) was allowed and can be returned to: {present}",
                p.version
            ),
        };
    }
    let reason = match seen(EvidenceStatus::Failed) {
        Some(gone) => format!(
            "previous release {name} ({}) was allowed, but its revision is gone: {gone}",
            p.version
        ),
        None => format!(
            "previous release {name} ({}) was allowed, but no connector has confirmed its revision is still present (a retained ReplicaSet or ControllerRevision, or an Argo CD history entry)",
            p.version
        ),
    };
    not_ready(target, revision, reason)
}
