//! The policy builder: a GET form whose answer is a GatePolicy — checked by the same loader and
//! compiler the controller uses — and the commands to try it (simulate) and apply it. The console
//! stays read-only: nothing is stored or applied from here.

use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::layout::{Nav, Page, command, layout};
use crate::load::{Bundle, load_str};

/// The form's fields (all optional; empty means "not wanted").
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Form {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    /// Comma-separated.
    #[serde(default)]
    pub environments: String,
    #[serde(default)]
    pub services: String,
    #[serde(default)]
    pub simulate: Option<String>,
    /// Evidence sources required Complete (checkboxes).
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub gitops: Option<String>,
    #[serde(default)]
    pub ci: Option<String>,
    #[serde(default)]
    pub rollback: Option<String>,
    #[serde(default)]
    pub max_age: String,
    /// PromQL for an error-rate ratio and its ceiling.
    #[serde(default)]
    pub error_query: String,
    #[serde(default)]
    pub error_max: String,
    #[serde(default)]
    pub approvals: String,
    #[serde(default)]
    pub approver_groups: String,
    #[serde(default)]
    pub exclude_author: Option<String>,
    #[serde(default)]
    pub weekend_freeze: Option<String>,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub watch: String,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Form {
    fn submitted(&self) -> bool {
        !self.name.trim().is_empty()
    }

    /// The GatePolicy the answers describe, as a manifest.
    pub fn policy(&self) -> Value {
        let max_age = (!self.max_age.trim().is_empty()).then(|| self.max_age.trim().to_string());
        let mut rules = Vec::new();
        for (on, rule, source) in [
            (&self.workload, "workload-healthy", "workload-health"),
            (&self.gitops, "gitops-synced", "gitops-sync"),
            (&self.ci, "ci-passed", "ci"),
            (
                &self.rollback,
                "rollback-ready",
                crate::engine::ROLLBACK_SOURCE,
            ),
        ] {
            if on.is_some() {
                let mut evidence = json!({"source": source});
                if let Some(age) = &max_age
                    && source != crate::engine::ROLLBACK_SOURCE
                {
                    evidence["maxAge"] = json!(age);
                }
                rules.push(json!({"name": rule, "evidence": evidence}));
            }
        }
        let error_rule = |threshold: Value| json!({"name": "error-rate", "metric": {"query": self.error_query.trim(), "op": "<", "threshold": threshold}});
        let threshold = self
            .error_max
            .trim()
            .parse::<f64>()
            .map_or_else(|_| json!(self.error_max.trim()), |v| json!(v));
        if !self.error_query.trim().is_empty() {
            rules.push(error_rule(threshold.clone()));
        }
        if let Ok(min) = self.approvals.trim().parse::<u32>()
            && min > 0
        {
            let mut approval = json!({"min": min});
            let groups = list(&self.approver_groups);
            if !groups.is_empty() {
                approval["fromGroups"] = json!(groups);
            }
            if self.exclude_author.is_some() {
                approval["excludeAuthor"] = json!(true);
            }
            rules.push(json!({"name": "approved", "approval": approval}));
        }
        if self.weekend_freeze.is_some() {
            let tz = if self.time_zone.trim().is_empty() {
                "UTC"
            } else {
                self.time_zone.trim()
            };
            rules.push(json!({"name": "weekend-freeze", "window": {"timeZone": tz,
                "freezes": [{"name": "weekend", "cron": "0 18 * * FRI", "duration": "62h"}]}}));
        }
        let mut selector = json!({});
        for (key, value) in [
            ("environments", list(&self.environments)),
            ("services", list(&self.services)),
        ] {
            if !value.is_empty() {
                selector[key] = json!(value);
            }
        }
        let mut spec = json!({
            "selector": selector,
            "mode": if self.simulate.is_some() { "Simulate" } else { "Enforce" },
            "rules": rules,
        });
        if !self.watch.trim().is_empty() && !self.error_query.trim().is_empty() {
            spec["postDeployWatch"] =
                json!({"duration": self.watch.trim(), "rules": [error_rule(threshold)]});
        }
        json!({
            "apiVersion": crate::api::API_VERSION,
            "kind": "GatePolicy",
            "metadata": {"name": self.name.trim(), "namespace": if self.namespace.trim().is_empty() { "default" } else { self.namespace.trim() }},
            "spec": spec,
        })
    }
}

impl Form {
    /// Answers the policy leaves out, and why: a field that was filled in must never vanish
    /// without a word.
    pub fn dropped(&self) -> Vec<String> {
        let given = |v: &str| !v.trim().is_empty();
        let evidence = [&self.workload, &self.gitops, &self.ci]
            .iter()
            .any(|o| o.is_some());
        let approvals = self.approvals.trim().parse::<u32>().ok();
        let mut out = Vec::new();
        if given(&self.max_age) && !evidence {
            out.push("max_age: ignored: no evidence requirement is ticked for it to limit (rollback readiness has no age)".to_string());
        }
        if given(&self.error_max) && !given(&self.error_query) {
            out.push(
                "error_max: ignored: there is no error-rate query to compare with it".to_string(),
            );
        }
        if given(&self.watch) && !given(&self.error_query) {
            out.push("watch: ignored: the post-deploy watch keeps checking the error-rate query, and there is none".to_string());
        }
        if given(&self.approvals) && approvals.is_none() {
            out.push(format!(
                "approvals: ignored: {:?} is not a whole number",
                self.approvals.trim()
            ));
        }
        if approvals.unwrap_or(0) == 0 {
            if given(&self.approver_groups) {
                out.push("approver_groups: ignored: no approvals are required".to_string());
            }
            if self.exclude_author.is_some() {
                out.push("exclude_author: ignored: no approvals are required".to_string());
            }
        }
        if given(&self.time_zone) && self.weekend_freeze.is_none() {
            out.push(
                "time_zone: ignored: only the weekend freeze reads it, and it is not ticked"
                    .to_string(),
            );
        }
        out
    }
}

/// The manifest as YAML and, when it is not valid, why (the loader's and compiler's words).
pub fn check(form: &Form) -> (String, Vec<String>) {
    let yaml = serde_yaml_ng::to_string(&form.policy()).unwrap_or_default();
    let mut bundle = Bundle::default();
    let mut problems = Vec::new();
    match load_str("policy.yaml", &yaml, "default", &mut bundle) {
        Err(e) => problems.push(e.to_string()),
        Ok(()) => {
            for p in &bundle.policies {
                let compiled = crate::engine::compile(p);
                problems.extend(
                    compiled
                        .errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message)),
                );
                if p.spec.rules.is_empty() {
                    problems.push("spec.rules: choose at least one requirement".into());
                }
            }
        }
    }
    (yaml, problems)
}

fn checkbox(name: &str, label: &str, on: bool) -> Markup {
    html! { label.check { input type="checkbox" name=(name) value="on" checked[on]; " " (label) } }
}

/// Recorded decisions the preview shows when the policy would change them.
const PREVIEW_ROWS: usize = 20;

pub fn page(page: &Page, form: &Form) -> Markup {
    let (yaml, problems) = check(form);
    let dropped = form.dropped();
    // The simulator in the page: the built policy replayed over the passports this viewer sees.
    let preview = (form.submitted() && problems.is_empty())
        .then(|| {
            let mut bundle = Bundle::default();
            load_str("policy.yaml", &yaml, "default", &mut bundle).ok()?;
            let policy = bundle.policies.into_iter().next()?;
            Some(crate::simulate::replay(&policy, page.passports(), None))
        })
        .flatten();
    let text = |v: &str| v.to_string();
    layout(
        page,
        Nav::Gate,
        "Policy builder",
        html! {
            p.crumbs { a href="/console/gate" { "Gate" } " / Policy builder" }
            h1 { "Policy builder" }
            p { "Answer what a release must show before promotion; the policy appears below, checked the way the controller checks it. Nothing is applied from here." }
            form.builder method="get" action="/console/gate/builder" {
                fieldset {
                    legend { "Which releases" }
                    label { "Policy name" input type="text" name="name" required value=(text(&form.name)) placeholder="production-standard"; }
                    label { "Namespace" input type="text" name="namespace" value=(text(&form.namespace)) placeholder="default"; }
                    label { "Environments (comma-separated, empty: all)" input type="text" name="environments" value=(text(&form.environments)) placeholder="production"; }
                    label { "Services (empty: all)" input type="text" name="services" value=(text(&form.services)); }
                    (checkbox("simulate", "Simulate only (trace, never enforce)", form.simulate.is_some()))
                }
                fieldset {
                    legend { "Evidence" }
                    (checkbox("workload", "Workloads rolled out and healthy (workload-health)", form.workload.is_some()))
                    (checkbox("gitops", "GitOps synced to the release's revision (gitops-sync)", form.gitops.is_some()))
                    (checkbox("ci", "CI passed for the commit (ci)", form.ci.is_some()))
                    (checkbox("rollback", "A known-good previous release can be returned to (rollback-ready)", form.rollback.is_some()))
                    label { "At most this old (e.g. 15m; empty: any age)" input type="text" name="max_age" value=(text(&form.max_age)); }
                }
                fieldset {
                    legend { "Metrics" }
                    label { "Error-rate query (PromQL, $labels for the release's metric labels)" input type="text" name="error_query" value=(text(&form.error_query)) placeholder="sum(rate(http_requests_total{$labels,code=~\"5..\"}[5m])) / sum(rate(http_requests_total{$labels}[5m]))"; }
                    label { "Must stay below" input type="text" name="error_max" value=(text(&form.error_max)) placeholder="0.01"; }
                    label { "Keep watching it after promotion for (e.g. 30m)" input type="text" name="watch" value=(text(&form.watch)); }
                }
                fieldset {
                    legend { "People and time" }
                    label { "Approvals needed" input type="number" min="0" name="approvals" value=(text(&form.approvals)); }
                    label { "From groups (comma-separated, empty: anyone)" input type="text" name="approver_groups" value=(text(&form.approver_groups)); }
                    (checkbox("exclude_author", "Never the release's author", form.exclude_author.is_some()))
                    (checkbox("weekend_freeze", "Freeze weekends (Friday 18:00 for 62h)", form.weekend_freeze.is_some()))
                    label { "Time zone" input type="text" name="time_zone" value=(text(&form.time_zone)) placeholder="Europe/Berlin"; }
                }
                button type="submit" { "Build the policy" }
            }
            @if form.submitted() {
                section aria-labelledby="result" {
                    h2 id="result" { "The policy " @if problems.is_empty() { span.badge.allow { "Valid" } } @else { span.badge.block { "Invalid" } } }
                    @if !problems.is_empty() { ul.error { @for p in &problems { li { (p) } } } }
                    @if !dropped.is_empty() {
                        div.warn role="status" { p { strong { "Left out of the policy:" } } ul { @for d in &dropped { li { (d) } } } }
                    }
                    pre.cmd { code { (yaml) } }
                    @if let Some(replays) = &preview {
                        h3 { "On the recorded passports" }
                        @if replays.is_empty() { (super::super::layout::empty("It selects none of the passports you can see: check its environments and services.")) } @else {
                            p { "Enforced, it " (crate::simulate::summary(replays)) "." }
                            @let changed: Vec<_> = replays.iter().filter(|r| r.changed()).collect();
                            @if !changed.is_empty() {
                                div.scroll { table {
                                    thead { tr { th { "Release" } th { "Decided" } th { "Recorded" } th { "Would be" } th { "Why" } } }
                                    tbody { @for r in changed.iter().rev().take(PREVIEW_ROWS) {
                                        tr {
                                            td data-label="Release" { a href=(super::super::layout::release_href(&r.release.namespace, &r.release.name)) { (r.release) } }
                                            td data-label="Decided" { (page.when(r.decided_at)) }
                                            td data-label="Recorded" { (super::super::layout::decision_badge(r.recorded)) }
                                            td data-label="Would be" { (super::super::layout::decision_badge(Some(r.would))) }
                                            td.why data-label="Why" { (r.why.as_deref().unwrap_or("all its rules pass")) }
                                        }
                                    } }
                                } }
                                @if changed.len() > PREVIEW_ROWS { p.muted { "The newest " (PREVIEW_ROWS) " of " (changed.len()) " changed decisions." } }
                            }
                        }
                    }
                    @if problems.is_empty() {
                        p { "Try it on recorded history first, then apply it:" }
                        (command("passport simulate --policy policy.yaml --cluster --since 30d"))
                        (command(&format!("kubectl apply -f - <<'EOF'\n{yaml}EOF")))
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_a_checked_policy() {
        let form = Form {
            name: "prod-gate".into(),
            environments: "production".into(),
            workload: Some("on".into()),
            max_age: "15m".into(),
            approvals: "2".into(),
            exclude_author: Some("on".into()),
            weekend_freeze: Some("on".into()),
            time_zone: "Europe/Berlin".into(),
            ..Form::default()
        };
        let (yaml, problems) = check(&form);
        assert!(problems.is_empty(), "{problems:?}\n{yaml}");
        assert!(
            yaml.contains("maxAge: 15m") && yaml.contains("excludeAuthor: true"),
            "{yaml}"
        );
        assert!(
            !yaml.contains("services"),
            "empty lists are left out: {yaml}"
        );

        let bad = Form {
            time_zone: "Mars/Olympus".into(),
            ..form
        };
        let (_, problems) = check(&bad);
        assert!(
            problems.iter().any(|p| p.contains("timeZone")),
            "{problems:?}"
        );
        let empty = Form {
            name: "nothing".into(),
            ..Form::default()
        };
        assert!(check(&empty).1.iter().any(|p| p.contains("at least one")));
    }

    /// A filled-in field the policy cannot use was dropped without a word.
    #[test]
    fn every_field_left_out_is_named() {
        let form = Form {
            name: "prod-gate".into(),
            max_age: "15m".into(),
            error_max: "0.01".into(),
            watch: "30m".into(),
            approvals: "two".into(),
            approver_groups: "leads".into(),
            exclude_author: Some("on".into()),
            time_zone: "Europe/Berlin".into(),
            rollback: Some("on".into()),
            ..Form::default()
        };
        let dropped = form.dropped();
        for field in [
            "max_age",
            "error_max",
            "watch",
            "approvals",
            "approver_groups",
            "exclude_author",
            "time_zone",
        ] {
            assert!(
                dropped.iter().any(|d| d.starts_with(&format!("{field}:"))),
                "{field}: {dropped:?}"
            );
        }
        let used = Form {
            name: "prod-gate".into(),
            workload: Some("on".into()),
            max_age: "15m".into(),
            error_query: "rate(errors{$labels}[5m])".into(),
            error_max: "0.01".into(),
            watch: "30m".into(),
            approvals: "1".into(),
            approver_groups: "leads".into(),
            exclude_author: Some("on".into()),
            weekend_freeze: Some("on".into()),
            time_zone: "Europe/Berlin".into(),
            ..Form::default()
        };
        assert_eq!(used.dropped(), Vec::<String>::new());
    }
}
