//! Integrations: the connector matrix (every type, what is configured, health, freshness,
//! credential state), the Notifiers and their health, integrations detected in the cluster
//! that no Connector covers, and the manual fallback. Never a secret value: credentials show as the Secret's name and key.

use maud::{Markup, html};

use super::super::auth::Visibility;
use super::super::layout::{Nav, Page, command, empty, layout};
use crate::api::{ConditionStatus, ConditionType};
use crate::api::{Connector, ConnectorHealth, ConnectorType, Keyed, Notifier, namespace_of};
use crate::connectors::kind_of;
use crate::radar::Freshness;

fn credential(c: &Connector) -> Markup {
    let health = c.status.as_ref().and_then(|s| s.health);
    html! {
        @match (&c.spec.credentials_secret_ref, health) {
            (_, Some(ConnectorHealth::CredentialRequired)) => span.badge.hold { "Credential required" },
            (Some(r), _) => { "Secret " code { (r.name) } " key " code { (r.key) } },
            (None, _) => "none needed",
        }
    }
}

/// Whether a Notifier delivers: its Ready condition as a badge.
fn notifier_health(n: &Notifier) -> Markup {
    let ready = n.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == ConditionType::Ready)
    });
    html! {
        @match ready.map(|c| c.status) {
            Some(ConditionStatus::True) => span.badge.allow { "Delivering" },
            Some(_) => span.badge.hold { "Failing" },
            None => span.muted { "not checked yet" },
        }
    }
}

fn notifiers(page: &Page) -> Markup {
    let listed: Vec<&Notifier> = page
        .snap
        .notifiers
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| page.visible(n.metadata.namespace.as_deref()))
        .collect();
    html! {
        section aria-labelledby="notifiers" {
            h2 id="notifiers" { "Notifiers " small { (listed.len()) } }
            @if listed.is_empty() { (empty("No Notifier objects yet: decisions are told only as Kubernetes Events.")) } @else {
                div.scroll { table.cards {
                    thead { tr { th { "Notifier" } th { "Type" } th { "Tells of" } th { "Selects" } th { "Health" } th { "Last delivery" } th { "Last error" } th { "Credential" } } }
                    tbody { @for n in &listed {
                        @let st = n.status.clone().unwrap_or_default();
                        @let sel = &n.spec.selector;
                        tr {
                            td data-label="Notifier" { (n.key()) }
                            td data-label="Type" { (n.spec.type_) }
                            td data-label="Tells of" { (n.spec.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")) }
                            td data-label="Selects" {
                                @if sel.environments.is_empty() && sel.services.is_empty() && sel.match_labels.is_empty() { "every release" } @else {
                                    (sel.services.join(", ")) @if !sel.services.is_empty() && !sel.environments.is_empty() { " → " } (sel.environments.join(", "))
                                    @for (k, v) in &sel.match_labels { " " code { (k) "=" (v) } }
                                }
                            }
                            td data-label="Health" { (notifier_health(n)) }
                            td data-label="Last delivery" { @match &st.last_delivery {
                                Some(d) => { (page.when(Some(d.at))) " · " (d.event) " · " (d.subject) @if let Some(dec) = d.decision { " · " (dec) } },
                                None => span.muted { "none yet" },
                            } }
                            td.why data-label="Last error" { @match &st.last_error {
                                Some(e) => { (page.when(st.last_error_at)) " · " (e) },
                                None => "none",
                            } }
                            td data-label="Credential" { "Secret " code { (n.spec.credentials_secret_ref.name) } " key " code { (n.spec.credentials_secret_ref.key) } }
                        }
                    } }
                } }
            }
        }
    }
}

/// The page's one filter: the connectors with an issue (what Overview's tile counts), or those
/// without one (what Radar's and Metrics' "without issues" count); every connector without it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Query {
    #[serde(default)]
    pub issues: Option<Issues>,
}

/// Which side of [`crate::radar::ConnectorFreshness::trouble`] a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Issues {
    /// With an issue (`?issues=on`).
    On,
    /// Without one (`?issues=none`).
    None,
}

/// The link that lists exactly the connectors with an issue.
pub const ISSUES_HREF: &str = "/console/integrations?issues=on#configured";
/// The link that lists exactly the connectors without one.
pub const WITHOUT_ISSUES_HREF: &str = "/console/integrations?issues=none#configured";

/// "7 of 9 connectors without issues": the one wording of the one count
/// ([`crate::radar::ConnectorFreshness::trouble`]) on every page that gives it.
pub fn without_issues(connectors: &[crate::radar::ConnectorFreshness]) -> (usize, usize) {
    let fine = connectors.iter().filter(|c| c.trouble().is_none()).count();
    (fine, connectors.len())
}

pub fn page(page: &Page, query: &Query) -> Markup {
    let s = page.snap;
    let connectors: Vec<&Connector> = s
        .connectors
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| page.visible(c.metadata.namespace.as_deref()))
        .collect();
    let view = page.view();
    let judged = |c: &Connector| {
        let name = c.key();
        view.radar.connectors.iter().find(|f| f.connector == name)
    };
    let listed: Vec<&Connector> = connectors
        .iter()
        .copied()
        .filter(|c| {
            let trouble = judged(c).and_then(|f| f.trouble());
            match query.issues {
                Some(Issues::On) => trouble.is_some(),
                Some(Issues::None) => trouble.is_none(),
                None => true,
            }
        })
        .collect();
    layout(
        page,
        Nav::Integrations,
        "Integrations",
        html! {
            h1 { "Integrations" }
            section aria-labelledby="matrix" {
                h2 id="matrix" { "Connector matrix" }
                div.scroll { table {
                    thead { tr { th { "Type" } th { "Reads" } th { "Configured" } th { "Health" } } }
                    tbody { @for t in ConnectorType::ALL.iter().copied() { @let what = kind_of(t).about().reads;
                        @let of_type: Vec<_> = connectors.iter().filter(|c| c.spec.type_ == t).collect();
                        @let fine = of_type.iter().filter(|c| judged(c).is_some_and(|f| f.trouble().is_none())).count();
                        tr {
                            td data-label="Type" { (format!("{t:?}")) } td.why data-label="Reads" { (what) }
                            td data-label="Configured" { (of_type.len()) }
                            td data-label="Health" { @if of_type.is_empty() { span.muted { "-" } } @else { (fine) "/" (of_type.len()) " without issues" } }
                        }
                    } }
                } }
            }
            section aria-labelledby="configured" {
                h2 id="configured" { "Configured connectors " small { (listed.len()) @match query.issues {
                    Some(Issues::On) => { " with an issue · " a href="/console/integrations#configured" { "all" } },
                    Some(Issues::None) => { " without issues · " a href="/console/integrations#configured" { "all" } },
                    None => {},
                } } }
                @if connectors.is_empty() { (empty("No Connector objects yet.")) } @else if listed.is_empty() { (empty(if query.issues == Some(Issues::None) { "Every connector has an issue." } else { "No connector has an issue." })) } @else {
                    div.scroll { table.cards {
                        thead { tr { th { "Connector" } th { "Type" } th { "Health" } th { "Last success" } th { "Freshness" } th { "Credential" } th { "Issue" } } }
                        tbody { @for c in &listed {
                            @let st = c.status.clone().unwrap_or_default();
                            @let judged = judged(c);
                            tr {
                                td data-label="Connector" { (namespace_of(&c.metadata)) "/" (c.metadata.name.as_deref().unwrap_or("")) }
                                td data-label="Type" { (format!("{:?}", c.spec.type_)) }
                                td data-label="Health" { @match st.health {
                                    Some(ConnectorHealth::Healthy) => span.badge.allow { "Healthy" },
                                    Some(h) => span.badge.hold { (format!("{h:?}")) },
                                    // Nothing to check: its results are pushed or recorded by people.
                                    None if judged.is_some_and(|f| f.freshness == Freshness::OnDelivery) => span.muted { "on delivery" },
                                    None => span.muted { "not checked yet" },
                                } }
                                td data-label="Last success" { (page.when(st.last_success_at)) }
                                td data-label="Freshness" { (judged.map_or_else(|| "-".to_string(), |f| f.freshness_words())) }
                                td data-label="Credential" { (credential(c)) }
                                td.why data-label="Issue" { (judged.and_then(|f| f.trouble()).unwrap_or_else(|| "none".to_string())) }
                            }
                        } }
                    } }
                }
            }
            (notifiers(page))
            section aria-labelledby="detected" {
                h2 id="detected" { "Detected candidates" }
                @if page.user.visibility != Visibility::All { (empty("Detection looks at the whole cluster, so its findings are shown to viewers who see every namespace.")) } @else if s.candidates.is_empty() { (empty("Nothing detected that no Connector already covers.")) } @else {
                    p { "Found in the cluster and not used until you create the Connector:" }
                    ul { @for c in &s.candidates {
                        li {
                            strong { (format!("{:?}", c.type_)) } ": " (c.found)
                            (command(&format!(
                                "kubectl apply -f - <<'EOF'\napiVersion: releasepassport.io/v1alpha1\nkind: Connector\nmetadata: {{name: {}, namespace: NAMESPACE}}\nspec: {{type: {:?}{}}}\nEOF",
                                format!("{:?}", c.type_).to_lowercase(),
                                c.type_,
                                c.endpoint.as_deref().map(|e| format!(", endpoint: {e}")).unwrap_or_default()
                            )))
                        }
                    } }
                }
            }
            section aria-labelledby="manual" {
                h2 id="manual" { "Manual fallback" }
                p { "For a system no connector reaches, record the evidence on the Release; it is read like any other (and never goes stale by itself unless you give it a time):" }
                (command("kubectl annotate release -n NAMESPACE NAME \\\n  evidence.releasepassport.io/pen-test='{\"status\":\"Complete\",\"by\":\"alice\",\"summary\":\"report PT-17 signed off\"}'"))
            }
        },
    )
}
