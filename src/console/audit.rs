//! The governance event log: decisions, approvals, rejections, waivers and policy changes, read
//! back from the objects that record them (passport timelines, Approvals, Waivers, GatePolicies).
//! Pure; the newest event first.

use chrono::{DateTime, Utc};

use crate::api::ConditionType;
use crate::api::Keyed;
use crate::api::approval::ApprovalDecision;
use crate::api::common::created_at;
use crate::api::key::ObjectKey;
use crate::api::{Approval, GatePolicy, ReleasePassport, Waiver};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    Decision,
    Approval,
    Rejection,
    Waiver,
    Policy,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Decision,
        EventKind::Approval,
        EventKind::Rejection,
        EventKind::Waiver,
        EventKind::Policy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Decision => "decision",
            EventKind::Approval => "approval",
            EventKind::Rejection => "rejection",
            EventKind::Waiver => "waiver",
            EventKind::Policy => "policy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing that happened that an auditor would ask about.
#[derive(Clone, Debug, PartialEq)]
pub struct GovernanceEvent {
    pub at: Option<DateTime<Utc>>,
    pub kind: EventKind,
    pub namespace: String,
    /// The release or policy it is about.
    pub subject: String,
    /// Who did it (the controller for decisions).
    pub actor: String,
    pub summary: String,
    /// The object this line is the record of, when it is read from another: an Approval a
    /// passport recorded. Its line is keyed by that object, so the Approval and every passport
    /// that records it make one line.
    pub about: Option<ObjectKey>,
}

fn or_any(names: &[String], any: &str) -> String {
    if names.is_empty() {
        any.to_string()
    } else {
        names.join(", ")
    }
}

fn ns(meta: &kube::api::ObjectMeta) -> String {
    crate::api::namespace_of(meta).to_string()
}

/// Where an event sits in the log: newest first, events without a time last, ties in a stable,
/// readable order (namespace, subject, kind, then the object and its position in it), so a log
/// kept as a sorted map reads the same however it was built.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogKey {
    at: std::cmp::Reverse<Option<DateTime<Utc>>>,
    namespace: String,
    subject: String,
    kind: EventKind,
    object: ObjectKey,
    position: usize,
}

impl GovernanceEvent {
    /// Its place in the log; `object` names what it was read from, `position` its place there.
    pub fn key(&self, object: &ObjectKey, position: usize) -> LogKey {
        LogKey {
            at: std::cmp::Reverse(self.at),
            namespace: self.namespace.clone(),
            subject: self.subject.clone(),
            kind: self.kind,
            object: object.clone(),
            position,
        }
    }
}

/// A passport's decisions, one per timeline entry, and the approvals it recorded — the record
/// that outlives the Approval objects (the log held 5 approvals of the demo where its passports
/// recorded 79).
pub fn of_passport(p: &ReleasePassport) -> Vec<GovernanceEvent> {
    let name = p.metadata.name.clone().unwrap_or_default();
    let namespace = ns(&p.metadata);
    let release = &p.spec.release_ref.name;
    let decisions = p
        .status
        .iter()
        .flat_map(|s| &s.timeline)
        .map(|t| GovernanceEvent {
            at: Some(t.at),
            kind: EventKind::Decision,
            namespace: namespace.clone(),
            subject: name.clone(),
            actor: "release-passport".into(),
            summary: format!("{}: {}", t.label(), t.message),
            about: None,
        });
    let approvals = p
        .status
        .iter()
        .flat_map(|s| s.approvals.iter())
        .flat_map(|a| &a.records)
        .map(|r| {
            approval_line(
                ObjectKey::new(namespace.as_str(), r.name.as_str()),
                release,
                r.decision,
                &r.approver,
                &r.groups,
                r.comment.as_deref(),
                r.at,
            )
        });
    decisions.chain(approvals).collect()
}

pub fn of_approval(a: &Approval) -> GovernanceEvent {
    approval_line(
        a.key(),
        &a.spec.release_ref.name,
        a.spec.decision,
        &a.spec.approver,
        &a.spec.groups,
        a.spec.comment.as_deref(),
        created_at(&a.metadata),
    )
}

/// The one line of one Approval, the same whether read from the object or from a passport
/// that recorded it (so the two make one line).
fn approval_line(
    approval: ObjectKey,
    release: &str,
    decision: ApprovalDecision,
    approver: &str,
    groups: &[String],
    comment: Option<&str>,
    at: Option<chrono::DateTime<Utc>>,
) -> GovernanceEvent {
    let mut summary = format!("{} {release}", decision.past_tense());
    if !groups.is_empty() {
        summary.push_str(&format!(" for {}", groups.join(", ")));
    }
    if let Some(c) = comment {
        summary.push_str(&format!(": {c}"));
    }
    GovernanceEvent {
        at,
        kind: match decision {
            ApprovalDecision::Reject => EventKind::Rejection,
            ApprovalDecision::Approve => EventKind::Approval,
        },
        namespace: approval.namespace.clone(),
        subject: release.to_string(),
        actor: approver.to_string(),
        summary,
        about: Some(approval),
    }
}

pub fn of_waiver(w: &Waiver) -> GovernanceEvent {
    let subject = match (&w.spec.release_ref, &w.spec.release_selector) {
        (Some(r), _) => r.name.clone(),
        (None, Some(s)) => format!(
            "{} in {}",
            or_any(&s.services, "any service"),
            or_any(&s.environments, "any environment")
        ),
        (None, None) => "no release".into(),
    };
    GovernanceEvent {
        at: created_at(&w.metadata),
        kind: EventKind::Waiver,
        namespace: ns(&w.metadata),
        subject,
        actor: w.spec.approver.clone(),
        summary: format!(
            "waived {} until {}: {}",
            w.spec.rules.join(", "),
            crate::engine::rules::time(w.spec.expires_at),
            w.spec.reason
        ),
        about: None,
    }
}

/// A policy's last change (or its creation).
pub fn of_policy(p: &GatePolicy) -> GovernanceEvent {
    let generation = p.metadata.generation.unwrap_or(1);
    let ready = p
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| matches!(c.type_, ConditionType::Ready | ConditionType::Stalled));
    let (at, what) = match ready {
        Some(c) if generation > 1 => (
            Some(c.last_transition_time),
            format!("changed (generation {generation}): {}", c.message),
        ),
        _ => (
            created_at(&p.metadata),
            format!(
                "created: {:?} mode, {}",
                p.spec.mode,
                crate::text::count(p.spec.rules.len(), "rule", "rules")
            ),
        ),
    };
    GovernanceEvent {
        at,
        kind: EventKind::Policy,
        namespace: ns(&p.metadata),
        subject: p.metadata.name.clone().unwrap_or_default(),
        // The API server's audit log knows who; the object does not.
        actor: String::new(),
        summary: what,
        about: None,
    }
}
