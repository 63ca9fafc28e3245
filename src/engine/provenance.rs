//! Evidence that belongs to this release (BRIEF §2): an observation made before the release
//! started describes the previous version and counts as Stale; one dated further in the future
//! than the clock-skew tolerance is refused. Only passing and in-progress observations are
//! judged: a failure stays a failure, so provenance never moves a decision toward Allow.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};

use super::evidence::EvidenceItem;
use super::rules::time;
use crate::api::EvidenceStatus;
use crate::api::duration::format_duration;

/// How far in the future an observation may be dated before it is refused (clocks drift).
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::minutes(2);

/// The words a Stale observation from before the start carries.
pub const BEFORE_START: &str = "observed before this release started";

/// When the release started, and whether that is its commit time (the floor of every start).
#[derive(Clone, Copy, Debug)]
pub struct Start {
    pub at: Option<DateTime<Utc>>,
    pub committed: bool,
}

/// `items` as this release's decision may read them.
pub fn screen(
    items: &[EvidenceItem],
    started: Start,
    now: DateTime<Utc>,
    skew: Duration,
) -> Cow<'_, [EvidenceItem]> {
    if items
        .iter()
        .all(|i| verdict(i, started, now, skew).is_none())
    {
        return Cow::Borrowed(items);
    }
    Cow::Owned(
        items
            .iter()
            .map(|i| match verdict(i, started, now, skew) {
                Some((status, why)) => EvidenceItem {
                    status,
                    summary: Some(why),
                    ..i.clone()
                },
                None => i.clone(),
            })
            .collect(),
    )
}

fn verdict(
    item: &EvidenceItem,
    started: Start,
    now: DateTime<Utc>,
    skew: Duration,
) -> Option<(EvidenceStatus, String)> {
    let judged = matches!(
        item.status,
        EvidenceStatus::Complete | EvidenceStatus::Partial | EvidenceStatus::Pending
    );
    // Whether the previous release can be returned to is evidence about that release.
    if !judged || item.source == super::ROLLBACK_REVISION_SOURCE {
        return None;
    }
    let at = item.observed_at?;
    if at > now + skew {
        return Some((
            EvidenceStatus::Missing,
            format!(
                "refused: dated {}, further in the future than the {} clock-skew tolerance",
                time(at),
                format_duration(skew)
            ),
        ));
    }
    let Start {
        at: started,
        committed,
    } = started;
    let started = started?;
    (at < started).then(|| {
        let floor = if committed {
            ", when its revision was committed"
        } else {
            ""
        };
        (
            EvidenceStatus::Stale,
            format!("{BEFORE_START} ({} < {}{floor})", time(at), time(started)),
        )
    })
}
