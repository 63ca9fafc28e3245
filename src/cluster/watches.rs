//! Every watch this operator makes, and how it recovers.
//!
//! Measured on a real API server restart, kube-runtime's defaults left the controller blind for
//! over a minute: (1) its backoff keeps its longest delay (up to 30 s) for two minutes after the
//! last error, whatever got through since; (2) a `410 Gone` — the watcher relisting, as it must
//! after a restart or a compaction — counts as an error and waits out that backoff; (3) a
//! Controller wraps all its trigger streams in one backoff, so one watch's error pauses every
//! trigger, the healthy ones included. So: 410 is no error here (the watcher relists at once),
//! other errors back off per watch from 500 ms to at most 10 s and start over as soon as an event
//! gets through, and no error reaches a Controller's triggers.

use std::fmt::Debug;
use std::time::Duration;

use futures::{Stream, StreamExt, future};
use kube::Resource;
use kube::api::Api;
use kube::runtime::utils::Backoff;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

/// A watch of `api`: relists at once on `410 Gone`, backs off other errors with [`WatchBackoff`].
/// Objects come without `managedFields` and kubectl's last-applied-configuration annotation:
/// nothing here reads them, and each is as large as what it describes (a passport's status, a
/// whole Release applied with `kubectl apply`).
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher(api, config)
        .filter(|event| future::ready(!is_gone(event)))
        .backoff(WatchBackoff::default())
        .modify(|object| {
            let meta = object.meta_mut();
            meta.managed_fields = None;
            if let Some(annotations) = meta.annotations.as_mut() {
                annotations.remove(LAST_APPLIED);
            }
        })
}

/// What `kubectl apply` keeps of the object it last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn is_gone<K>(event: &Result<watcher::Event<K>, watcher::Error>) -> bool {
    matches!(event, Err(watcher::Error::WatchError(status)) if status.code == 410)
}

const FIRST: Duration = Duration::from_millis(500);
const LONGEST: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct WatchBackoff {
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST);
        Some(delay)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_a_ceiling_and_starts_over_on_success() {
        let mut b = WatchBackoff::default();
        let delays: Vec<u64> = b.by_ref().take(7).map(|d| d.as_millis() as u64).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.next(), Some(FIRST));
    }
}
