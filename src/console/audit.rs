//! The governance event log: decisions, approvals, rejections, waivers and policy changes, read
//! back from the objects that record them (passport timelines, Approvals, Waivers, GatePolicies).
//! Pure; the newest event first.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::approval::ApprovalDecision;
use crate::api::common::created_at;
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
}

fn or_any(names: &[String], any: &str) -> String {
    if names.is_empty() {
        any.to_string()
    } else {
        names.join(", ")
    }
}

fn ns(meta: &kube::api::ObjectMeta) -> String {
    meta.namespace.clone().unwrap_or_else(|| "default".into())
}

pub fn events(
    passports: &[Arc<ReleasePassport>],
    policies: &[Arc<GatePolicy>],
    approvals: &[Arc<Approval>],
    waivers: &[Arc<Waiver>],
) -> Vec<GovernanceEvent> {
    let mut out = Vec::new();
    for p in passports {
        let name = p.metadata.name.clone().unwrap_or_default();
        for t in p.status.iter().flat_map(|s| &s.timeline) {
            out.push(GovernanceEvent {
                at: Some(t.at),
                kind: EventKind::Decision,
                namespace: ns(&p.metadata),
                subject: name.clone(),
                actor: "release-passport".into(),
                summary: format!("{}: {}", t.decision, t.message),
            });
        }
    }
    for a in approvals {
        let reject = a.spec.decision == ApprovalDecision::Reject;
        let mut summary = format!(
            "{} {}",
            if reject { "rejected" } else { "approved" },
            a.spec.release_ref.name
        );
        if !a.spec.groups.is_empty() {
            summary.push_str(&format!(" for {}", a.spec.groups.join(", ")));
        }
        if let Some(c) = &a.spec.comment {
            summary.push_str(&format!(": {c}"));
        }
        out.push(GovernanceEvent {
            at: created_at(&a.metadata),
            kind: if reject {
                EventKind::Rejection
            } else {
                EventKind::Approval
            },
            namespace: ns(&a.metadata),
            subject: a.spec.release_ref.name.clone(),
            actor: a.spec.approver.clone(),
            summary,
        });
    }
    for w in waivers {
        let subject = match (&w.spec.release_ref, &w.spec.release_selector) {
            (Some(r), _) => r.name.clone(),
            (None, Some(s)) => format!(
                "{} in {}",
                or_any(&s.services, "any service"),
                or_any(&s.environments, "any environment")
            ),
            (None, None) => "no release".into(),
        };
        out.push(GovernanceEvent {
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
        });
    }
    for p in policies {
        let name = p.metadata.name.clone().unwrap_or_default();
        let generation = p.metadata.generation.unwrap_or(1);
        let ready = p
            .status
            .iter()
            .flat_map(|s| &s.conditions)
            .find(|c| c.type_ == "Ready" || c.type_ == "Stalled");
        let (at, what) = match ready {
            Some(c) if generation > 1 => (
                Some(c.last_transition_time),
                format!("changed (generation {generation}): {}", c.message),
            ),
            _ => (
                created_at(&p.metadata),
                format!(
                    "created: {:?} mode, {} rules",
                    p.spec.mode,
                    p.spec.rules.len()
                ),
            ),
        };
        out.push(GovernanceEvent {
            at,
            kind: EventKind::Policy,
            namespace: ns(&p.metadata),
            subject: name,
            // The API server's audit log knows who; the object does not.
            actor: String::new(),
            summary: what,
        });
    }
    // Newest first; events without a time last; ties in a stable, readable order.
    out.sort_by(|a, b| {
        b.at.cmp(&a.at).then_with(|| {
            (&a.namespace, &a.subject, a.kind).cmp(&(&b.namespace, &b.subject, b.kind))
        })
    });
    out
}
