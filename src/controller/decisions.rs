//! What this process last decided for each Release. The cache can lag our own last write (a
//! reconcile triggered by it still sees the old status), so this settles whether a decision
//! changed and is announced once; the `decisions` gauge counts it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api::{Decision, ObjectKey};
use crate::metrics::DecisionCounts;

#[derive(Default)]
pub struct LastDecisions {
    inner: Mutex<(HashMap<ObjectKey, Decision>, DecisionCounts)>,
}

impl LastDecisions {
    /// Records `decision` for `release`: the decision recorded before, and the counts now.
    pub fn record(
        &self,
        release: &ObjectKey,
        decision: Decision,
    ) -> (Option<Decision>, DecisionCounts) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (by_release, counts) = &mut *inner;
        let before = by_release.insert(release.clone(), decision);
        if before != Some(decision) {
            counts.moved(before, decision);
        }
        (before, *counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_each_release_s_last_decision() {
        let last = LastDecisions::default();
        let (a, b) = (ObjectKey::new("shop", "a"), ObjectKey::new("shop", "b"));
        assert_eq!(last.record(&a, Decision::Hold).0, None);
        last.record(&b, Decision::Hold);
        let (before, counts) = last.record(&a, Decision::Allow);
        assert_eq!(before, Some(Decision::Hold));
        assert_eq!(
            (
                counts.of(Decision::Allow),
                counts.of(Decision::Hold),
                counts.of(Decision::Block)
            ),
            (1, 1, 0)
        );
        let (before, again) = last.record(&a, Decision::Allow);
        assert_eq!((before, again), (Some(Decision::Allow), counts));
    }
}
