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

/// One step to a first Allow: what it is, whether it is done, and the command that does it.
struct Step {
    what: &'static str,
    done: bool,
    command: String,
}

/// The first-passport checklist of the workspace (`namespace` none) or of one namespace, while
/// a step is left.
fn checklist(namespace: Option<&str>, steps: &[Step]) -> Markup {
    let done = steps.iter().filter(|s| s.done).count();
    let id = namespace.map_or_else(|| "first".to_string(), |ns| format!("first-{ns}"));
    html! {
        @if done < steps.len() {
            section aria-labelledby=(id) {
                h2 id=(id) {
                    "First passport"
                    @if let Some(ns) = namespace { " in " code { (ns) } }
                    " " small { (done) " of " (steps.len()) " done" }
                }
                ol.checklist {
                    @for step in steps {
                        li class=(if step.done { "done" } else { "todo" }) {
                            span.mark aria-hidden="true" { @if step.done { "✓" } @else { "○" } }
                            " " (step.what) @if step.done { span.visually-hidden { " (done)" } }
                            @if !step.done { (command(&step.command)) }
                        }
                    }
                }
            }
        }
    }
}

/// The steps to a first Allow in what this viewer sees, or in one `namespace` of it (a team
/// that just installed beside others): there the example files are applied with its name.
fn first_steps(page: &Page, namespace: Option<&str>) -> [Step; 6] {
    let s = page.snap;
    let here = |ns: Option<&str>| page.visible(ns) && namespace.is_none_or(|n| ns == Some(n));
    let passports: Vec<&ReleasePassport> = page
        .latest_passports()
        .filter(|p| here(p.metadata.namespace.as_deref()))
        .collect();
    let apply = |file: &str, example: &str| match namespace {
        None => format!("kubectl apply -f {file}"),
        Some(ns) => {
            format!("sed 's/namespace: {example}$/namespace: {ns}/' {file} | kubectl apply -f -")
        }
    };
    let (listed, release) = match namespace {
        None => ("-A".to_string(), "NAMESPACE/NAME".to_string()),
        Some(ns) => (format!("-n {ns}"), format!("{ns}/NAME")),
    };
    let step = |what, done, command| Step {
        what,
        done,
        command,
    };
    [
        step(
            "Install the CRDs and the controller",
            true,
            "kubectl apply -k config/default".into(),
        ),
        step(
            "Apply a GatePolicy",
            s.policies
                .iter()
                .any(|p| here(p.metadata.namespace.as_deref())),
            apply("examples/policies/production-standard.yaml", "my-team"),
        ),
        step(
            "Configure a Connector",
            s.connectors
                .iter()
                .any(|c| here(c.metadata.namespace.as_deref())),
            apply("examples/shop/connectors.yaml", "shop"),
        ),
        step(
            "Apply a Release",
            s.releases
                .iter()
                .any(|r| here(r.metadata.namespace.as_deref()))
                || !passports.is_empty(),
            apply("examples/shop/releases.yaml", "shop"),
        ),
        step(
            "Get a first passport",
            !passports.is_empty(),
            format!("kubectl get releasepassports {listed}"),
        ),
        step(
            "Reach a first Allow",
            passports
                .iter()
                .any(|p| decided(p) == Some(Decision::Allow)),
            format!("passport gate --release {release} --wait"),
        ),
    ]
}

/// The namespaces this viewer sees that hold any of our objects, each once, in order.
fn namespaces<'p>(page: &'p Page) -> std::collections::BTreeSet<&'p str> {
    let s = page.snap;
    s.policies
        .iter()
        .map(|p| p.metadata.namespace.as_deref())
        .chain(s.connectors.iter().map(|c| c.metadata.namespace.as_deref()))
        .chain(s.releases.iter().map(|r| r.metadata.namespace.as_deref()))
        .chain(
            page.latest_passports()
                .map(|p| p.metadata.namespace.as_deref()),
        )
        .flatten()
        .filter(|ns| page.visible(Some(ns)))
        .collect()
}

/// The workspace's checklist while it has no first Allow; after that, the checklist of each
/// namespace still on its way (a team that installed beside the others).
fn first_passports(page: &Page) -> Markup {
    let workspace = first_steps(page, None);
    if workspace.iter().any(|s| !s.done) {
        return checklist(None, &workspace);
    }
    html! {
        @for ns in namespaces(page) {
            (checklist(Some(ns), &first_steps(page, Some(ns))))
        }
    }
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
            (first_passports(page))
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
