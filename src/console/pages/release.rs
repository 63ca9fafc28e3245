//! The truth screen for one release: decision, investigation, trace, evidence timeline,
//! rollback posture, Radar signals, approvals, waivers, watch, actions and export.

use maud::{Markup, html};

use super::super::layout::{
    Nav, Page, command, decision_badge, effect_badge, empty, evidence_badge, expiry,
    labelled_badge, layout, ok_badge, passport_badge,
};
use super::super::summary::Summary;
use crate::api::links::{LinkValues, expand};
use crate::api::passport::{Effect, EvidenceRead, RuleType, TraceEntry};
use crate::api::{
    ConnectorHealth, Decision, EvidenceStatus, Keyed, PolicyMode, Release, ReleasePassport,
    namespace_of,
};

/// A free-text note on the Release, shown on its truth screen.
pub const COMMENT_ANNOTATION: &str = "releasepassport.io/comment";

/// The investigation: why the decision is what it is, in plain words, from the trace and the
/// connectors' health. Deterministic — the same passport always reads the same.
pub fn investigation(page: &Page, p: &ReleasePassport) -> Vec<String> {
    let status = p.status.clone().unwrap_or_default();
    let enforced: Vec<&TraceEntry> = status
        .trace
        .iter()
        .filter(|t| t.mode == PolicyMode::Enforce)
        .collect();
    let stopping: Vec<&&TraceEntry> = enforced
        .iter()
        .filter(|t| matches!(t.effect, Effect::Hold | Effect::Block))
        .collect();
    let mut out = Vec::new();
    match status.decision {
        None => {
            out.push("No decision yet: the controller has not reconciled this release.".to_string())
        }
        Some(Decision::Allow) => {
            let waived = enforced
                .iter()
                .filter(|t| t.effect == Effect::Waived)
                .count();
            let passing = enforced.len() - waived;
            out.push(format!(
                "Allowed: {} {}{}.",
                crate::text::count(passing, "enforced rule", "enforced rules"),
                if passing == 1 { "passes" } else { "pass" },
                if waived > 0 {
                    format!(", {waived} waived")
                } else {
                    String::new()
                }
            ));
        }
        Some(d) => out.push(format!(
            "{}: {} of {} {}.",
            d,
            stopping.len(),
            crate::text::count(enforced.len(), "enforced rule", "enforced rules"),
            match (d == Decision::Block, stopping.len() == 1) {
                (true, true) => "blocks or holds it",
                (true, false) => "block or hold it",
                (false, true) => "holds it",
                (false, false) => "hold it",
            }
        )),
    }
    for t in &stopping {
        let what = match t.type_ {
            RuleType::Approval => format!(
                "Rule {} wants approvals: {}. Ask an approver to run “passport approve {}”.",
                t.rule,
                t.message,
                p.key()
            ),
            RuleType::Window => format!(
                "Rule {} is a change freeze: {}. It lifts by itself when the window closes.",
                t.rule, t.message
            ),
            RuleType::Metric => format!("Rule {} reads a metric: {}.", t.rule, t.message),
            RuleType::Evidence => format!(
                "Rule {} reads evidence {}: {}.",
                t.rule,
                EvidenceRead::list(&t.evidence),
                t.message
            ),
            _ => format!("Rule {} ({}): {}.", t.rule, t.type_, t.message),
        };
        out.push(what);
    }
    // Evidence that cannot refresh because its connector is unwell.
    for e in status
        .evidence
        .iter()
        .filter(|e| e.status != EvidenceStatus::Complete)
    {
        let Some(name) = &e.connector else { continue };
        let connector = page.snap.connectors.iter().find(|c| {
            c.metadata.name.as_deref() == Some(name) && c.metadata.namespace == p.metadata.namespace
        });
        if let Some(health) = connector
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.health)
            && health != ConnectorHealth::Healthy
        {
            out.push(format!(
                "Evidence {} comes from connector {name}, which is {health:?}: fix the connector (Integrations) and the evidence refreshes by itself.",
                e.source
            ));
        }
    }
    if let Some(w) = &status.watch
        && w.phase == crate::api::passport::WatchPhase::Failed
    {
        out.push(format!(
            "The post-deploy watch failed{}: rollback is recommended.",
            w.message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ));
    }
    out
}

/// The truth screen's first line: the decision, the one reason that matters (with what was seen
/// and how old it is), who acts next, and when it was decided.
pub struct Verdict {
    pub reason: String,
    /// What was observed for it, with its unit as the connector wrote it, and when.
    pub seen: Option<(String, Option<chrono::DateTime<chrono::Utc>>)>,
    pub next: Next,
}

/// Who acts next and, when a command does it, the command: the same on Overview and on the
/// truth screen.
pub struct Next {
    pub who: String,
    pub command: Option<String>,
}

/// The enforced rule that holds or blocks the release, a blocking one before a holding one.
fn stopping_rule(status: &crate::api::ReleasePassportStatus) -> Option<&TraceEntry> {
    let stopping = |effect: Effect| {
        status
            .trace
            .iter()
            .find(|t| t.mode == PolicyMode::Enforce && t.effect == effect)
    };
    stopping(Effect::Block).or_else(|| stopping(Effect::Hold))
}

pub fn verdict(p: &ReleasePassport, release_exists: bool) -> Verdict {
    let status = p.status.clone().unwrap_or_default();
    let stopping = stopping_rule(&status);
    let entry_of = |t: &TraceEntry| {
        status
            .evidence
            .iter()
            .find(|e| t.evidence.iter().any(|k| k.source() == e.source) || e.source == t.rule)
    };
    let seen = stopping.and_then(entry_of).and_then(|e| {
        let what = e
            .summary
            .clone()
            .or_else(|| e.value.map(|v| crate::api::policy::show_value(v, None)))?;
        Some((format!("{}: {what}", e.source), e.observed_at))
    });
    let reason = match (status.decision, stopping) {
        (None, _) => "not decided yet: the controller has not reconciled this release".to_string(),
        (_, Some(t)) => format!("{}/{}: {}", t.policy, t.rule, t.message),
        (Some(_), None) => super::releases::why(p).to_string(),
    };
    Verdict {
        reason,
        seen,
        next: next(p, release_exists),
    }
}

/// Who acts next on `p`, and the command that does it.
pub fn next(p: &ReleasePassport, release_exists: bool) -> Next {
    let undecided = crate::api::ReleasePassportStatus::default();
    let status = p.status.as_ref().unwrap_or(&undecided);
    let stopping = stopping_rule(status);
    let (ns, name) = (
        namespace_of(&p.metadata),
        p.metadata.name.as_deref().unwrap_or(""),
    );
    let describe = Some(format!("kubectl describe releasepassport -n {ns} {name}"));
    let gate = Some(format!("passport gate --release {}", p.key()));
    let groups = |t: &TraceEntry| {
        status
            .approvals
            .iter()
            .flat_map(|a| &a.rules)
            .find(|c| c.policy == t.policy && c.rule == t.rule)
            .filter(|c| !c.from_groups.is_empty())
            .map(|c| format!(" from {}", c.from_groups.join(" or ")))
            .unwrap_or_default()
    };
    let (who, command) = match (status.decision, stopping) {
        (None, _) => ("the controller, once it runs".to_string(), None),
        (Some(_), _) if !release_exists => (
            "nobody: the Release is gone; this passport is the record".to_string(),
            None,
        ),
        (Some(Decision::Allow), _) => match &status.watch {
            Some(w) if w.phase == crate::api::passport::WatchPhase::Failed => (
                "the service owner: the post-deploy watch failed, roll back".to_string(),
                describe,
            ),
            _ => (
                "CI/CD: the gate answers Allow, it may promote".to_string(),
                gate,
            ),
        },
        (Some(_), Some(t)) => match t.type_ {
            RuleType::Approval if t.effect == Effect::Block => (
                "whoever rejected it, with the author: a Reject blocks until it is withdrawn"
                    .to_string(),
                describe,
            ),
            RuleType::Approval => (
                format!(
                    "an approver{}{}",
                    groups(t),
                    if t.message.contains("excluded") {
                        ", not the author"
                    } else {
                        ""
                    }
                ),
                Some(format!("passport approve {} --comment \"…\"", p.key())),
            ),
            RuleType::Window => ("nobody: the freeze lifts by itself".to_string(), None),
            RuleType::Policy => (
                format!("the owner of GatePolicy {}: fix the field named", t.policy),
                Some(format!("kubectl describe gatepolicy -n {ns} {}", t.policy)),
            ),
            RuleType::Metric | RuleType::Evidence | RuleType::Expression
                if t.effect == Effect::Block =>
            {
                (
                    format!("the service owner: fix what {} shows, or roll back", t.rule),
                    describe,
                )
            }
            _ => (
                format!(
                    "the service owner: {} must arrive or recover (it re-decides by itself)",
                    t.rule
                ),
                describe,
            ),
        },
        (Some(_), None) => (
            "the policy owner: no enforced rule selects this release".to_string(),
            None,
        ),
    };
    Next { who, command }
}

/// What the link templates of this passport's connectors are filled with.
fn link_values<'a>(
    p: &'a ReleasePassport,
    release: Option<&'a Release>,
    entry: Option<&'a crate::api::passport::EvidenceEntry>,
) -> LinkValues<'a> {
    let scope = release.map(|r| &r.spec.scope);
    let app = scope.and_then(|s| s.gitops_apps.first());
    LinkValues::default()
        .set("namespace", Some(namespace_of(&p.metadata)))
        .set("release", p.metadata.name.as_deref())
        .set("service", Some(&p.spec.service))
        .set("environment", Some(&p.spec.environment))
        .set("version", Some(&p.spec.version))
        .set(
            "commit",
            p.spec.revision.as_ref().and_then(|r| r.commit.as_deref()),
        )
        .set("project", scope.and_then(|s| s.project.as_deref()))
        .set("pipeline", scope.and_then(|s| s.pipeline.as_deref()))
        .set("app", app.map(|a| a.name.as_str()))
        .set(
            "appNamespace",
            app.map(|a| a.namespace.as_deref().unwrap_or(namespace_of(&p.metadata))),
        )
        .set("source", entry.map(|e| e.source.as_str()))
        .set("query", entry.and_then(|e| e.query.as_deref()))
}

/// A link out of the console: the upstream page, opened without handing it this one.
fn out_link(href: &str, text: &str) -> Markup {
    html! { a href=(href) rel="noopener noreferrer external" { (text) " ↗" } }
}

fn trace_table(entries: &[&TraceEntry]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th { "Policy" } th { "Rule" } th { "Type" } th { "Effect" } th { "Read" } th { "Why" } } }
            tbody { @for t in entries {
                tr {
                    td data-label="Policy" { (t.policy) }
                    td data-label="Rule" { (t.rule) }
                    td data-label="Type" { (t.type_) }
                    td data-label="Effect" { (effect_badge(t.effect)) @if let Some(w) = &t.waiver { br; small { "waiver " (w) } } }
                    td data-label="Read" { (EvidenceRead::list(&t.evidence)) }
                    td.why data-label="Why" { (t.message) }
                }
            } }
        } }
    }
}

/// Each metric compared with its baseline, drawn: the two medians and the tolerance's limit.
fn comparisons(evidence: &[crate::api::passport::EvidenceEntry]) -> Markup {
    let compared: Vec<_> = evidence
        .iter()
        .filter_map(|e| Some((e, e.comparison.as_ref()?)))
        .collect();
    let show = |v: f64, unit| crate::api::policy::show_value(v, unit);
    html! {
        @if !compared.is_empty() {
            section aria-labelledby="compared" {
                h2 id="compared" { "Against the baseline" }
                @for (e, c) in compared {
                    h3 { (e.source) " " (evidence_badge(e.status)) }
                    (crate::console::charts::versus(
                        &format!("{}: this release against {}", e.source, c.baseline),
                        &format!("median {}", e.source),
                        [(c.baseline.as_str(), c.baseline_median), ("this release", c.release_median)],
                        c.limit,
                        &|v| show(v, c.unit),
                    ))
                    p.muted { small {
                        "Medians of " (c.baseline_samples) " and " (c.release_samples) " samples; "
                        (match c.worse { crate::api::policy::WorseWhen::Higher => "higher", crate::api::policy::WorseWhen::Lower => "lower" })
                        " is worse; past the dashed line fails"
                        @if let Some(p) = c.p_value { " when significant (" (crate::engine::compare::p_value(p)) ")" }
                        "."
                    } }
                }
            }
        }
    }
}

/// What defines this release's evidence: connectors read only inside it.
fn runtime_scope(release: Option<&Release>, ns: &str) -> Markup {
    html! {
        section aria-labelledby="scope" {
            h2 id="scope" { "Runtime scope" }
            @match release {
                None => (empty("The Release is gone (retention or deletion); the passport keeps its decision and evidence.")),
                Some(r) => {
                    @let scope = &r.spec.scope;
                    @let selector = scope.selector.clone().and_then(|s| kube::core::Selector::try_from(s).ok()).map(|s| s.to_string()).filter(|s| !s.is_empty());
                    dl {
                        dt { "Namespaces" } dd { @if scope.namespaces.is_empty() { (ns) " (the Release's own)" } @else { (scope.namespaces.join(", ")) } }
                        dt { "Workloads" } dd { (selector.as_deref().unwrap_or("every workload in those namespaces")) }
                        dt { "GitOps" } dd {
                            @if scope.gitops_apps.is_empty() { "none named" }
                            @for (i, a) in scope.gitops_apps.iter().enumerate() {
                                @if i > 0 { ", " }
                                (format!("{:?}", a.kind)) " " (a.namespace.as_deref().unwrap_or(ns)) "/" (a.name)
                            }
                        }
                        dt { "Metric labels" } dd {
                            @if scope.metric_labels.is_empty() { "none ($labels is empty)" }
                            @else { code { (scope.metric_labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(",")) } }
                        }
                        dt { "Provider project" } dd { (scope.project.as_deref().unwrap_or("none")) @if let Some(p) = &scope.pipeline { ", pipeline " (p) } }
                    }
                }
            }
        }
    }
}

/// The AI summary beside the investigation: advice, labelled as such, never the decision.
fn ai_summary(ai: &Summary) -> Markup {
    match ai {
        Summary::Off => html! {
            p.muted { small { "AI summary: off (no endpoint configured; see docs/console.md). It could never change the decision." } }
        },
        Summary::Writing => html! {
            p.muted { small { "AI summary: being written — reload in a moment. It is advice and never changes the decision." } }
        },
        Summary::Written { text, model } => html! {
            div.ai-summary {
                p { strong { "AI summary" } " " small.muted { "(" (model) "; advice only — the decision above is the gate's)" } }
                p { (text) }
            }
        },
        Summary::Unavailable(reason) => html! {
            p.muted { small { "AI summary unavailable: " (reason) ". The investigation above is complete without it." } }
        },
    }
}

/// Whether rolling back is ready, and to what.
fn rollback_section(status: &crate::api::ReleasePassportStatus) -> Markup {
    html! {
        section aria-labelledby="rollback" {
            h2 id="rollback" { "Rollback " @if let Some(r) = &status.rollback { (ok_badge(r.ready, "Ready", "Not ready")) @if r.recommended { " " span.badge.block { "Recommended" } } } }
            @match &status.rollback {
                Some(r) => {
                    p { (r.reason) }
                    @if let (Some(t), Some(v)) = (&r.target, &r.revision) { p { small { "Target " (t) " at " (v) } } }
                }
                None => (empty("No rollback posture recorded.")),
            }
        }
    }
}

/// What one may do about it: the gate again, an approval, a comment, an attestation, exports.
fn actions_section(
    p: &ReleasePassport,
    release_exists: bool,
    approval_holds: bool,
    comment: Option<&str>,
) -> Markup {
    let name = p.key().to_string();
    let ns = namespace_of(&p.metadata);
    let short = p.metadata.name.as_deref().unwrap_or("");
    let export = |ext: &str| {
        format!(
            "/api/v1/export/passports.{ext}?namespace={}&name={}",
            super::super::layout::encode(ns),
            super::super::layout::encode(short)
        )
    };
    html! {
        section aria-labelledby="actions" {
            h2 id="actions" { "Actions" }
            @if let Some(c) = comment { p { "Comment: “" (c) "”" } }
            details.commands {
                summary { "Commands (the console is read-only; run them yourself)" }
                @if release_exists {
                    (command(&format!("passport gate --release {name} --wait --timeout 10m      # ask the gate again")))
                    @if approval_holds {
                        (command(&format!("passport approve {name} --comment \"…\"      # approve (your Kubernetes identity)")))
                        p { "Request approval: send an approver this page; the command above records their approval." }
                    }
                    (command(&format!("kubectl annotate release -n {ns} {short} --overwrite releasepassport.io/comment=\"…\"      # comment, shown here")))
                } @else {
                    p.muted { "The Release is gone, so nothing can be asked of the gate again; the passport is the record." }
                }
                (command(&format!("passport attest -f FILES --release {name} --key-secret NAMESPACE/NAME      # signed attestation")))
            }
            p { "Export: "
                a href=(export("json")) download { "JSON" } " · "
                a href=(export("csv")) download { "CSV" } " · "
                a href=(export("md")) download { "Markdown" } " · "
                a href=(format!("/api/v1/passports/{}/{}", super::super::layout::encode(ns), super::super::layout::encode(short))) { "raw passport (JSON)" }
            }
        }
    }
}

/// The approval rules as counted, and every Approval and Reject recorded.
fn approvals_section(page: &Page, status: &crate::api::ReleasePassportStatus) -> Markup {
    html! {
        section aria-labelledby="approvals" {
            h2 id="approvals" { "Approvals " @if let Some(a) = &status.approvals { small { (a.approved) " of " (a.required) " required" } } }
            @if let Some(a) = &status.approvals {
                @if !a.rules.is_empty() { ul { @for c in &a.rules {
                    li {
                        (ok_badge(c.approved >= c.required, "Met", "Short"))
                        " " strong { (c.policy) "/" (c.rule) } ": " (c.approved) " of " (c.required)
                        @if !c.from_groups.is_empty() { " from " (c.from_groups.join(" or ")) }
                        @if !c.approvers.is_empty() { " (" (c.approvers.join(", ")) ")" }
                    }
                } } }
            }
            @match &status.approvals {
                None => (empty("No approval rule applies.")),
                Some(a) if a.records.is_empty() => (empty("No approvals yet.")),
                Some(a) => ul { @for r in &a.records {
                    li {
                        strong { (r.approver) } " " (r.decision.past_tense()) " " (page.when(r.at))
                        @if let Some(w) = r.wait_seconds { " after " (super::duration(chrono::Duration::seconds(w))) }
                        @if let Some(c) = &r.comment { " — “" (c) "”" }
                        @if let Some(n) = &r.not_counted { " " em { "(not counted: " (n) ")" } }
                    }
                } },
            }
        }
    }
}

/// One moment on the truth screen's timeline.
enum Moment<'a> {
    Decided(&'a crate::api::passport::TimelineEntry),
    /// The latest observation of one evidence source (a passport keeps the newest of each).
    Observed(&'a crate::api::passport::EvidenceEntry),
    Approved(&'a crate::api::passport::ApprovalRecord),
}

impl Moment<'_> {
    fn at(&self) -> chrono::DateTime<chrono::Utc> {
        match self {
            Moment::Decided(t) => t.at,
            Moment::Observed(e) => e.observed_at.unwrap_or_default(),
            Moment::Approved(r) => r.at.unwrap_or_default(),
        }
    }
}

/// The decisions, the evidence as it was observed and the approvals as they were given, oldest
/// first; at the same moment an input comes before the decision it caused.
fn timeline(status: &crate::api::ReleasePassportStatus) -> Vec<Moment<'_>> {
    let mut moments: Vec<Moment> = status
        .evidence
        .iter()
        .filter(|e| e.observed_at.is_some())
        .map(Moment::Observed)
        .chain(
            status
                .approvals
                .iter()
                .flat_map(|a| &a.records)
                .filter(|r| r.at.is_some())
                .map(Moment::Approved),
        )
        .chain(status.timeline.iter().map(Moment::Decided))
        .collect();
    moments.sort_by_key(|m| (m.at(), matches!(m, Moment::Decided(_))));
    moments
}

/// What the passport records beside the decision: waivers, the post-deploy watch, the
/// timeline, notifications and conditions.
fn record_sections(page: &Page, status: &crate::api::ReleasePassportStatus) -> Markup {
    html! {
        section aria-labelledby="waivers" {
            h2 id="waivers" { "Waivers" }
            @if status.waivers.is_empty() { (empty("No waiver applies.")) } @else {
                ul { @for w in &status.waivers {
                    li {
                        strong { (w.name) } " waives " (w.rules.join(", ")) ", " (expiry(page.snap.now, w.expires_at))
                        @if !w.active && w.expires_at > page.snap.now { " " em { "(not active)" } }
                        " — granted by " (w.approver) ": " (w.reason)
                    }
                } }
            }
        }
        @if let Some(w) = &status.watch {
            section aria-labelledby="watch" {
                h2 id="watch" { "Post-deploy watch" }
                p { (format!("{:?}", w.phase)) " · " (w.duration) " · started " (page.when(w.started_at)) " · rules " (w.rules.join(", ")) }
                @if let Some(m) = &w.message { p { (m) } }
            }
        }
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Timeline " small { "evidence as it arrived, approvals as given, and the decisions they caused" } }
            @let moments = timeline(status);
            @if moments.is_empty() { (empty("No decision recorded yet.")) } @else {
                ol.timeline { @for m in moments.iter().rev() { li {
                    (page.when(Some(m.at()))) " "
                    @match m {
                        Moment::Decided(t) => { (labelled_badge(Some(t.decision), t.label())) " " (t.message) },
                        Moment::Observed(e) => { "observed " (evidence_badge(e.status)) " " strong { (e.source) } @if let Some(s) = &e.summary { ": " (s) } },
                        Moment::Approved(r) => { strong { (r.approver) } " " (r.decision.past_tense()) @if let Some(n) = &r.not_counted { " " em { "(not counted: " (n) ")" } } },
                    }
                } } }
            }
        }
        section aria-labelledby="notified" {
            h2 id="notified" { "Notified" }
            @if status.notifications.is_empty() { (empty("No Notifier has told of this release.")) } @else {
                ol.timeline { @for n in status.notifications.iter().rev() {
                    li { (page.when(Some(n.at))) " " (decision_badge(Some(n.decision))) " " (n.event) " told by Notifier " code { (n.notifier) } " (" (n.type_) ")" }
                } }
            }
        }
        section aria-labelledby="conditions" {
            h2 id="conditions" { "Conditions" }
            ul { @for c in &status.conditions { li { strong { (c.type_) } " = " (c.status) " (" (c.reason) ") " (c.message) } } }
        }
    }
}

/// The truth screen; `why` is [`investigation`] of `p`, computed once by the caller (the AI
/// summary reads it too).
pub fn page(page: &Page, p: &ReleasePassport, why: &[String], ai: &Summary) -> Markup {
    let status = p.status.clone().unwrap_or_default();
    let name = p.key().to_string();
    let ns = namespace_of(&p.metadata);
    let short = p.metadata.name.as_deref().unwrap_or("");
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
    let view = page.view();
    let same_target = |release: &crate::api::ObjectKey, service: &str, environment: &str| {
        release.namespace == ns && service == p.spec.service && environment == p.spec.environment
    };
    let signals: Vec<_> = view
        .radar
        .journeys
        .iter()
        .chain(&view.radar.third_party)
        .filter(|s| same_target(&s.release, &s.service, &s.environment))
        .collect();
    let health = view
        .radar
        .services
        .iter()
        .find(|s| same_target(&s.release, &s.service, &s.environment));
    let comment = page.snap.release(ns, short).and_then(|r| {
        r.metadata
            .annotations
            .as_ref()?
            .get(COMMENT_ANNOTATION)
            .cloned()
    });
    let release = page.snap.release(ns, short);
    let approval_holds = enforced
        .iter()
        .any(|t| t.type_ == RuleType::Approval && t.effect == Effect::Hold);
    let links_of = |connector: &str| {
        page.snap
            .connectors
            .iter()
            .find(|c| {
                c.metadata.name.as_deref() == Some(connector) && namespace_of(&c.metadata) == ns
            })
            .and_then(|c| c.spec.links.as_ref())
    };
    // The commit, linked by the first connector of the namespace that says where commits are.
    let commit = p.spec.revision.as_ref().and_then(|r| r.commit.as_deref());
    let commit_href = page
        .snap
        .connectors
        .iter()
        .filter(|c| namespace_of(&c.metadata) == ns)
        .filter_map(|c| c.spec.links.as_ref()?.commit.as_deref())
        .find_map(|t| expand(t, &link_values(p, release.map(AsRef::as_ref), None)));
    layout(
        page,
        Nav::Releases,
        &name,
        html! {
            p.crumbs { a href="/console/releases" { "Releases" } " / " (name) }
            h1 { (p.spec.service) " " (p.spec.version) " → " (p.spec.environment) " " (passport_badge(Some(&status))) }
            @let v = verdict(p, release.is_some());
            section.verdict aria-label="Verdict" {
                p.verdict-line { (passport_badge(Some(&status))) " " strong { (v.reason) } }
                @if let Some((what, at)) = &v.seen { p { "Seen: " (what) @if at.is_some() { ", " (page.when(*at)) } } }
                p { "Next: " (v.next.who) }
                p.muted {
                    "Decided " (page.when(status.decided_at()))
                    @if let Some(c) = commit { " · commit " @match &commit_href { Some(href) => (out_link(href, c)), None => code { (c) } } }
                }
            }
            section aria-labelledby="trace" {
                h2 id="trace" { "Decision trace" }
                (trace_table(&enforced))
                @if !simulated.is_empty() {
                    h3 { "Simulated (never changes the decision)" }
                    (trace_table(&simulated))
                }
            }
            section aria-labelledby="why" {
                h2 id="why" { "Investigation" }
                ul.reasons { @for line in why { li { (line) } } }
                p.muted { small { "Written from the decision trace and connector health." } }
                (ai_summary(ai))
            }
            section aria-labelledby="evidence" {
                h2 id="evidence" { "Evidence " small { (status.evidence_summary.unwrap_or_default()) " complete" } }
                @if status.evidence.is_empty() { (empty("No enforced rule reads evidence.")) } @else {
                    div.scroll { table {
                        thead { tr { th { "Source" } th { "Status" } th { "Observed" } th { "Connector" } th { "What was seen" } } }
                        tbody { @for e in &status.evidence {
                            @let links = e.connector.as_deref().and_then(&links_of);
                            @let values = link_values(p, release.map(AsRef::as_ref), Some(e));
                            @let upstream = links.and_then(|l| expand(l.evidence.as_deref()?, &values));
                            @let graph = links.filter(|_| e.query.is_some()).and_then(|l| expand(l.query.as_deref()?, &values));
                            tr {
                                td data-label="Source" { (e.source) }
                                td data-label="Status" { (evidence_badge(e.status)) }
                                td data-label="Observed" { (page.when(e.observed_at)) }
                                td data-label="Connector" {
                                    @match (&upstream, e.connector.as_deref()) {
                                        (Some(href), Some(c)) => (out_link(href, c)),
                                        (_, c) => (c.unwrap_or("-")),
                                    }
                                }
                                td.why data-label="What was seen" {
                                    (e.summary.as_deref().unwrap_or(""))
                                    @if let Some(v) = e.value { " (value " (crate::api::policy::show_value(v, None)) ")" }
                                    @if let Some(t) = e.targets { " [" (t.passing) "/" (t.total) " targets]" }
                                    @if let Some(href) = &graph { " · " (out_link(href, "graph")) }
                                }
                            }
                        } }
                    } }
                }
            }
            (comparisons(&status.evidence))
            (runtime_scope(release.map(AsRef::as_ref), ns))
            (actions_section(p, release.is_some(), approval_holds, comment.as_deref()))
            div.columns {
                (rollback_section(&status))
                section aria-labelledby="radar" {
                    h2 id="radar" { "Radar" }
                    @if let Some(h) = health {
                        p { "Latest in " (p.spec.environment) ": " (h.version) " " (labelled_badge(h.decision, h.decision_label.clone())) ", evidence " (h.evidence_complete) "/" (h.evidence_total)
                            @if h.targets.total > 0 { ", targets " (h.targets.passing) "/" (h.targets.total) } }
                    }
                    @if signals.is_empty() { (empty("No journey or third-party signals for this service.")) } @else {
                        ul { @for s in signals { li { strong { (s.source) } " " (evidence_badge(s.status)) " " (s.summary) } } }
                    }
                    p { a href="/console/radar" { "Radar for all services" } }
                }
            }
            (approvals_section(page, &status))
            (record_sections(page, &status))
        },
    )
}
