//! The reconcilers: Releases become ReleasePassports, GatePolicies get their status.
//!
//! Pipeline per Release: dereference (caches) → gather evidence (sources' caches) → evaluate
//! (pure engine) → apply (server-side apply, only what changed). Changes to policies,
//! approvals, waivers and connectors re-trigger exactly the releases they touch. The process
//! around them (servers, Lease, loops, shutdown) is [`crate::runtime`]'s.

pub mod apply;
pub mod context;
pub mod decisions;
pub mod delivery;
pub mod error;
pub mod gate_api;
pub mod github;
pub mod lookup;
pub mod mappers;
pub mod policy;
pub mod refresh;
pub mod release;
pub mod retention;
pub mod retry;
pub mod written;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, controller};
use kube::{Client, Resource};
use tracing::info;

use crate::api::Release;
use crate::cluster::Feeds;
use crate::connectors::hub::{Hub, HubSource};
use crate::evidence::{EvidenceSource, manual::ManualEvidence};
use crate::metrics::Metrics;
use context::{Context, system_clock};

/// Which Releases the controllers decide, and how many at once.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Watch only this namespace (shards a cluster across controller deployments).
    pub namespace: Option<String>,
    /// Only Releases matching this label selector.
    pub release_selector: Option<String>,
    /// Releases reconciled at once (at least 1).
    pub concurrency: u16,
    /// How far in the future evidence may be dated before it is refused.
    pub clock_skew: chrono::Duration,
}

/// The leader's reconcilers, wired to their watches, not yet running.
pub struct Controllers {
    /// What every reconcile shares (the runtime's loops read it too).
    pub ctx: Arc<Context>,
    /// Re-triggers one Release (evidence arrived for it).
    pub trigger: refresh::Trigger,
    running: BoxFuture<'static, ()>,
}

impl Controllers {
    /// Runs both controllers until `stop` (given to [`controllers`]) resolves, draining
    /// in-flight reconciles.
    pub async fn run(self) {
        self.running.await;
    }
}

/// How long a policy's Releases stay unchanged before its status counts them again.
const POLICY_STATUS_SETTLES: std::time::Duration = std::time::Duration::from_millis(500);

/// Wires the Release and GatePolicy controllers to the shared watches of `feeds`.
pub fn controllers(
    client: Client,
    settings: &Scope,
    metrics: Arc<Metrics>,
    hub: &Arc<Hub>,
    feeds: &Feeds,
    stop: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) -> Controllers {
    let stores = feeds.stores.clone();
    let sources: Vec<Box<dyn EvidenceSource>> = vec![
        Box::new(ManualEvidence),
        Box::new(HubSource {
            hub: Arc::clone(hub),
            connectors: stores.connectors.clone(),
            passports: Some(stores.passports.clone()),
        }),
    ];
    let ctx = Arc::new(
        Context::new(client, stores.clone(), sources, metrics, system_clock())
            .with_clock_skew(settings.clock_skew),
    );
    let (trigger, evidence_changed) = futures::channel::mpsc::unbounded();
    let releases = release_controller(feeds, &ctx, settings, evidence_changed, stop.clone());
    let policy_status = policy_controller(feeds, &ctx, settings, stop.clone());
    // Passport and Notifier changes wake the leader's delivery (it plans from the caches).
    let notifiers_changed = feeds.notifiers.subscribe().for_each({
        let ctx = Arc::clone(&ctx);
        move |_| {
            ctx.wake_notifications();
            futures::future::ready(())
        }
    });

    let (namespace, selector) = (
        settings.namespace.clone(),
        settings.release_selector.clone(),
    );
    let running = async move {
        info!(?namespace, ?selector, "controllers running");
        let notifiers = futures::future::select(Box::pin(notifiers_changed), Box::pin(stop));
        futures::future::join3(releases, policy_status, notifiers).await;
    };
    Controllers {
        ctx,
        trigger,
        running: running.boxed(),
    }
}

/// Releases become passports: each is reconciled when it changes, when its passport does, and
/// when a policy, approval, waiver or connector that can move its decision does.
fn release_controller(
    feeds: &Feeds,
    ctx: &Arc<Context>,
    settings: &Scope,
    evidence_changed: futures::channel::mpsc::UnboundedReceiver<
        ObjectRef<DeserializeGuard<Release>>,
    >,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let released = feeds.releases.subscribe().inspect({
        let ctx = Arc::clone(ctx);
        move |r| {
            ctx.written
                .seen(error::Write::ReleaseStatus.resource(), r.meta())
        }
    });
    let passports = feeds.passports.subscribe().inspect({
        let ctx = Arc::clone(ctx);
        move |p| {
            ctx.written
                .seen(error::Write::PassportStatus.resource(), &p.metadata);
            ctx.wake_notifications();
        }
    });
    let s = (ctx.stores.clone(), ctx.stores.clone(), ctx.stores.clone());
    Controller::for_shared_stream(released, feeds.releases.store().clone())
        .owns_shared_stream(passports)
        .watches_shared_stream(feeds.policies.subscribe(), move |p| {
            mappers::policy(&s.0, &p)
        })
        .watches_shared_stream(feeds.approvals.subscribe(), |a| mappers::approval(&a))
        .watches_shared_stream(feeds.waivers.subscribe(), move |w| {
            mappers::waiver(&s.1, &w)
        })
        .watches_shared_stream(feeds.connectors.subscribe(), move |c| {
            mappers::connector(&s.2, &c)
        })
        .reconcile_on(evidence_changed)
        // Unbounded, a cold start over 10,000 Releases opened a connection per reconcile
        // (2,800 at once) and the API server's fairness queues let the first write through
        // after minutes.
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(stop)
        .run(release::reconcile, release::error_policy, Arc::clone(ctx))
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("release controller: {e}");
            }
        })
}

/// Each GatePolicy's status (valid, what it selects) is reconciled when it changes and when a
/// Release it may count does.
fn policy_controller(
    feeds: &Feeds,
    ctx: &Arc<Context>,
    settings: &Scope,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let stores = ctx.stores.clone();
    Controller::for_shared_stream(feeds.policies.subscribe(), feeds.policies.store().clone())
        .watches_shared_stream(feeds.releases.subscribe(), move |r| {
            mappers::policies_of(&stores, &r)
        })
        // A policy's status is a count over many Releases: written once they settle, not once
        // per Release write while a fleet is created.
        .with_config(
            controller::Config::default()
                .debounce(POLICY_STATUS_SETTLES)
                .concurrency(settings.concurrency),
        )
        .graceful_shutdown_on(stop)
        .run(policy::reconcile, policy::error_policy, Arc::clone(ctx))
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("policy controller: {e}");
            }
        })
}
