//! kstatus conditions, merged by a pure function that keeps `lastTransitionTime` while a
//! condition's status is unchanged.

use chrono::{DateTime, Utc};

use crate::api::{Condition, ConditionStatus, ConditionType};

pub const REASON_ALLOWED: &str = "Allowed";
pub const REASON_HELD: &str = "Held";
pub const REASON_BLOCKED: &str = "Blocked";
pub const REASON_EVIDENCE_PENDING: &str = "EvidencePending";
pub const REASON_DECIDED: &str = "Decided";
pub const REASON_INVALID_POLICY: &str = "InvalidPolicy";
pub const REASON_POLICY_NOT_FOUND: &str = "PolicyNotFound";
pub const REASON_INVALID_RELEASE: &str = "InvalidRelease";
pub const REASON_VALID: &str = "Valid";

/// A condition as the engine wants it, before transition times are settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub type_: ConditionType,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

/// Builds the condition list from the desired state: a condition whose status did not change
/// keeps its previous `lastTransitionTime`; a new or flipped one gets `now`.
pub fn merge(
    previous: &[Condition],
    desired: Vec<Desired>,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = desired
        .into_iter()
        .map(|d| {
            let status = ConditionStatus::of(d.status);
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == d.type_ && p.status == status)
                .map_or(now, |p| p.last_transition_time);
            Condition {
                type_: d.type_,
                status,
                reason: d.reason.to_string(),
                message: d.message,
                last_transition_time,
                observed_generation: generation,
            }
        })
        .collect();
    out.sort_by_key(|c| c.type_);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(status: bool, message: &str) -> Vec<Desired> {
        vec![Desired {
            type_: ConditionType::Ready,
            status,
            reason: if status { REASON_ALLOWED } else { REASON_HELD },
            message: message.into(),
        }]
    }

    #[test]
    fn keeps_transition_time_until_status_flips() {
        let t0 = DateTime::from_timestamp(100, 0).unwrap_or_default();
        let t1 = DateTime::from_timestamp(200, 0).unwrap_or_default();
        let first = merge(&[], desired(false, "a"), Some(1), t0);
        assert_eq!(first[0].last_transition_time, t0);
        let same = merge(&first, desired(false, "b"), Some(2), t1);
        assert_eq!(same[0].last_transition_time, t0);
        assert_eq!(same[0].message, "b");
        let flipped = merge(&same, desired(true, "c"), Some(2), t1);
        assert_eq!(flipped[0].last_transition_time, t1);
    }
}
