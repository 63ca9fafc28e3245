//! `Connector.spec.links`: URL templates that turn evidence into links to where it came from —
//! the Argo CD application, a graph of a metric rule's query, the CI run, the commit. A
//! template names placeholders in braces; each value is percent-encoded into it, and a link
//! whose placeholder has no value is not shown (never a half-filled URL).

use kube::KubeSchema;
use kube::core::Rule;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// Every placeholder a template may use.
pub const PLACEHOLDERS: [&str; 12] = [
    "namespace",
    "release",
    "service",
    "environment",
    "version",
    "commit",
    "project",
    "pipeline",
    "app",
    "appNamespace",
    "source",
    "query",
];

/// Where a connector's observations can be seen upstream.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorLinks {
    /// Any observation of this connector: e.g. the Argo CD application,
    /// `https://argocd.example/applications/{appNamespace}/{app}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = template_rule())]
    #[schemars(length(max = 2048))]
    pub evidence: Option<String>,
    /// A metric observation: a graph of its query, e.g.
    /// `https://prometheus.example/graph?g0.expr={query}` or Grafana Explore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = template_rule())]
    #[schemars(length(max = 2048))]
    pub query: Option<String>,
    /// The release's commit, e.g. `https://github.com/{project}/commit/{commit}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = template_rule())]
    #[schemars(length(max = 2048))]
    pub commit: Option<String>,
}

/// The CRD's rule for one template: an http(s) URL whose braces hold known placeholders only.
fn template_rule() -> Rule {
    Rule::new(format!(
        "self.matches('{}')",
        pattern().replace('\\', "\\\\")
    ))
    .message(kube::core::Message::Message(format!(
        "a link must be an http:// or https:// URL whose placeholders are among {{{}}}",
        PLACEHOLDERS.join("}, {")
    )))
}

fn pattern() -> String {
    format!(r"^https?://([^{{}}]|\{{({})\}})*$", PLACEHOLDERS.join("|"))
}

/// What a template's placeholders are filled with; `None` where this evidence has no value.
#[derive(Clone, Debug, Default)]
pub struct LinkValues<'a> {
    pub values: Vec<(&'static str, Option<&'a str>)>,
}

impl<'a> LinkValues<'a> {
    pub fn set(mut self, placeholder: &'static str, value: Option<&'a str>) -> Self {
        self.values
            .push((placeholder, value.filter(|v| !v.is_empty())));
        self
    }
}

/// `template` filled in, each value percent-encoded (slashes kept in the path); `None` when it is not
/// an http(s) URL, names an unknown placeholder, or one it names has no value.
pub fn expand(template: &str, values: &LinkValues<'_>) -> Option<String> {
    if !(template.starts_with("http://") || template.starts_with("https://")) {
        return None;
    }
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        let value = values
            .values
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| *v)?;
        // In the path a value may span segments (`{project}` = `shop/checkout`); in the query
        // it is one component, so `&`, `=` and `/` are escaped too.
        let in_query = out.contains('?');
        out.push_str(&percent_encode(value, !in_query));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// What a URL component keeps as it is: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// `value` percent-encoded: everything but unreserved characters (and `/` when `keep_slash`),
/// so it can stand in a URL path segment or query component. The console's links use it too.
pub fn percent_encode(value: &str, keep_slash: bool) -> String {
    utf8_percent_encode(value, if keep_slash { PATH } else { COMPONENT }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> LinkValues<'static> {
        LinkValues::default()
            .set("app", Some("checkout-prod"))
            .set("appNamespace", Some("argocd"))
            .set("query", Some("sum(rate(x{env=\"prod\"}[5m]))"))
            .set("commit", None)
    }

    #[test]
    fn encodes_all_but_unreserved_characters() {
        assert_eq!(percent_encode("a b/ü~-._", false), "a%20b%2F%C3%BC~-._");
        assert_eq!(percent_encode("a b/ü~-._", true), "a%20b/%C3%BC~-._");
        assert_eq!(
            percent_encode("{x=\"y\"}&%", false),
            "%7Bx%3D%22y%22%7D%26%25"
        );
    }

    #[test]
    fn placeholders_are_filled_and_encoded() {
        assert_eq!(
            expand(
                "https://argocd.example/applications/{appNamespace}/{app}",
                &values()
            )
            .as_deref(),
            Some("https://argocd.example/applications/argocd/checkout-prod")
        );
        assert_eq!(
            expand("https://prom.example/graph?g0.expr={query}", &values()).as_deref(),
            Some(
                "https://prom.example/graph?g0.expr=sum%28rate%28x%7Benv%3D%22prod%22%7D%5B5m%5D%29%29"
            )
        );
    }

    #[test]
    fn slashes_stay_in_the_path_and_are_escaped_in_the_query() {
        let v = LinkValues::default()
            .set("project", Some("shop/checkout"))
            .set("commit", Some("41d0c2f"));
        assert_eq!(
            expand(
                "https://github.com/{project}/commit/{commit}?from={project}",
                &v
            )
            .as_deref(),
            Some("https://github.com/shop/checkout/commit/41d0c2f?from=shop%2Fcheckout")
        );
        let hostile = LinkValues::default().set("project", Some("../x\"><script>"));
        assert_eq!(
            expand("https://github.com/{project}", &hostile).as_deref(),
            Some("https://github.com/../x%22%3E%3Cscript%3E"),
            "the host is the template's; the value cannot leave the path"
        );
    }

    #[test]
    fn a_link_without_a_value_or_scheme_is_not_made() {
        assert_eq!(
            expand("https://git.example/commit/{commit}", &values()),
            None
        );
        assert_eq!(expand("https://git.example/{nope}", &values()), None);
        assert_eq!(expand("javascript:alert(1)//{app}", &values()), None);
        assert_eq!(expand("https://x.example/{app", &values()), None);
        assert_eq!(expand("https://x.example/app}", &values()), None);
    }

    #[test]
    fn the_crd_pattern_takes_known_placeholders_only() {
        let pattern = pattern();
        let re = regex_lite(&pattern);
        assert!(re(
            "https://argocd.example/applications/{appNamespace}/{app}"
        ));
        assert!(re("http://prom:9090/graph?g0.expr={query}&g0.tab=0"));
        assert!(!re("https://x.example/{nope}"));
        assert!(!re("ftp://x.example/"));
        assert!(!re("https://x.example/{app"));
    }

    /// The pattern as Kubernetes' CEL (RE2) reads it, through the `regex` crate kube's CEL uses.
    fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool + use<> {
        let re = regex::Regex::new(pattern).unwrap();
        move |s| re.is_match(s)
    }
}
