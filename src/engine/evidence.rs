//! Evidence items as observed by connectors (or recorded in a file), and their status at the
//! moment of a decision.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::api::EvidenceStatus;
use crate::api::passport::{EvidenceEntry, Targets};

/// One observation of one evidence source for one release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceItem {
    /// The evidence source, e.g. `workload-health`; rules name it.
    pub source: String,
    /// What the connector observed. `Stale` is normally computed from `maxAge`, not recorded.
    pub status: EvidenceStatus,
    /// When it was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    /// Which connector observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// What was observed, in a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// For a metric: the expanded query the value answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// For a metric: the value (absent, `null` or NaN means no data). Also read as Prometheus
    /// writes samples, `"NaN"`, `"+Inf"`, `"-Inf"` or a number in a string, since JSON has no
    /// NaN.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "sample")]
    pub value: Option<f64>,
    /// For a comparison: every sample over its window, oldest first (at most
    /// [`super::compile::MAX_SAMPLES`] from a connector). A passport keeps their summary, never
    /// the samples.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
    /// For a comparison read back from a passport (the simulator's replay): what it found,
    /// since a passport keeps that and never the samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<crate::api::passport::ComparisonSummary>,
    /// Targets passing out of targets in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// When the observation stops counting, whatever a rule's `maxAge` (a connector sets it
    /// from its refresh interval, so evidence from a connector that stopped refreshing expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Since when the source has been passing without a break, when the recorder knows it (a
    /// recording's word for what a rule's `soak` reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passing_since: Option<DateTime<Utc>>,
    /// When the release's version began rolling out, as the connector saw it (the Kubernetes
    /// connector: the creation of the version's first pod in scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_started_at: Option<DateTime<Utc>>,
}

/// A metric sample as a recording writes it.
mod sample {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Number(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Written>::deserialize(d)? {
            None => Ok(None),
            Some(Written::Number(v)) => Ok(Some(v)),
            Some(Written::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
                "nan" => Ok(Some(f64::NAN)),
                "inf" | "+inf" => Ok(Some(f64::INFINITY)),
                "-inf" => Ok(Some(f64::NEG_INFINITY)),
                other => other.parse().map(Some).map_err(|_| {
                    D::Error::custom(format!(
                        "{t:?} is not a sample value (a number, NaN, +Inf, -Inf or null)"
                    ))
                }),
            },
        }
    }

    /// Finite values as numbers; the others as Prometheus writes them, which JSON can carry.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(v) if v.is_nan() => s.serialize_str("NaN"),
            Some(v) if v.is_infinite() && *v > 0.0 => s.serialize_str("+Inf"),
            Some(v) if v.is_infinite() => s.serialize_str("-Inf"),
            Some(v) => s.serialize_f64(*v),
        }
    }
}

/// An item read back from a passport's record of it (its status as of that decision).
impl EvidenceItem {
    /// An observation of `source` with only its status known; the rest is filled in with
    /// struct update syntax (`EvidenceItem { observed_at: …, ..EvidenceItem::new(…) }`).
    pub fn new(source: impl Into<String>, status: EvidenceStatus) -> Self {
        Self {
            source: source.into(),
            status,
            observed_at: None,
            connector: None,
            summary: None,
            query: None,
            value: None,
            targets: None,
            expires_at: None,
            passing_since: None,
            rollout_started_at: None,
            samples: Vec::new(),
            comparison: None,
        }
    }
}

impl From<&EvidenceEntry> for EvidenceItem {
    fn from(e: &EvidenceEntry) -> Self {
        Self {
            source: e.source.clone(),
            status: e.status,
            observed_at: e.observed_at,
            connector: e.connector.clone(),
            summary: e.summary.clone(),
            query: e.query.clone(),
            value: e.value,
            targets: e.targets,
            expires_at: None,
            passing_since: e.passing_since,
            rollout_started_at: None,
            samples: Vec::new(),
            comparison: e.comparison.clone(),
        }
    }
}

/// How bad a status is, for combining several observations: higher is worse.
pub fn severity(status: EvidenceStatus) -> u8 {
    match status {
        EvidenceStatus::Complete => 0,
        EvidenceStatus::Partial => 1,
        EvidenceStatus::Pending => 2,
        EvidenceStatus::Missing => 3,
        EvidenceStatus::Stale => 4,
        EvidenceStatus::Failed => 5,
    }
}

/// The status of one observation at `now`. Only passing or in-progress observations go stale:
/// a failure stays a failure until a newer observation replaces it, so age never turns a Block
/// into a Hold.
pub fn status_at(
    item: &EvidenceItem,
    max_age: Option<Duration>,
    now: DateTime<Utc>,
) -> EvidenceStatus {
    match item.status {
        EvidenceStatus::Failed | EvidenceStatus::Missing | EvidenceStatus::Stale => item.status,
        _ if item.expires_at.is_some_and(|at| at <= now) => EvidenceStatus::Stale,
        observed => match (max_age, item.observed_at) {
            (None, _) => observed,
            (Some(_), None) => EvidenceStatus::Stale,
            (Some(max), Some(at)) if now - at > max => EvidenceStatus::Stale,
            _ => observed,
        },
    }
}

/// The combined status of every observation of one source (one per target, say).
pub fn combine(statuses: &[EvidenceStatus]) -> EvidenceStatus {
    let any = |s: EvidenceStatus| statuses.contains(&s);
    if statuses.is_empty() {
        EvidenceStatus::Missing
    } else if any(EvidenceStatus::Failed) {
        EvidenceStatus::Failed
    } else if statuses.iter().all(|s| *s == EvidenceStatus::Complete) {
        EvidenceStatus::Complete
    } else if any(EvidenceStatus::Complete) || any(EvidenceStatus::Partial) {
        EvidenceStatus::Partial
    } else if any(EvidenceStatus::Pending) {
        EvidenceStatus::Pending
    } else if any(EvidenceStatus::Stale) {
        EvidenceStatus::Stale
    } else {
        EvidenceStatus::Missing
    }
}

/// When a fresh observation turns stale, if that is still ahead.
pub fn stale_at(
    item: &EvidenceItem,
    max_age: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !matches!(
        item.status,
        EvidenceStatus::Complete | EvidenceStatus::Partial | EvidenceStatus::Pending
    ) {
        return None;
    }
    let by_age = match (max_age, item.observed_at) {
        (Some(max), Some(at)) => Some(at + max + Duration::milliseconds(1)),
        _ => None,
    };
    [by_age, item.expires_at]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: EvidenceStatus, at: Option<DateTime<Utc>>) -> EvidenceItem {
        EvidenceItem {
            observed_at: at,
            ..EvidenceItem::new("s", status)
        }
    }

    #[test]
    fn staleness_applies_to_passing_and_pending_only() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let old = Some(now - Duration::hours(2));
        let max = Some(Duration::minutes(30));
        assert_eq!(
            status_at(&item(EvidenceStatus::Complete, old), max, now),
            EvidenceStatus::Stale
        );
        assert_eq!(
            status_at(&item(EvidenceStatus::Pending, old), max, now),
            EvidenceStatus::Stale
        );
        assert_eq!(
            status_at(&item(EvidenceStatus::Failed, old), max, now),
            EvidenceStatus::Failed
        );
        assert_eq!(
            status_at(&item(EvidenceStatus::Complete, None), max, now),
            EvidenceStatus::Stale
        );
        assert_eq!(
            status_at(&item(EvidenceStatus::Complete, None), None, now),
            EvidenceStatus::Complete
        );
        let fresh = Some(now - Duration::minutes(30));
        assert_eq!(
            status_at(&item(EvidenceStatus::Complete, fresh), max, now),
            EvidenceStatus::Complete
        );
    }

    #[test]
    fn samples_read_as_prometheus_writes_them() {
        let read = |value: &str| {
            serde_json::from_str::<EvidenceItem>(&format!(
                r#"{{"source": "m", "status": "Complete", "value": {value}}}"#
            ))
            .map(|i| i.value)
        };
        assert!(read(r#""NaN""#).ok().flatten().is_some_and(f64::is_nan));
        assert_eq!(read(r#""+Inf""#).ok().flatten(), Some(f64::INFINITY));
        assert_eq!(read(r#""-Inf""#).ok().flatten(), Some(f64::NEG_INFINITY));
        assert_eq!(read(r#""0.25""#).ok().flatten(), Some(0.25));
        assert_eq!(read("0.5").ok().flatten(), Some(0.5));
        assert_eq!(read("null").ok().flatten(), None);
        assert!(read(r#""lots""#).is_err());
        let yaml: EvidenceItem =
            serde_yaml_ng::from_str("{source: m, status: Complete, value: NaN}").unwrap();
        assert!(yaml.value.is_some_and(f64::is_nan));
        let yaml: EvidenceItem =
            serde_yaml_ng::from_str("{source: m, status: Complete, value: .nan}").unwrap();
        assert!(yaml.value.is_some_and(f64::is_nan));
        let mut item = yaml;
        item.value = Some(f64::NAN);
        let json = serde_json::to_string(&item).unwrap();
        assert!(json.contains(r#""value":"NaN""#), "{json}");
        assert!(
            serde_json::from_str::<EvidenceItem>(&json)
                .unwrap()
                .value
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn combining_targets() {
        use EvidenceStatus::*;
        assert_eq!(combine(&[]), Missing);
        assert_eq!(combine(&[Complete, Complete]), Complete);
        assert_eq!(combine(&[Complete, Missing]), Partial);
        assert_eq!(combine(&[Complete, Failed]), Failed);
        assert_eq!(combine(&[Pending, Missing]), Pending);
        assert_eq!(combine(&[Stale, Missing]), Stale);
    }
}
