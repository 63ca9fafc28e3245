//! The recorded-evidence file format (`kind: EvidenceRecording`), documented in
//! `docs/evidence-file.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::EvidenceItem;

/// Evidence observed for a set of releases, keyed by `namespace/name` (or `name`, meaning the
/// default namespace).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidenceRecording {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When the recording was taken; `passport demo` decides as of this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// Evidence items per release.
    #[serde(default)]
    pub releases: BTreeMap<String, Vec<EvidenceItem>>,
    /// When each release started, keyed like `releases` (a Release's own `spec.startedAt`
    /// wins): evidence observed before it describes the previous version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub started_at: BTreeMap<String, DateTime<Utc>>,
}
