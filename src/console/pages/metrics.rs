//! Metrics: DORA-style delivery figures and the gate's own, per service and environment, with
//! trend charts and the same numbers as tables. Analytics only, never policy.

use chrono::Duration;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::charts::{bars, count, hbars, hours, share};
use super::super::layout::{Nav, Page, empty, layout};
use super::percent;
use crate::metrics::delivery::{Figures, Rollups, Scope};

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Window {
    /// Days to look back (default 30; anything unreadable means the default).
    #[serde(default)]
    pub days: Option<String>,
}

fn d(v: Option<Duration>) -> String {
    crate::output::maybe_duration(v, "n/a")
}

fn scorecard_row(label: &str, f: &Figures) -> Markup {
    html! {
        tr {
            th scope="row" { (label) }
            td { (f.deployments) } td { (format!("{:.2}", f.deployment_frequency)) }
            td { (d(f.lead_time_median)) } td { (percent(f.change_fail_rate)) }
            td { (d(f.recovery_median)) } td { (percent(f.rework_rate)) }
            td { (d(f.approval_wait_median)) } td { (d(f.dwell_median)) }
            td { (share(f.evidence_completeness)) }
        }
    }
}

pub fn page(page: &Page, window: &Window) -> Markup {
    let s = page.snap;
    let days = window
        .days
        .as_deref()
        .and_then(|d| d.trim().parse::<u32>().ok())
        .unwrap_or(30)
        .clamp(1, 366);
    let to = s.now.date_naive();
    let from = to - Duration::days(i64::from(days) - 1);
    // What retention folded away, then the live passports on top, of the namespaces this
    // viewer sees (computed once per snapshot and set of namespaces).
    let view = page.view();
    let rollups: &Rollups = &view.rollups;
    let all_scope = Scope::default();
    let all = rollups.figures(&all_scope, from, to);
    let targets = rollups.active_per_target(&all_scope, from, to);
    let series: Vec<(String, f64)> = rollups
        .daily_deployments(&all_scope, from, to)
        .into_iter()
        .map(|(day, n)| (day.format("%m-%d").to_string(), n as f64))
        .collect();
    let reasons: Vec<(String, f64)> = rollups
        .hold_reasons(&all_scope, from, to, 8)
        .into_iter()
        .map(|(k, n)| (k, n as f64))
        .collect();
    let lead: Vec<(String, f64)> = targets
        .iter()
        .filter_map(|(k, f)| {
            Some((
                k.to_string(),
                f.lead_time_median?.num_minutes() as f64 / 60.0,
            ))
        })
        .collect();
    let connectors: Vec<_> = view.radar.connectors.iter().collect();
    let healthy = connectors
        .iter()
        .filter(|c| c.health == Some(crate::api::ConnectorHealth::Healthy))
        .count();
    layout(
        page,
        Nav::Metrics,
        "Metrics",
        html! {
            h1 { "Metrics " small { "last " (days) " days" } }
            form.filters method="get" action="/console/metrics" {
                label { "Window" select name="days" {
                    @for n in [7u32, 30, 90, 365] { option value=(n) selected[n == days] { (n) " days" } }
                } }
                button type="submit" { "Show" }
            }
            section.tiles aria-label="DORA" {
                div.tile { strong { (format!("{:.2}", all.deployment_frequency)) } "deployments per day" }
                div.tile { strong { (d(all.lead_time_median)) } "change lead time (median)" }
                div.tile { strong { (percent(all.change_fail_rate)) } "change fail rate" }
                div.tile { strong { (d(all.recovery_median)) } "failed-deployment recovery" }
                div.tile { strong { (percent(all.rework_rate)) } "deployment rework rate" }
            }
            @if all.releases == 0 { (empty("No releases in this window.")) } @else {
                div.columns {
                    section aria-labelledby="throughput" {
                        h2 id="throughput" { "Release throughput" }
                        (bars("Promotions per day", "promotions", &series, count))
                    }
                    section aria-labelledby="reasons" {
                        h2 id="reasons" { "Hold reasons " small { "rules that held or blocked releases in this window" } }
                        @if reasons.is_empty() { (empty("Nothing is held.")) } @else { (hbars("Releases held per rule", "releases", &reasons, count)) }
                    }
                }
                section aria-labelledby="lead" {
                    h2 id="lead" { "Change lead time by service" }
                    @if lead.is_empty() { (empty("No promoted release records its commit time (spec.revision.committedAt).")) } @else { (hbars("Median lead time", "hours", &lead, hours)) }
                }
                section aria-labelledby="scorecards" {
                    h2 id="scorecards" { "Scorecards" }
                    div.scroll { table {
                        thead { tr { th { "Service/env" } th { "Deploys" } th { "Per day" } th { "Lead time" } th { "Fail rate" } th { "Recovery" } th { "Rework" } th { "Approval wait" } th { "Hold dwell" } th { "Evidence complete" } } }
                        tbody {
                            (scorecard_row("All", &all))
                            @for (key, f) in &targets { (scorecard_row(&key.to_string(), f)) }
                        }
                    } }
                }
                section aria-labelledby="more" {
                    h2 id="more" { "Gate figures" }
                    ul {
                        li { "Rollback rate: " (percent(all.rollback_rate)) }
                        li { "Releases left held: " (all.held) ", left blocked: " (all.blocked) " (in this window)" }
                        li { "Approval wait (median): " (d(all.approval_wait_median)) }
                        li { "Evidence completeness: " (percent(all.evidence_completeness)) }
                        li { "Connector reliability: " (healthy) " of " (connectors.len()) " connectors healthy" }
                    }
                    p.muted { "Definitions: docs/metrics.md. Metrics are analytics; they never change a decision." }
                }
            }
        },
    )
}
