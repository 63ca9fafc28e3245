//! The frame every page shares: navigation (a bar on desktop, a drawer on a phone), the account
//! menu with Logout, and the small badges pages repeat. maud escapes every interpolated string,
//! so a hostile object name renders as text. No script: menus are `<details>` elements.

use maud::{DOCTYPE, Markup, html};

use super::auth::Identity;
use super::snapshot::Snapshot;
use crate::api::passport::Effect;
use crate::api::passport::ReleasePassportStatus;
use crate::api::{Decision, EvidenceStatus, ReleasePassport, namespace_of};
use crate::engine::rules::time;

/// The eight menus, in the order the customer's spec lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Releases,
    Gate,
    Radar,
    Metrics,
    Integrations,
    Reports,
    Settings,
}

impl Nav {
    pub const ALL: [Nav; 8] = [
        Nav::Overview,
        Nav::Releases,
        Nav::Gate,
        Nav::Radar,
        Nav::Metrics,
        Nav::Integrations,
        Nav::Reports,
        Nav::Settings,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Nav::Overview => "Overview",
            Nav::Releases => "Releases",
            Nav::Gate => "Gate",
            Nav::Radar => "Radar",
            Nav::Metrics => "Metrics",
            Nav::Integrations => "Integrations",
            Nav::Reports => "Reports",
            Nav::Settings => "Settings",
        }
    }

    pub fn href(self) -> &'static str {
        match self {
            Nav::Overview => "/console",
            Nav::Releases => "/console/releases",
            Nav::Gate => "/console/gate",
            Nav::Radar => "/console/radar",
            Nav::Metrics => "/console/metrics",
            Nav::Integrations => "/console/integrations",
            Nav::Reports => "/console/reports",
            Nav::Settings => "/settings",
        }
    }
}

/// What every page is rendered with.
pub struct Page<'a> {
    pub snap: &'a Snapshot,
    pub user: &'a Identity,
    pub here: &'a Here,
}

/// The request a page answers, as the frame needs it: where it is (for the links that come
/// back to it) and the reader's auto-refresh choice (the `passport_refresh` cookie).
#[derive(Clone, Debug, Default)]
pub struct Here {
    /// Path and query.
    pub uri: String,
    pub refresh: Option<u32>,
}

/// Auto-refresh intervals the reader may pick, in seconds.
pub const REFRESH_CHOICES: [u32; 3] = [30, 60, 300];
/// The cookie that holds the reader's choice.
pub const REFRESH_COOKIE: &str = "passport_refresh";

impl Here {
    pub fn at(uri: &str) -> Self {
        Self {
            uri: uri.to_string(),
            refresh: None,
        }
    }

    /// The choice a request's `Cookie` headers carry, if it is one of [`REFRESH_CHOICES`].
    pub fn refresh_in(headers: &axum::http::HeaderMap) -> Option<u32> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == REFRESH_COOKIE)
            .and_then(|(_, v)| v.parse().ok())
            .filter(|v| REFRESH_CHOICES.contains(v))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Here {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self {
            uri: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string()),
            refresh: Self::refresh_in(&parts.headers),
        })
    }
}

impl Page<'_> {
    /// The passports this user may see.
    pub fn passports(&self) -> impl Iterator<Item = &ReleasePassport> {
        self.snap
            .passports
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| self.user.can_see(p.metadata.namespace.as_deref()))
    }

    /// The visible passports that are the newest of their namespace, service and environment.
    pub fn latest_passports(&self) -> impl Iterator<Item = &ReleasePassport> {
        self.snap
            .latest
            .iter()
            .map(AsRef::as_ref)
            .filter(|p| self.user.can_see(p.metadata.namespace.as_deref()))
    }

    /// The visible passports newest first (`latest_only`: the newest of each target only).
    pub fn newest_passports(&self, latest_only: bool) -> impl Iterator<Item = &ReleasePassport> {
        self.snap
            .newest_first(latest_only)
            .filter(|p| self.user.can_see(p.metadata.namespace.as_deref()))
    }

    /// A moment relative to the snapshot ([`relative`]).
    pub fn when(&self, at: Option<chrono::DateTime<chrono::Utc>>) -> Markup {
        relative(self.snap.now, at)
    }

    pub fn visible(&self, namespace: Option<&str>) -> bool {
        self.user.can_see(namespace)
    }

    /// The Radar and figures of the namespaces this user sees.
    /// The freezes of the namespaces this user may see, newest first.
    pub fn freezes(&self) -> impl Iterator<Item = &crate::freeze::Freeze> {
        self.snap
            .freezes
            .iter()
            .filter(|f| self.user.can_see(Some(&f.namespace)))
    }

    pub fn view(&self) -> std::sync::Arc<super::snapshot::View> {
        self.snap.view(&self.user.visibility)
    }
}

fn nav_links(current: Nav) -> Markup {
    html! {
        @for item in Nav::ALL {
            @if item == current {
                a href=(item.href()) aria-current="page" { (item.label()) }
            } @else {
                a href=(item.href()) { (item.label()) }
            }
        }
    }
}

fn account(user: &Identity) -> Markup {
    html! {
        p.who { strong { (user.name) } br; small { "signed in via " (user.via) } }
        @if !user.groups.is_empty() { p.who { small { "groups: " (user.groups.join(", ")) } } }
        a href="/settings#auth" { "Account settings" }
        a.logout href="/console/logout" { "Logout" }
    }
}

pub fn layout(page: &Page, current: Nav, title: &str, body: Markup) -> Markup {
    let s = page.snap;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Release Passport" }
                link rel="stylesheet" href="/console/assets/console.css";
                link rel="icon" href="data:,";
            }
            body {
                header.top {
                    details.drawer {
                        summary aria-label="Menu" { "☰" }
                        nav.drawer-nav aria-label="Console (mobile)" {
                            (nav_links(current))
                            div.drawer-account { (account(page.user)) }
                        }
                    }
                    a.brand href="/console" { "Release Passport" }
                    nav.main-nav aria-label="Console" { (nav_links(current)) }
                    details.account {
                        summary { span.avatar aria-hidden="true" { (initial(&page.user.name)) } span.name { (page.user.name) } }
                        div.menu { (account(page.user)) }
                    }
                }
                @for f in page.freezes().filter(|f| f.active(s.now)) {
                    div.freeze role="alert" {
                        strong { "Line stopped in " (f.namespace) } ": " (f.reason)
                        " — every release there holds"
                        @if let Some(by) = &f.by { ", frozen by " (by) }
                        " since " (time(f.start))
                        @if f.open_ended() { " until ended" } @else { " until " (time(f.end)) }
                        ". " a href="/console/gate#freezes" { "Freezes" }
                    }
                }
                main id="main" { (body) }
                footer {
                    p {
                        (s.runtime.source) " · snapshot of " (time(s.now))
                        @if s.runtime.mode == "demo" { " (a recording: every relative time counts from it)" }
                        @else { " (taken at most 2 s before this page)" }
                        ". Read-only: Release Passport decides and explains; CI/CD and GitOps deploy."
                    }
                    nav.refresh aria-label="Auto-refresh" {
                        "Auto-refresh: "
                        @for (every, label) in [(0, "off"), (30, "30 s"), (60, "1 min"), (300, "5 min")] {
                            @let on = page.here.refresh.unwrap_or(0) == every;
                            @if on { strong aria-current="true" { (label) } } @else {
                                a href=(format!("/console/refresh{}", query_string(&[("every", &every.to_string()), ("back", &page.here.uri)]))) { (label) }
                            }
                            " "
                        }
                    }
                }
            }
        }
    }
}

fn initial(name: &str) -> String {
    name.chars()
        .find(|c| c.is_alphanumeric())
        .map_or_else(|| "?".into(), |c| c.to_uppercase().collect())
}

/// A bare decision (a timeline entry, a rollup): no trace to count waivers in.
pub fn decision_badge(d: Option<Decision>) -> Markup {
    labelled_badge(
        d,
        d.map_or_else(|| "Undecided".to_string(), |d| d.to_string()),
    )
}

/// A passport's decision as every page shows it: "Allow (1 waived)" when a waiver let it through.
pub fn passport_badge(status: Option<&ReleasePassportStatus>) -> Markup {
    match status {
        Some(s) => labelled_badge(s.decision, s.decision_label()),
        None => decision_badge(None),
    }
}

/// A decision's colour with the words a passport gave it ([`ReleasePassportStatus::decision_label`]).
pub fn labelled_badge(d: Option<Decision>, text: String) -> Markup {
    let class = match d {
        Some(Decision::Allow) => "badge allow",
        Some(Decision::Hold) => "badge hold",
        Some(Decision::Block) => "badge block",
        None => "badge",
    };
    html! { span class=(class) { (text) } }
}

pub fn evidence_badge(s: EvidenceStatus) -> Markup {
    let class = match s {
        EvidenceStatus::Complete => "badge allow",
        EvidenceStatus::Failed => "badge block",
        _ => "badge hold",
    };
    html! { span class=(class) { (s.as_str()) } }
}

pub fn effect_badge(e: Effect) -> Markup {
    let class = match e {
        Effect::Pass => "badge allow",
        Effect::Block => "badge block",
        Effect::Hold => "badge hold",
        Effect::Waived => "badge waived",
    };
    html! { span class=(class) { (e.as_str()) } }
}

pub fn ok_badge(ok: bool, yes: &str, no: &str) -> Markup {
    html! { @if ok { span.badge.allow { (yes) } } @else { span.badge.hold { (no) } } }
}

/// Link to a release's truth screen. Path segments are percent-encoded, so any name is safe.
pub fn passport_href(p: &ReleasePassport) -> String {
    release_href(
        namespace_of(&p.metadata),
        p.metadata.name.as_deref().unwrap_or(""),
    )
}

pub fn release_href(namespace: &str, name: &str) -> String {
    format!("/console/releases/{}/{}", encode(namespace), encode(name))
}

/// `?k=v&…` of the non-empty pairs, values percent-encoded ("" when all are empty).
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(&format!("{k}={}", encode(v)));
    }
    out
}

pub fn encode(segment: &str) -> String {
    crate::api::links::percent_encode(segment, false)
}

/// A moment as the reader wants it: how long ago (or how far ahead) of the snapshot, with the
/// time itself beside it (and exact on hover and in `datetime`).
pub fn relative(
    now: chrono::DateTime<chrono::Utc>,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Markup {
    match at {
        None => html! { "-" },
        // The absolute time beside the relative one, not only in a hover title a phone never
        // shows.
        Some(t) => html! {
            time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) title=(time(t)) { (ago(now, t)) }
            " " small.at { "(" (t.format("%Y-%m-%d %H:%M UTC")) ")" }
        },
    }
}

/// When something ends, in the tense it needs: "expires in 2d", "expired 3h ago".
pub fn expiry(now: chrono::DateTime<chrono::Utc>, at: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { (if at > now { "expires " } else { "expired " }) (relative(now, Some(at))) }
}

/// "just now", "5m ago", "2d 4h ago", "in 10m".
pub fn ago(now: chrono::DateTime<chrono::Utc>, t: chrono::DateTime<chrono::Utc>) -> String {
    let d = now - t;
    if d < chrono::Duration::zero() {
        format!("in {}", crate::output::human_duration(-d))
    } else if d < chrono::Duration::minutes(1) {
        "just now".to_string()
    } else {
        format!("{} ago", crate::output::human_duration(d))
    }
}

/// Which page of a long list an address asks for, as people count: `?page=1` is the first
/// (0 or no page at all is the first too), and a link to page 3 says `page=3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(from = "usize")]
pub struct PageNumber(usize);

impl From<usize> for PageNumber {
    fn from(n: usize) -> Self {
        Self(n.saturating_sub(1))
    }
}

impl std::fmt::Display for PageNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0 + 1)
    }
}

/// One page of a long list: the rows it shows, which page it is and how many there are.
pub struct Paged<'a, T> {
    pub rows: &'a [T],
    pub current: PageNumber,
    pub pages: usize,
}

/// The page of `items` that `wanted` asks for, `size` rows a page (the last page when it asks
/// past the end).
pub fn paged<T>(items: &[T], wanted: PageNumber, size: usize) -> Paged<'_, T> {
    let pages = items.len().div_ceil(size).max(1);
    let current = wanted.0.min(pages - 1);
    let start = (current * size).min(items.len());
    let end = (start + size).min(items.len());
    Paged {
        rows: &items[start..end],
        current: PageNumber(current),
        pages,
    }
}

impl<T> Paged<'_, T> {
    /// "← Previous · Page 2 of 5 · Next →" (or the words given), `href(n)` linking to page `n`.
    /// Nothing when there is one page.
    pub fn pager(&self, words: [&str; 2], href: impl Fn(PageNumber) -> String) -> Markup {
        let current = self.current.0;
        html! {
            @if self.pages > 1 {
                nav.pager aria-label="Pages" {
                    @if current > 0 { a rel="prev" href=(href(PageNumber(current - 1))) { (words[0]) } }
                    span { "Page " (self.current) " of " (self.pages) }
                    @if current + 1 < self.pages { a rel="next" href=(href(PageNumber(current + 1))) { (words[1]) } }
                }
            }
        }
    }
}

/// The words of a pager over a list in any order.
pub const PREVIOUS_NEXT: [&str; 2] = ["← Previous", "Next →"];

/// A command the reader can copy: the console never acts, it shows what to run.
pub fn command(text: &str) -> Markup {
    html! { pre.cmd { code { (text) } } }
}

pub fn empty(text: &str) -> Markup {
    html! { p.empty { (text) } }
}
