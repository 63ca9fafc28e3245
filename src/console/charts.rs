//! Server-rendered SVG charts, each followed by the same numbers as a table (for screen readers
//! and for copying). Presentation attributes only: the CSP allows no inline style. Each chart is
//! drawn at two widths and the stylesheet shows the one that fits, so text stays 12 px.

use maud::{Markup, html};

/// How a chart is drawn at one width: on a phone the same chart is drawn narrower, so its
/// labels stay legible (SVG text scales with the drawing).
struct Fit {
    class: &'static str,
    width: f64,
    font: f64,
    /// At most this many x labels.
    labels: usize,
}

const FITS: [Fit; 2] = [
    Fit {
        class: "wide",
        width: 560.0,
        font: 12.0,
        labels: 12,
    },
    Fit {
        class: "narrow",
        width: 320.0,
        font: 12.0,
        labels: 5,
    },
];

/// A round step for about `n` gridlines up to `max` (1, 2 or 5 times a power of ten).
fn step(max: f64, n: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / n;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// One bar: what it is, its value, and the list of what it counts, when there is one.
pub struct Point {
    pub label: String,
    pub value: f64,
    pub href: Option<String>,
}

/// A bar drawn as a link to what it counts, when it has one.
fn linked(href: Option<&str>, bar: Markup) -> Markup {
    html! {
        @if let Some(href) = href { a href=(href) { (bar) } } @else { (bar) }
    }
}

fn data_table(title: &str, unit: &str, data: &[Point], format: fn(f64) -> String) -> Markup {
    html! {
        details.data {
            summary { "Data table: " (title) }
            table {
                thead { tr { th { "" } th { (if unit.is_empty() { title } else { unit }) } } }
                tbody { @for p in data { tr {
                    td { (p.label) }
                    td { (linked(p.href.as_deref(), html! { (format(p.value)) " " (units(p.value, unit)) })) }
                } } }
            }
        }
    }
}

/// `label` cut to what `width` holds at `font` (about 0.58 em a character), its end kept:
/// "…two-person/two-person-rule" says more than "payments-two-…".
fn fitted(label: &str, width: f64, font: f64) -> String {
    let fits = (width / (font * 0.58)).floor().max(4.0) as usize;
    let count = label.chars().count();
    if count <= fits {
        return label.to_string();
    }
    let tail: String = label.chars().skip(count - (fits - 1)).collect();
    format!("…{tail}")
}

/// How wide `label` is drawn at `font` (about 0.6 em a character).
fn text_width(label: &str, font: f64) -> f64 {
    label.chars().count() as f64 * font * 0.6
}

/// Which of `n` bars `slot` apart (each `bar` wide) carry an x label: every `every`th, and
/// always the last (the newest, drawn ending at its bar) — the one before it dropped when the
/// two would touch ("11-23" ran into "11-25").
fn labelled(
    labels: &[&str],
    every: usize,
    slot: f64,
    bar: f64,
    font: f64,
) -> std::collections::BTreeSet<usize> {
    let n = labels.len();
    let mut shown: std::collections::BTreeSet<usize> = (0..n).step_by(every.max(1)).collect();
    if let Some(last) = n.checked_sub(1) {
        shown.insert(last);
        let before = shown.range(..last).next_back().copied();
        if let Some(p) = before {
            // The last label's left edge and the one before's right edge, from the first slot.
            let last_left =
                slot * last as f64 + slot / 2.0 + bar / 2.0 - text_width(labels[last], font);
            let before_right = slot * p as f64 + slot / 2.0 + text_width(labels[p], font) / 2.0;
            if last_left - before_right < font / 2.0 {
                shown.remove(&p);
            }
        }
    }
    shown
}

/// A unit as a count reads it: "1 release", "4 releases".
fn units(value: f64, unit: &str) -> String {
    if (value - 1.0).abs() < f64::EPSILON && unit.len() > 1 {
        unit.strip_suffix('s').unwrap_or(unit).to_string()
    } else {
        unit.to_string()
    }
}

/// A vertical bar chart of `(label, value)` with a y axis in `unit`, gridlines, x labels and
/// the x axis's title `x_axis`; `format` renders a value for the axis and the table.
pub fn bars(
    title: &str,
    unit: &str,
    x_axis: &str,
    data: &[Point],
    format: fn(f64) -> String,
) -> Markup {
    const H: f64 = 220.0;
    let max = data.iter().map(|p| p.value).fold(0.0_f64, f64::max);
    let step = step(max, 4.0);
    let top = (max / step).ceil().max(1.0) * step;
    let ticks: Vec<f64> = (0..=((top / step).round() as usize))
        .map(|i| i as f64 * step)
        .collect();
    let id = format!("chart-{}", slug(title));
    html! {
        figure.chart {
            @for fit in &FITS {
                @let left = fit.font * 3.5;
                @let (right, top_pad, bottom) = (8.0, fit.font * 1.8, fit.font * 3.8);
                @let plot_w = fit.width - left - right;
                @let plot_h = H - top_pad - bottom;
                @let n = data.len().max(1);
                @let slot = plot_w / n as f64;
                @let bar = (slot * 0.7).max(1.0);
                @let every = n.div_ceil(fit.labels).max(1);
                @let names: Vec<&str> = data.iter().map(|p| p.label.as_str()).collect();
                @let shown = labelled(&names, every, slot, bar, fit.font);
                @let y = |v: f64| top_pad + plot_h - v / top * plot_h;
                svg class=(fit.class) viewBox=(format!("0 0 {} {H}", fit.width)) role="img" aria-labelledby=(format!("{id}-{}", fit.class)) {
                    title id=(format!("{id}-{}", fit.class)) { (title) @if !unit.is_empty() { " (" (unit) ")" } }
                    text x="0" y=(format!("{:.1}", fit.font)) font-size=(fit.font) fill="#3c4043" { (unit) }
                    @for t in &ticks {
                        line x1=(format!("{left:.1}")) y1=(format!("{:.1}", y(*t))) x2=(format!("{:.1}", fit.width - right)) y2=(format!("{:.1}", y(*t))) stroke=(if *t == 0.0 { "#5f6368" } else { "#e0e0e0" }) stroke-width="1" {}
                        text x=(format!("{:.1}", left - 4.0)) y=(format!("{:.1}", y(*t) + fit.font / 3.0)) text-anchor="end" font-size=(fit.font) fill="#3c4043" { (format(*t)) }
                    }
                    @for (i, Point { label, value, href }) in data.iter().enumerate() {
                        @let x = left + slot * i as f64 + (slot - bar) / 2.0;
                        @let h = value / top * plot_h;
                        (linked(href.as_deref(), html! {
                            rect x=(format!("{x:.1}")) y=(format!("{:.1}", y(*value))) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) fill="#3b5bdb" {
                                title { (label) ": " (format(*value)) " " (units(*value, unit)) }
                            }
                        }))
                        @if shown.contains(&i) {
                            // The last label ends at its bar, so it never runs off the drawing.
                            @let (anchor, at) = if i + 1 == n { ("end", x + bar) } else { ("middle", x + bar / 2.0) };
                            text x=(format!("{at:.1}")) y=(format!("{:.1}", H - bottom + fit.font * 1.4)) text-anchor=(anchor) font-size=(fit.font) fill="#3c4043" { (label) }
                        }
                    }
                    text x=(format!("{:.1}", left + plot_w / 2.0)) y=(format!("{:.1}", H - fit.font * 0.4)) text-anchor="middle" font-size=(fit.font) fill="#5f6368" { (x_axis) }
                }
            }
            (data_table(title, unit, data, format))
        }
    }
}

/// Horizontal bars for named categories, each value written with its unit; wide, the label
/// sits left of its bar, narrow, above it.
pub fn hbars(title: &str, unit: &str, data: &[Point], format: fn(f64) -> String) -> Markup {
    let max = data.iter().map(|p| p.value).fold(0.0_f64, f64::max);
    let id = format!("chart-{}", slug(title));
    html! {
        figure.chart.hchart {
            @for fit in &FITS {
                @let narrow = fit.class == "narrow";
                // Wide, the label column fits the longest label, up to half the drawing.
                @let longest = data.iter().map(|p| text_width(&p.label, fit.font)).fold(0.0_f64, f64::max);
                @let label_w = if narrow { 0.0 } else { (longest + 8.0).clamp(120.0, fit.width / 2.0) };
                @let row = if narrow { fit.font * 3.2 } else { fit.font * 2.0 };
                @let h = row * data.len().max(1) as f64 + 8.0;
                @let room = fit.width - label_w - fit.font * 6.0;
                svg class=(fit.class) viewBox=(format!("0 0 {} {h:.1}", fit.width)) role="img" aria-labelledby=(format!("{id}-{}", fit.class)) {
                    title id=(format!("{id}-{}", fit.class)) { (title) @if !unit.is_empty() { " (" (unit) ")" } }
                    @for (i, Point { label, value, href }) in data.iter().enumerate() {
                        @let y = 4.0 + row * i as f64;
                        @let bar_y = if narrow { y + fit.font * 1.3 } else { y };
                        @let bar_h = if narrow { fit.font * 1.3 } else { row - 6.0 };
                        @let w = if max > 0.0 { value / max * room } else { 0.0 };
                        @let room_for = if narrow { fit.width - fit.font } else { label_w - 6.0 };
                        @let shown = fitted(label, room_for, fit.font);
                        @if narrow {
                            text x="0" y=(format!("{:.1}", y + fit.font)) font-size=(fit.font) fill="#3c4043" { title { (label) } (shown) }
                        } @else {
                            text x=(format!("{:.1}", label_w - 6.0)) y=(format!("{:.1}", y + fit.font * 1.1)) text-anchor="end" font-size=(fit.font) fill="#3c4043" { title { (label) } (shown) }
                        }
                        (linked(href.as_deref(), html! {
                            rect x=(format!("{label_w:.1}")) y=(format!("{bar_y:.1}")) width=(format!("{w:.1}")) height=(format!("{bar_h:.1}")) fill="#3b5bdb" {
                                title { (label) ": " (format(*value)) " " (units(*value, unit)) }
                            }
                        }))
                        text x=(format!("{:.1}", label_w + w + 4.0)) y=(format!("{:.1}", bar_y + bar_h * 0.8)) font-size=(fit.font) fill="#3c4043" { (format(*value)) " " (units(*value, unit)) }
                    }
                }
            }
            (data_table(title, unit, data, format))
        }
    }
}

/// A comparison drawn: the baseline's and the release's medians as bars (`(label, value)`), the
/// tolerance band from the baseline to `limit`, the limit dashed, and an x axis titled `axis`
/// with round ticks; `show` writes a value in the metric's unit.
pub fn versus(
    title: &str,
    axis: &str,
    bars: [(&str, f64); 2],
    limit: f64,
    show: &dyn Fn(f64) -> String,
) -> Markup {
    let id = format!("chart-{}", slug(title));
    let highest = bars.iter().map(|b| b.1).fold(limit, f64::max).max(0.0);
    let step = step(highest, 3.0);
    let top = ((highest / step).floor() + 1.0) * step;
    let ticks: Vec<f64> = (0..=((top / step).round() as usize))
        .map(|i| i as f64 * step)
        .collect();
    html! {
        figure.chart.hchart {
            @for fit in &FITS {
                @let label_w = if fit.class == "narrow" { fit.width * 0.36 } else { 150.0 };
                @let room = fit.width - label_w - fit.font * 4.0;
                @let x = |v: f64| label_w + v.max(0.0) / top * room;
                @let (pad, row) = (fit.font * 1.6, fit.font * 2.2);
                @let plot_bottom = pad + row * 2.0;
                @let h = plot_bottom + fit.font * 3.4;
                @let (band_from, band_to) = (x(bars[0].1).min(x(limit)), x(bars[0].1).max(x(limit)));
                svg class=(fit.class) viewBox=(format!("0 0 {} {h:.1}", fit.width)) role="img" aria-labelledby=(format!("{id}-{}", fit.class)) {
                    title id=(format!("{id}-{}", fit.class)) { (title) }
                    rect x=(format!("{band_from:.1}")) y=(format!("{pad:.1}")) width=(format!("{:.1}", band_to - band_from)) height=(format!("{:.1}", row * 2.0)) fill="#e7f5e9" {
                        title { "tolerance: up to " (show(limit)) }
                    }
                    @for t in &ticks {
                        line x1=(format!("{:.1}", x(*t))) y1=(format!("{pad:.1}")) x2=(format!("{:.1}", x(*t))) y2=(format!("{:.1}", plot_bottom + 3.0)) stroke="#e0e0e0" stroke-width="1" {}
                        text x=(format!("{:.1}", x(*t))) y=(format!("{:.1}", plot_bottom + fit.font * 1.3)) text-anchor="middle" font-size=(fit.font) fill="#3c4043" { (show(*t)) }
                    }
                    line x1=(format!("{label_w:.1}")) y1=(format!("{plot_bottom:.1}")) x2=(format!("{:.1}", label_w + room)) y2=(format!("{plot_bottom:.1}")) stroke="#5f6368" stroke-width="1" {}
                    @for (i, (label, value)) in bars.iter().enumerate() {
                        @let y = pad + 3.0 + row * i as f64;
                        text x=(format!("{:.1}", label_w - 6.0)) y=(format!("{:.1}", y + fit.font * 1.1)) text-anchor="end" font-size=(fit.font) fill="#3c4043" { title { (label) } (fitted(label, label_w - 6.0, fit.font)) }
                        rect x=(format!("{label_w:.1}")) y=(format!("{y:.1}")) width=(format!("{:.1}", x(*value) - label_w)) height=(format!("{:.1}", row - 6.0)) fill=(if i == 0 { "#9aa0a6" } else { "#3b5bdb" }) {
                            title { (label) ": " (show(*value)) }
                        }
                        text x=(format!("{:.1}", x(*value) + 4.0)) y=(format!("{:.1}", y + fit.font * 1.1)) font-size=(fit.font) fill="#3c4043" { (show(*value)) }
                    }
                    line x1=(format!("{:.1}", x(limit))) y1=(format!("{pad:.1}")) x2=(format!("{:.1}", x(limit))) y2=(format!("{plot_bottom:.1}")) stroke="#c5221f" stroke-width="1.5" stroke-dasharray="4 3" {}
                    text x=(format!("{:.1}", x(limit))) y=(format!("{:.1}", fit.font)) text-anchor="middle" font-size=(fit.font) fill="#c5221f" { "limit " (show(limit)) }
                    text x=(format!("{:.1}", label_w + room / 2.0)) y=(format!("{:.1}", h - fit.font * 0.4)) text-anchor="middle" font-size=(fit.font) fill="#5f6368" { (axis) }
                }
            }
            details.data {
                summary { "Data table: " (title) }
                table {
                    tbody {
                        @for (label, value) in &bars { tr { td { (label) } td { (show(*value)) } } }
                        tr { td { "limit (the tolerance)" } td { (show(limit)) } }
                    }
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

/// Hours as every other page writes a duration ("1d 14h", "8h 29m").
pub fn hours(v: f64) -> String {
    crate::output::human_duration(chrono::Duration::minutes((v * 60.0).round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest date's label never runs into the one before (#32: "11-23" over "11-25").
    #[test]
    fn x_labels_never_touch() {
        let days: Vec<String> = (1..=30).map(|d| format!("11-{d:02}")).collect();
        let names: Vec<&str> = days.iter().map(String::as_str).collect();
        for fit in &FITS {
            let slot = (fit.width - fit.font * 3.5 - 8.0) / names.len() as f64;
            let bar = slot * 0.7;
            let every = names.len().div_ceil(fit.labels);
            let shown: Vec<usize> = labelled(&names, every, slot, bar, fit.font)
                .into_iter()
                .collect();
            assert_eq!(shown.last(), Some(&29), "the newest day is labelled");
            for pair in shown.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let right_of_a =
                    slot * a as f64 + slot / 2.0 + text_width(names[a], fit.font) / 2.0;
                let left_of_b = if b == 29 {
                    slot * b as f64 + slot / 2.0 + bar / 2.0 - text_width(names[b], fit.font)
                } else {
                    slot * b as f64 + slot / 2.0 - text_width(names[b], fit.font) / 2.0
                };
                assert!(
                    left_of_b > right_of_a,
                    "{} and {} touch at {}",
                    names[a],
                    names[b],
                    fit.class
                );
            }
        }
    }

    #[test]
    fn lead_time_reads_as_the_scorecards_write_it() {
        assert_eq!(
            hours(38.2),
            crate::output::human_duration(chrono::Duration::minutes(2292))
        );
        assert!(!hours(38.2).contains('.'));
    }

    #[test]
    fn gridlines_at_round_steps() {
        assert_eq!(step(6.0, 4.0), 2.0);
        assert_eq!(step(41.4, 4.0), 20.0);
        assert_eq!(step(0.9, 4.0), 0.5);
        assert_eq!(step(0.0, 4.0), 1.0);
    }

    #[test]
    fn long_labels_keep_their_end_and_counts_their_number() {
        assert_eq!(fitted("short", 200.0, 12.0), "short");
        let cut = fitted("payments-two-person/two-person-rule", 100.0, 12.0);
        assert!(
            cut.starts_with('…') && cut.ends_with("person-rule"),
            "{cut}"
        );
        assert!(cut.chars().count() <= 14, "{cut}");
        assert_eq!(units(1.0, "releases"), "release");
        assert_eq!(units(4.0, "releases"), "releases");
        assert_eq!(units(1.0, "h"), "h");
    }
}
