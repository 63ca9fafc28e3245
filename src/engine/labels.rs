//! `$labels` expansion for metric queries: the Release's `scope.metricLabels` become escaped
//! PromQL matchers, so a label value can never inject PromQL.

use std::collections::BTreeMap;

/// Why a release's metric labels cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("spec.scope.metricLabels: {key:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")]
pub struct LabelError {
    pub key: String,
}

/// Replaces `$labels` in `query` with `k1="v1",k2="v2"` (sorted by key, values escaped);
/// `None` when the query uses `$labels` and there are no labels (see [`substitute`]).
pub fn expand(
    query: &str,
    labels: &BTreeMap<String, String>,
) -> Result<Option<String>, LabelError> {
    Ok(substitute(query, &matchers(labels)?))
}

/// The matchers `$labels` stands for: `k1="v1",k2="v2"`, sorted by key, values escaped.
pub fn matchers(labels: &BTreeMap<String, String>) -> Result<String, LabelError> {
    check(labels)?;
    Ok(render(labels))
}

/// Whether every key of `labels` is a label name.
pub fn check(labels: &BTreeMap<String, String>) -> Result<(), LabelError> {
    match labels.keys().find(|k| !is_label_name(k)) {
        Some(bad) => Err(LabelError { key: bad.clone() }),
        None => Ok(()),
    }
}

/// `labels` as PromQL matchers, `k1="v1",k2="v2"` (keys already checked).
pub fn render(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quoted(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Puts rendered `matchers` in place of `$labels`. `None` when the query uses `$labels` and
/// there are no matchers: dropping the placeholder would ask about every service's series.
pub fn substitute(query: &str, matchers: &str) -> Option<String> {
    if !query.contains("$labels") {
        return Some(query.to_string());
    }
    if matchers.is_empty() {
        return None;
    }
    Some(query.replace("$labels", matchers))
}

/// `value` as a double-quoted label value, as PromQL and Alertmanager's matchers read it.
pub fn quoted(value: &str) -> String {
    quoted_with(value, '"')
}

/// `value` between `quote`s, with backslashes, the quote and line breaks escaped: the string
/// quoting PromQL, Alertmanager's matchers, InfluxQL and NRQL share (each unescapes `\\`, the
/// quote and `\n`).
pub fn quoted_with(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_sorted_and_escaped() {
        let q = expand(
            r#"sum(rate(http_requests_total{$labels,code=~"5.."}[5m]))"#,
            &labels(&[("service", "checkout"), ("env", r#"prod"} or vector(1) #"#)]),
        );
        assert_eq!(
            q.map(|q| q.unwrap_or_default()).as_deref(),
            Ok(
                r#"sum(rate(http_requests_total{env="prod\"} or vector(1) #",service="checkout",code=~"5.."}[5m]))"#
            )
        );
    }

    #[test]
    fn no_labels_leave_a_labels_query_unscoped() {
        assert_eq!(
            expand(r#"up{$labels, job="x"}"#, &BTreeMap::new()),
            Ok(None)
        );
        assert_eq!(
            expand(r#"up{job="x"}"#, &BTreeMap::new()),
            Ok(Some(r#"up{job="x"}"#.to_string()))
        );
    }

    #[test]
    fn refuses_bad_label_names() {
        assert!(expand("up{$labels}", &labels(&[("app-name", "x")])).is_err());
    }
}
