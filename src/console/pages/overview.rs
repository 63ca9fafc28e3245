//! Overview: triage across the workspace — pending gates, held and blocked releases, stale
//! evidence, connector issues, first-passport progress, recent decisions and next actions.

use maud::{Markup, html};

use super::super::audit::EventKind;
use super::super::layout::{Nav, Page, command, empty, layout, passport_badge, passport_href};
use super::releases::Filter;
use crate::api::{Decision, EvidenceStatus, Keyed, ReleasePassport, namespace_of};

const LIST: usize = 15;

fn decided(p: &ReleasePassport) -> Option<Decision> {
    p.status.as_ref().and_then(|s| s.decision)
}

/// What the held-and-blocked list says when it is empty, true of what is there: nothing
/// released yet, nothing decided yet, or every decided release allowed.
fn nothing_waiting(passports: &[&ReleasePassport]) -> &'static str {
    if passports.is_empty() {
        "Nothing is waiting: no release has a passport yet."
    } else if passports.iter().all(|p| decided(p).is_none()) {
        "Nothing is waiting: no release has been decided yet."
    } else {
        "Nothing is waiting: every decided release is allowed."
    }
}

/// The first-passport checklist, while a step is left.
fn checklist(steps: &[(&'static str, bool, &'static str)]) -> Markup {
    let done = steps.iter().filter(|s| s.1).count();
    html! {
        @if done < steps.len() {
            section aria-labelledby="first" {
                h2 id="first" { "First passport " small { (done) " of " (steps.len()) " done" } }
                ol.checklist {
                    @for &(what, ok, cmd) in steps {
                        li class=(if ok { "done" } else { "todo" }) {
                            span.mark aria-hidden="true" { @if ok { "✓" } @else { "○" } }
                            " " (what) @if ok { span.visually-hidden { " (done)" } }
                            @if !ok { (command(cmd)) }
                        }
                    }
                }
            }
        }
    }
}

/// The steps to a first Allow, each with whether it is done and the command that does it.
fn first_steps(
    page: &Page,
    passports: &[&ReleasePassport],
    connectors: bool,
) -> [(&'static str, bool, &'static str); 6] {
    let any_allow = passports
        .iter()
        .any(|p| decided(p) == Some(Decision::Allow));
    [
        (
            "Install the CRDs and the controller",
            true,
            "kubectl apply -k config/default",
        ),
        (
            "Apply a GatePolicy",
            page.snap
                .policies
                .iter()
                .any(|p| page.visible(p.metadata.namespace.as_deref())),
            "kubectl apply -f examples/policies/production-standard.yaml",
        ),
        (
            "Configure a Connector",
            connectors,
            "kubectl apply -f examples/shop/connectors.yaml",
        ),
        (
            "Apply a Release",
            page.snap
                .releases
                .iter()
                .any(|r| page.visible(r.metadata.namespace.as_deref()))
                || !passports.is_empty(),
            "kubectl apply -f examples/shop/releases.yaml",
        ),
        (
            "Get a first passport",
            !passports.is_empty(),
            "kubectl get releasepassports -A",
        ),
        (
            "Reach a first Allow",
            any_allow,
            "passport gate --release NAMESPACE/NAME --wait",
        ),
    ]
}

pub fn page(page: &Page) -> Markup {
    let s = page.snap;
    let passports: Vec<&ReleasePassport> = page.latest_passports().collect();
    // Each tile counts exactly the rows its link lists: the count is that list's length.
    let latest = |decision: &str, evidence: &str| Filter {
        decision: decision.into(),
        evidence: evidence.into(),
        latest: true,
        ..Filter::default()
    };
    let waived = Filter {
        waived: true,
        ..latest("Allow", "")
    };
    let tiles = [
        (
            "hold",
            latest("Hold", ""),
            ["pending gate (Hold)", "pending gates (Hold)"],
        ),
        ("block", latest("Block", ""), ["blocked"; 2]),
        ("allow", latest("Allow", ""), ["allowed"; 2]),
        ("waived", waived, ["allowed by a waiver"; 2]),
        ("", latest("", "Stale"), ["with stale evidence"; 2]),
    ]
    .map(|(class, filter, [one, many])| {
        let n = filter.count(page);
        (
            class,
            format!("/console/releases{}", filter.query()),
            n,
            if n == 1 { one } else { many },
        )
    });
    let mut stopped: Vec<&&ReleasePassport> = passports
        .iter()
        .filter(|p| matches!(decided(p), Some(Decision::Hold | Decision::Block)))
        .collect();
    // Blocks first, then the longest-waiting.
    stopped.sort_by_key(|p| {
        (
            decided(p) != Some(Decision::Block),
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
        )
    });
    let stale: Vec<(&ReleasePassport, &crate::api::passport::EvidenceEntry)> = passports
        .iter()
        .flat_map(|p| {
            p.status
                .iter()
                .flat_map(|st| &st.evidence)
                .filter(|e| e.status == EvidenceStatus::Stale)
                .map(move |e| (*p, e))
        })
        .collect();
    let connectors: Vec<_> = s
        .connectors
        .iter()
        .filter(|c| page.visible(c.metadata.namespace.as_deref()))
        .collect();
    let view = page.view();
    let troubled: Vec<(&crate::radar::ConnectorFreshness, String)> = view
        .radar
        .connectors
        .iter()
        .filter_map(|c| Some((c, c.trouble()?)))
        .collect();
    let steps = first_steps(page, &passports, !connectors.is_empty());
    layout(
        page,
        Nav::Overview,
        "Overview",
        html! {
            h1 { "Overview" }
            p.muted { "The latest passport of each service and environment." }
        section.tiles aria-label="Triage" {
                @for (class, href, n, label) in &tiles {
                    a class=(format!("tile {class}")) href=(href) { strong { (n) } (label) }
                }
                a.tile href=(super::integrations::ISSUES_HREF) { strong { (troubled.len()) } (if troubled.len() == 1 { "connector issue" } else { "connector issues" }) }
            }
            (checklist(&steps))
            section aria-labelledby="stopped" {
                h2 id="stopped" { "Held and blocked " small { (stopped.len()) } }
                @if stopped.is_empty() { (empty(nothing_waiting(&passports))) } @else {
                    div.scroll { table {
                        thead { tr { th { "Release" } th { "Decision" } th { "Why" } th { "Next action" } } }
                        tbody { @for p in stopped.iter().take(LIST) {
                            @let next = super::release::next(p, page.snap.release(namespace_of(&p.metadata), p.metadata.name.as_deref().unwrap_or("")).is_some());
                            tr {
                                td data-label="Release" { a href=(passport_href(p)) { (p.key()) } br; small { (p.spec.service) " " (p.spec.version) " → " (p.spec.environment) } }
                                td data-label="Decision" { (passport_badge(p.status.as_ref())) }
                                td.why data-label="Why" { (super::releases::why(p)) }
                                td data-label="Next action" { (next.who) @if let Some(c) = &next.command { (command(c)) } }
                            }
                        } }
                    } }
                    @if stopped.len() > LIST { p { a href=(tiles[0].1) { "All held releases" } " · " a href=(tiles[1].1) { "All blocked releases" } } }
                }
            }
            div.columns {
                section aria-labelledby="stale" {
                    h2 id="stale" { "Stale evidence" }
                    @if stale.is_empty() { (empty("No stale evidence.")) } @else {
                        ul { @for (p, e) in stale.iter().take(LIST) {
                            li { a href=(passport_href(p)) { (p.key()) } ": " strong { (e.source) } " last seen " (page.when(e.observed_at)) }
                        } }
                    }
                }
                section aria-labelledby="conn" {
                    h2 id="conn" { "Connector issues" }
                    @if connectors.is_empty() { (empty("No connectors configured: evidence comes from files or annotations only.")) }
                    @else if troubled.is_empty() { (empty("No connector has an issue.")) } @else {
                        ul { @for (c, trouble) in troubled.iter().take(LIST) {
                            li { strong { (c.connector) } " (" (format!("{:?}", c.type_)) "): " (trouble) }
                        } }
                    }
                }
            }
            section aria-labelledby="recent" {
                h2 id="recent" { "Recent decisions" }
                @let recent: Vec<_> = s.events.iter().filter(|e| e.kind == EventKind::Decision && page.visible(Some(&e.namespace))).take(10).collect();
                @if recent.is_empty() { (empty("No decisions yet.")) } @else {
                    ul.timeline { @for e in recent {
                        li { (page.when(e.at)) " " a href=(super::super::layout::release_href(&e.namespace, &e.subject)) { (e.namespace) "/" (e.subject) } " " (e.summary) }
                    } }
                }
            }
        },
    )
}
