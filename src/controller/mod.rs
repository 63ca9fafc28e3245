//! The reconcilers: Releases become ReleasePassports, GatePolicies get their status.
//!
//! Pipeline per Release: dereference (caches) → gather evidence (sources' caches) → evaluate
//! (pure engine) → apply (server-side apply, only what changed). Changes to policies,
//! approvals, waivers and connectors re-trigger exactly the releases they touch. The process
//! around them (servers, Lease, loops, shutdown) is [`crate::runtime`]'s.

pub mod apply;
pub mod connectors;
pub mod context;
pub mod decisions;
pub mod error;
pub mod gate_api;
pub mod github;
pub mod lookup;
pub mod mappers;
pub mod notify;
pub mod policy;
pub mod release;
pub mod retention;
pub mod written;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector;
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::{Client, Resource};
use tracing::info;

use crate::cluster::Stores;
use crate::cluster::changes::{Changes, Watched, noted};
use crate::cluster::stores::api;
use crate::cluster::watches::{triggers, watch};
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
    pub trigger: connectors::Trigger,
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

/// Wires the Release and GatePolicy controllers to their watches and caches.
pub fn controllers(
    client: Client,
    settings: &Scope,
    metrics: Arc<Metrics>,
    hub: &Arc<Hub>,
    stop: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) -> Controllers {
    let ns = settings.namespace.as_deref();
    let wc = watcher::Config::default().any_semantic();
    let mut release_wc = wc.clone();
    if let Some(selector) = &settings.release_selector {
        release_wc = release_wc.labels(selector);
    }

    let changes = Arc::new(Changes::default());
    let (policies, policies_w) = reflector::store();
    let (approvals, approvals_w) = reflector::store();
    let (waivers, waivers_w) = reflector::store();
    let (passports, passports_w) = reflector::store();
    let (connectors, connectors_w) = reflector::store();
    let (notifiers, notifiers_w) = reflector::store();
    // Passport and Notifier changes wake the leader's delivery (it plans from the caches).
    let wake = Arc::new(tokio::sync::watch::Sender::new(0u64));
    let notifier_watch = noted(
        reflector::reflector(notifiers_w, watch(api(&client, ns), wc.clone())),
        Arc::clone(&changes),
        Watched::Notifier,
    )
    .for_each({
        let wake = Arc::clone(&wake);
        move |_| {
            wake.send_modify(|n| *n = n.wrapping_add(1));
            futures::future::ready(())
        }
    });
    let policy_events = triggers(
        noted(
            reflector::reflector(policies_w, watch(api(&client, ns), wc.clone())),
            Arc::clone(&changes),
            Watched::Policy,
        )
        .touched_objects(),
    );
    let approval_events = triggers(
        noted(
            reflector::reflector(approvals_w, watch(api(&client, ns), wc.clone())),
            Arc::clone(&changes),
            Watched::Approval,
        )
        .touched_objects(),
    );
    let waiver_events = triggers(
        noted(
            reflector::reflector(waivers_w, watch(api(&client, ns), wc.clone())),
            Arc::clone(&changes),
            Watched::Waiver,
        )
        .touched_objects(),
    );
    let written = Arc::new(written::Written::default());
    let passport_events = triggers(
        noted(
            reflector::reflector(passports_w, watch(api(&client, ns), wc.clone())),
            Arc::clone(&changes),
            Watched::Passport,
        )
        .touched_objects()
        .inspect_ok({
            let (written, wake) = (Arc::clone(&written), Arc::clone(&wake));
            move |p: &crate::api::ReleasePassport| {
                written.seen(error::Write::PassportStatus.resource(), &p.metadata);
                wake.send_modify(|n| *n = n.wrapping_add(1));
            }
        }),
    );
    let connector_events = triggers(
        noted(
            reflector::reflector(connectors_w, watch(api(&client, ns), wc.clone())),
            Arc::clone(&changes),
            Watched::Connector,
        )
        .touched_objects(),
    );

    let releases_api: Api<DeserializeGuard<crate::api::Release>> = api(&client, ns);
    let (releases, releases_w) = reflector::store();
    let release_controller = Controller::for_stream(
        triggers(
            noted(
                reflector::reflector(releases_w, watch(releases_api, release_wc.clone())),
                Arc::clone(&changes),
                Watched::Release,
            )
            .applied_objects()
            .inspect_ok({
                let written = Arc::clone(&written);
                move |r: &DeserializeGuard<crate::api::Release>| {
                    written.seen(error::Write::ReleaseStatus.resource(), r.meta())
                }
            }),
        ),
        releases,
    );
    let stores = Stores::new(
        release_controller.store(),
        policies,
        approvals,
        waivers,
        passports,
        connectors,
        notifiers,
        changes,
    );
    let sources: Vec<Box<dyn EvidenceSource>> = vec![
        Box::new(ManualEvidence),
        Box::new(HubSource {
            hub: Arc::clone(hub),
            connectors: stores.connectors.clone(),
            passports: Some(stores.passports.clone()),
        }),
    ];
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            stores.clone(),
            sources,
            Arc::clone(&metrics),
            system_clock(),
        )
        .with_written(written)
        .with_clock_skew(settings.clock_skew)
        .with_notifications_due(wake),
    );
    let (trigger, evidence_changed) = futures::channel::mpsc::unbounded();

    let s = (stores.clone(), stores.clone(), stores.clone());
    let releases = release_controller
        .owns_stream(passport_events)
        .watches_stream(policy_events, move |p| mappers::policy(&s.0, &p))
        .watches_stream(approval_events, |a| mappers::approval(&a))
        .watches_stream(waiver_events, move |w| mappers::waiver(&s.1, &w))
        .watches_stream(connector_events, move |c| mappers::connector(&s.2, &c))
        .reconcile_on(evidence_changed)
        // Unbounded, a cold start over 10,000 Releases opened a connection per reconcile
        // (2,800 at once) and the API server's fairness queues let the first write through
        // after minutes.
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .graceful_shutdown_on(stop.clone())
        .run(release::reconcile, release::error_policy, Arc::clone(&ctx))
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("release controller: {e}");
            }
        });

    let policies_api: Api<DeserializeGuard<crate::api::GatePolicy>> = api(&client, ns);
    let policy_controller = Controller::new(policies_api, wc.clone());
    let release_triggers: Api<DeserializeGuard<crate::api::Release>> = api(&client, ns);
    let policy_status = policy_controller
        .watches(
            release_triggers,
            release_wc,
            move |r: DeserializeGuard<crate::api::Release>| mappers::policies_of(&stores, &r),
        )
        // A policy's status is a count over many Releases: written once they settle, not once
        // per Release write while a fleet is created.
        .with_config(
            controller::Config::default()
                .debounce(POLICY_STATUS_SETTLES)
                .concurrency(settings.concurrency),
        )
        .graceful_shutdown_on(stop.clone())
        .run(policy::reconcile, policy::error_policy, Arc::clone(&ctx))
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("policy controller: {e}");
            }
        });

    let (namespace, selector) = (
        settings.namespace.clone(),
        settings.release_selector.clone(),
    );
    let running = async move {
        info!(?namespace, ?selector, "controllers running");
        let notifiers = futures::future::select(Box::pin(notifier_watch), Box::pin(stop));
        futures::future::join3(releases, policy_status, notifiers).await;
    };
    Controllers {
        ctx,
        trigger,
        running: running.boxed(),
    }
}
