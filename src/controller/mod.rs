//! `passport controller`: Releases become ReleasePassports in a live cluster.
//!
//! Pipeline per Release: dereference (caches) → gather evidence (sources' caches) → evaluate
//! (pure engine) → apply (server-side apply, only what changed). GatePolicies get their own
//! status. Changes to policies, approvals, waivers and connectors re-trigger exactly the releases
//! they touch.

pub mod apply;
pub mod connectors;
pub mod context;
pub mod dereference;
pub mod error;
pub mod gate_api;
pub mod leader;
pub mod mappers;
pub mod policy;
pub mod probes;
pub mod release;
pub mod retention;
pub mod watches;
pub mod written;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::{StreamExt, TryStreamExt};
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, controller, watcher};
use kube::{Client, Resource};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::connectors::hub::{Hub, HubSource};
use crate::evidence::{EvidenceSource, manual::ManualEvidence};
use crate::metrics::Metrics;
use context::{Context, Stores, system_clock};
use leader::{Leadership, LeaseSettings};
use probes::ProbeState;
use watches::{triggers, watch};

/// Everything `passport controller` is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace (shards a cluster across controller deployments).
    pub namespace: Option<String>,
    /// Only Releases matching this label selector.
    pub release_selector: Option<String>,
    /// Where `/healthz`, `/readyz` and `/metrics` listen.
    pub probe_addr: SocketAddr,
    /// Where signed CI webhook deliveries are received (on the leader).
    pub webhook_addr: SocketAddr,
    /// The audience the HTTP gate's bearer tokens must be minted for.
    pub gate_audience: String,
    /// Releases reconciled at once (at least 1).
    pub concurrency: u16,
    /// `None` runs without leader election (a single replica).
    pub lease: Option<LeaseSettings>,
    /// Serve the console too.
    pub console: Option<ConsoleServe>,
    /// How long passports are kept before they are folded into rollups.
    pub retention: retention::Policy,
    /// Where the rollups ConfigMap lives (the controller's own namespace).
    pub home_namespace: String,
    /// This replica's Pod (in `home_namespace`), labelled while it leads.
    pub pod: String,
}

/// The console every replica serves beside deciding: where, who may sign in, and the optional
/// AI summary.
#[derive(Clone, Debug)]
pub struct ConsoleServe {
    pub addr: SocketAddr,
    pub auth: crate::console::AuthConfig,
    pub summary: Option<Arc<crate::console::summary::Summarizer>>,
}

/// Reflector caches of every kind, kept up to date in the background (for a console that
/// watches without deciding).
pub fn watch_stores(client: Client, ns: Option<&str>) -> Stores {
    fn cache<K>(client: &Client, ns: Option<&str>) -> reflector::Store<K>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store();
        let stream = reflector::reflector(
            writer,
            watch(api(client, ns), watcher::Config::default().any_semantic()),
        )
        .for_each(|_| async {});
        tokio::spawn(stream);
        store
    }
    Stores::new(
        cache(&client, ns),
        cache(&client, ns),
        cache(&client, ns),
        cache(&client, ns),
        cache(&client, ns),
        cache(&client, ns),
    )
}

/// The console's view of the caches: a new snapshot at most every two seconds, however many
/// pages are served.
pub fn console_source(
    stores: Stores,
    hub: Option<Arc<Hub>>,
    rollups: retention::SharedRollups,
    runtime: crate::console::Runtime,
    leadership: Option<Arc<Metrics>>,
) -> Arc<dyn crate::console::SnapshotSource> {
    Arc::new(crate::console::Refreshing::new(
        move || {
            let candidates = hub.as_ref().map(|h| h.candidates()).unwrap_or_default();
            let mut runtime = runtime.clone();
            if let Some(m) = &leadership {
                runtime.leader = Some(m.leader.get() == 1);
            }
            let mut objects = stores.objects(candidates);
            objects.rollups = rollups.read().map(|r| Arc::clone(&r)).unwrap_or_default();
            crate::console::Snapshot::new(objects, chrono::Utc::now(), runtime)
        },
        std::time::Duration::from_secs(2),
    ))
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no Kubernetes client configuration (in-cluster or kubeconfig)")]
    Config(#[source] kube::config::InferConfigError),
    #[error("cannot build the Kubernetes client")]
    Client(#[source] kube::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("lost the leader Lease; exiting so this replica restarts as a standby")]
    LostLeadership,
    #[error("cannot build the HTTP client for connectors")]
    Http(#[source] reqwest::Error),
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A client whose User-Agent names this replica, so the API server's audit log and metrics say
/// which replica made each request.
async fn client_for(replica: &str) -> Result<Client, RunError> {
    let mut config = kube::Config::infer().await.map_err(RunError::Config)?;
    let agent = format!("release-passport/{} ({replica})", env!("CARGO_PKG_VERSION"));
    if let Ok(value) = axum::http::HeaderValue::from_str(&agent) {
        config.headers.push((axum::http::header::USER_AGENT, value));
    }
    Client::try_from(config).map_err(RunError::Client)
}

/// Runs until SIGTERM (draining in-flight reconciles) or until leadership is lost.
pub async fn run(settings: Settings) -> Result<(), RunError> {
    let client = client_for(&settings.pod).await?;
    let metrics = Arc::new(Metrics::new());
    let probe_state = Arc::new(ProbeState::default());
    let listener = tokio::net::TcpListener::bind(settings.probe_addr)
        .await
        .map_err(|source| RunError::Listen {
            addr: settings.probe_addr,
            source,
        })?;
    let probe_local = listener.local_addr().unwrap_or(settings.probe_addr);
    let probe_app = probes::router(Arc::clone(&probe_state), Arc::clone(&metrics));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, probe_app).await {
            warn!("probe server stopped: {e}");
        }
    });
    info!(addr = %probe_local, "serving /healthz, /readyz and /metrics");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        info!("shutdown requested: draining in-flight reconciles");
        let _ = stop_tx.send(true);
    });

    let hub = Arc::new(
        Hub::new()
            .map_err(RunError::Http)?
            .with_kube(client.clone()),
    );
    let rollups = retention::SharedRollups::default();
    tokio::spawn(retention::follow(
        client.clone(),
        settings.home_namespace.clone(),
        Arc::clone(&rollups),
    ));
    // Every replica serves the console from read-only caches of its own, so the Service can
    // send a viewer to any of them; only the leader decides and writes.
    if let Some(ConsoleServe {
        addr,
        auth,
        summary,
    }) = settings.console.clone()
    {
        let runtime = crate::console::Runtime {
            mode: "controller".into(),
            source: "cluster (this replica's caches)".into(),
            leader: None,
            watch_namespace: settings.namespace.clone(),
        };
        let source = console_source(
            watch_stores(client.clone(), settings.namespace.as_deref()),
            Some(Arc::clone(&hub)),
            Arc::clone(&rollups),
            runtime,
            Some(Arc::clone(&metrics)),
        );
        let console_settings = crate::console::Settings {
            gate_url: format!(
                "http://release-passport-gate.{}:{}",
                settings.home_namespace,
                settings.webhook_addr.port()
            ),
            retention: settings.retention.describe(),
            summary,
        };
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        match crate::console::spawn(addr, source, auth, console_settings, stopped).await {
            Ok(local) => info!(addr = %local, "serving the console"),
            Err(e) => warn!("cannot serve the console: {e:#}"),
        }
    }

    let mut lease = None;
    if let Some(lease_settings) = settings.lease.clone() {
        leader::label_pod(&client, &settings.home_namespace, &settings.pod, false).await;
        let (mut leadership, lock) =
            leader::elect(client.clone(), lease_settings, Arc::clone(&metrics));
        lease = Some((leadership.clone(), lock));
        // A standby is ready (it serves probes and metrics); it writes nothing until it leads.
        probe_state.ready.store(true, Ordering::Relaxed);
        let mut stop = stop_rx.clone();
        tokio::select! {
            r = leadership.wait_for(|l| *l == Leadership::Leading) => { let _ = r; }
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
    } else {
        metrics.leader.set(1);
    }
    leader::take_label(&client, &settings.home_namespace, &settings.pod).await;

    let (lost_tx, lost_rx) = watch::channel(false);
    if let Some((mut leadership, _)) = lease.clone() {
        tokio::spawn(async move {
            let _ = leadership.wait_for(|l| *l == Leadership::Lost).await;
            let _ = lost_tx.send(true);
        });
    }
    let stop_or_lost = {
        let (mut stop, mut lost) = (stop_rx.clone(), lost_rx.clone());
        async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {},
                _ = lost.wait_for(|l| *l) => {},
            }
        }
    };
    let stop_future = futures::future::FutureExt::shared(Box::pin(stop_or_lost));

    run_controllers(
        client.clone(),
        &settings,
        Shared {
            metrics,
            hub,
            rollups,
        },
        probe_state,
        stop_future.clone(),
    )
    .await;

    if *lost_rx.borrow() {
        return Err(RunError::LostLeadership);
    }
    if let Some((_, lock)) = lease {
        // The label first: from here on this replica answers no gate call.
        leader::label_pod(&client, &settings.home_namespace, &settings.pod, false).await;
        if let Err(e) = lock.step_down().await {
            warn!("could not release the leader Lease: {e}");
        }
    }
    info!("stopped");
    Ok(())
}

/// Receives signed CI deliveries (each re-triggers the release it names) and answers the gate
/// over HTTP, on one listener; both authenticate every request.
async fn serve_webhooks(
    addr: SocketAddr,
    hub: &Arc<Hub>,
    stores: &Stores,
    client: &Client,
    trigger: connectors::Trigger,
    audience: &str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let receiver = crate::connectors::webhook::Receiver::new(
        Arc::clone(hub),
        stores.connectors.clone(),
        Box::new(move |ns: &str, name: &str| {
            let _ = trigger.unbounded_send(ObjectRef::new(name).within(ns));
        }),
        Box::new(chrono::Utc::now),
    );
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            let local = listener.local_addr().unwrap_or(addr);
            info!(addr = %local, "receiving webhook deliveries");
            let gate = gate_api::GateApi {
                client: client.clone(),
                stores: stores.clone(),
                audience: audience.to_string(),
            };
            let app = crate::connectors::webhook::router(Arc::new(receiver))
                .merge(gate_api::router(Arc::new(gate)));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    warn!("webhook server stopped: {e}");
                }
            });
        }
        Err(e) => warn!(%addr, "cannot listen for webhook deliveries: {e}"),
    }
}

/// Every minute the delivery gauges are recomputed (rollups plus live passports); every ten
/// minutes retention runs. A retention pass with nothing expired makes no API call.
async fn retention_loop(
    ctx: Arc<Context>,
    namespace: String,
    policy: retention::Policy,
    rollups: retention::SharedRollups,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let work = async {
        ctx.stores.wait_ready().await;
        for minute in 0u64.. {
            if minute % 10 == 0
                && let Err(e) = retention::pass(&ctx, &namespace, &policy, &rollups).await
            {
                warn!(category = e.category(), "retention pass failed: {e}");
            }
            let now = (ctx.clock)();
            let kept = rollups.read().map(|r| Arc::clone(&r)).unwrap_or_default();
            let passports = ctx.stores.passports.state();
            let all = crate::console::snapshot::rollups_with(
                &kept,
                passports.iter().map(AsRef::as_ref),
                now.date_naive(),
            );
            ctx.metrics.delivery.set_figures(&all, now.date_naive());
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    };
    tokio::select! {
        () = work => {},
        () = stop => {},
    }
}

/// What the leader's controllers share with the rest of the process.
struct Shared {
    metrics: Arc<Metrics>,
    hub: Arc<Hub>,
    rollups: retention::SharedRollups,
}

/// How long a policy's Releases stay unchanged before its status counts them again.
const POLICY_STATUS_SETTLES: std::time::Duration = std::time::Duration::from_millis(500);

async fn run_controllers(
    client: Client,
    settings: &Settings,
    shared: Shared,
    probe_state: Arc<ProbeState>,
    stop: impl std::future::Future<Output = ()> + Clone + Send + Sync + 'static,
) {
    let ns = settings.namespace.as_deref();
    let wc = watcher::Config::default().any_semantic();
    let mut release_wc = wc.clone();
    if let Some(selector) = &settings.release_selector {
        release_wc = release_wc.labels(selector);
    }

    let (policies, policies_w) = reflector::store();
    let (approvals, approvals_w) = reflector::store();
    let (waivers, waivers_w) = reflector::store();
    let (passports, passports_w) = reflector::store();
    let (connectors, connectors_w) = reflector::store();
    let policy_events = triggers(
        reflector::reflector(policies_w, watch(api(&client, ns), wc.clone())).touched_objects(),
    );
    let approval_events = triggers(
        reflector::reflector(approvals_w, watch(api(&client, ns), wc.clone())).touched_objects(),
    );
    let waiver_events = triggers(
        reflector::reflector(waivers_w, watch(api(&client, ns), wc.clone())).touched_objects(),
    );
    let written = Arc::new(written::Written::default());
    let passport_events = triggers(
        reflector::reflector(passports_w, watch(api(&client, ns), wc.clone()))
            .touched_objects()
            .inspect_ok({
                let written = Arc::clone(&written);
                move |p: &crate::api::ReleasePassport| {
                    written.seen("releasepassports/status", &p.metadata)
                }
            }),
    );
    let connector_events = triggers(
        reflector::reflector(connectors_w, watch(api(&client, ns), wc.clone())).touched_objects(),
    );

    let releases_api: Api<DeserializeGuard<crate::api::Release>> = api(&client, ns);
    let (releases, releases_w) = reflector::store();
    let release_controller = Controller::for_stream(
        triggers(
            reflector::reflector(releases_w, watch(releases_api, release_wc.clone()))
                .applied_objects()
                .inspect_ok({
                    let written = Arc::clone(&written);
                    move |r: &DeserializeGuard<crate::api::Release>| {
                        written.seen("releases/status", r.meta())
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
    );
    let Shared {
        metrics,
        hub,
        rollups,
    } = shared;
    let sources: Vec<Box<dyn EvidenceSource>> = vec![
        Box::new(ManualEvidence),
        Box::new(HubSource {
            hub: Arc::clone(&hub),
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
        .with_written(written),
    );
    let (trigger, evidence_changed) = futures::channel::mpsc::unbounded();
    serve_webhooks(
        settings.webhook_addr,
        &hub,
        &stores,
        &client,
        trigger.clone(),
        &settings.gate_audience,
        stop.clone(),
    )
    .await;
    tokio::spawn(retention_loop(
        Arc::clone(&ctx),
        settings.home_namespace.clone(),
        settings.retention.clone(),
        Arc::clone(&rollups),
        stop.clone(),
    ));
    tokio::spawn(connectors::run(
        Arc::clone(&ctx),
        hub,
        trigger,
        stop.clone(),
    ));

    let readiness = {
        let stores = stores.clone();
        async move {
            stores.wait_ready().await;
            probe_state.ready.store(true, Ordering::Relaxed);
            info!("caches synced");
        }
    };
    tokio::spawn(readiness);

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
        .graceful_shutdown_on(stop)
        .run(policy::reconcile, policy::error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!("policy controller: {e}");
            }
        });

    info!(namespace = ?settings.namespace, selector = ?settings.release_selector, "controllers running");
    tokio::join!(releases, policy_status);
}
