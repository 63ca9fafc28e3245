//! Reports / Audit Log: sanitised exports of passports and decisions, and the governance event
//! log (decisions, approvals, rejections, waivers, policy changes) with filters.

use maud::{Markup, html};
use serde::Deserialize;

use super::super::audit::{EventKind, GovernanceEvent};
use super::super::layout::{Nav, Page, PageNumber, empty, layout, paged, release_href};

pub const PAGE_SIZE: usize = 100;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct LogFilter {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub actor: String,
    /// Part of the subject or summary.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: PageNumber,
}

impl LogFilter {
    pub fn matches(&self, e: &GovernanceEvent) -> bool {
        (self.kind.is_empty() || EventKind::parse(&self.kind) == Some(e.kind))
            && (self.namespace.is_empty() || e.namespace == self.namespace)
            && (self.actor.is_empty() || e.actor == self.actor)
            && (self.q.is_empty()
                || e.subject.contains(self.q.as_str())
                || e.summary.contains(self.q.as_str()))
    }

    pub fn query(&self) -> String {
        super::super::layout::query_string(&[
            ("kind", &self.kind),
            ("namespace", &self.namespace),
            ("actor", &self.actor),
            ("q", &self.q),
        ])
    }
}

pub fn page(page: &Page, filter: &LogFilter) -> Markup {
    let s = page.snap;
    let events: Vec<&GovernanceEvent> = s
        .events
        .iter()
        .map(AsRef::as_ref)
        .filter(|e| page.visible(Some(&e.namespace)) && filter.matches(e))
        .collect();
    let shown = paged(&events, filter.page, PAGE_SIZE);
    let query = filter.query();
    let joiner = if query.is_empty() { "?" } else { "&" };
    layout(
        page,
        Nav::Reports,
        "Reports",
        html! {
            h1 { "Reports and audit log" }
            section aria-labelledby="exports" {
                h2 id="exports" { "Exports" }
                p { "Sanitised: no credential, token or secret value is ever included; spreadsheet formulas are neutralised." }
                div.scroll { table {
                    thead { tr { th { "Report" } th { "JSON" } th { "CSV" } th { "Markdown" } } }
                    tbody {
                        tr { td data-label="Report" { "Passports and decisions" }
                            td data-label="JSON" { a href="/api/v1/export/passports.json" download { "passports.json" } }
                            td data-label="CSV" { a href="/api/v1/export/passports.csv" download { "passports.csv" } }
                            td data-label="Markdown" { a href="/api/v1/export/passports.md" download { "passports.md" } } }
                        tr { td { "Governance events (these filters)" }
                            td { a href=(format!("/api/v1/export/events.json{query}")) download { "events.json" } }
                            td { a href=(format!("/api/v1/export/events.csv{query}")) download { "events.csv" } }
                            td { a href=(format!("/api/v1/export/events.md{query}")) download { "events.md" } } }
                    }
                } }
            }
            section aria-labelledby="log" {
                h2 id="log" { "Governance log " small { (events.len()) " events" } }
                form.filters method="get" action="/console/reports" {
                    label { "Kind" select name="kind" {
                        option value="" selected[filter.kind.is_empty()] { "any" }
                        @for k in EventKind::ALL { option value=(k.as_str()) selected[k.as_str() == filter.kind] { (k.as_str()) } }
                    } }
                    label { "Namespace" input type="text" name="namespace" value=(filter.namespace); }
                    label { "Actor" input type="text" name="actor" value=(filter.actor); }
                    label { "Search" input type="search" name="q" value=(filter.q); }
                    button type="submit" { "Filter" }
                    a href="/console/reports" { "Clear" }
                }
                @if events.is_empty() { (empty("No event matches.")) } @else {
                    div.scroll { table {
                        thead { tr { th { "When" } th { "Kind" } th { "About" } th { "Who" } th { "What" } } }
                        tbody { @for e in shown.rows {
                            tr {
                                td data-label="When" { @if e.at.is_some() { (page.when(e.at)) } @else { span.muted { "not recorded" } } } td data-label="Kind" { (e.kind.as_str()) }
                                td data-label="About" { @if e.kind == EventKind::Policy { (e.namespace) "/" (e.subject) } @else { a href=(release_href(&e.namespace, &e.subject)) { (e.namespace) "/" (e.subject) } } }
                                td data-label="Who" { @if e.actor.is_empty() { span.muted { "not on the object (the API server's audit log has it)" } } @else { (e.actor) } } td.why data-label="What" { (e.summary) }
                            }
                        } }
                    } }
                    (shown.pager(["← Newer", "Older →"], |n| format!("/console/reports{query}{joiner}page={n}")))
                }
            }
        },
    )
}
