//! Releases / Passports: every passport the viewer may see, filtered by service, environment,
//! decision and evidence status, a page at a time.

use maud::{Markup, html};
use serde::Deserialize;

use super::super::layout::{
    Nav, Page, decision_badge, empty, evidence_badge, layout, passport_href,
};
use crate::api::{EvidenceStatus, Keyed, ReleasePassport};

pub const PAGE_SIZE: usize = 50;

/// The list's filters, from the query string (also used by the exports).
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
    /// Part of the release name.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: usize,
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

impl Filter {
    pub fn matches(&self, p: &ReleasePassport) -> bool {
        let status = p.status.as_ref();
        (self.service.is_empty() || p.spec.service == self.service)
            && (self.environment.is_empty() || p.spec.environment == self.environment)
            && (self.namespace.is_empty()
                || p.metadata.namespace.as_deref() == Some(self.namespace.as_str()))
            && (self.decision.is_empty()
                || status
                    .and_then(|s| s.decision)
                    .map(|d| d.to_string())
                    .as_deref()
                    == Some(self.decision.as_str()))
            && (self.evidence.is_empty()
                || evidence_status(p).map(EvidenceStatus::as_str) == Some(self.evidence.as_str()))
            && (self.q.is_empty()
                || p.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.contains(self.q.as_str())))
    }

    /// The query string for these filters (for links and exports), `page` left out.
    pub fn query(&self) -> String {
        super::super::layout::query_string(&[
            ("service", &self.service),
            ("environment", &self.environment),
            ("decision", &self.decision),
            ("evidence", &self.evidence),
            ("namespace", &self.namespace),
            ("q", &self.q),
        ])
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

pub fn page(page: &Page, filter: &Filter) -> Markup {
    let visible: Vec<&ReleasePassport> = page.newest_passports().collect();
    let distinct = |f: fn(&ReleasePassport) -> &str| {
        let mut v: Vec<&str> = visible.iter().map(|p| f(p)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let services = distinct(|p| p.spec.service.as_str());
    let environments = distinct(|p| p.spec.environment.as_str());
    let matching: Vec<&ReleasePassport> = visible
        .iter()
        .copied()
        .filter(|p| filter.matches(p))
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let current = filter.page.min(pages - 1);
    let query = filter.query();
    let joiner = if query.is_empty() { "?" } else { "&" };
    layout(
        page,
        Nav::Releases,
        "Releases",
        html! {
            h1 { "Releases " small { (matching.len()) " of " (visible.len()) " passports" } }
            form.filters method="get" action="/console/releases" {
                (options("service", "Service", &filter.service, services.iter().copied()))
                (options("environment", "Environment", &filter.environment, environments.iter().copied()))
                (options("decision", "Decision", &filter.decision, ["Allow", "Hold", "Block"].into_iter()))
                (options("evidence", "Evidence", &filter.evidence, EvidenceStatus::ALL.iter().map(|s| s.as_str())))
                label { "Name" input type="search" name="q" value=(filter.q) placeholder="part of a name"; }
                button type="submit" { "Filter" }
                a href="/console/releases" { "Clear" }
            }
            p.actions {
                "Export these: "
                a href=(format!("/api/v1/export/passports.json{query}")) download { "JSON" } " · "
                a href=(format!("/api/v1/export/passports.csv{query}")) download { "CSV" } " · "
                a href=(format!("/api/v1/export/passports.md{query}")) download { "Markdown" }
            }
            @if matching.is_empty() {
                (empty(if visible.is_empty() { "No passports yet: apply a Release and a GatePolicy." } else { "No passport matches these filters." }))
            } @else {
                div.scroll { table {
                    thead { tr { th { "Release" } th { "Service" } th { "Version" } th { "Env" } th { "Decision" } th { "Evidence" } th { "Why" } } }
                    tbody {
                        @for p in matching.iter().skip(current * PAGE_SIZE).take(PAGE_SIZE) {
                            @let status = p.status.as_ref();
                            tr {
                                td { a href=(passport_href(p)) { (p.key()) } }
                                td { (p.spec.service) }
                                td { (p.spec.version) }
                                td { (p.spec.environment) }
                                td { (decision_badge(status.and_then(|s| s.decision))) }
                                td {
                                    @if let Some(e) = evidence_status(p) { (evidence_badge(e)) " " }
                                    (status.and_then(|s| s.evidence_summary.as_deref()).unwrap_or("-"))
                                }
                                td.why { (status.and_then(|s| s.reasons.first()).map_or("all enforced rules pass", String::as_str)) }
                            }
                        }
                    }
                } }
                @if pages > 1 {
                    nav.pager aria-label="Pages" {
                        @if current > 0 { a rel="prev" href=(format!("/console/releases{query}{joiner}page={}", current - 1)) { "← Previous" } }
                        span { "Page " (current + 1) " of " (pages) }
                        @if current + 1 < pages { a rel="next" href=(format!("/console/releases{query}{joiner}page={}", current + 1)) { "Next →" } }
                    }
                }
            }
        },
    )
}
