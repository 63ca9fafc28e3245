//! A metric rule's question as a value: the query as the rule wrote it, the release labels
//! `$labels` stands for, and, for a range query, its window and how its samples become one
//! value. Each metric connector expands `$labels` in its own backend's syntax; the text form
//! (PromQL's) is only what evidence records and people read, never parsed back.

use std::collections::BTreeMap;
use std::fmt;

use crate::api::policy::Aggregate;

/// A range query's window, as the policy wrote it, and its aggregation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricRange {
    /// The window as written (`30m`), shown in the query's text form.
    pub written: String,
    pub window: std::time::Duration,
    pub aggregate: Aggregate,
}

/// Samples over one fixed window: what a comparison reads for each side. Fixed in time, so the
/// question is the same whenever it is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SampleWindow {
    pub from: chrono::DateTime<chrono::Utc>,
    pub length: chrono::Duration,
}

impl SampleWindow {
    pub fn to(&self) -> chrono::DateTime<chrono::Utc> {
        self.from + self.length
    }
}

/// One metric question.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricQuery {
    /// The query as the rule wrote it, `$labels` not expanded.
    pub text: String,
    /// The release labels `$labels` stands for (empty when the query does not use it).
    pub labels: BTreeMap<String, String>,
    pub range: Option<MetricRange>,
    /// Every sample over a fixed window instead of one value.
    pub samples: Option<SampleWindow>,
}

impl MetricQuery {
    /// The same question asked of a release with `labels`: `None` when the query uses
    /// `$labels` and there are none, so it cannot be scoped.
    pub fn scoped(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Option<Self>, super::labels::LabelError> {
        if !self.uses_labels() {
            return Ok(Some(Self {
                labels: BTreeMap::new(),
                ..self.clone()
            }));
        }
        super::labels::check(labels)?;
        if labels.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self {
            labels: labels.clone(),
            ..self.clone()
        }))
    }

    pub fn uses_labels(&self) -> bool {
        self.text.contains("$labels")
    }

    /// The query with `$labels` replaced by what `render` makes of the labels: each backend's
    /// own syntax, its values quoted its own way.
    pub fn expanded(&self, render: impl FnOnce(&BTreeMap<String, String>) -> String) -> String {
        if self.uses_labels() {
            self.text.replace("$labels", &render(&self.labels))
        } else {
            self.text.clone()
        }
    }

    /// The query as Prometheus is asked it.
    pub fn promql(&self) -> String {
        self.expanded(super::labels::render)
    }

    /// How evidence records this question for a release whose labels render as PromQL
    /// `matchers` (what a rule looks its observation up by); `None` when it cannot be scoped.
    pub fn recorded(&self, matchers: &str) -> Option<String> {
        let text = super::labels::substitute(&self.text, matchers)?;
        Some(format!("{text}{}", Suffix(self)))
    }
}

/// An instant query.
impl From<&str> for MetricQuery {
    fn from(text: &str) -> Self {
        Self::from(text.to_string())
    }
}

impl From<String> for MetricQuery {
    fn from(text: String) -> Self {
        Self {
            text,
            labels: BTreeMap::new(),
            range: None,
            samples: None,
        }
    }
}

/// How evidence records the question (`rate(x[5m]) @range=30m,max`,
/// `rate(x[5m]) @samples=2026-12-07T14:02:00Z+30m`): a range query is a different question from
/// the instant one with the same PromQL.
impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.promql(), Suffix(self))
    }
}

/// What follows the query in its recorded form: its window, if any.
struct Suffix<'a>(&'a MetricQuery);

impl fmt::Display for Suffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.0.range {
            write!(f, " @range={},{}", r.written, r.aggregate.as_str())?;
        }
        if let Some(w) = &self.0.samples {
            write!(
                f,
                " @samples={}+{}",
                w.from.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                crate::api::duration::format_duration(w.length)
            )?;
        }
        Ok(())
    }
}

/// The longest range selector in `promql`: `x[5m]`, or a subquery's range `[30m:1m]`. Durations
/// as PromQL writes them (ms, s, m, h, d, w, y; `1h30m`); brackets that hold no duration (a
/// string, say) are passed over. Zero for an instant vector selector.
pub fn longest_range_selector(promql: &str) -> chrono::Duration {
    let mut longest = chrono::Duration::zero();
    let mut rest = promql;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inside = &rest[..close];
        let range = inside.split(':').next().unwrap_or_default().trim();
        if let Some(d) = promql_duration(range) {
            longest = longest.max(d);
        }
        rest = &rest[close + 1..];
    }
    longest
}

fn promql_duration(text: &str) -> Option<chrono::Duration> {
    if text.is_empty() {
        return None;
    }
    let mut total = chrono::Duration::zero();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (chrono::Duration::milliseconds(1), 2)
        } else {
            let unit = match rest.bytes().next()? {
                b's' => chrono::Duration::seconds(1),
                b'm' => chrono::Duration::minutes(1),
                b'h' => chrono::Duration::hours(1),
                b'd' => chrono::Duration::days(1),
                b'w' => chrono::Duration::weeks(1),
                b'y' => chrono::Duration::days(365),
                _ => return None,
            };
            (unit, 1)
        };
        total += unit.checked_mul(i32::try_from(n).ok()?)?;
        rest = &rest[len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_range_selector_is_the_lookback() {
        let m = chrono::Duration::minutes;
        for (promql, expected) in [
            ("up", m(0)),
            ("rate(x[5m])", m(5)),
            ("sum(rate(a{l=\"[x]\"}[5m])) / sum(rate(b[1h30m]))", m(90)),
            ("max_over_time(rate(x[1m])[30m:30s])", m(30)),
            ("increase(x[2d])", m(2 * 24 * 60)),
            ("rate(x[90s])", chrono::Duration::seconds(90)),
            ("rate(x[500ms])", chrono::Duration::milliseconds(500)),
            ("rate(x[$__range])", m(0)),
        ] {
            assert_eq!(longest_range_selector(promql), expected, "{promql}");
        }
    }
}
