//! The read-only web console (axum): eight pages, JSON under `/api/v1/`, sanitised exports.
//! Every handler reads one shared snapshot of the caches — never an API call per page view —
//! and every route is a side-effect-free GET behind authentication.

mod assets;
pub mod audit;
pub mod auth;
pub mod builder;
mod charts;
pub mod cluster;
pub mod export;
pub mod failure;
pub mod layout;
pub mod oidc;
mod pages;
pub mod snapshot;
pub mod summary;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::Markup;

pub use auth::{AuthConfig, Identity};
pub use snapshot::{Fixed, Objects, Refreshing, Runtime, Snapshot, SnapshotSource};

use failure::{Failure, Params};
use layout::{Here, Page};

/// What Settings shows besides sign-in (nothing secret).
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long passports are kept, in words.
    pub retention: String,
    /// The HTTP gate's base URL as pipelines reach it.
    pub gate_url: String,
    /// Whether the gate is served over TLS (`None`: this console cannot tell).
    pub gate_tls: Option<bool>,
    /// The audience the gate's tokens must be minted for.
    pub gate_audience: String,
    /// The optional AI summary on the truth screen (None: off).
    pub summary: Option<Arc<summary::Summarizer>>,
    /// What the listener takes (connections, timeouts, body, concurrency).
    pub limits: crate::serve::Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            retention: "Passports are kept as long as their Release exists (each is owned by its Release and garbage-collected with it).".into(),
            gate_url: "https://release-passport.example:8082".into(),
            gate_tls: None,
            gate_audience: "release-passport".into(),
            summary: None,
            limits: crate::serve::Limits::default(),
        }
    }
}

struct Console {
    source: Arc<dyn SnapshotSource>,
    auth: Arc<AuthConfig>,
    settings: Settings,
}

type Shared = Arc<Console>;

/// The console's routes. Serve them with [`serve`] (or with connect info), so proxy addresses
/// can be checked.
pub fn router(source: Arc<dyn SnapshotSource>, auth: AuthConfig, settings: Settings) -> Router {
    let auth = Arc::new(auth);
    let console = Arc::new(Console {
        source,
        auth: Arc::clone(&auth),
        settings,
    });
    // What reads or renders every passport at once: a few at a time, the rest wait their turn,
    // so a burst of them cannot take the memory of that many whole lists.
    let expensive = Router::new()
        .route("/console", get(overview))
        .route("/console/releases", get(releases))
        .route("/console/metrics", get(metrics))
        .route("/console/reports", get(reports))
        .route("/api/v1/passports", get(passports_json))
        .route("/api/v1/export/{file}", get(export))
        .route_layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            EXPENSIVE_AT_ONCE,
        ));
    let protected = Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .merge(expensive)
        .route("/console/releases/{namespace}/{name}", get(release))
        .route("/console/gate", get(gate))
        .route("/console/gate/builder", get(builder))
        .route("/console/radar", get(radar))
        .route("/console/integrations", get(integrations))
        .route("/settings", get(settings_page))
        .route("/console/refresh", get(refresh))
        .route("/api/v1/passports/{namespace}/{name}", get(passport_json))
        .route("/api/v1/connectors", get(connectors_json))
        .fallback(not_found)
        .with_state(Arc::clone(&console))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&auth),
            auth::require,
        ));
    let pages = Router::new()
        .route("/console/logout", get(auth::logout).with_state(auth))
        .route("/console/signed-out", get(|| async { pages::signed_out() }))
        .route("/console/assets/console.css", get(assets::css))
        .merge(protected)
        // A span per request (method, path, status, latency); the health probe stays untraced.
        .layer(tower_http::trace::TraceLayer::new_for_http());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(pages)
        .layer(axum::middleware::from_fn(auto_refresh))
        .layer(axum::middleware::map_response(security_headers))
}

/// The reader's auto-refresh (the `passport_refresh` cookie): a `Refresh` header on every page,
/// so the browser reloads it without a script.
async fn auto_refresh(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let every = Here::refresh_in(request.headers());
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if let Some(every) = every.filter(|_| html && response.status().is_success()) {
        response
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from(every));
    }
    response
}

#[derive(serde::Deserialize)]
struct RefreshQuery {
    every: u32,
    #[serde(default)]
    back: String,
}

/// Turns auto-refresh on (one of the offered intervals) or off, then goes back to the page
/// the reader was on (a path of this console; anything else goes to the overview).
async fn refresh(Params(q): Params<RefreshQuery>) -> Response {
    // A path of ours, in printable ASCII (a Location header cannot carry anything else).
    let ours = q.back.starts_with('/')
        && !q.back.starts_with("//")
        && q.back.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let back = if ours { q.back } else { "/console".to_string() };
    let cookie = if layout::REFRESH_CHOICES.contains(&q.every) {
        format!(
            "{}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
            layout::REFRESH_COOKIE,
            q.every
        )
    } else {
        format!(
            "{}=; Path=/; Max-Age=0; SameSite=Lax; HttpOnly",
            layout::REFRESH_COOKIE
        )
    };
    let mut response = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn render(
    console: &Console,
    user: &Identity,
    here: &Here,
    draw: impl FnOnce(&Page) -> Markup,
) -> Html<bytes::Bytes> {
    let snap = console.source.snapshot();
    Html(snap.page(user, &here.uri, here.refresh, || {
        finish(draw(&Page {
            snap: &snap,
            user,
            here,
        }))
    }))
}

/// A rendered page as sent: every invisible mark in it (bidi controls, zero-width characters)
/// shown, wherever a name or a summary put it.
pub(crate) fn finish(markup: Markup) -> String {
    let html = markup.into_string();
    match crate::text::marks_shown(&html) {
        std::borrow::Cow::Borrowed(_) => html,
        std::borrow::Cow::Owned(shown) => shown,
    }
}

/// One page as the server renders it, without HTTP (benchmarks measure server time with it).
/// Unknown paths render the not-found page.
pub fn render_page(snap: &Snapshot, user: &Identity, path: &str) -> String {
    let here = Here::at(path);
    let page = Page {
        snap,
        user,
        here: &here,
    };
    let markup = match path {
        "/console" => pages::overview::page(&page),
        "/console/releases" => pages::releases::page(&page, &pages::releases::Filter::default()),
        "/console/gate" => pages::gate::page(&page, &pages::gate::Query::default()),
        "/console/radar" => pages::radar::page(&page),
        "/console/metrics" => pages::metrics::page(&page, &pages::metrics::Window::default()),
        "/console/integrations" => {
            pages::integrations::page(&page, &pages::integrations::Query::default())
        }
        "/console/reports" => pages::reports::page(&page, &pages::reports::LogFilter::default()),
        _ => Failure::NotFound("There is no such page.".into()).markup(&page),
    };
    finish(markup)
}

async fn overview(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, pages::overview::page)
}

async fn releases(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Params(filter): Params<pages::releases::Filter>,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| pages::releases::page(p, &filter))
}

async fn release(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let snap = c.source.snapshot();
    let page = Page {
        snap: &snap,
        user: &u,
        here: &here,
    };
    match snap.passport(&namespace, &name) {
        Some(p) if u.can_see(Some(&namespace)) => {
            let why = pages::release::investigation(&page, p);
            let ai = c
                .settings
                .summary
                .as_ref()
                .map_or(summary::Summary::Off, |s| s.summary(p, &why));
            Html(finish(pages::release::page(&page, p, &why, &ai))).into_response()
        }
        // Not visible and not there look the same.
        _ => Failure::NotFound(format!("No passport {namespace}/{name}.")).page(&page),
    }
}

async fn gate(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Params(query): Params<pages::gate::Query>,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| pages::gate::page(p, &query))
}

async fn builder(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Params(form): Params<pages::builder::Form>,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| pages::builder::page(p, &form))
}

async fn radar(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, pages::radar::page)
}

async fn metrics(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Params(window): Params<pages::metrics::Window>,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| pages::metrics::page(p, &window))
}

async fn integrations(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Params(query): Params<pages::integrations::Query>,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| pages::integrations::page(p, &query))
}

async fn reports(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
    Params(filter): Params<pages::reports::LogFilter>,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| pages::reports::page(p, &filter))
}

async fn settings_page(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
) -> Html<bytes::Bytes> {
    render(&c, &u, &here, |p| {
        pages::settings::page(p, &c.auth, &c.settings)
    })
}

/// Requests to the routes that read every passport, served at once (the rest wait).
const EXPENSIVE_AT_ONCE: usize = 4;
/// Passports per page of `/api/v1/passports` unless `limit` says otherwise, and the most.
const DEFAULT_LIMIT: usize = 500;
const MAX_LIMIT: usize = 1000;

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    /// Passports per page (1..=1000, default 500).
    #[serde(default)]
    limit: Option<usize>,
    /// From the previous page's `metadata.continue`.
    #[serde(default, rename = "continue")]
    continue_: Option<String>,
}

/// Where the next page starts: after this namespace and name (the snapshot's order), so a
/// passport created or deleted between pages neither repeats nor shifts the rest.
fn continue_token(after: &crate::api::ObjectKey) -> String {
    use base64::Engine;
    let text = serde_json::json!([after.namespace, after.name]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn read_continue(token: &str) -> Option<(String, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn passports_json(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    Params(query): Params<ListQuery>,
) -> Response {
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n @ 1..=MAX_LIMIT) => n,
        Some(n) => {
            return Failure::BadRequest(format!("limit: {n} is not between 1 and {MAX_LIMIT}"))
                .json();
        }
    };
    let after = match query.continue_.as_deref().map(read_continue) {
        None => None,
        Some(Some(after)) => Some(after),
        Some(None) => {
            return Failure::BadRequest(
                "continue: not a token from a previous page's metadata.continue".into(),
            )
            .json();
        }
    };
    let snap = c.source.snapshot();
    let key = |p: &crate::api::ReleasePassport| {
        (
            crate::api::namespace_of(&p.metadata).to_string(),
            p.metadata.name.clone().unwrap_or_default(),
        )
    };
    let mut visible = snap
        .passports
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| u.can_see(p.metadata.namespace.as_deref()))
        .filter(|p| after.as_ref().is_none_or(|a| key(p) > *a));
    let items: Vec<&crate::api::ReleasePassport> = visible.by_ref().take(limit).collect();
    let more = visible.next().is_some();
    let mut metadata = serde_json::Map::new();
    if more && let Some(last) = items.last() {
        metadata.insert(
            "continue".into(),
            continue_token(&crate::api::Keyed::key(*last)).into(),
        );
    }
    json_response(
        &serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": metadata, "items": items}),
    )
}

async fn passport_json(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let snap = c.source.snapshot();
    match snap.passport(&namespace, &name) {
        Some(p) if u.can_see(Some(&namespace)) => json_response(p.as_ref()),
        _ => Failure::NotFound(format!("no passport {namespace}/{name}")).json(),
    }
}

#[derive(serde::Deserialize, Default)]
struct ExportQuery {
    #[serde(flatten)]
    passports: pages::releases::Filter,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    actor: String,
}

async fn export(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    Path(file): Path<String>,
    Params(query): Params<ExportQuery>,
) -> Response {
    let snap = c.source.snapshot();
    let Some((what, format)) = file
        .rsplit_once('.')
        .and_then(|(what, ext)| Some((what, export::Format::parse(ext)?)))
    else {
        return Failure::NotFound(format!("no export {file}")).json();
    };
    let mut stem = what.to_string();
    let body = match what {
        "passports" => {
            let here = Here::at("");
            let page = Page {
                snap: &snap,
                user: &u,
                here: &here,
            };
            let selected = query.passports.select(&page);
            // A truth screen's export is named for its release, not like every other export.
            if let [one] = selected.as_slice()
                && !query.passports.name.is_empty()
            {
                stem = export::file_stem(one);
            }
            export::passports(selected.into_iter(), format, snap.now)
        }
        "events" => {
            let filter = pages::reports::LogFilter {
                kind: query.kind,
                namespace: query.passports.namespace,
                actor: query.actor,
                q: query.passports.q,
                page: Default::default(),
            };
            export::events(
                snap.events
                    .iter()
                    .map(AsRef::as_ref)
                    .filter(|e| u.can_see(Some(&e.namespace)) && filter.matches(e)),
                format,
                snap.now,
            )
        }
        _ => return Failure::NotFound(format!("no export {file}")).json(),
    };
    let disposition = format!("attachment; filename=\"{stem}.{}\"", format.extension());
    (
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// The connectors this viewer sees, each judged by the one definition of an issue
/// ([`crate::radar::ConnectorFreshness::trouble`]) every page counts with, and the count in the
/// pages' own words.
async fn connectors_json(State(c): State<Shared>, Extension(u): Extension<Identity>) -> Response {
    let snap = c.source.snapshot();
    let here = Here::at("");
    let page = Page {
        snap: &snap,
        user: &u,
        here: &here,
    };
    let view = page.view();
    let (fine, configured) = pages::integrations::without_issues(&view.radar.connectors);
    let items: Vec<serde_json::Value> = view
        .radar
        .connectors
        .iter()
        .map(|f| {
            serde_json::json!({
                "connector": f.connector.to_string(),
                "type": f.type_,
                "health": f.health,
                "freshness": f.freshness_words(),
                "issue": f.trouble(),
            })
        })
        .collect();
    json_response(&serde_json::json!({
        "withoutIssues": fine,
        "configured": configured,
        "summary": format!("{fine} of {configured} connectors without issues"),
        "items": items,
    }))
}

fn json_response<T: serde::Serialize + ?Sized>(value: &T) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string_pretty(value).unwrap_or_default(),
    )
        .into_response()
}

async fn not_found(
    State(c): State<Shared>,
    Extension(u): Extension<Identity>,
    here: Here,
) -> Response {
    // A program reading the API gets its answer in JSON, as every /api/ route answers.
    if here.uri.starts_with("/api/") {
        return Failure::NotFound("There is no such API route.".into()).json();
    }
    let snap = c.source.snapshot();
    let page = Page {
        snap: &snap,
        user: &u,
        here: &here,
    };
    Failure::NotFound("There is no such page.".into()).page(&page)
}

/// Binds and serves the console in the background until `shutdown`.
pub async fn spawn(
    addr: SocketAddr,
    source: Arc<dyn SnapshotSource>,
    auth: AuthConfig,
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    let (local, serving) = listen(addr, source, auth, settings, shutdown).await?;
    tokio::spawn(serving);
    Ok(local)
}

/// Binds the console's listener; the returned task serves it until `shutdown` (for a caller
/// that supervises its tasks).
pub async fn listen(
    addr: SocketAddr,
    source: Arc<dyn SnapshotSource>,
    auth: AuthConfig,
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(
    SocketAddr,
    impl std::future::Future<Output = ()> + Send + 'static,
)> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is the port in use?)"))?;
    let local = listener.local_addr()?;
    let limits = settings.limits.clone();
    let app = router(source, auth, settings);
    let serving = async move {
        if let Err(e) = crate::serve::serve(listener, app, limits, shutdown).await {
            tracing::warn!("console stopped: {e}");
        }
    };
    Ok((local, serving))
}
