//! Releases / Passports: every passport the viewer may see, filtered by service, environment,
//! decision and evidence status, a page at a time.

use maud::{Markup, html};
use serde::Deserialize;

use super::super::layout::{
    Nav, PREVIOUS_NEXT, Page, PageNumber, empty, evidence_badge, layout, paged, passport_badge,
    passport_href,
};
use crate::api::{EvidenceStatus, Keyed, ReleasePassport};
use crate::metrics::delivery;
use chrono::NaiveDate;

pub const PAGE_SIZE: usize = 50;

/// The list's filters, from the query string (also used by the exports, so "Export these"
/// exports exactly the rows listed).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub decision: String,
    #[serde(default)]
    pub evidence: String,
    #[serde(default)]
    pub namespace: String,
    /// One release, by its exact name (a truth screen's export).
    #[serde(default)]
    pub name: String,
    /// Part of the release name.
    #[serde(default)]
    pub q: String,
    /// Only the newest passport of each namespace, service and environment.
    #[serde(default, deserialize_with = "flag")]
    pub latest: bool,
    /// Only passports a Waiver let through (a rule waived).
    #[serde(default, deserialize_with = "flag")]
    pub waived: bool,
    /// Only passports this Simulate-mode policy judged ([`super::gate::simulated_effect`])…
    #[serde(default)]
    pub simulated: String,
    /// …and, when set, only those it would have held (`Hold`) or blocked (`Block`).
    #[serde(default)]
    pub would: String,
    /// Only passports the Metrics figures count on one of these days: promoted then, else
    /// created then ([`delivery::counted_on`]).
    #[serde(default, deserialize_with = "days")]
    pub window: Option<Days>,
    /// Only promoted passports ([`delivery::promoted_at`]): what a deployment count counts.
    #[serde(default, deserialize_with = "flag")]
    pub promoted: bool,
    /// Only passports this enforced rule (`policy/rule`) holds or blocks
    /// ([`delivery::holding`]): what a hold reason counts.
    #[serde(default)]
    pub held_by: String,
    #[serde(default)]
    pub sort: Sort,
    /// `None`: the column's natural order (newest first for times, A→Z otherwise).
    #[serde(default)]
    pub order: Option<Order>,
    #[serde(default)]
    pub page: PageNumber,
}

/// The column the list is sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// When the current decision was reached.
    #[default]
    Decided,
    Release,
    Service,
    Version,
    Environment,
    Decision,
}

impl Sort {
    const ALL: [(Sort, &'static str); 6] = [
        (Sort::Release, "Release"),
        (Sort::Service, "Service"),
        (Sort::Version, "Version"),
        (Sort::Environment, "Env"),
        (Sort::Decision, "Decision"),
        (Sort::Decided, "Decided"),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Sort::Decided => "decided",
            Sort::Release => "release",
            Sort::Service => "service",
            Sort::Version => "version",
            Sort::Environment => "environment",
            Sort::Decision => "decision",
        }
    }

    fn natural(self) -> Order {
        match self {
            Sort::Decided => Order::Desc,
            _ => Order::Asc,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }

    fn flipped(self) -> Order {
        match self {
            Order::Asc => Order::Desc,
            Order::Desc => Order::Asc,
        }
    }
}

/// Whole days, `from` to `to` inclusive, written `2026-11-08..2026-12-07` in a query string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Days {
    pub fn covers(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }
}

impl std::fmt::Display for Days {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

/// [`Days`] from `FROM..TO`; empty means none (a form's blank field).
fn days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Days>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    match text.split_once("..").map(|(a, b)| (day(a), day(b))) {
        Some((Some(from), Some(to))) if from <= to => Ok(Some(Days { from, to })),
        _ => Err(serde::de::Error::custom(format!(
            "window {text:?} is not FROM..TO, two dates (YYYY-MM-DD) in order"
        ))),
    }
}

/// A checkbox: `on` (what a browser sends), `true` or `1`; empty, `off`, `false` or `0`.
pub fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = String::deserialize(d)?;
    match text.as_str() {
        "on" | "true" | "1" => Ok(true),
        "" | "off" | "false" | "0" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "{other:?} is not on or off"
        ))),
    }
}

/// A passport's evidence in one word: the worst status among its items (Complete when all are).
pub fn evidence_status(p: &ReleasePassport) -> Option<EvidenceStatus> {
    p.status
        .as_ref()?
        .evidence
        .iter()
        .map(|e| e.status)
        .max_by_key(|s| crate::engine::evidence::severity(*s))
}

/// Versions compared as people read them: `1.12.0` after `1.9.3`, digits as numbers.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> Vec<Result<u64, &str>> {
        let mut out = Vec::new();
        let mut rest = v;
        while let Some(c) = rest.chars().next() {
            let digit = c.is_ascii_digit();
            let end = rest
                .find(|ch: char| ch.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (part, tail) = rest.split_at(end);
            out.push(if digit {
                part.parse::<u64>().map_err(|_| part)
            } else {
                Err(part)
            });
            rest = tail;
        }
        out
    }
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

impl Filter {
    /// Whether `p` is listed, the figures being folded on `today`.
    fn matches(&self, p: &ReleasePassport, today: NaiveDate) -> bool {
        let status = p.status.as_ref();
        (self.service.is_empty() || p.spec.service == self.service)
            && (self.environment.is_empty() || p.spec.environment == self.environment)
            && (self.namespace.is_empty()
                || p.metadata.namespace.as_deref() == Some(self.namespace.as_str()))
            && (self.name.is_empty() || p.metadata.name.as_deref() == Some(self.name.as_str()))
            && (self.decision.is_empty()
                || status
                    .and_then(|s| s.decision)
                    .map(|d| d.to_string())
                    .as_deref()
                    == Some(self.decision.as_str()))
            && (!self.waived || status.is_some_and(|s| s.waived_rules() > 0))
            && (self.simulated.is_empty()
                || super::gate::simulated_effect(p, &self.simulated)
                    .is_some_and(|e| self.would.is_empty() || e.as_str() == self.would.as_str()))
            && self
                .window
                .is_none_or(|w| w.covers(delivery::counted_on(p, today)))
            && (!self.promoted || status.and_then(delivery::promoted_at).is_some())
            && (self.held_by.is_empty()
                || status.is_some_and(|s| delivery::holding(s).any(|h| h == self.held_by)))
            && (self.evidence.is_empty()
                || evidence_status(p).map(EvidenceStatus::as_str) == Some(self.evidence.as_str()))
            && (self.q.is_empty()
                || p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.contains(self.q.as_str())))
    }

    /// How many of the releases these filters select retention folded into rollups: counted
    /// by Metrics, with no passport left to list. `None` without a window, or when a filter
    /// asks what rollups do not keep (a name, evidence, an Allow, a waiver, …).
    pub fn folded(&self, rollups: &delivery::Rollups) -> Option<usize> {
        let window = self.window?;
        let kept = self.name.is_empty()
            && self.q.is_empty()
            && self.evidence.is_empty()
            && !self.latest
            && !self.waived
            && self.simulated.is_empty();
        if !kept {
            return None;
        }
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let scope = delivery::Scope {
            namespace: opt(&self.namespace),
            service: opt(&self.service),
            environment: opt(&self.environment),
        };
        if !self.held_by.is_empty() {
            return (!self.promoted && self.decision.is_empty()).then(|| {
                rollups
                    .hold_reasons(&scope, window.from, window.to, usize::MAX)
                    .into_iter()
                    .find_map(|(rule, n)| (rule == self.held_by).then_some(n))
                    .unwrap_or(0)
            });
        }
        let figures = rollups.figures(&scope, window.from, window.to);
        match (self.promoted, self.decision.as_str()) {
            (true, "") => Some(figures.deployments),
            (false, "") => Some(figures.releases),
            (false, "Hold") => Some(figures.held),
            (false, "Block") => Some(figures.blocked),
            _ => None,
        }
    }

    fn order(&self) -> Order {
        self.order.unwrap_or(self.sort.natural())
    }

    /// The query string for these filters (for links and exports), `page` left out.
    pub fn query(&self) -> String {
        let order = self.order.filter(|o| *o != self.sort.natural());
        super::super::layout::query_string(&[
            ("service", &self.service),
            ("environment", &self.environment),
            ("decision", &self.decision),
            ("evidence", &self.evidence),
            ("namespace", &self.namespace),
            ("name", &self.name),
            ("q", &self.q),
            ("latest", if self.latest { "on" } else { "" }),
            ("waived", if self.waived { "on" } else { "" }),
            ("simulated", &self.simulated),
            ("would", &self.would),
            (
                "window",
                &self.window.map(|w| w.to_string()).unwrap_or_default(),
            ),
            ("promoted", if self.promoted { "on" } else { "" }),
            ("held_by", &self.held_by),
            (
                "sort",
                if self.sort == Sort::default() {
                    ""
                } else {
                    self.sort.as_str()
                },
            ),
            ("order", order.map_or("", Order::as_str)),
        ])
    }

    /// How many visible passports these filters select ([`Filter::select`]'s length, without
    /// sorting them): what a count that links to the list shows.
    pub fn count(&self, page: &Page) -> usize {
        let today = page.snap.now.date_naive();
        page.newest_passports(self.latest)
            .filter(|p| self.matches(p, today))
            .count()
    }

    /// The visible passports these filters select, in the list's order: what the page shows
    /// and what its export holds.
    pub fn select<'a>(&self, page: &'a Page) -> Vec<&'a ReleasePassport> {
        let today = page.snap.now.date_naive();
        let mut rows: Vec<&ReleasePassport> = page
            .newest_passports(self.latest)
            .filter(|p| self.matches(p, today))
            .collect();
        let decided = |p: &ReleasePassport| p.status.as_ref().and_then(|s| s.decided_at());
        // Stable: rows equal under the column keep newest-first.
        rows.sort_by(|a, b| {
            let by = match self.sort {
                Sort::Decided => decided(a).cmp(&decided(b)),
                Sort::Release => a.key().cmp(&b.key()),
                Sort::Service => a.spec.service.cmp(&b.spec.service),
                Sort::Version => version_order(&a.spec.version, &b.spec.version),
                Sort::Environment => a.spec.environment.cmp(&b.spec.environment),
                Sort::Decision => {
                    let d = |p: &ReleasePassport| p.status.as_ref().and_then(|s| s.decision);
                    d(a).cmp(&d(b))
                }
            };
            match self.order() {
                Order::Asc => by,
                Order::Desc => by.reverse(),
            }
        });
        rows
    }

    /// The list sorted by `sort`: flips the order when it already is.
    fn sorted_by(&self, sort: Sort) -> Filter {
        let order = if self.sort == sort {
            self.order().flipped()
        } else {
            sort.natural()
        };
        Filter {
            sort,
            order: Some(order),
            page: PageNumber::default(),
            ..self.clone()
        }
    }
}

fn options<'a>(
    name: &str,
    label: &str,
    current: &str,
    values: impl Iterator<Item = &'a str>,
) -> Markup {
    html! {
        label {
            (label)
            select name=(name) {
                option value="" selected[current.is_empty()] { "any" }
                @for v in values { option value=(v) selected[v == current] { (v) } }
            }
        }
    }
}

/// The passport's one-line why: its first reason, else the headline it was allowed with.
pub fn why(p: &ReleasePassport) -> &str {
    let Some(s) = p.status.as_ref() else {
        return "not decided yet";
    };
    s.reasons
        .first()
        .or_else(|| s.timeline.last().map(|t| &t.message))
        .map_or("all enforced rules pass", String::as_str)
}

pub fn page(page: &Page, filter: &Filter) -> Markup {
    let view = page.view();
    let visible = view.passports;
    let (services, environments) = (&view.services, &view.environments);
    let matching = filter.select(page);
    let folded = filter.folded(&view.folded);
    let shown = paged(&matching, filter.page, PAGE_SIZE);
    let query = filter.query();
    let joiner = if query.is_empty() { "?" } else { "&" };
    let heading = |sort: Sort, label: &str| {
        let here = filter.sort == sort;
        let aria = match (here, filter.order()) {
            (false, _) => None,
            (true, Order::Asc) => Some("ascending"),
            (true, Order::Desc) => Some("descending"),
        };
        html! {
            th aria-sort=[aria] {
                a href=(format!("/console/releases{}", filter.sorted_by(sort).query())) {
                    (label)
                    @if here { @if filter.order() == Order::Asc { " ▲" } @else { " ▼" } }
                }
            }
        }
    };
    layout(
        page,
        Nav::Releases,
        "Releases",
        html! {
            h1 { "Releases " small { (matching.len()) " of " (visible) " passports" } }
            @if let Some(w) = filter.window {
                p.window {
                    @if filter.promoted { "Promoted" } @else { "Counted by Metrics" }
                    " from " (w.from) " to " (w.to) " (UTC days"
                    @if !filter.promoted { ": the day of promotion, else of creation" } ")."
                    @if !filter.held_by.is_empty() { " Held or blocked by " code { (filter.held_by) } "." }
                    @match folded {
                        Some(0) => {}
                        Some(n) => { " Retention folded " strong.folded { (n) } " more into daily rollups: Metrics counts " (if n == 1 { "it" } else { "them" }) ", no passport is left to list (docs/metrics.md)." }
                        None if view.folded.figures(&delivery::Scope::default(), w.from, w.to).releases > 0 => {
                            " Releases retention folded away on these days are counted by Metrics but cannot be filtered this way."
                        }
                        None => {}
                    }
                }
            }
            form.filters method="get" action="/console/releases" {
                (options("service", "Service", &filter.service, services.iter().map(String::as_str)))
                (options("environment", "Environment", &filter.environment, environments.iter().map(String::as_str)))
                (options("decision", "Decision", &filter.decision, ["Allow", "Hold", "Block"].into_iter()))
                (options("evidence", "Evidence", &filter.evidence, EvidenceStatus::ALL.iter().map(|s| s.as_str())))
                label { "Name" input type="search" name="q" value=(filter.q) placeholder="part of a name"; }
                label.check { input type="checkbox" name="latest" checked[filter.latest]; " Latest per service and environment" }
                label.check { input type="checkbox" name="waived" checked[filter.waived]; " Let through by a waiver" }
                @if !filter.name.is_empty() { input type="hidden" name="name" value=(filter.name); }
                @if let Some(w) = filter.window { input type="hidden" name="window" value=(w); }
                @if filter.promoted { input type="hidden" name="promoted" value="on"; }
                @if !filter.held_by.is_empty() { input type="hidden" name="held_by" value=(filter.held_by); }
                @if filter.sort != Sort::default() { input type="hidden" name="sort" value=(filter.sort.as_str()); }
                @if let Some(o) = filter.order { input type="hidden" name="order" value=(o.as_str()); }
                button type="submit" { "Filter" }
                a href="/console/releases" { "Clear" }
            }
            p.actions {
                "Export these " (matching.len()) ": "
                a href=(format!("/api/v1/export/passports.json{query}")) download { "JSON" } " · "
                a href=(format!("/api/v1/export/passports.csv{query}")) download { "CSV" } " · "
                a href=(format!("/api/v1/export/passports.md{query}")) download { "Markdown" }
            }
            @if matching.is_empty() {
                (empty(if visible == 0 { "No passports yet: apply a Release and a GatePolicy." } else { "No passport matches these filters." }))
            } @else {
                div.scroll { table.cards {
                    thead { tr {
                        @for (sort, label) in Sort::ALL { (heading(sort, label)) }
                        th { "Evidence" } th { "Why" }
                    } }
                    tbody {
                        @for p in shown.rows {
                            @let status = p.status.as_ref();
                            tr {
                                td data-label="Release" { a href=(passport_href(p)) { (p.key()) } }
                                td data-label="Service" { (p.spec.service) }
                                td data-label="Version" { (p.spec.version) }
                                td data-label="Env" { (p.spec.environment) }
                                td data-label="Decision" { (passport_badge(status)) }
                                td data-label="Decided" { (page.when(status.and_then(|s| s.decided_at()))) }
                                td data-label="Evidence" {
                                    @if let Some(e) = evidence_status(p) { (evidence_badge(e)) " " }
                                    (status.and_then(|s| s.evidence_summary).map_or_else(|| "-".to_string(), |c| c.to_string()))
                                }
                                td.why data-label="Why" { (why(p)) }
                            }
                        }
                    }
                } }
                (shown.pager(PREVIOUS_NEXT, |n| format!("/console/releases{query}{joiner}page={n}")))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::version_order;
    use std::cmp::Ordering;

    #[test]
    fn versions_sort_as_people_read_them() {
        assert_eq!(version_order("1.12.0", "1.9.3"), Ordering::Greater);
        assert_eq!(version_order("5.0.22", "5.0.3"), Ordering::Greater);
        assert_eq!(version_order("1.2.0-rc.1", "1.2.0-rc.10"), Ordering::Less);
        assert_eq!(version_order("v2", "v10"), Ordering::Less);
        assert_eq!(version_order("1.0", "1.0"), Ordering::Equal);
    }
}
