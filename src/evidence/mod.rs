//! Where evidence comes from. A source answers from what it has already observed, so a
//! reconcile never waits on an upstream system; connectors refresh in the background and share
//! one upstream query among every release that asks it.

pub mod manual;

use chrono::{DateTime, Utc};

use crate::api::Release;
use crate::engine::EvidenceItem;
use crate::engine::needs::Needs;

/// A source of evidence for releases.
pub trait EvidenceSource: Send + Sync {
    /// A short name for logs and metrics (a connector type, never an object name).
    fn kind(&self) -> &'static str;

    /// The evidence this source holds for `release` at `now`; `needs` says what its policies read.
    fn evidence_for(
        &self,
        release: &Release,
        needs: &Needs,
        now: DateTime<Utc>,
    ) -> Vec<EvidenceItem>;
}

/// Every source's evidence for one release, in a stable order.
pub fn gather(
    sources: &[Box<dyn EvidenceSource>],
    release: &Release,
    needs: &Needs,
    now: DateTime<Utc>,
) -> Vec<EvidenceItem> {
    let mut items: Vec<EvidenceItem> = sources
        .iter()
        .flat_map(|s| s.evidence_for(release, needs, now))
        .collect();
    items.sort_by(|a, b| {
        (&a.source, &a.query, a.observed_at).cmp(&(&b.source, &b.query, b.observed_at))
    });
    items
}
