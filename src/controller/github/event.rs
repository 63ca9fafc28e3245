//! The parts of GitHub's `deployment_protection_rule` payload we read.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A `deployment_protection_rule` delivery.
#[derive(Clone, Debug, Deserialize)]
pub struct ProtectionEvent {
    pub action: String,
    pub environment: String,
    pub deployment_callback_url: String,
    pub deployment: Deployment,
    pub repository: Repository,
    #[serde(default)]
    pub installation: Option<Installation>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Deployment {
    #[serde(default)]
    pub id: Option<u64>,
    pub sha: String,
    /// Required: without it a replay's age cannot be told.
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Repository {
    pub full_name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Installation {
    pub id: u64,
}
