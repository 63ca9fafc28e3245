//! Metrics: DORA-style delivery figures and the gate's own, per service and environment, with
//! trend charts and the same numbers as tables. Analytics only, never policy.

use chrono::Duration;
use maud::{Markup, html};
use serde::Deserialize;

use super::super::charts::{Point, bars, count, hbars, hours, share};
use super::super::layout::{Nav, Page, empty, layout};
use super::percent;
use super::releases::{Days, Filter};
use crate::metrics::delivery::{Figures, TargetKey};
use crate::metrics::dora::{self, Band};
use crate::text;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Window {
    /// Days to look back (default 30; anything unreadable means the default).
    #[serde(default)]
    pub days: Option<String>,
}

fn d(v: Option<Duration>) -> String {
    crate::output::maybe_duration(v, "n/a")
}

/// One DORA tile: the figure, its band, and how it moved against the window before.
struct Tile {
    label: &'static str,
    value: String,
    band: Option<Band>,
    /// "▲ 0.12/day vs the previous 30 days", or why there is nothing to compare.
    change: String,
}

/// `now` against `before` in words, `better_up` saying which direction is good.
fn change(
    now: Option<f64>,
    before: Option<f64>,
    better_up: bool,
    format: impl Fn(f64) -> String,
    days: u32,
) -> String {
    match (now, before) {
        (Some(n), Some(b)) if (n - b).abs() < 1e-9 => {
            format!("unchanged vs the previous {days} days")
        }
        (Some(n), Some(b)) => {
            let up = n > b;
            let word = if up == better_up { "better" } else { "worse" };
            format!(
                "{} {} vs the previous {days} days ({word})",
                if up { "▲" } else { "▼" },
                format((n - b).abs())
            )
        }
        _ => format!("nothing to compare in the previous {days} days"),
    }
}

fn tiles(now: &Figures, before: &Figures, days: u32) -> [Tile; 4] {
    let hours = |d: Option<Duration>| d.map(|d| d.num_seconds() as f64 / 3600.0);
    let dur = |h: f64| crate::output::human_duration(Duration::seconds((h * 3600.0) as i64));
    let pct = |v: f64| format!("{:.0} pts", v * 100.0);
    [
        Tile {
            label: "deployments per day",
            value: format!("{:.2}/day", now.deployment_frequency),
            band: (now.deployments > 0)
                .then(|| dora::deployment_frequency(now.deployment_frequency)),
            change: change(
                Some(now.deployment_frequency),
                (before.releases > 0).then_some(before.deployment_frequency),
                true,
                |v| format!("{v:.2}/day"),
                days,
            ),
        },
        Tile {
            label: "change lead time (median)",
            value: d(now.lead_time_median),
            band: now.lead_time_median.map(dora::lead_time),
            change: change(
                hours(now.lead_time_median),
                hours(before.lead_time_median),
                false,
                dur,
                days,
            ),
        },
        Tile {
            label: "change fail rate",
            value: percent(now.change_fail_rate),
            band: now.change_fail_rate.map(dora::change_fail_rate),
            change: change(
                now.change_fail_rate,
                before.change_fail_rate,
                false,
                pct,
                days,
            ),
        },
        Tile {
            label: "failed deployment recovery (median)",
            value: d(now.recovery_median),
            band: now.recovery_median.map(dora::recovery),
            change: change(
                hours(now.recovery_median),
                hours(before.recovery_median),
                false,
                dur,
                days,
            ),
        },
    ]
}

/// The releases list of the passports a figure counts in `window`.
fn list(filter: Filter) -> String {
    format!("/console/releases{}", filter.query())
}

/// `filter` narrowed to one target.
fn of_target(key: &TargetKey, filter: &Filter) -> Filter {
    Filter {
        namespace: key.namespace.clone(),
        service: key.service.clone(),
        environment: key.environment.clone(),
        ..filter.clone()
    }
}

fn scorecard_row(label: &str, f: &Figures, promoted: Filter) -> Markup {
    html! {
        tr {
            th scope="row" { (label) }
            td data-label="Deploys" { a href=(list(promoted)) { (f.deployments) } } td data-label="Per day" { (format!("{:.2}", f.deployment_frequency)) }
            td data-label="Lead time" { (d(f.lead_time_median)) } td data-label="Fail rate" { (percent(f.change_fail_rate)) }
            td data-label="Recovery" { (d(f.recovery_median)) } td data-label="Rework" { (percent(f.rework_rate)) }
            td data-label="Approval wait" { (d(f.approval_wait_median)) } td data-label="Hold dwell" { (d(f.dwell_median)) }
            td data-label="Evidence complete" { (share(f.evidence_completeness)) }
        }
    }
}

/// Lead-time bars shown at most.
const LEAD_SHOWN: usize = 20;

pub fn page(page: &Page, window: &Window) -> Markup {
    let s = page.snap;
    let days = window
        .days
        .as_deref()
        .and_then(|d| d.trim().parse::<u32>().ok())
        .unwrap_or(30)
        .clamp(1, 366);
    // What retention folded away, then the live passports on top, of the namespaces this
    // viewer sees; the window's figures computed once per snapshot, set of namespaces and window.
    let view = page.view();
    let w = view.window(days, s.now.date_naive());
    let all = &w.all;
    let targets = &w.targets;
    let dora_tiles = tiles(&w.dora, &w.dora_before, days);
    // Each count opens the passports it counts in this window (the list says what retention
    // folded away, which it cannot show).
    let counted = Filter {
        window: Some(Days {
            from: w.from,
            to: w.to,
        }),
        ..Filter::default()
    };
    let promoted = Filter {
        promoted: true,
        ..counted.clone()
    };
    let dora_promotions = Filter {
        environment: w.dora_environment.clone().unwrap_or_default(),
        ..promoted.clone()
    };
    let left = |decision: &str| Filter {
        decision: decision.into(),
        ..counted.clone()
    };
    let series: Vec<Point> = w
        .daily_deployments
        .iter()
        .map(|(day, n)| Point {
            label: day.format("%m-%d").to_string(),
            value: *n as f64,
            href: Some(list(Filter {
                window: Some(Days {
                    from: *day,
                    to: *day,
                }),
                ..promoted.clone()
            })),
        })
        .collect();
    let reasons: Vec<Point> = w
        .hold_reasons
        .iter()
        .map(|(rule, n)| Point {
            label: rule.clone(),
            value: *n as f64,
            href: Some(list(Filter {
                held_by: rule.clone(),
                ..counted.clone()
            })),
        })
        .collect();
    let mut lead: Vec<Point> = targets
        .iter()
        .filter_map(|(k, f)| {
            Some(Point {
                label: k.to_string(),
                value: f.lead_time_median?.num_minutes() as f64 / 60.0,
                href: Some(list(of_target(k, &promoted))),
            })
        })
        .collect();
    // The slowest first; past a screenful of bars a chart stops being read (the scorecards
    // below list every target).
    let measured = lead.len();
    lead.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.label.cmp(&b.label))
    });
    lead.truncate(LEAD_SHOWN);
    let (fine, configured) = super::integrations::without_issues(&view.radar.connectors);
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
            h2 { "DORA " small { @if let Some(env) = &w.dora_environment { (env) } @else { "every environment (none is called production)" } } }
            section.tiles aria-label="DORA" {
                @for t in &dora_tiles {
                    div.tile {
                        strong { (t.value) }
                        (t.label)
                        @if let Some(b) = t.band { " " span class=(format!("badge dora {}", b.as_str())) { (b.as_str()) } }
                        br; small.muted { (t.change) }
                        br; small { "over " a href=(list(dora_promotions.clone())) { (text::count(w.dora.deployments, "promotion", "promotions")) } }
                    }
                }
            }
            p.muted { small { "Bands: DORA's performance clusters (dora.dev) — elite, high, medium, low; docs/metrics.md gives the boundaries." } }
            @if all.releases == 0 { (empty("No releases in this window.")) } @else {
                div.columns {
                    section aria-labelledby="throughput" {
                        h2 id="throughput" { "Deployments " small { "per day, every environment" } }
                        (bars("Deployments per day, every environment", "deployments", "day (UTC)", &series, count))
                    }
                    section aria-labelledby="reasons" {
                        h2 id="reasons" { "Hold reasons " small { "rules that held or blocked releases in this window" } }
                        @if reasons.is_empty() { (empty("Nothing is held.")) } @else { (hbars("Releases held per rule", "releases", &reasons, count)) }
                    }
                }
                section aria-labelledby="lead" {
                    h2 id="lead" { "Change lead time by service " @if measured > LEAD_SHOWN { small { "the " (LEAD_SHOWN) " slowest of " (measured) "; every one in the scorecards" } } }
                    @if lead.is_empty() { (empty("No promoted release records its commit time (spec.revision.committedAt).")) } @else { (hbars("Median lead time", "", &lead, hours)) }
                }
                section aria-labelledby="scorecards" {
                    h2 id="scorecards" { "Scorecards" }
                    div.scroll { table {
                        thead { tr { th { "Service/env" } th { "Deploys" } th { "Per day" } th { "Lead time" } th { "Fail rate" } th { "Recovery" } th { "Rework" } th { "Approval wait" } th { "Hold dwell" } th { "Evidence complete" } } }
                        tbody {
                            (scorecard_row("All", all, promoted.clone()))
                            @for (key, f) in targets {
                                (scorecard_row(&key.to_string(), f, of_target(key, &promoted)))
                            }
                        }
                    } }
                }
                section aria-labelledby="more" {
                    h2 id="more" { "Gate figures" }
                    ul {
                        li { "Deployment rework rate: " (percent(all.rework_rate)) }
                        li { "Rollback rate: " (percent(all.rollback_rate)) }
                        li { "Releases left held: " a href=(list(left("Hold"))) { (all.held) } ", left blocked: " a href=(list(left("Block"))) { (all.blocked) } " (in this window)" }
                        li { "Approval wait (median): " (d(all.approval_wait_median)) }
                        li { "Evidence completeness: " (percent(all.evidence_completeness)) }
                        li { "Connector reliability: " a href=(super::integrations::WITHOUT_ISSUES_HREF) { (fine) " of " (configured) " connectors without issues" } }
                    }
                    p.muted { "Definitions: docs/metrics.md. Metrics are analytics; they never change a decision." }
                }
            }
        },
    )
}
