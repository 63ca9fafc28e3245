//! How long a failed reconcile or delivery waits before it is tried again: the crate's one
//! backoff, shared by the reconcilers and notification delivery.
//!
//! Not backon's (in the lock through kube-runtime): its jitter only adds (0–100% more, so the
//! worst case doubles) and comes from a random generator, where here the object decides, so
//! replicas and tests see the same delay for the same object and attempt.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// Exponential backoff from 1 s to 5 min with ±20% jitter derived from `what` is retried
/// (an object, a delivery) and the attempt, so a thundering herd spreads out without a
/// random-number generator.
pub fn backoff(attempt: u32, what: &impl Hash) -> Duration {
    let base = 1000u64
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(9))
        .min(300_000);
    // SipHash with fixed keys: the same delay for the same input in every replica.
    let mut h = DefaultHasher::new();
    what.hash(&mut h);
    attempt.hash(&mut h);
    let jitter = (h.finish() % 401) as i64 - 200; // -200..=200 per mille → ±20%
    let ms = (base as i64 + base as i64 * jitter / 1000).max(100) as u64;
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ObjectKey;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let d: Vec<u128> = (1..=12)
            .map(|a| backoff(a, &ObjectKey::new("shop", "web")).as_millis())
            .collect();
        assert!(d[0] >= 800 && d[0] <= 1200, "{d:?}");
        assert!(d[3] >= 6400 && d[3] <= 9600, "{d:?}");
        assert!(d.iter().all(|ms| *ms <= 360_000), "{d:?}");
        assert_ne!(
            backoff(3, &ObjectKey::new("shop", "a")),
            backoff(3, &ObjectKey::new("shop", "b")),
            "different objects spread out"
        );
    }
}
