//! Passports stay small whatever the evidence count: free text is cut to a readable length, and
//! when the status would still outgrow its budget, passing trace entries and complete evidence
//! give way first (the counts in `evidenceSummary` and `reasons` still cover everything), with a
//! trace entry saying how many were left out. Pure and deterministic.

use crate::api::passport::{Effect, TraceEntry};
use crate::api::{EvidenceStatus, PolicyMode, ReleasePassportStatus};

/// The status's serialised budget: the object (metadata, spec) stays well under 64 KiB.
pub const STATUS_BUDGET: usize = 48 * 1024;
/// Longest free text kept in one field.
pub const TEXT_LIMIT: usize = 300;
/// Most reasons listed (the rest are summed up in one more line).
pub const REASONS_LIMIT: usize = 20;

fn cut(text: &mut String) {
    if let std::borrow::Cow::Owned(short) = crate::text::clip(text, TEXT_LIMIT) {
        *text = short;
    }
}

fn size(status: &ReleasePassportStatus) -> usize {
    // Serialising into a Vec cannot fail for these types.
    serde_json::to_vec(status).map_or(0, |v| v.len())
}

pub fn compact(status: &mut ReleasePassportStatus) {
    for r in &mut status.reasons {
        cut(r);
    }
    if status.reasons.len() > REASONS_LIMIT {
        let more = status.reasons.len() - REASONS_LIMIT + 1;
        status.reasons.truncate(REASONS_LIMIT - 1);
        status.reasons.push(format!(
            "… and {more} more rules hold or block (see the trace)"
        ));
    }
    for e in &mut status.evidence {
        if let Some(s) = &mut e.summary {
            cut(s);
        }
        if let Some(q) = &mut e.query {
            cut(q);
        }
    }
    for t in &mut status.trace {
        cut(&mut t.message);
    }
    for w in &mut status.waivers {
        cut(&mut w.reason);
    }
    for r in status.approvals.iter_mut().flat_map(|a| &mut a.records) {
        if let Some(c) = &mut r.comment {
            cut(c);
        }
    }
    // Each entry is at most a few hundred bytes now: a short status cannot be over budget, and
    // the engine's hot path skips serialising it.
    let entries = status.trace.len()
        + status.evidence.len()
        + status.waivers.len()
        + status.approvals.as_ref().map_or(0, |a| a.records.len());
    if entries <= 64 || size(status) <= STATUS_BUDGET {
        return;
    }
    // Over budget: drop what explains least first — passing trace entries, complete evidence,
    // then the last of the rest — from the end, until it fits. Sizes are measured once per
    // entry, not once per removal.
    fn bytes<T: serde::Serialize>(v: &T) -> usize {
        serde_json::to_vec(v).map_or(0, |v| v.len() + 1)
    }
    let mut total = size(status);
    let mut omitted_trace = 0;
    let trace_sizes: Vec<usize> = status.trace.iter().map(bytes).collect();
    let evidence_sizes: Vec<usize> = status.evidence.iter().map(bytes).collect();
    let mut keep_trace = vec![true; status.trace.len()];
    let mut keep_evidence = vec![true; status.evidence.len()];
    /// Drops the `candidates`, in order, until `total` fits; how many it dropped.
    fn give_way(
        candidates: impl Iterator<Item = usize>,
        sizes: &[usize],
        keep: &mut [bool],
        total: &mut usize,
    ) -> usize {
        let mut dropped = 0;
        for i in candidates {
            if *total <= STATUS_BUDGET {
                break;
            }
            keep[i] = false;
            *total -= sizes[i];
            dropped += 1;
        }
        dropped
    }
    omitted_trace += give_way(
        (0..status.trace.len())
            .rev()
            .filter(|i| status.trace[*i].effect == Effect::Pass),
        &trace_sizes,
        &mut keep_trace,
        &mut total,
    );
    give_way(
        (0..status.evidence.len())
            .rev()
            .filter(|i| status.evidence[*i].status == EvidenceStatus::Complete),
        &evidence_sizes,
        &mut keep_evidence,
        &mut total,
    );
    let (mut t, mut e) = (status.trace.len(), status.evidence.len());
    while total > STATUS_BUDGET && (t > 1 || e > 1) {
        if t >= e {
            t -= 1;
            if keep_trace[t] {
                keep_trace[t] = false;
                total -= trace_sizes[t];
                omitted_trace += 1;
            }
        } else {
            e -= 1;
            if keep_evidence[e] {
                keep_evidence[e] = false;
                total -= evidence_sizes[e];
            }
        }
    }
    let mut flags = keep_trace.into_iter();
    status.trace.retain(|_| flags.next().unwrap_or(true));
    let mut flags = keep_evidence.into_iter();
    status.evidence.retain(|_| flags.next().unwrap_or(true));
    if omitted_trace > 0 {
        status.trace.push(TraceEntry {
            policy: "-".into(),
            mode: PolicyMode::Enforce,
            rule: "omitted".into(),
            type_: crate::api::passport::RuleType::Summary,
            effect: Effect::Pass,
            evidence: Vec::new(),
            message: format!(
                "{omitted_trace} more rules not listed (passing ones first): the passport keeps under its size limit"
            ),
            waiver: None,
        });
    }
}
