//! Stop the line (BRIEF §2): an emergency freeze is an ordinary GatePolicy — selecting every
//! release of its namespace, with one window rule over an absolute window — so RBAC decides
//! who may freeze and the API audit log records who did. What `passport freeze` writes and
//! what the console reads back.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use kube::api::ObjectMeta;

use crate::api::policy::{FreezeWindow, GatePolicySpec, PolicyRule, WindowRule};
use crate::api::{GatePolicy, Outcome};

/// The label that marks a GatePolicy as a freeze.
pub const LABEL: &str = "releasepassport.io/freeze";
/// Who started it (the API server's word for the user, from a SelfSubjectReview).
pub const BY: &str = "releasepassport.io/frozen-by";
/// Who ended it, when someone did.
pub const ENDED_BY: &str = "releasepassport.io/unfrozen-by";
/// The rule's name, which the trace shows.
pub const RULE: &str = "emergency-freeze";
/// A freeze without `--until` lasts until it is ended; its window still needs an end.
pub const OPEN_ENDED: Duration = Duration::days(3650);

/// One freeze, as its GatePolicy says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freeze {
    pub namespace: String,
    pub name: String,
    pub reason: String,
    pub by: Option<String>,
    pub ended_by: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Freeze {
    /// Whether it holds releases at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now < self.end
    }

    /// Whether it was started without an end (and not yet ended).
    pub fn open_ended(&self) -> bool {
        self.end - self.start >= OPEN_ENDED
    }

    /// Reads a freeze back from its policy: `None` for any other policy.
    pub fn of(policy: &GatePolicy) -> Option<Self> {
        let labels = policy.metadata.labels.as_ref()?;
        if labels.get(LABEL).map(String::as_str) != Some("true") {
            return None;
        }
        let window = policy
            .spec
            .rules
            .iter()
            .find(|r| r.name == RULE)?
            .window
            .as_ref()?;
        let span = window.freezes.first()?;
        let time = |t: &Option<String>| {
            DateTime::parse_from_rfc3339(t.as_deref()?)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let annotation = |key: &str| {
            policy
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(key))
                .cloned()
        };
        Some(Self {
            namespace: crate::api::namespace_of(&policy.metadata).to_string(),
            name: policy.metadata.name.clone().unwrap_or_default(),
            reason: policy.spec.description.clone().unwrap_or_default(),
            by: annotation(BY),
            ended_by: annotation(ENDED_BY),
            start: time(&span.start)?,
            end: time(&span.end)?,
        })
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The freeze policy `who` starts in `namespace` at `now`, for `until` (else until ended).
pub fn policy(
    namespace: &str,
    reason: &str,
    who: &str,
    now: DateTime<Utc>,
    until: Option<Duration>,
) -> GatePolicy {
    GatePolicy {
        metadata: ObjectMeta {
            name: Some(format!("freeze-{}", now.timestamp())),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(LABEL.to_string(), "true".to_string())])),
            annotations: Some(BTreeMap::from([(BY.to_string(), who.to_string())])),
            ..ObjectMeta::default()
        },
        spec: GatePolicySpec {
            description: Some(reason.to_string()),
            rules: vec![rule(reason, now, now + until.unwrap_or(OPEN_ENDED))],
            ..GatePolicySpec::default()
        },
        status: None,
    }
}

/// The freeze's one rule: hold inside the window from `start` to `end`.
fn rule(reason: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> PolicyRule {
    PolicyRule {
        name: RULE.into(),
        description: Some("Stop the line: started with passport freeze".into()),
        evidence: None,
        metric: None,
        approval: None,
        window: Some(WindowRule {
            time_zone: None,
            freezes: vec![FreezeWindow {
                // What a held release's trace shows: the reason, cut to fit.
                name: Some(reason.chars().take(63).collect()),
                cron: None,
                duration: None,
                start: Some(rfc3339(start)),
                end: Some(rfc3339(end)),
            }],
            on_inside: Some(Outcome::Hold),
        }),
        expression: None,
    }
}

/// A JSON merge patch that ends a freeze at `now`: its window closes, the record stays.
pub fn end_patch(freeze: &Freeze, who: &str, now: DateTime<Utc>) -> serde_json::Value {
    // A window must end after it starts, even one ended the second it began.
    let end = now.max(freeze.start + Duration::seconds(1));
    serde_json::json!({
        "metadata": {"annotations": {ENDED_BY: who}},
        "spec": {"rules": [rule(&freeze.reason, freeze.start, end)]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_reads_back_from_its_policy() {
        let now = DateTime::from_timestamp(1_764_079_200, 0).unwrap();
        let p = policy(
            "shop",
            "payments outage INC-42",
            "alice",
            now,
            Some(Duration::hours(4)),
        );
        let f = Freeze::of(&p).unwrap();
        assert_eq!(f.reason, "payments outage INC-42");
        assert_eq!(f.by.as_deref(), Some("alice"));
        assert_eq!(f.end - f.start, Duration::hours(4));
        assert!(f.active(now) && !f.active(now + Duration::hours(4)));
        assert!(!f.open_ended());
        assert!(
            Freeze::of(&policy("shop", "x", "a", now, None))
                .unwrap()
                .open_ended()
        );
        let compiled = crate::engine::compile(&p);
        assert!(compiled.errors.is_empty(), "{:?}", compiled.errors);
    }
}
