//! Manual evidence: what a person recorded on the Release itself, for systems no connector can
//! reach. One annotation per source:
//!
//! ```text
//! kubectl annotate release checkout-1-2-3 \
//!   evidence.releasepassport.io/pen-test='{"status":"Complete","by":"alice","summary":"report PT-17 signed off"}'
//! ```
//!
//! `at` (RFC 3339) says when it was observed; without it the evidence counts as observed when the
//! annotation was read, which never goes stale by itself and so should be reserved for
//! evidence without a `maxAge`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::EvidenceSource;
use crate::api::{EvidenceStatus, Release};
use crate::engine::EvidenceItem;
use crate::engine::needs::Needs;
use crate::scrub::scrub;

/// The annotation prefix; the rest of the key is the evidence source name.
pub const ANNOTATION_PREFIX: &str = "evidence.releasepassport.io/";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recorded {
    status: EvidenceStatus,
    by: String,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    summary: Option<String>,
}

/// Reads manual evidence from Release annotations.
#[derive(Clone, Copy, Debug, Default)]
pub struct ManualEvidence;

impl EvidenceSource for ManualEvidence {
    fn kind(&self) -> &'static str {
        "Manual"
    }

    fn evidence_for(
        &self,
        release: &Release,
        _needs: &Needs,
        _now: DateTime<Utc>,
    ) -> Vec<EvidenceItem> {
        let Some(annotations) = &release.metadata.annotations else {
            return Vec::new();
        };
        annotations
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix(ANNOTATION_PREFIX)?, value)))
            .filter(|(source, _)| !source.is_empty())
            .map(|(source, value)| {
                parse(source, value, release.metadata.creation_timestamp.as_ref())
            })
            .collect()
    }
}

fn parse(
    source: &str,
    value: &str,
    created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) -> EvidenceItem {
    let base = EvidenceItem {
        connector: Some("manual".into()),
        ..EvidenceItem::new(source, EvidenceStatus::Missing)
    };
    match serde_json::from_str::<Recorded>(value) {
        Ok(r) => EvidenceItem {
            status: r.status,
            observed_at: r
                .at
                .or_else(|| created.and_then(|t| DateTime::from_timestamp(t.0.as_second(), 0))),
            summary: Some(scrub(
                &match r.summary {
                    Some(s) => format!("recorded by {}: {s}", r.by),
                    None => format!("recorded by {}", r.by),
                },
                &[],
            )),
            ..base
        },
        Err(e) => EvidenceItem {
            summary: Some(scrub(
                &format!(
                    "annotation {ANNOTATION_PREFIX}{source} is not valid ({e}); expected {{\"status\": …, \"by\": …, \"at\": …, \"summary\": …}}"
                ),
                &[],
            )),
            ..base
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(annotations: &[(&str, &str)]) -> Release {
        let mut r = Release::new(
            "r",
            serde_json::from_value(
                serde_json::json!({"service": "s", "version": "1", "environment": "e"}),
            )
            .unwrap(),
        );
        r.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        r
    }

    #[test]
    fn reads_annotations_as_evidence() {
        let r = release(&[
            (
                "evidence.releasepassport.io/pen-test",
                r#"{"status":"Complete","by":"alice","at":"2026-11-25T10:00:00Z","summary":"PT-17"}"#,
            ),
            (
                "evidence.releasepassport.io/dr-drill",
                r#"{"status":"Done"}"#,
            ),
            ("unrelated.io/x", "y"),
        ]);
        let items = ManualEvidence.evidence_for(&r, &Needs::default(), Utc::now());
        assert_eq!(items.len(), 2);
        let pen = items.iter().find(|i| i.source == "pen-test").unwrap();
        assert_eq!(pen.status, EvidenceStatus::Complete);
        assert_eq!(pen.summary.as_deref(), Some("recorded by alice: PT-17"));
        let bad = items.iter().find(|i| i.source == "dr-drill").unwrap();
        // What a person pastes is scrubbed as it enters.
        let r = release(&[(
            "evidence.releasepassport.io/pen-test",
            r#"{"status":"Complete","by":"bob","summary":"report at https://bob:hunter2@vault.example/r?password=hunter2 with AKIAIOSFODNN7EXAMPLE"}"#,
        )]);
        let items = ManualEvidence.evidence_for(&r, &Needs::default(), Utc::now());
        let summary = items[0].summary.as_deref().unwrap_or("");
        assert!(
            !summary.contains("hunter2") && !summary.contains("AKIA"),
            "{summary}"
        );
        assert!(summary.contains("https://vault.example/r"), "{summary}");
        assert_eq!(bad.status, EvidenceStatus::Missing);
        assert!(bad.summary.as_deref().unwrap_or("").contains("not valid"));
    }
}
