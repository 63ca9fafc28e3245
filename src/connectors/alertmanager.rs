//! Alertmanager: the alerts firing for a release's scope, from the API v2
//! (`GET /api/v2/alerts`, Alertmanager's `api/v2/openapi.yaml`). Alertmanager filters with one
//! matcher per `filter` parameter; the release's labels go in quoted as its matcher parser
//! unquotes them, so a label value can never become a matcher of its own.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;

use super::kind::{About, Answer, Answers, ConnectorKind, Looks, Upstream, not_asked};
use super::query::{AlertQuery, Query};
use super::{AnswerError, FetchError, http};
use crate::api::EvidenceStatus;
use crate::engine::labels::{is_label_name, quoted};
use crate::text::{count, inert};

/// How many alerts a summary names of each kind before it says "and N more".
const NAMED: usize = 5;

/// Why an alert is not counted, or that it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// Firing (or not yet processed by Alertmanager, which fires it unless a silence or an
    /// inhibition says otherwise).
    Firing,
    /// Muted by these silences.
    Silenced(Vec<String>),
    /// Muted by these firing alerts (fingerprints).
    Inhibited(Vec<String>),
}

/// One alert as the API reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Its `alertname` label.
    pub name: String,
    /// Its `severity` label, where it has one.
    pub severity: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub state: AlertState,
}

/// Why a string is not one Alertmanager matcher as `spec.alerts.matchers` accepts it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("{0:?} does not start with a label name")]
    NoLabelName(String),
    #[error("{matcher:?}: after {name} comes one of = != =~ !~")]
    NoOperator { matcher: String, name: String },
    #[error("{0:?}: the value is not double-quoted")]
    NotQuoted(String),
    #[error("{0:?}: the value ends in a lone backslash")]
    LoneBackslash(String),
    #[error("{0:?}: a quote inside the value is not escaped")]
    UnescapedQuote(String),
}

/// Whether `matcher` is one Alertmanager matcher as `spec.alerts.matchers` accepts it:
/// `NAME OP "VALUE"`, the value quoted with `\"` and `\\` escaped (the admission rule's shape).
pub fn check_matcher(matcher: &str) -> Result<(), MatcherError> {
    let m = matcher.trim();
    let name_end = m
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(m.len());
    let (name, rest) = m.split_at(name_end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(MatcherError::NoLabelName(matcher.into()));
    }
    let rest = rest.trim_start();
    let op = ["=~", "!~", "!=", "="]
        .into_iter()
        .find(|op| rest.starts_with(op))
        .ok_or_else(|| MatcherError::NoOperator {
            matcher: matcher.into(),
            name: name.into(),
        })?;
    let value = rest[op.len()..].trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|_| value.len() >= 2)
        .ok_or_else(|| MatcherError::NotQuoted(matcher.into()))?;
    let mut chars = unquoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => {
                return Err(MatcherError::LoneBackslash(matcher.into()));
            }
            '"' => return Err(MatcherError::UnescapedQuote(matcher.into())),
            _ => {}
        }
    }
    Ok(())
}

/// The `filter` parameters that ask exactly `query`: one matcher per label of the release's
/// scope, then the connector's own.
pub fn filters(query: &AlertQuery) -> Result<Vec<String>, FetchError> {
    let mut out = Vec::with_capacity(query.scope.len() + query.matchers.len());
    for (name, value) in &query.scope {
        if !is_label_name(name) {
            return Err(FetchError::Config(format!(
                "spec.scope.metricLabels: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
            )));
        }
        out.push(format!("{name}={}", quoted(value)));
    }
    for (i, matcher) in query.matchers.iter().enumerate() {
        check_matcher(matcher)
            .map_err(|why| FetchError::Config(format!("spec.alerts.matchers[{i}]: {why}")))?;
        out.push(matcher.trim().to_string());
    }
    Ok(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The alerts of a `GET /api/v2/alerts` answer (pure).
pub fn parse(body: &Value) -> Result<Vec<Alert>, AnswerError> {
    let alerts = body.as_array().ok_or(AnswerError::Missing(
        "alerts array (not an Alertmanager API v2 answer)",
    ))?;
    alerts.iter().map(alert).collect()
}

fn alert(a: &Value) -> Result<Alert, AnswerError> {
    let labels = a
        .get("labels")
        .and_then(Value::as_object)
        .ok_or(AnswerError::Missing("labels"))?;
    let label = |k: &str| labels.get(k).and_then(Value::as_str).map(str::to_string);
    let status = a.get("status").ok_or(AnswerError::Missing("status"))?;
    let state = status
        .get("state")
        .and_then(Value::as_str)
        .ok_or(AnswerError::Missing("status.state"))?;
    let silenced = strings(&status["silencedBy"]);
    let inhibited = strings(&status["inhibitedBy"]);
    let state = match state {
        "active" | "unprocessed" => AlertState::Firing,
        "suppressed" if !silenced.is_empty() => AlertState::Silenced(silenced),
        "suppressed" => AlertState::Inhibited(inhibited),
        other => {
            return Err(AnswerError::Unknown {
                field: "status.state",
                value: other.to_string(),
            });
        }
    };
    Ok(Alert {
        name: label("alertname")
            .or_else(|| {
                a.get("fingerprint")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "unnamed alert".into()),
        severity: label("severity"),
        since: a
            .get("startsAt")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        state,
    })
}

/// One alert as a summary names it: `HighErrorRate (critical, since 2026-12-07T10:03:00Z)`.
fn named(alert: &Alert) -> String {
    let mut about: Vec<String> = Vec::new();
    about.extend(alert.severity.as_deref().map(|s| inert(s).into_owned()));
    about.extend(
        alert
            .since
            .map(|t| format!("since {}", crate::engine::rules::time(t))),
    );
    match &alert.state {
        AlertState::Firing => {}
        AlertState::Silenced(by) => about.push(format!("silenced by {}", by.join(", "))),
        AlertState::Inhibited(_) => about.push("inhibited".into()),
    }
    let name = inert(&alert.name);
    if about.is_empty() {
        name.into_owned()
    } else {
        format!("{name} ({})", about.join(", "))
    }
}

fn listed(alerts: &[&Alert]) -> String {
    let mut names: Vec<String> = alerts.iter().take(NAMED).map(|a| named(a)).collect();
    if alerts.len() > NAMED {
        names.push(format!("and {} more", alerts.len() - NAMED));
    }
    names.join("; ")
}

/// The evidence `alerts` make for a release: Failed while a counted alert fires (each named,
/// with its severity and since when), Complete otherwise; silenced and inhibited alerts are
/// named, and counted only when `count_suppressed` says so. The value is how many count.
pub fn judge(alerts: &[Alert], count_suppressed: bool, asked: &str) -> Answer {
    let (counted, muted): (Vec<&Alert>, Vec<&Alert>) = alerts
        .iter()
        .partition(|a| count_suppressed || a.state == AlertState::Firing);
    let mut summary = if counted.is_empty() {
        format!("no alert firing for {asked}")
    } else {
        format!(
            "{} firing: {}",
            count(counted.len(), "alert", "alerts"),
            listed(&counted)
        )
    };
    if !muted.is_empty() {
        summary.push_str(&format!(" — not counted: {}", listed(&muted)));
    }
    let status = if counted.is_empty() {
        EvidenceStatus::Complete
    } else {
        EvidenceStatus::Failed
    };
    Answer {
        value: Some(counted.len() as f64),
        query: Some(asked.to_string()),
        ..Answer::new(status, summary)
    }
}

pub async fn fetch(upstream: &Upstream<'_>, query: &AlertQuery) -> Result<Answer, FetchError> {
    let asked = Query::Alerts(query.clone()).to_string();
    if query.scope.is_empty() {
        return Ok(Answer {
            query: Some(asked),
            ..Answer::new(
                EvidenceStatus::Missing,
                "not scoped: the Release sets no spec.scope.metricLabels, and every alert of \
                 the fleet would count (nothing was asked)"
                    .into(),
            )
        });
    }
    let mut url = http::join(upstream.endpoint()?, &["api", "v2", "alerts"])?;
    {
        let mut pairs = url.query_pairs_mut();
        for filter in filters(query)? {
            pairs.append_pair("filter", &filter);
        }
        // Muted alerts are asked for too: the evidence names them.
        for flag in ["active", "silenced", "inhibited", "unprocessed"] {
            pairs.append_pair(flag, "true");
        }
    }
    let body = http::get_json(upstream.http, url, upstream.token, upstream.timeout, &[]).await?;
    Ok(judge(&parse(&body)?, query.count_suppressed, &asked))
}

/// The `Alertmanager` connector type.
pub struct Alertmanager;

static ABOUT: About = About::fetched(
    "Alerts firing for each release's scope (Alertmanager API v2)",
    Answers::Alerts,
    Some("alerts"),
)
.looking(Looks {
    name: "Alertmanager",
    selectors: &[
        "operated-alertmanager=true",
        "app.kubernetes.io/name=alertmanager",
        "app=alertmanager",
    ],
    port: 9093,
});

impl ConnectorKind for Alertmanager {
    fn about(&self) -> &'static About {
        &ABOUT
    }

    fn queries(&self, asked: &super::kind::Asked<'_>) -> Vec<Query> {
        if !asked
            .needs
            .sources
            .contains(&super::kind::source_name(asked.connector))
        {
            return Vec::new();
        }
        let alerts = asked.connector.spec.alerts.clone().unwrap_or_default();
        vec![Query::Alerts(AlertQuery {
            scope: asked.release.spec.scope.metric_labels.clone(),
            matchers: alerts.matchers,
            count_suppressed: alerts.count_suppressed,
        })]
    }

    /// A question no alert answers: whether the API is there and takes the credential.
    fn probe(&self) -> Option<Query> {
        Some(Query::Alerts(AlertQuery {
            scope: [("release_passport_probe".to_string(), "1".to_string())].into(),
            matchers: Vec::new(),
            count_suppressed: false,
        }))
    }

    fn fetch<'a>(
        &'a self,
        upstream: &'a Upstream<'a>,
        query: &'a Query,
    ) -> BoxFuture<'a, Result<Answer, FetchError>> {
        Box::pin(async move {
            let Query::Alerts(q) = query else {
                return Err(not_asked(query));
            };
            fetch(upstream, q).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(scope: &[(&str, &str)], matchers: &[&str]) -> AlertQuery {
        AlertQuery {
            scope: scope
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            matchers: matchers.iter().map(|m| m.to_string()).collect(),
            count_suppressed: false,
        }
    }

    /// A hostile label value stays one quoted value: every quote and backslash escaped, so
    /// Alertmanager's matcher parser (which unquotes `\"`, `\\` and `\n`) reads it back whole.
    #[test]
    fn label_values_cannot_become_matchers() {
        let q = query(
            &[
                ("service", r#"checkout", severity=~".*"#),
                ("env", "prod\\\"\n}"),
            ],
            &[r#" severity=~"critical|page" "#],
        );
        assert_eq!(
            filters(&q).unwrap(),
            vec![
                r#"env="prod\\\"\n}""#.to_string(),
                r#"service="checkout\", severity=~\".*""#.to_string(),
                r#"severity=~"critical|page""#.to_string(),
            ]
        );
        for f in filters(&q).unwrap() {
            assert_eq!(check_matcher(&f), Ok(()), "{f}");
        }
        let bad = query(&[("app-name", "x")], &[]);
        assert!(matches!(filters(&bad), Err(FetchError::Config(e)) if e.contains("metricLabels")));
    }

    #[test]
    fn matchers_are_checked_as_admission_does() {
        for good in [
            r#"severity="critical""#,
            r#"team != "platform""#,
            r#"alertname=~"Checkout.*""#,
            r#"a:b!~"x\"y\\""#,
            r#"x="""#,
        ] {
            assert_eq!(check_matcher(good), Ok(()), "{good}");
        }
        for bad in [
            "severity=critical",
            r#"9x="a""#,
            r#"="a""#,
            r#"severity=="a""#,
            r#"severity="a"b""#,
            r#"severity="a\"#,
            r#"severity="a"#,
            r#"severity ~ "a""#,
        ] {
            assert!(check_matcher(bad).is_err(), "{bad}");
        }
        let q = query(&[("service", "checkout")], &["severity=critical"]);
        assert!(
            matches!(filters(&q), Err(FetchError::Config(e)) if e.starts_with("spec.alerts.matchers[0]:"))
        );
    }

    /// The shape of `GET /api/v2/alerts` (Alertmanager's api/v2/openapi.yaml, gettableAlerts).
    fn answer() -> Value {
        json!([
            {"labels": {"alertname": "CheckoutErrors", "severity": "critical", "service": "checkout"},
             "annotations": {}, "startsAt": "2026-12-07T10:03:00.123Z", "endsAt": "2026-12-07T11:03:00Z",
             "updatedAt": "2026-12-07T10:04:00Z", "fingerprint": "a1", "receivers": [{"name": "team"}],
             "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}},
            {"labels": {"alertname": "CheckoutLatency", "severity": "warning"},
             "startsAt": "2026-12-07T09:00:00Z", "fingerprint": "b2",
             "status": {"state": "suppressed", "silencedBy": ["5e1"], "inhibitedBy": []}},
            {"labels": {"alertname": "CheckoutSaturation\u{1b}[2J"},
             "fingerprint": "c3",
             "status": {"state": "suppressed", "silencedBy": [], "inhibitedBy": ["a1"]}}
        ])
    }

    #[test]
    fn firing_alerts_fail_and_muted_ones_are_named_not_counted() {
        let alerts = parse(&answer()).unwrap();
        let a = judge(&alerts, false, "alerts {service=\"checkout\"}");
        assert_eq!(a.status, EvidenceStatus::Failed);
        assert_eq!(a.value, Some(1.0));
        assert_eq!(
            a.summary,
            "1 alert firing: CheckoutErrors (critical, since 2026-12-07T10:03:00Z) — not counted: \
             CheckoutLatency (warning, since 2026-12-07T09:00:00Z, silenced by 5e1); \
             CheckoutSaturation\\u{1b}[2J (inhibited)"
        );
        let all = judge(&alerts, true, "q");
        assert_eq!((all.status, all.value), (EvidenceStatus::Failed, Some(3.0)));
        let muted_only = judge(&alerts[1..], false, "q");
        assert_eq!(muted_only.status, EvidenceStatus::Complete);
        assert!(
            muted_only
                .summary
                .starts_with("no alert firing for q — not counted: ")
        );
        let none = judge(&[], false, "alerts {service=\"checkout\"}");
        assert_eq!(
            (none.status, none.summary.as_str(), none.value),
            (
                EvidenceStatus::Complete,
                "no alert firing for alerts {service=\"checkout\"}",
                Some(0.0)
            )
        );
    }

    #[test]
    fn many_alerts_are_summarised() {
        let firing: Vec<Alert> = (0..8)
            .map(|i| Alert {
                name: format!("A{i}"),
                severity: None,
                since: None,
                state: AlertState::Firing,
            })
            .collect();
        let a = judge(&firing, false, "q");
        assert_eq!(a.summary, "8 alerts firing: A0; A1; A2; A3; A4; and 3 more");
    }

    #[test]
    fn answers_not_in_the_documented_shape_are_refused() {
        assert_eq!(
            parse(&json!({"status": "success"})),
            Err(AnswerError::Missing(
                "alerts array (not an Alertmanager API v2 answer)"
            ))
        );
        assert_eq!(
            parse(&json!([{"labels": {}, "status": {"state": "firing"}}])),
            Err(AnswerError::Unknown {
                field: "status.state",
                value: "firing".into()
            })
        );
        assert_eq!(
            parse(&json!([{"status": {"state": "active"}}])),
            Err(AnswerError::Missing("labels"))
        );
    }
}
