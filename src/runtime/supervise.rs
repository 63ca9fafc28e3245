//! Every long-lived task of the process runs under one supervisor. A task that panics, or
//! returns while what it serves has not stopped, is logged and reported: the process then turns
//! `/healthz` and `/readyz` false, drains, and exits non-zero so Kubernetes restarts it — never a
//! replica that looks ready while, say, nothing delivers notifications or renews the Lease.

use std::future::Future;
use std::pin::Pin;

use futures::FutureExt;
use futures::future::Shared;
use tracing::error;

/// What a task stops with: it is expected to return once this resolves, and not before.
pub type Until = Shared<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// `future` as an [`Until`].
pub fn until(future: impl Future<Output = ()> + Send + 'static) -> Until {
    let boxed: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(future);
    boxed.shared()
}

/// How a supervised task ended when it should not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    #[error("task {task} panicked: {message}")]
    Panicked { task: &'static str, message: String },
    #[error("task {task} returned while it should still run")]
    Returned { task: &'static str },
}

/// Spawns tasks and reports the first that ends unexpectedly.
pub struct Supervisor {
    failed: tokio::sync::watch::Sender<Option<Ended>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self {
            failed: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl Supervisor {
    /// Runs `work` as `task`, expected to run until `until` resolves.
    pub fn spawn(
        &self,
        task: &'static str,
        until: Until,
        work: impl Future<Output = ()> + Send + 'static,
    ) {
        let handle = tokio::spawn(work);
        let failed = self.failed.clone();
        tokio::spawn(async move {
            let ended = match handle.await {
                // It returned because what it serves stopped: as it should.
                Ok(()) if until.clone().now_or_never().is_some() => return,
                Ok(()) => Ended::Returned { task },
                Err(e) if e.is_panic() => {
                    let payload = e.into_panic();
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".to_string());
                    Ended::Panicked { task, message }
                }
                // Cancelled: the runtime is shutting down.
                Err(_) => return,
            };
            error!("{ended}; stopping so the replica restarts");
            failed.send_if_modified(|first| {
                let unset = first.is_none();
                if unset {
                    *first = Some(ended);
                }
                unset
            });
        });
    }

    /// Spawns through this supervisor, each task expected to run until `until`.
    pub fn until(&self, until: Until) -> Bound<'_> {
        Bound {
            supervisor: self,
            until,
        }
    }

    /// Resolves with the first task that ended unexpectedly.
    pub async fn failed(&self) -> Ended {
        let mut failed = self.failed.subscribe();
        loop {
            if let Some(ended) = failed.borrow_and_update().clone() {
                return ended;
            }
            if failed.changed().await.is_err() {
                // The supervisor itself is gone: nothing can be reported any more.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A supervisor and what the tasks spawned through it run until.
#[derive(Clone)]
pub struct Bound<'a> {
    supervisor: &'a Supervisor,
    pub until: Until,
}

impl Bound<'_> {
    pub fn spawn(&self, task: &'static str, work: impl Future<Output = ()> + Send + 'static) {
        self.supervisor.spawn(task, self.until.clone(), work);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_with_its_message() {
        let supervisor = Supervisor::default();
        supervisor.spawn(
            "steady",
            until(std::future::pending()),
            std::future::pending(),
        );
        supervisor.spawn("notifications", until(std::future::pending()), async {
            panic!("delivery queue corrupt");
        });
        assert_eq!(
            supervisor.failed().await,
            Ended::Panicked {
                task: "notifications",
                message: "delivery queue corrupt".into()
            }
        );
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_reported_and_one_that_was_told_to_stop_is_not() {
        let supervisor = Supervisor::default();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = until(async {
            let _ = stop_rx.await;
        });
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let told = stop.clone();
        supervisor.spawn("retention", stop.clone(), async move {
            told.await;
            let _ = done_tx.send(());
        });
        let _ = stop_tx.send(());
        let _ = done_rx.await;
        // On this single-threaded runtime the stopped task's watcher runs before these two are
        // spawned: a report from it would come first.
        supervisor.spawn("connectors", stop.clone(), async {});
        supervisor.spawn("protection", until(std::future::pending()), async {});
        assert_eq!(
            supervisor.failed().await,
            Ended::Returned { task: "protection" }
        );
    }
}
