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

/// One metric question.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricQuery {
    pub promql: String,
    pub range: Option<MetricRange>,
}

impl MetricQuery {
    /// The same question asked of one release: `$labels` replaced by its `matchers`; `None`
    /// when it uses `$labels` and the release has none, so it cannot be scoped.
    pub fn scoped(&self, matchers: &str) -> Option<Self> {
        Some(Self {
            promql: super::labels::substitute(&self.promql, matchers)?,
            range: self.range.clone(),
        })
    }
}

/// An instant query.
impl From<&str> for MetricQuery {
    fn from(promql: &str) -> Self {
        Self {
            promql: promql.into(),
            range: None,
        }
    }
}

impl From<String> for MetricQuery {
    fn from(promql: String) -> Self {
        Self {
            promql,
            range: None,
        }
    }
}

/// How evidence records the question (`rate(x[5m]) @range=30m,max`): a range query is a
/// different question from the instant one with the same PromQL.
impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.promql)?;
        if let Some(r) = &self.range {
            write!(f, " @range={},{}", r.written, r.aggregate.as_str())?;
        }
        Ok(())
    }
}
