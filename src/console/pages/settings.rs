//! Settings: customer-safe status — licence, runtime, leader, sign-in (OIDC / auth proxy), how
//! pipelines authenticate, connectors and retention. Read-only; never a secret value.

use maud::{Markup, html};

use super::super::Settings;
use super::super::auth::{AuthConfig, Visibility};
use super::super::layout::{Nav, Page, command, layout};

pub fn page(page: &Page, auth: &AuthConfig, settings: &Settings) -> Markup {
    let s = page.snap;
    let rt = &s.runtime;
    let view = page.view();
    let (fine, configured) = super::integrations::without_issues(&view.radar.connectors);
    // A restricted viewer learns their own groups' namespaces, not who else sees what.
    let mappings: Vec<_> = auth
        .group_namespaces
        .iter()
        .filter(|(g, _)| page.user.visibility == Visibility::All || page.user.groups.contains(g))
        .collect();
    layout(
        page,
        Nav::Settings,
        "Settings",
        html! {
            h1 { "Settings" }
            p.muted { "Status only: change these through the chart values or the controller's flags. Secrets are never shown or edited here." }
            section aria-labelledby="licence" {
                h2 id="licence" { "Licence" }
                dl {
                    dt { "Licence" } dd { "Apache-2.0 (open source)" }
                    dt { "Edition" } dd { "Community: every feature, no licence key" }
                }
            }
            section aria-labelledby="runtime" {
                h2 id="runtime" { "Runtime" }
                dl {
                    dt { "Version" } dd { (env!("CARGO_PKG_VERSION")) }
                    dt { "Mode" } dd { (rt.mode) }
                    dt { "Data" } dd { (rt.source) }
                    dt { "Leader" } dd { @match rt.leader { Some(true) => "this replica holds the Lease (writes decisions)", Some(false) => "standby (another replica writes decisions)", None => "no leader election in this mode" } }
                    dt { "Scope" } dd { (rt.watch_namespace.as_deref().map_or("all namespaces".to_string(), |n| format!("namespace {n}"))) }
                    dt { "Snapshot" } dd { (crate::engine::rules::time(s.now)) }
                }
            }
            section id="auth" aria-labelledby="auth-h" {
                h2 id="auth-h" { "Sign-in" }
                dl {
                    dt { "You" } dd { (page.user.name) " (via " (page.user.via) ")" }
                    dt { "Mode" } dd { (auth.mode()) }
                    @if let Some(v) = &auth.oidc {
                        @let c = v.config();
                        dt { "OIDC issuer" } dd { code { (c.issuer) } }
                        dt { "Audience" } dd { code { (c.audience) } }
                        dt { "Algorithms" } dd { (c.algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ")) }
                        dt { "Claims" } dd { "name from " code { (c.username_claim) } ", groups from " code { (c.groups_claim) } }
                    }
                    @if let Some(p) = &auth.proxy {
                        dt { "Auth proxy" } dd { "headers " code { (p.user_header) } " and " code { (p.groups_header) } ", trusted only from " (p.trusted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")) }
                    }
                    dt { "Sign-in URL" } dd { (auth.sign_in_url.as_deref().unwrap_or("none (unauthenticated requests get 401)")) }
                    dt { "Sign-out URL" } dd { @match (&auth.sign_out_url, &auth.oidc) {
                        (Some(url), _) => (url),
                        (None, Some(_)) => "the issuer's end_session_endpoint, else the console's signed-out page",
                        (None, None) => "the console's signed-out page (no issuer in this mode)",
                    } }
                    dt { "Visibility" } dd {
                        @if auth.group_namespaces.is_empty() { "every signed-in user sees every namespace" } @else if mappings.is_empty() {
                            "none of your groups is mapped to a namespace, so you see none"
                        } @else {
                            ul { @for (g, ns) in &mappings { li { "group " code { (g) } " sees " (ns.join(", ")) } } }
                        }
                    }
                }
            }
            section aria-labelledby="tokens" {
                h2 id="tokens" { "API tokens" }
                p { "Pipelines ask the gate over HTTP with a Kubernetes ServiceAccount token minted for the audience " code { (settings.gate_audience) } " (checked by TokenReview, then a SubjectAccessReview for " code { "get releasepassports" } "); a token for any other audience is refused, and there is no separate token store to leak." }
                @match settings.gate_tls {
                    Some(true) => p { "The gate is served over TLS." },
                    Some(false) => p.warn { strong { "Not encrypted: " } "the gate listens over plain HTTP, so a token sent to it crosses the network readable. Give the controller " code { "--gate-tls-cert" } " and " code { "--gate-tls-key" } " (chart: " code { "gate.tls.secretName" } ")." },
                    None => p.muted { "This console does not serve the gate; TLS for it is the controller's setting (" code { "--gate-tls-cert" } ")." },
                }
                (command(&format!("curl -H \"Authorization: Bearer $(kubectl create token ci-gate -n ci --audience {})\" {}/api/v1/gate/NAMESPACE/NAME", settings.gate_audience, settings.gate_url)))
            }
            section aria-labelledby="connectors" {
                h2 id="connectors" { "Connectors" }
                p { a href=(super::integrations::WITHOUT_ISSUES_HREF) { (fine) " of " (configured) " connectors without issues" } ". " a href="/console/integrations" { "Details on Integrations" } "." }
            }
            section aria-labelledby="retention" {
                h2 id="retention" { "Retention" }
                p { (settings.retention) }
            }
            section aria-labelledby="ai" {
                h2 id="ai" { "AI summary" }
                @match &settings.summary {
                    None => p { "Off. With " code { "--summary-endpoint" } " (an OpenAI-compatible chat-completions URL) each truth screen adds a short summary of its investigation; it is advice and never changes a decision." },
                    Some(s) => {
                        @let c = s.config();
                        dl {
                            dt { "Endpoint" } dd { (c.endpoint.origin().ascii_serialization()) }
                            dt { "Model" } dd { (c.model) }
                            dt { "Token" } dd { @if c.token.is_some() { "from a file (value never shown)" } @else { "none" } }
                        }
                        p.muted { small { "The endpoint receives each release's investigation (decision, rule results, connector health; credentials scrubbed). Its answer is shown as advice and never read by the gate." } }
                    }
                }
            }
        },
    )
}
