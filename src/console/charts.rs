//! Server-rendered SVG charts, each followed by the same numbers as a table (for screen readers
//! and for copying). Presentation attributes only: the CSP allows no inline style.

use maud::{Markup, html};

/// A vertical bar chart of `(label, value)`; `format` renders a value for labels and the table.
pub fn bars(title: &str, unit: &str, data: &[(String, f64)], format: fn(f64) -> String) -> Markup {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const PAD: f64 = 24.0;
    let max = data.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let n = data.len().max(1) as f64;
    let slot = (W - PAD * 2.0) / n;
    let bar = (slot * 0.7).max(1.0);
    let id = format!("chart-{}", slug(title));
    // Label every bar when there are few; otherwise the first, middle and last.
    let labelled =
        |i: usize| data.len() <= 12 || i == 0 || i == data.len() - 1 || i == data.len() / 2;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby=(id) {
                title id=(id) { (title) }
                line x1=(PAD) y1=(H - PAD) x2=(W - PAD) y2=(H - PAD) stroke="#9aa0a6" stroke-width="1" {}
                @for (i, (label, value)) in data.iter().enumerate() {
                    @let h = if max > 0.0 { (value / max) * (H - PAD * 2.0) } else { 0.0 };
                    @let x = PAD + slot * i as f64 + (slot - bar) / 2.0;
                    rect x=(format!("{x:.1}")) y=(format!("{:.1}", H - PAD - h)) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) fill="#3b5bdb" {
                        title { (label) ": " (format(*value)) " " (unit) }
                    }
                    @if labelled(i) {
                        text x=(format!("{:.1}", x + bar / 2.0)) y=(format!("{:.1}", H - 8.0)) text-anchor="middle" font-size="10" fill="#5f6368" { (label) }
                    }
                }
                text x=(PAD) y="14" font-size="11" fill="#5f6368" { "max " (format(max)) " " (unit) }
            }
            details.data {
                summary { "Data table: " (title) }
                table {
                    thead { tr { th { "" } th { (unit) } } }
                    tbody { @for (label, value) in data { tr { td { (label) } td { (format(*value)) } } } }
                }
            }
        }
    }
}

/// Horizontal bars for named categories (long labels read better on the left).
pub fn hbars(title: &str, unit: &str, data: &[(String, f64)], format: fn(f64) -> String) -> Markup {
    const W: f64 = 640.0;
    const ROW: f64 = 22.0;
    const LABEL: f64 = 260.0;
    let h = ROW * data.len().max(1) as f64 + 8.0;
    let max = data.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let id = format!("chart-{}", slug(title));
    html! {
        figure.chart.hchart {
            svg viewBox=(format!("0 0 {W} {h}")) role="img" aria-labelledby=(id) {
                title id=(id) { (title) }
                @for (i, (label, value)) in data.iter().enumerate() {
                    @let y = 4.0 + ROW * i as f64;
                    @let w = if max > 0.0 { value / max * (W - LABEL - 60.0) } else { 0.0 };
                    text x=(LABEL - 6.0) y=(format!("{:.1}", y + 14.0)) text-anchor="end" font-size="11" fill="#3c4043" { (label) }
                    rect x=(LABEL) y=(format!("{y:.1}")) width=(format!("{w:.1}")) height=(ROW - 6.0) fill="#3b5bdb" {
                        title { (label) ": " (format(*value)) " " (unit) }
                    }
                    text x=(format!("{:.1}", LABEL + w + 4.0)) y=(format!("{:.1}", y + 14.0)) font-size="11" fill="#5f6368" { (format(*value)) }
                }
            }
            details.data {
                summary { "Data table: " (title) }
                table {
                    thead { tr { th { "" } th { (unit) } } }
                    tbody { @for (label, value) in data { tr { td { (label) } td { (format(*value)) } } } }
                }
            }
        }
    }
}

/// A horizontal share bar (0..1) with its percentage, for scorecards.
pub fn share(value: Option<f64>) -> Markup {
    match value {
        None => html! { span.muted { "n/a" } },
        Some(v) => {
            let pct = (v.clamp(0.0, 1.0) * 100.0).round();
            html! {
                span.share {
                    svg width="60" height="8" viewBox="0 0 100 8" aria-hidden="true" {
                        rect width="100" height="8" fill="#e0e0e0" {}
                        rect width=(pct) height="8" fill="#3b5bdb" {}
                    }
                    " " (pct) "%"
                }
            }
        }
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

pub fn count(v: f64) -> String {
    format!("{v:.0}")
}

pub fn hours(v: f64) -> String {
    format!("{v:.1}")
}
