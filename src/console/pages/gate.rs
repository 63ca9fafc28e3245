//! Gate: the policies and their rules and effects, templates, Simulate-mode results, approvals,
//! waivers, decision history and post-deploy watches. The gate owns decisions; this page shows
//! how it makes them.

use maud::{Markup, html};

use super::super::audit::EventKind;
use super::super::layout::{
    Nav, PREVIOUS_NEXT, Page, PageNumber, command, empty, expiry, layout, ok_badge, paged,
    release_href,
};
use crate::api::common::Outcome;
use crate::api::passport::{Effect, WatchPhase};
use crate::api::policy::PolicyRule;
use crate::api::{ConditionStatus, ConditionType};
use crate::api::{GatePolicy, Keyed, PolicyMode, namespace_of};

/// A rule in one line: its type and what it asks.
pub fn describe(rule: &PolicyRule) -> (&'static str, String) {
    if let Some(e) = &rule.evidence {
        let age = e
            .max_age
            .as_ref()
            .map(|a| format!(", at most {a} old"))
            .unwrap_or_default();
        return ("evidence", format!("{} is Complete{age}", e.source));
    }
    if let Some(m) = &rule.metric {
        return ("metric", format!("{} {}", m.query, m.bar()));
    }
    if let Some(a) = &rule.approval {
        let mut text = format!("{} approval{}", a.min, if a.min == 1 { "" } else { "s" });
        if !a.from_groups.is_empty() {
            text.push_str(&format!(" from {}", a.from_groups.join(", ")));
        }
        if a.exclude_author {
            text.push_str(", never the author");
        }
        return ("approval", text);
    }
    if let Some(w) = &rule.window {
        let names: Vec<String> = w
            .freezes
            .iter()
            .map(|f| {
                f.name
                    .clone()
                    .or_else(|| f.cron.clone())
                    .or_else(|| f.start.clone())
                    .unwrap_or_default()
            })
            .collect();
        return (
            "window",
            format!(
                "freezes: {} ({})",
                names.join(", "),
                w.time_zone.as_deref().unwrap_or("UTC")
            ),
        );
    }
    if let Some(x) = &rule.expression {
        return ("expression", x.cel.clone());
    }
    ("?", String::new())
}

/// What a rule does when its input is missing, stale or failing (its `on…` fields, else the
/// engine's defaults): "missing → Hold · stale → Hold · failed → Block".
pub fn effects(rule: &PolicyRule) -> String {
    let o = |set: Option<Outcome>, default: Outcome| format!("{:?}", set.unwrap_or(default));
    if let Some(e) = &rule.evidence {
        let mut parts = vec![
            format!("missing → {}", o(e.on_missing, Outcome::Hold)),
            format!("failed → {}", o(e.on_failed, Outcome::Block)),
            format!("partial → {}", o(e.on_partial, Outcome::Hold)),
            format!("pending → {}", o(e.on_pending, Outcome::Hold)),
        ];
        if e.max_age.is_some() {
            parts.insert(1, format!("stale → {}", o(e.on_stale, Outcome::Hold)));
        }
        return parts.join(" · ");
    }
    if let Some(m) = &rule.metric {
        let no_data = if m.compare.is_some() {
            "too few samples"
        } else if m.max_age.is_some() {
            "no data or stale"
        } else {
            "no data"
        };
        return format!(
            "{no_data} → {} · {} → {}",
            o(m.on_no_data, Outcome::Hold),
            if m.compare.is_some() {
                "worse than its baseline"
            } else {
                "threshold broken"
            },
            o(m.on_failed, Outcome::Block)
        );
    }
    if rule.approval.is_some() {
        return "too few approvals → Hold · a Reject → Block".to_string();
    }
    if let Some(w) = &rule.window {
        return format!("inside a freeze → {}", o(w.on_inside, Outcome::Hold));
    }
    if let Some(x) = &rule.expression {
        return format!("false → {}", o(x.on_false, Outcome::Hold));
    }
    String::new()
}

/// What a rule protects against: its description, else what its type guards.
pub fn protects(rule: &PolicyRule) -> String {
    if let Some(d) = &rule.description {
        return d.clone();
    }
    if let Some(e) = &rule.evidence {
        return format!(
            "promoting while {} is missing, failing or out of date",
            e.source
        );
    }
    if let Some(m) = &rule.metric {
        return format!("promoting while {} is not {}", rule.name, m.bar());
    }
    if let Some(a) = &rule.approval {
        return if a.exclude_author {
            "a change nobody but its author looked at".to_string()
        } else {
            "a change nobody looked at".to_string()
        };
    }
    if rule.window.is_some() {
        return "changes while the freeze windows are in force".to_string();
    }
    if rule.expression.is_some() {
        return "releases the expression does not accept".to_string();
    }
    String::new()
}

fn selector(p: &GatePolicy) -> String {
    let s = &p.spec.selector;
    let or_all = |v: &[String]| {
        if v.is_empty() {
            "all".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut out = format!(
        "services: {} · environments: {}",
        or_all(&s.services),
        or_all(&s.environments)
    );
    if !s.match_labels.is_empty() {
        let labels: Vec<String> = s
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!(" · labels: {}", labels.join(", ")));
    }
    out
}

/// Rows per page of the watches and of the decision history.
pub const PAGE_SIZE: usize = 20;

/// Which page of each long list is shown.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
pub struct Query {
    #[serde(default)]
    pub watches: PageNumber,
    #[serde(default)]
    pub history: PageNumber,
}

impl Query {
    fn href(self, anchor: &str) -> String {
        format!(
            "/console/gate?watches={}&history={}#{anchor}",
            self.watches, self.history
        )
    }
}

/// How Simulate-mode policy `policy` judged `p`: its worst effect over the rules it traced
/// (`None`: it did not select `p`). Gate's simulator counts with this, and the release list's
/// `?simulated=POLICY&would=Hold` filter lists exactly what it counts.
pub fn simulated_effect(p: &crate::api::ReleasePassport, policy: &str) -> Option<Effect> {
    p.status
        .iter()
        .flat_map(|st| &st.trace)
        .filter(|t| t.mode == PolicyMode::Simulate && t.policy == policy)
        .map(|t| t.effect)
        .reduce(|worst, e| match (worst, e) {
            (Effect::Block, _) | (_, Effect::Block) => Effect::Block,
            (Effect::Hold, _) | (_, Effect::Hold) => Effect::Hold,
            _ => worst,
        })
}

/// Simulate-mode results: per simulated policy, how many releases it judged, would have held
/// and would have blocked.
fn simulated<'a>(
    passports: &[&'a crate::api::ReleasePassport],
) -> std::collections::BTreeMap<&'a str, (usize, usize, usize)> {
    let mut simulated: std::collections::BTreeMap<&str, (usize, usize, usize)> =
        std::collections::BTreeMap::new();
    for p in passports {
        let policies: std::collections::BTreeSet<&str> = p
            .status
            .iter()
            .flat_map(|st| &st.trace)
            .filter(|t| t.mode == PolicyMode::Simulate)
            .map(|t| t.policy.as_str())
            .collect();
        for policy in policies {
            let e = simulated.entry(policy).or_default();
            e.0 += 1;
            match simulated_effect(p, policy) {
                Some(Effect::Block) => e.2 += 1,
                Some(Effect::Hold) => e.1 += 1,
                _ => {}
            }
        }
    }
    simulated
}

fn freezes_section(page: &Page, freezes: &[&crate::freeze::Freeze]) -> Markup {
    html! {
        section aria-labelledby="freezes" {
            h2 id="freezes" { "Freezes " small { (freezes.len()) } }
            p.muted { "Stop the line with " code { "passport freeze --namespace NS --reason TEXT [--until 4h]" } " and end it with " code { "passport freeze --namespace NS --end" } ": a GatePolicy with an absolute window, so RBAC decides who may and the audit log records who did." }
            @if freezes.is_empty() { (empty("No freeze, past or present.")) } @else {
                div.scroll { table {
                    thead { tr { th { "Namespace" } th { "Reason" } th { "State" } th { "From" } th { "Until" } th { "By" } } }
                    tbody { @for f in freezes {
                        tr {
                            td data-label="Namespace" { (f.namespace) } td.why data-label="Reason" { (f.reason) }
                            td data-label="State" { @if f.active(page.snap.now) { span.badge.hold { "Active" } } @else if f.start > page.snap.now { span.badge.waived { "Scheduled" } } @else { span.badge { "Ended" } } }
                            td data-label="From" { (crate::engine::rules::time(f.start)) }
                            td data-label="Until" { @if f.open_ended() { "until ended" } @else { (crate::engine::rules::time(f.end)) } }
                            td data-label="By" { (f.by.as_deref().unwrap_or("-")) @if let Some(e) = &f.ended_by { ", ended by " (e) } }
                        }
                    } }
                } }
            }
        }
    }
}

fn policies_section(policies: &[&GatePolicy]) -> Markup {
    html! {
        section aria-labelledby="policies" {
            h2 id="policies" { "Policies " small { (policies.len()) } }
            @if policies.is_empty() { (empty("No GatePolicy yet. Start from a template below.")) }
            @for p in policies {
                @let ready = p.status.iter().flat_map(|st| &st.conditions).find(|c| c.type_ == ConditionType::Ready);
                article.policy {
                    h3 {
                        (namespace_of(&p.metadata)) "/" (p.metadata.name.as_deref().unwrap_or(""))
                        " " @if p.spec.mode == PolicyMode::Simulate { span.badge.waived { "Simulate" } } @else { span.badge.allow { "Enforce" } }
                        @if let Some(c) = ready { " " (ok_badge(c.status == ConditionStatus::True, "Valid", "Invalid")) }
                    }
                    @if let Some(d) = &p.spec.description { p { (d) } }
                    p.muted { (selector(p)) @if let Some(n) = p.status.as_ref().and_then(|st| st.matched_releases) { " · selects " (crate::text::count(usize::try_from(n).unwrap_or(0), "release", "releases")) } }
                    @if let Some(c) = ready { @if c.status != ConditionStatus::True { p.error { (c.message) } } }
                    @let unscoped = p.status.iter().flat_map(|st| &st.unscoped_releases).map(String::as_str).collect::<Vec<_>>();
                    @if !unscoped.is_empty() { p.warn { "Its $labels queries cannot be scoped for " (unscoped.join(", ")) " (no spec.scope.metricLabels): they are not sent and those rules hold." } }
                    div.scroll { table {
                        thead { tr { th { "Rule" } th { "Type" } th { "Requires" } th { "Effects" } th { "Protects against" } } }
                        tbody { @for r in &p.spec.rules {
                            @let (kind, what) = describe(r);
                            tr { td data-label="Rule" { (r.name) } td data-label="Type" { (kind) } td.why data-label="Requires" { (what) } td.why data-label="Effects" { (effects(r)) } td.why data-label="Protects against" { (protects(r)) } }
                        } }
                    } }
                    @if let Some(w) = &p.spec.post_deploy_watch {
                        p { "Post-deploy watch for " (w.duration) ": " (w.rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")) }
                    }
                }
            }
        }
    }
}

/// The simulator: per Simulate-mode policy, the releases it judged and would have held or
/// blocked, each figure linking to exactly those releases.
fn simulator_section(
    simulated: &std::collections::BTreeMap<&str, (usize, usize, usize)>,
) -> Markup {
    html! {
        section aria-labelledby="simulator" {
            h2 id="simulator" { "Simulator" }
            @if simulated.is_empty() { (empty("No Simulate-mode policy is running. Set spec.mode: Simulate to try a policy live without enforcing it.")) } @else {
                div.scroll { table {
                    thead { tr { th { "Simulated policy" } th { "Releases" } th { "Would hold" } th { "Would block" } } }
                    tbody { @for (policy, (n, held, blocked)) in simulated {
                        @let judged = |would: &str| {
                            let f = super::releases::Filter { simulated: (*policy).to_string(), would: would.to_string(), ..Default::default() };
                            format!("/console/releases{}", f.query())
                        };
                        tr {
                            td data-label="Simulated policy" { (policy) }
                            td data-label="Releases" { a href=(judged("")) { (n) } }
                            td data-label="Would hold" { a href=(judged("Hold")) { (held) } }
                            td data-label="Would block" { a href=(judged("Block")) { (blocked) } }
                        }
                    } }
                } }
            }
            p { "Replay a candidate policy over recorded passports:" }
            (command("passport simulate --policy candidate.yaml --cluster --since 30d"))
        }
    }
}

pub fn page(page: &Page, query: &Query) -> Markup {
    let s = page.snap;
    let policies: Vec<&GatePolicy> = s
        .policies
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| page.visible(p.metadata.namespace.as_deref()))
        .collect();
    let freezes: Vec<_> = page.freezes().collect();
    let passports: Vec<_> = page.passports().collect();
    let simulated = simulated(&passports);
    let approvals: Vec<_> = s
        .approvals
        .iter()
        .filter(|a| page.visible(a.metadata.namespace.as_deref()))
        .collect();
    // Whether an approval counted is the passport's to say (the truth screen reads the same).
    let not_counted: std::collections::HashMap<crate::api::ObjectKey, &str> = passports
        .iter()
        .filter_map(|p| {
            Some((
                namespace_of(&p.metadata),
                p.status.as_ref()?.approvals.as_ref()?,
            ))
        })
        .flat_map(|(ns, a)| {
            a.records.iter().filter_map(move |r| {
                Some((
                    crate::api::ObjectKey::new(ns, &r.name),
                    r.not_counted.as_deref()?,
                ))
            })
        })
        .collect();
    let waivers: Vec<_> = s
        .waivers
        .iter()
        .filter(|w| page.visible(w.metadata.namespace.as_deref()))
        .collect();
    // Running watches first, then failed ones, then the rest; newest first within each.
    let mut watches: Vec<_> = passports
        .iter()
        .filter_map(|p| Some((*p, p.status.as_ref()?.watch.as_ref()?)))
        .collect();
    watches.sort_by_key(|(_, w)| {
        (
            match w.phase {
                WatchPhase::Watching => 0,
                WatchPhase::Failed => 1,
                _ => 2,
            },
            std::cmp::Reverse(w.started_at),
        )
    });
    let shown_watches = paged(&watches, query.watches, PAGE_SIZE);
    let history: Vec<_> = s
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Decision && page.visible(Some(&e.namespace)))
        .collect();
    let shown_history = paged(&history, query.history, PAGE_SIZE);
    layout(
        page,
        Nav::Gate,
        "Gate",
        html! {
            h1 { "Gate" }
            p.lead {
                a href="/console/gate/builder" { "Build a policy" } " · "
                a href="#policies" { "Rules and their effects" } " · "
                a href="#simulator" { "Simulator" } " · "
                a href="#freezes" { "Freezes" } " · "
                a href="#history" { "Decision history" }
            }
            section aria-labelledby="templates" {
                h2 id="templates" { "Policy builder" }
                p { a href="/console/gate/builder" { "Build a policy from a form" } ": answer what a release must show and it writes the YAML to apply (checked as the API server checks it). Or start from a template shipped in " code { "examples/policies/" } ":" }
                ul { @for (file, description) in crate::examples::templates() {
                    li { strong { (file) } " — " (description) }
                } }
                (command("kubectl apply -f examples/policies/production-standard.yaml"))
            }
            (policies_section(&policies))
            (simulator_section(&simulated))
            (freezes_section(page, &freezes))
            div.columns {
                section aria-labelledby="approvals" {
                    h2 id="approvals" { "Approvals " small { (approvals.len()) } }
                    @if approvals.is_empty() { (empty("No approvals.")) } @else {
                        ul { @for a in &approvals {
                            li {
                                strong { (a.spec.approver) } " " (a.spec.decision.past_tense()) " "
                                a href=(release_href(namespace_of(&a.metadata), &a.spec.release_ref.name)) { (a.spec.release_ref.name) }
                                " · " (page.when(crate::api::common::created_at(&a.metadata)))
                                @if let Some(c) = &a.spec.comment { " — “" (c) "”" }
                                @if let Some(why) = not_counted.get(&a.key()) { " " em { "(not counted: " (why) ")" } }
                            }
                        } }
                    }
                }
                section aria-labelledby="waivers" {
                    h2 id="waivers" { "Waivers " small { (waivers.len()) } }
                    @if waivers.is_empty() { (empty("No waivers.")) } @else {
                        ul { @for w in &waivers {
                            @let active = s.now < w.spec.expires_at;
                            li {
                                strong { (w.metadata.name.as_deref().unwrap_or("")) } " " (ok_badge(active, "Active", "Expired"))
                                " waives " (w.spec.rules.join(", ")) ", " (expiry(s.now, w.spec.expires_at))
                                " — " (w.spec.approver) ": " (w.spec.reason)
                            }
                        } }
                    }
                }
            }
            section aria-labelledby="watches" {
                h2 id="watches" { "Post-deploy watches " small { (watches.len()) } }
                @if watches.is_empty() { (empty("No release is being watched.")) } @else {
                    div.scroll { table {
                        thead { tr { th { "Release" } th { "Phase" } th { "Started" } th { "Duration" } th { "Message" } } }
                        tbody { @for (p, w) in shown_watches.rows {
                            tr {
                                td data-label="Release" { a href=(super::super::layout::passport_href(p)) { (p.key()) } }
                                td data-label="Phase" { @if w.phase == WatchPhase::Failed { span.badge.block { "Failed" } } @else { (format!("{:?}", w.phase)) } }
                                td data-label="Started" { (page.when(w.started_at)) } td data-label="Duration" { (w.duration) } td.why data-label="Message" { (w.message.as_deref().unwrap_or("")) }
                            }
                        } }
                    } }
                    (shown_watches.pager(PREVIOUS_NEXT, |n| Query { watches: n, ..*query }.href("watches")))
                }
            }
            section aria-labelledby="history" {
                h2 id="history" { "Decision history " small { (history.len()) } }
                @if history.is_empty() { (empty("No decisions yet.")) } @else {
                    ul.timeline { @for e in shown_history.rows {
                        li { (page.when(e.at)) " " a href=(release_href(&e.namespace, &e.subject)) { (e.namespace) "/" (e.subject) } " " (e.summary) }
                    } }
                    (shown_history.pager(PREVIOUS_NEXT, |n| Query { history: n, ..*query }.href("history")))
                }
                p { a href="/console/reports" { "The full governance log" } }
            }
        },
    )
}
