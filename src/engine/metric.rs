//! A metric rule's question as a value: the PromQL and, for a range query, its window and how
//! its samples become one value. The Prometheus connector reads the fields; the text form is
//! only what evidence records and people read, never parsed back.

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
    pub promql: String,
    pub range: Option<MetricRange>,
    /// Every sample over a fixed window instead of one value.
    pub samples: Option<SampleWindow>,
}

impl MetricQuery {
    /// The same question asked of one release: `$labels` replaced by its `matchers`; `None`
    /// when it uses `$labels` and the release has none, so it cannot be scoped.
    pub fn scoped(&self, matchers: &str) -> Option<Self> {
        Some(Self {
            promql: super::labels::substitute(&self.promql, matchers)?,
            range: self.range.clone(),
            samples: self.samples,
        })
    }
}

/// An instant query.
impl From<&str> for MetricQuery {
    fn from(promql: &str) -> Self {
        Self {
            promql: promql.into(),
            range: None,
            samples: None,
        }
    }
}

impl From<String> for MetricQuery {
    fn from(promql: String) -> Self {
        Self {
            promql,
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
        f.write_str(&self.promql)?;
        if let Some(r) = &self.range {
            write!(f, " @range={},{}", r.written, r.aggregate.as_str())?;
        }
        if let Some(w) = &self.samples {
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
