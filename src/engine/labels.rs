//! `$labels` expansion for metric queries: the Release's `scope.metricLabels` become escaped
//! PromQL matchers, so a label value can never inject PromQL.

use std::collections::BTreeMap;

/// Why a release's metric labels cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("spec.scope.metricLabels: {key:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")]
pub struct LabelError {
    pub key: String,
}

/// Replaces `$labels` in `query` with `k1="v1",k2="v2"` (sorted by key, values escaped).
/// With no labels, the placeholder and its separating comma disappear.
pub fn expand(query: &str, labels: &BTreeMap<String, String>) -> Result<String, LabelError> {
    Ok(substitute(query, &matchers(labels)?))
}

/// The matchers `$labels` stands for: `k1="v1",k2="v2"`, sorted by key, values escaped.
pub fn matchers(labels: &BTreeMap<String, String>) -> Result<String, LabelError> {
    if let Some(bad) = labels.keys().find(|k| !is_label_name(k)) {
        return Err(LabelError { key: bad.clone() });
    }
    Ok(labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(","))
}

/// Puts rendered `matchers` in place of `$labels`.
pub fn substitute(query: &str, matchers: &str) -> String {
    if !query.contains("$labels") {
        return query.to_string();
    }
    if matchers.is_empty() {
        let mut q = query.to_string();
        for pattern in ["$labels, ", "$labels,", ", $labels", ",$labels", "$labels"] {
            q = q.replace(pattern, "");
        }
        return q;
    }
    query.replace("$labels", matchers)
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn is_label_name(name: &str) -> bool {
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
            q.as_deref(),
            Ok(
                r#"sum(rate(http_requests_total{env="prod\"} or vector(1) #",service="checkout",code=~"5.."}[5m]))"#
            )
        );
    }

    #[test]
    fn empty_labels_leave_valid_promql() {
        let q = expand(r#"up{$labels, job="x"}"#, &BTreeMap::new());
        assert_eq!(q.as_deref(), Ok(r#"up{job="x"}"#));
        assert_eq!(
            expand("up{$labels}", &BTreeMap::new()).as_deref(),
            Ok("up{}")
        );
    }

    #[test]
    fn refuses_bad_label_names() {
        assert!(expand("up{$labels}", &labels(&[("app-name", "x")])).is_err());
    }
}
