//! Radar: the runtime picture — service/environment health, connector freshness, runtime and
//! journey checks, third-party signals and a confidence figure. Advisory: the gate decides.

use maud::{Markup, html};

use super::super::charts::share;
use super::super::layout::{
    Nav, Page, empty, evidence_badge, labelled_badge, layout, release_href,
};
use crate::radar::Signal;

fn signals(page: &Page, title: &str, id: &str, list: &[&Signal], none: &str) -> Markup {
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { (title) }
            @if list.is_empty() { (empty(none)) } @else {
                div.scroll { table {
                    thead { tr { th { "Service" } th { "Env" } th { "Source" } th { "Status" } th { "Observed" } th { "What was seen" } } }
                    tbody { @for s in list {
                        tr { td data-label="Service" { (s.service) } td data-label="Env" { (s.environment) } td data-label="Source" { (s.source) } td data-label="Status" { (evidence_badge(s.status)) } td data-label="Observed" { (page.when(s.observed_at)) } td.why data-label="What was seen" { (s.summary) } }
                    } }
                } }
            }
        }
    }
}

pub fn page(page: &Page) -> Markup {
    // Computed from the viewer's namespaces only: every row and the confidence figure.
    let view = page.view();
    let r = &view.radar;
    let services: Vec<_> = r.services.iter().collect();
    let connectors: Vec<_> = r.connectors.iter().collect();
    let journeys: Vec<&Signal> = r.journeys.iter().collect();
    let third: Vec<&Signal> = r.third_party.iter().collect();
    let near: Vec<&Signal> = r.near_the_line.iter().collect();
    layout(
        page,
        Nav::Radar,
        "Radar",
        html! {
            h1 { "Radar" }
            section.tiles aria-label="Confidence" {
                div.tile { strong { (format!("{:.0}%", r.confidence * 100.0)) } "confidence" br; small { "complete evidence × connectors without issues" } }
                @let latest = super::releases::Filter { latest: true, ..super::releases::Filter::default() };
                a.tile href=(format!("/console/releases{}", latest.query())) { strong { (services.len()) } "service/environment targets" }
                @let (fine, all) = super::integrations::without_issues(&r.connectors);
                a.tile href=(super::integrations::WITHOUT_ISSUES_HREF) { strong { (fine) "/" (all) } "connectors without issues" }
            }
            section aria-labelledby="health" {
                h2 id="health" { "Service and environment health" }
                @if services.is_empty() { (empty("No passports yet.")) } @else {
                    div.scroll { table {
                        thead { tr { th { "Service" } th { "Env" } th { "Latest release" } th { "Decision" } th { "Evidence" } th { "Healthy targets" } } }
                        tbody { @for s in &services {
                            @let (ns, name) = (&s.release.namespace, &s.release.name);
                            tr {
                                td data-label="Service" { (s.service) } td data-label="Env" { (s.environment) }
                                td data-label="Latest release" { a href=(release_href(ns, name)) { (s.version) } }
                                td data-label="Decision" { (labelled_badge(s.decision, s.decision_label.clone())) }
                                td data-label="Evidence" { (share((s.evidence_total > 0).then(|| f64::from(s.evidence_complete) / f64::from(s.evidence_total)))) }
                                td data-label="Healthy targets" { @if s.targets.total > 0 { (share(Some(f64::from(s.targets.passing) / f64::from(s.targets.total)))) " " small { (s.targets.passing) "/" (s.targets.total) } } @else { "-" } }
                            }
                        } }
                    } }
                }
            }
            section aria-labelledby="fresh" {
                h2 id="fresh" { "Connector freshness" }
                @if connectors.is_empty() { (empty("No connectors configured.")) } @else {
                    div.scroll { table {
                        thead { tr { th { "Connector" } th { "Type" } th { "Health" } th { "Last success" } th { "Freshness" } th { "Issue" } } }
                        tbody { @for c in &connectors {
                            tr {
                                td data-label="Connector" { (c.connector) } td data-label="Type" { (format!("{:?}", c.type_)) }
                                td data-label="Health" { (c.health.map_or("not checked yet".to_string(), |h| format!("{h:?}"))) }
                                td data-label="Last success" { (page.when(c.last_success_at)) }
                                td data-label="Freshness" { (c.freshness_words()) }
                                td.why data-label="Issue" { (c.trouble().unwrap_or_else(|| "none".to_string())) }
                            }
                        } }
                    } }
                }
            }
            (signals(page, "Journey checks", "journeys", &journeys, "No journey (HTTP) connector reports for these services."))
            (signals(page, "Third-party signals", "third", &third, "No status-page connector reports for these services."))
            (signals(page, "Comparisons near the line", "near", &near, "No release's metric sits near the limit of its tolerance against its baseline."))
            p.muted { "Radar reads only the scopes Releases and Connectors name; it never scans beyond them, and it never decides." }
        },
    )
}
