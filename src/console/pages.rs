//! Server-rendered pages. maud escapes every interpolated string, so hostile names render as text.

use maud::{DOCTYPE, Markup, html};

use super::Snapshot;
use crate::api::passport::{Effect, TraceEntry};
use crate::api::{Decision, EvidenceStatus, PolicyMode, ReleasePassport};
use crate::engine::rules::time;

fn layout(s: &Snapshot, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Release Passport" }
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                header.top {
                    a.brand href="/console" { "Release Passport" }
                    nav { a href="/console" { "Passports" } }
                    span.source { (s.source) }
                }
                main { (body) }
                footer {
                    @if let Some(at) = s.decided_at { "Decided as of " (time(at)) ". " }
                    "Read-only: Release Passport decides and explains; CI/CD and GitOps deploy."
                }
            }
        }
    }
}

fn decision_badge(d: Option<Decision>) -> Markup {
    let (class, text) = match d {
        Some(Decision::Allow) => ("badge allow", "Allow"),
        Some(Decision::Hold) => ("badge hold", "Hold"),
        Some(Decision::Block) => ("badge block", "Block"),
        None => ("badge", "Undecided"),
    };
    html! { span class=(class) { (text) } }
}

fn evidence_badge(s: EvidenceStatus) -> Markup {
    let class = match s {
        EvidenceStatus::Complete => "badge allow",
        EvidenceStatus::Failed => "badge block",
        _ => "badge hold",
    };
    html! { span class=(class) { (s.as_str()) } }
}

fn effect_badge(e: Effect) -> Markup {
    let class = match e {
        Effect::Pass => "badge allow",
        Effect::Block => "badge block",
        Effect::Hold => "badge hold",
        Effect::Waived => "badge waived",
    };
    html! { span class=(class) { (e.as_str()) } }
}

fn passport_href(p: &ReleasePassport) -> String {
    format!(
        "/console/releases/{}/{}",
        p.metadata.namespace.as_deref().unwrap_or("default"),
        p.metadata.name.as_deref().unwrap_or("")
    )
}

/// The list of passports with their decisions and evidence completeness.
pub fn overview(s: &Snapshot) -> Markup {
    let count = |d: Decision| {
        s.passports
            .iter()
            .filter(|p| p.status.as_ref().and_then(|st| st.decision) == Some(d))
            .count()
    };
    layout(
        s,
        "Passports",
        html! {
            h1 { "Passports" }
            section.tiles aria-label="Decisions" {
                div.tile.allow { strong { (count(Decision::Allow)) } " allowed" }
                div.tile.hold { strong { (count(Decision::Hold)) } " held" }
                div.tile.block { strong { (count(Decision::Block)) } " blocked" }
            }
            @if s.passports.is_empty() {
                p.empty { "No passports yet: apply a Release and a GatePolicy." }
            } @else {
                div.scroll {
                    table {
                        thead { tr { th { "Release" } th { "Service" } th { "Version" } th { "Env" } th { "Decision" } th { "Evidence" } th { "Why" } } }
                        tbody {
                            @for p in &s.passports {
                                @let status = p.status.clone().unwrap_or_default();
                                tr {
                                    td { a href=(passport_href(p)) { (p.metadata.namespace.as_deref().unwrap_or("")) "/" (p.metadata.name.as_deref().unwrap_or("")) } }
                                    td { (p.spec.service) }
                                    td { (p.spec.version) }
                                    td { (p.spec.environment) }
                                    td { (decision_badge(status.decision)) }
                                    td { (status.evidence_summary.as_deref().unwrap_or("-")) }
                                    td.why { (status.reasons.first().map_or("all enforced rules pass", String::as_str)) }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/api/v1/passports" { "All passports as JSON" } }
        },
    )
}

fn trace_rows(entries: &[&TraceEntry]) -> Markup {
    html! {
        @for t in entries {
            tr {
                td { (t.policy) }
                td { (t.rule) }
                td { (t.type_) }
                td { (effect_badge(t.effect)) }
                td { (t.evidence.join(", ")) }
                td.why { (t.message) }
            }
        }
    }
}

/// The truth screen for one release.
pub fn release(s: &Snapshot, p: &ReleasePassport) -> Markup {
    let status = p.status.clone().unwrap_or_default();
    let name = format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or(""),
        p.metadata.name.as_deref().unwrap_or("")
    );
    let enforced: Vec<&TraceEntry> = status
        .trace
        .iter()
        .filter(|t| t.mode == PolicyMode::Enforce)
        .collect();
    let simulated: Vec<&TraceEntry> = status
        .trace
        .iter()
        .filter(|t| t.mode == PolicyMode::Simulate)
        .collect();
    layout(
        s,
        &name,
        html! {
            p.crumbs { a href="/console" { "Passports" } " / " (name) }
            h1 { (p.spec.service) " " (p.spec.version) " → " (p.spec.environment) " " (decision_badge(status.decision)) }
            @if !status.reasons.is_empty() {
                section {
                    h2 { "Why" }
                    ul.reasons { @for r in &status.reasons { li { (r) } } }
                }
            }
            section {
                h2 { "Evidence " small { (status.evidence_summary.as_deref().unwrap_or("0/0")) " complete" } }
                div.scroll { table {
                    thead { tr { th { "Source" } th { "Status" } th { "Observed" } th { "Connector" } th { "What was seen" } } }
                    tbody {
                        @for e in &status.evidence {
                            tr {
                                td { (e.source) }
                                td { (evidence_badge(e.status)) }
                                td { (e.observed_at.map(time).unwrap_or_else(|| "never".into())) }
                                td { (e.connector.as_deref().unwrap_or("-")) }
                                td.why {
                                    (e.summary.as_deref().unwrap_or(""))
                                    @if let Some(v) = e.value { " (value " (v) ")" }
                                    @if let Some(t) = e.targets { " [" (t.passing) "/" (t.total) " targets]" }
                                }
                            }
                        }
                    }
                } }
            }
            section {
                h2 { "Decision trace" }
                div.scroll { table {
                    thead { tr { th { "Policy" } th { "Rule" } th { "Type" } th { "Effect" } th { "Read" } th { "Why" } } }
                    tbody { (trace_rows(&enforced)) }
                } }
                @if !simulated.is_empty() {
                    h3 { "Simulated (never changes the decision)" }
                    div.scroll { table {
                        thead { tr { th { "Policy" } th { "Rule" } th { "Type" } th { "Effect" } th { "Read" } th { "Why" } } }
                        tbody { (trace_rows(&simulated)) }
                    } }
                }
            }
            @if let Some(a) = &status.approvals {
                section {
                    h2 { "Approvals " small { (a.approved) " of " (a.required) " required" } }
                    @if a.records.is_empty() { p.empty { "No approvals yet." } }
                    ul { @for r in &a.records {
                        li {
                            strong { (r.approver) } " " (format!("{:?}", r.decision))
                            @if let Some(at) = r.at { " at " (time(at)) }
                            @if let Some(c) = &r.comment { " — “" (c) "”" }
                            @if let Some(n) = &r.not_counted { " " em { "(not counted: " (n) ")" } }
                        }
                    } }
                }
            }
            @if !status.waivers.is_empty() {
                section {
                    h2 { "Waivers" }
                    ul { @for w in &status.waivers {
                        li {
                            strong { (w.name) } " waives " (w.rules.join(", ")) " until " (time(w.expires_at))
                            @if !w.active { " " em { "(expired)" } }
                            " — granted by " (w.approver) ": " (w.reason)
                        }
                    } }
                }
            }
            @if let Some(r) = &status.rollback {
                section {
                    h2 { "Rollback " @if r.ready { span.badge.allow { "Ready" } } @else { span.badge.hold { "Not ready" } } }
                    p { (r.reason) }
                }
            }
            @if let Some(w) = &status.watch {
                section {
                    h2 { "Post-deploy watch" }
                    p { (format!("{:?}", w.phase)) " · " (w.duration) " · " (w.rules.join(", ")) }
                    @if let Some(m) = &w.message { p { (m) } }
                }
            }
            @if !status.timeline.is_empty() {
                section {
                    h2 { "Timeline" }
                    ol.timeline { @for t in &status.timeline { li { (time(t.at)) " " (decision_badge(Some(t.decision))) " " (t.message) } } }
                }
            }
            section {
                h2 { "Conditions" }
                ul { @for c in &status.conditions { li { strong { (c.type_) } " = " (c.status) " (" (c.reason) ") " (c.message) } } }
            }
            p { a href=(format!("/api/v1/passports/{name}")) { "Export this passport as JSON" } }
        },
    )
}

pub fn not_found(s: &Snapshot, message: &str) -> Markup {
    layout(
        s,
        "Not found",
        html! { h1 { "Not found" } p { (message) } p { a href="/console" { "Back to passports" } } },
    )
}
