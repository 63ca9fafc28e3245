//! The process: everything `passport controller` runs besides the reconcilers — probes and
//! metrics, the leader Lease and the one leadership signal, the console, the webhook and gate
//! listener, the connector refresh, retention and the delivery gauges, and shutdown. The
//! reconcilers themselves are [`crate::controller`]'s.

pub mod leader;
pub mod lease;
pub mod probes;
pub mod supervise;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use kube::Client;
use kube::runtime::reflector::ObjectRef;
use tracing::{info, warn};

use crate::cluster::history::{self, SharedRollups};
use crate::cluster::{Feeds, Stores};
use crate::connectors::hub::Hub;
use crate::controller::context::Context;
use crate::controller::{self, Scope, gate_api, refresh, retention};
use crate::leadership::{self, Leadership, Signal};
use crate::metrics::Metrics;
use crate::metrics::delivery::Rollups;
use leader::LeaseSettings;
use probes::ProbeState;
use supervise::{Supervisor, Until, until};

/// Everything `passport controller` is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Which Releases this process decides.
    pub scope: Scope,
    /// Where `/healthz`, `/readyz` and `/metrics` listen.
    pub probe_addr: SocketAddr,
    /// Where signed CI webhook deliveries are received (on the leader).
    pub webhook_addr: SocketAddr,
    /// The audience the HTTP gate's bearer tokens must be minted for.
    pub gate_audience: String,
    /// Serve webhooks and the gate over TLS (`None`: plain HTTP).
    pub gate_tls: Option<crate::serve::tls::Tls>,
    /// The webhook and gate listener's limits.
    pub webhook_limits: crate::serve::Limits,
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
    /// Notifications (links to the console in messages).
    pub notify: crate::controller::delivery::Settings,
    /// The Secret (in `home_namespace`) of the GitHub App answering deployment protection
    /// rules; `None`: not answered.
    pub github_app_secret: Option<String>,
}

/// The console every replica serves beside deciding: where, who may sign in, and the optional
/// AI summary.
#[derive(Clone, Debug)]
pub struct ConsoleServe {
    pub addr: SocketAddr,
    pub auth: crate::console::AuthConfig,
    pub summary: Option<Arc<crate::console::summary::Summarizer>>,
    pub limits: crate::serve::Limits,
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
    #[error("exiting so this replica restarts")]
    TaskFailed(#[source] supervise::Ended),
}

/// A client whose User-Agent names this replica, so the API server's audit log and metrics say
/// which replica made each request.
async fn client_for(replica: &str) -> Result<Client, RunError> {
    let agent = format!("release-passport/{} ({replica})", env!("CARGO_PKG_VERSION"));
    crate::cluster::client::connect(Some(&agent))
        .await
        .map_err(|e| match e {
            kube::Error::InferConfig(e) => RunError::Config(e),
            e => RunError::Client(e),
        })
}

/// Runs until SIGTERM (draining in-flight reconciles) or until leadership is lost.
pub async fn run(settings: Settings) -> Result<(), RunError> {
    let client = client_for(&settings.pod).await?;
    let metrics = Arc::new(Metrics::new());
    let probe_state = Arc::new(ProbeState::default());

    let stop_tx = stop_on_signal();
    let stopped = {
        let stop_tx = Arc::clone(&stop_tx);
        move || {
            let mut stop = stop_tx.subscribe();
            async move {
                let _ = stop.wait_for(|s| *s).await;
            }
        }
    };
    let supervisor = Supervisor::default();
    // What runs for the whole process is expected to end only when the process is stopping.
    let process = until(stopped());
    serve_probes(
        settings.probe_addr,
        probes::router(Arc::clone(&probe_state), Arc::clone(&metrics)),
        supervisor.until(process.clone()),
    )
    .await?;
    // A task that ended unexpectedly turns both probes false and stops the process.
    let failing = {
        let probe_state = Arc::clone(&probe_state);
        let stop_tx = Arc::clone(&stop_tx);
        move |ended: &supervise::Ended| {
            probe_state.fail(ended.to_string());
            let _ = stop_tx.send(true);
        }
    };

    let hub = Arc::new(
        Hub::new()
            .map_err(RunError::Http)?
            .with_kube(client.clone()),
    );
    let rollups = SharedRollups::default();
    supervisor.spawn(
        "rollups watch",
        process.clone(),
        history::follow(
            client.clone(),
            settings.home_namespace.clone(),
            Arc::clone(&rollups),
        ),
    );

    let (signal, lease) = elect(&settings, &client, &supervisor).await;
    supervisor.spawn(
        "leader gauge",
        process.clone(),
        follow_leadership(signal.clone(), Arc::clone(&metrics)),
    );

    // One watch per kind, shared by the console and, once this replica leads, the controllers.
    // Every replica serves the console from its own caches, so the Service can send a viewer
    // to any of them; only the leader decides and writes. A standby without a console watches
    // nothing.
    let follow = |supervisor: &Supervisor| {
        let (feeds, following) = Feeds::start(
            &client,
            settings.scope.namespace.as_deref(),
            settings.scope.release_selector.as_deref(),
        );
        supervisor.spawn("watches", process.clone(), following);
        feeds
    };
    let mut feeds = None;
    if let Some(console) = settings.console.clone() {
        let followed = feeds.insert(follow(&supervisor));
        serve_console(
            &settings,
            console,
            followed.stores.clone(),
            &hub,
            &rollups,
            &signal,
            supervisor.until(process.clone()),
        )
        .await;
    }

    if lease.is_some() {
        // A standby is ready (it serves probes and metrics); it writes nothing until it leads.
        probe_state.ready.store(true, Ordering::Relaxed);
        let mut waiting = signal.clone();
        tokio::select! {
            r = waiting.wait_for(|l| *l == Leadership::Leading) => { let _ = r; }
            () = stopped() => return Ok(()),
            ended = supervisor.failed() => {
                failing(&ended);
                return Err(RunError::TaskFailed(ended));
            }
        }
    }
    leader::take_label(&client, &settings.home_namespace, &settings.pod).await;

    let stop: Until = until(stop_or_lost(stopped(), signal.clone()));

    let feeds = feeds.unwrap_or_else(|| follow(&supervisor));
    let controllers = lead(
        &settings,
        &client,
        &metrics,
        hub,
        &rollups,
        &feeds,
        &probe_state,
        supervisor.until(stop),
    )
    .await;
    let reconciling = controllers.run();
    tokio::pin!(reconciling);
    let ended = tokio::select! {
        () = &mut reconciling => None,
        ended = supervisor.failed() => Some(ended),
    };
    if let Some(ended) = ended {
        // The reconcilers drain (the stop reaches them) before the process exits.
        failing(&ended);
        reconciling.await;
        if let Some(lock) = lease
            && let Err(e) = lock.step_down().await
        {
            warn!("could not release the leader Lease: {e}");
        }
        return Err(RunError::TaskFailed(ended));
    }

    if *signal.borrow() == Leadership::Lost {
        return Err(RunError::LostLeadership);
    }
    if let Some(lock) = lease {
        // The label first: from here on this replica answers no gate call.
        leader::label_pod(&client, &settings.home_namespace, &settings.pod, false).await;
        if let Err(e) = lock.step_down().await {
            warn!("could not release the leader Lease: {e}");
        }
    }
    info!("stopped");
    Ok(())
}

/// What only the leader runs: the controllers (returned, to be run), the webhook and gate
/// listener, delivery, protection-rule answers, retention and the connector refresh, each until
/// `tasks`' stop; the replica turns ready once the caches have listed.
#[allow(clippy::too_many_arguments)]
async fn lead(
    settings: &Settings,
    client: &Client,
    metrics: &Arc<Metrics>,
    hub: Arc<Hub>,
    rollups: &SharedRollups,
    feeds: &Feeds,
    probe_state: &Arc<ProbeState>,
    tasks: supervise::Bound<'_>,
) -> controller::Controllers {
    let stop = tasks.until.clone();
    let controllers = controller::controllers(
        client.clone(),
        &settings.scope,
        Arc::clone(metrics),
        &hub,
        feeds,
        stop.clone(),
    );
    let ctx = Arc::clone(&controllers.ctx);
    let protection = match &settings.github_app_secret {
        Some(secret) => github_app(&ctx, settings, secret).await,
        None => None,
    };
    serve_webhooks(
        settings,
        &hub,
        &ctx.stores,
        client,
        controllers.trigger.clone(),
        protection.clone(),
        tasks.clone(),
    )
    .await;
    tasks.spawn(
        "notifications",
        controller::delivery::run(Arc::clone(&ctx), settings.notify.clone(), stop.clone()),
    );
    if let Some(protection) = protection {
        tasks.spawn(
            "github protection answers",
            controller::github::run(protection, stop.clone()),
        );
    }
    tasks.spawn(
        "retention and delivery gauges",
        history_loop(
            Arc::clone(&ctx),
            settings.home_namespace.clone(),
            settings.retention.clone(),
            Arc::clone(rollups),
            stop.clone(),
        ),
    );
    tasks.spawn(
        "connector refresh",
        refresh::run(
            Arc::clone(&ctx),
            hub,
            controllers.trigger.clone(),
            stop.clone(),
        ),
    );
    // One-shot: it ends once the caches are synced (a panic leaves the replica unready).
    tokio::spawn({
        let (stores, probe_state) = (ctx.stores.clone(), Arc::clone(probe_state));
        async move {
            stores.wait_ready().await;
            if !probe_state.failed() {
                probe_state.ready.store(true, Ordering::Relaxed);
            }
            info!("caches synced");
        }
    });
    controllers
}

/// Binds the probe listener and serves `/healthz`, `/readyz` and `/metrics` on it through the
/// drain, until the process exits.
async fn serve_probes(
    addr: SocketAddr,
    app: axum::Router,
    tasks: supervise::Bound<'_>,
) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Listen { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    tasks.spawn("probes", async move {
        let limits = crate::serve::Limits::default();
        if let Err(e) = crate::serve::serve(listener, app, limits, std::future::pending()).await {
            warn!("probe server stopped: {e}");
        }
    });
    info!(addr = %local, "serving /healthz, /readyz and /metrics");
    Ok(())
}

/// The leadership signal: from the Lease (its renewal supervised; it ends once the Lease is
/// lost, which ends the process in order) or, without one, this sole replica's.
async fn elect(
    settings: &Settings,
    client: &Client,
    supervisor: &Supervisor,
) -> (Signal, Option<Arc<lease::LeaseLock>>) {
    let Some(lease_settings) = settings.lease.clone() else {
        return (leadership::sole(), None);
    };
    leader::label_pod(client, &settings.home_namespace, &settings.pod, false).await;
    let (signal, lock, electing) = leader::elect(client.clone(), lease_settings);
    let lost = {
        let mut lost = signal.clone();
        until(async move {
            let _ = lost.wait_for(|l| *l == Leadership::Lost).await;
        })
    };
    supervisor.spawn("leader election", lost, electing);
    (signal, Some(lock))
}

/// The process's stop: set by SIGTERM or Ctrl-C, or by a task that failed.
fn stop_on_signal() -> Arc<tokio::sync::watch::Sender<bool>> {
    let stop_tx = Arc::new(tokio::sync::watch::Sender::new(false));
    tokio::spawn({
        let stop_tx = Arc::clone(&stop_tx);
        async move {
            shutdown_signal().await;
            info!("shutdown requested: draining in-flight reconciles");
            let _ = stop_tx.send(true);
        }
    });
    stop_tx
}

/// Resolves when the process stops or the Lease is lost.
async fn stop_or_lost(stopped: impl Future<Output = ()>, mut signal: Signal) {
    tokio::select! {
        () = stopped => {},
        // A replica that never elects has no sender: it is never lost.
        closed = async { signal.wait_for(|l| *l == Leadership::Lost).await.is_err() } => {
            if closed {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The `leader` gauge says what the leadership signal says, for the life of the process.
async fn follow_leadership(mut signal: Signal, metrics: Arc<Metrics>) {
    loop {
        metrics.leader.set(i64::from(leadership::leading(&signal)));
        if signal.changed().await.is_err() {
            // The signal is final (a sole replica's, or a lost Lease's): nothing more to follow.
            return std::future::pending().await;
        }
    }
}

/// Serves the console from caches of its own (a standby's console works too).
async fn serve_console(
    settings: &Settings,
    console: ConsoleServe,
    stores: Stores,
    hub: &Arc<Hub>,
    rollups: &SharedRollups,
    signal: &Signal,
    tasks: supervise::Bound<'_>,
) {
    let runtime = crate::console::Runtime {
        mode: "controller".into(),
        source: "cluster (this replica's caches)".into(),
        leader: None,
        watch_namespace: settings.scope.namespace.clone(),
    };
    let source = crate::console::cluster::source(
        stores,
        Some(Arc::clone(hub)),
        Arc::clone(rollups),
        runtime,
        Some(signal.clone()),
    );
    let console_settings = crate::console::Settings {
        gate_url: format!(
            "{}://release-passport-gate.{}:{}",
            if settings.gate_tls.is_some() {
                "https"
            } else {
                "http"
            },
            settings.home_namespace,
            settings.webhook_addr.port()
        ),
        gate_tls: Some(settings.gate_tls.is_some()),
        gate_audience: settings.gate_audience.clone(),
        retention: settings.retention.describe(),
        summary: console.summary,
        limits: console.limits,
    };
    match crate::console::listen(
        console.addr,
        source,
        console.auth,
        console_settings,
        tasks.until.clone(),
    )
    .await
    {
        Ok((local, serving)) => {
            info!(addr = %local, "serving the console");
            tasks.spawn("console", serving);
        }
        Err(e) => warn!("cannot serve the console: {e:#}"),
    }
}

/// The GitHub App from its Secret, or why not (logged: protection rules are then not answered).
async fn github_app(
    ctx: &Arc<Context>,
    settings: &Settings,
    secret: &str,
) -> Option<Arc<controller::github::Protection>> {
    use k8s_openapi::api::core::v1::Secret;
    let api: kube::Api<Secret> =
        kube::Api::namespaced(ctx.client.clone(), &settings.home_namespace);
    let data: std::collections::BTreeMap<String, String> = match api.get_opt(secret).await {
        Ok(Some(s)) => s
            .data
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, String::from_utf8(v.0).ok()?)))
            .collect(),
        Ok(None) => {
            warn!(
                secret,
                "--github-app-secret: the Secret does not exist; GitHub deployment protection rules are not answered"
            );
            return None;
        }
        Err(e) => {
            warn!(
                secret,
                "--github-app-secret: cannot read the Secret ({e}); GitHub deployment protection rules are not answered"
            );
            return None;
        }
    };
    let app = match controller::github::App::from_secret(secret, &data) {
        Ok(app) => app,
        Err(e) => {
            warn!("--github-app-secret: {e}; GitHub deployment protection rules are not answered");
            return None;
        }
    };
    match controller::github::Protection::new(
        Arc::clone(ctx),
        app,
        settings.home_namespace.clone(),
        settings.notify.console_url.clone(),
    ) {
        Ok(p) => {
            info!(
                path = controller::github::PATH,
                "answering GitHub deployment protection rules"
            );
            Some(Arc::new(p))
        }
        Err(e) => {
            warn!("cannot build the GitHub client: {e}");
            None
        }
    }
}

/// Receives signed CI deliveries (each re-triggers the release it names), GitHub deployment
/// protection rules (when an App is configured) and answers the gate over HTTP, on one
/// listener; each authenticates every request.
async fn serve_webhooks(
    settings: &Settings,
    hub: &Arc<Hub>,
    stores: &Stores,
    client: &Client,
    trigger: refresh::Trigger,
    protection: Option<Arc<controller::github::Protection>>,
    tasks: supervise::Bound<'_>,
) {
    let (addr, audience, tls) = (
        settings.webhook_addr,
        &settings.gate_audience,
        settings.gate_tls.clone(),
    );
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
            let gate = gate_api::GateApi::new(client.clone(), stores.clone(), audience.to_string());
            let mut app = crate::connectors::webhook::router(Arc::new(receiver))
                .merge(gate_api::router(Arc::new(gate)));
            if let Some(protection) = protection {
                app = app.merge(controller::github::router(protection));
            }
            let app = app.layer(tower_http::trace::TraceLayer::new_for_http());
            let limits = settings.webhook_limits.clone();
            let serving = crate::serve::serve_with(listener, app, limits, tls, tasks.until.clone());
            tasks.spawn("webhook and gate listener", async move {
                if let Err(e) = serving.await {
                    warn!("webhook server stopped: {e}");
                }
            });
        }
        Err(e) => warn!(%addr, "cannot listen for webhook deliveries: {e}"),
    }
}

/// Every minute the delivery gauges are recomputed (rollups plus live passports); every ten
/// minutes retention runs. A retention pass with nothing expired makes no API call.
async fn history_loop(
    ctx: Arc<Context>,
    namespace: String,
    policy: retention::Policy,
    rollups: SharedRollups,
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
            let all = Rollups::with_passports(
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

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
