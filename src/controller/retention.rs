//! Retention: history that lasts and stays small (the rollups themselves are kept by
//! [`crate::cluster::history`]). Passports older than the maximum age, or
//! beyond the newest N of their service and environment, are folded into daily rollups (a
//! ConfigMap the controller owns) and their Releases deleted — the passport goes with its Release
//! by owner reference. The newest passport of each target, a release a kept release names as
//! `previous`, and a release still under post-deploy watch are always kept. Aggregates survive,
//! so a year of delivery trends never needs a year of passports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use kube::api::{Api, DeleteParams};

use crate::api::common::created_at;
use crate::api::passport::WatchPhase;
use crate::api::{Release, ReleasePassport, namespace_of};
use crate::cluster::history::{self, ROLLUPS_CONFIGMAP, Stored};
use crate::metrics::delivery::{Record, Rollups};

/// How long and how many passports are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Older passports are folded away (None: kept whatever their age).
    pub max_age: Option<Duration>,
    /// At most this many passports per service and environment (0: no limit).
    pub keep_per_target: usize,
}

impl Policy {
    pub fn describe(&self) -> String {
        let age = self.max_age.map_or_else(
            || "kept whatever their age".to_string(),
            |a| {
                format!(
                    "folded into daily rollups once older than {}",
                    crate::output::human_duration(a)
                )
            },
        );
        let count = if self.keep_per_target == 0 {
            "no per-service limit".to_string()
        } else {
            format!(
                "at most the newest {} per service and environment",
                self.keep_per_target
            )
        };
        format!(
            "Passports are {age}, {count}; the newest of each service and environment, a release a kept one names as previous, and one under post-deploy watch are always kept. Rollups in ConfigMap {ROLLUPS_CONFIGMAP} keep every delivery metric."
        )
    }
}

/// The passports retention removes now (pure): `namespace/name` of each.
pub fn expired(
    passports: &[Arc<ReleasePassport>],
    releases: &[&Release],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Vec<Arc<ReleasePassport>> {
    let mut by_target: BTreeMap<(String, String, String), Vec<&Arc<ReleasePassport>>> =
        BTreeMap::new();
    for p in passports {
        by_target
            .entry((
                p.metadata.namespace.clone().unwrap_or_default(),
                p.spec.service.clone(),
                p.spec.environment.clone(),
            ))
            .or_default()
            .push(p);
    }
    let mut candidates = Vec::new();
    let mut kept: BTreeSet<(String, String)> = BTreeSet::new();
    for ((ns, _, _), mut list) in by_target {
        // Newest first.
        list.sort_by(|a, b| {
            created_at(&b.metadata)
                .cmp(&created_at(&a.metadata))
                .then_with(|| b.metadata.name.cmp(&a.metadata.name))
        });
        for (i, p) in list.into_iter().enumerate() {
            let too_many = policy.keep_per_target > 0 && i >= policy.keep_per_target;
            let too_old = policy
                .max_age
                .zip(created_at(&p.metadata))
                .is_some_and(|(age, at)| now - at > age);
            let watching = p
                .status
                .as_ref()
                .and_then(|s| s.watch.as_ref())
                .is_some_and(|w| w.phase == WatchPhase::Watching);
            if i > 0 && (too_many || too_old) && !watching {
                candidates.push(p);
            } else {
                kept.insert((ns.clone(), p.metadata.name.clone().unwrap_or_default()));
            }
        }
    }
    // A kept release's rollback target stays.
    let needed: BTreeSet<(String, String)> = releases
        .iter()
        .filter(|r| {
            kept.contains(&(
                r.metadata.namespace.clone().unwrap_or_default(),
                r.metadata.name.clone().unwrap_or_default(),
            ))
        })
        .filter_map(|r| {
            Some((
                r.metadata.namespace.clone().unwrap_or_default(),
                r.spec.previous.clone()?,
            ))
        })
        .collect();
    candidates
        .into_iter()
        .filter(|p| {
            !needed.contains(&(
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default(),
            ))
        })
        .cloned()
        .collect()
}

/// What tells one passport from another across passes: its uid (a recreated passport is another).
pub fn identity(p: &ReleasePassport) -> String {
    p.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}@{:?}",
            p.metadata.namespace.as_deref().unwrap_or(""),
            p.metadata.name.as_deref().unwrap_or(""),
            created_at(&p.metadata)
        )
    })
}

/// Folds `expired` into `stored` (each passport once), oldest first.
pub fn fold(
    stored: &mut Stored,
    expired: &[Arc<ReleasePassport>],
    live_uids: &BTreeSet<String>,
    now: DateTime<Utc>,
) {
    stored.folded.retain(|uid| live_uids.contains(uid));
    let mut records: Vec<(String, Record)> = expired
        .iter()
        .map(|p| (identity(p), Record::from_passport(p)))
        .filter(|(uid, _)| !stored.folded.contains(uid))
        .collect();
    records.sort_by_key(|(_, r)| r.promoted_at.or(r.created));
    for (uid, r) in records {
        stored.rollups.add(&r, now.date_naive());
        stored.folded.insert(uid);
    }
}

/// One retention pass: nothing expired → no API call at all.
pub async fn pass(
    ctx: &super::context::Context,
    namespace: &str,
    policy: &Policy,
    shared: &RwLock<Arc<Rollups>>,
) -> Result<usize, super::error::Error> {
    let now = (ctx.clock)();
    let passports = ctx.stores.passports.state();
    let releases = ctx.stores.valid_releases(None);
    let releases: Vec<&Release> = releases.iter().collect();
    let mut gone = expired(&passports, &releases, policy, now);
    // A passport whose Release is already gone waits for the garbage collector, not for us.
    gone.retain(|p| {
        ctx.stores
            .release(namespace_of(&p.metadata), &p.spec.release_ref.name)
            .is_some()
    });
    if gone.is_empty() {
        return Ok(0);
    }
    let mut stored = history::read(&ctx.client, namespace).await?;
    let live: BTreeSet<String> = passports.iter().map(|p| identity(p)).collect();
    fold(&mut stored, &gone, &live, now);
    history::write(&ctx.client, namespace, &stored).await?;
    if let Ok(mut s) = shared.write() {
        *s = Arc::new(stored.rollups);
    }
    for p in &gone {
        let ns = namespace_of(&p.metadata);
        let name = p.spec.release_ref.name.as_str();
        let api: Api<Release> = Api::namespaced(ctx.client.clone(), ns);
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(
        count = gone.len(),
        "retention folded old passports into rollups and deleted their Releases"
    );
    Ok(gone.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passport(
        name: &str,
        service: &str,
        created: &str,
        previous: Option<&str>,
    ) -> (Arc<ReleasePassport>, Release) {
        let p: ReleasePassport = serde_json::from_value(serde_json::json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
            "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "creationTimestamp": created},
            "spec": {"releaseRef": {"name": name}, "service": service, "version": name, "environment": "prod"},
            "status": {"decision": "Allow", "timeline": [{"at": created, "decision": "Allow", "message": "ok"}]}
        }))
        .unwrap();
        let r: Release = serde_json::from_value(serde_json::json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"service": service, "version": name, "environment": "prod", "previous": previous}
        }))
        .unwrap();
        (Arc::new(p), r)
    }

    #[test]
    fn keeps_the_newest_their_rollback_targets_and_folds_the_rest_once() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let items = [
            passport("a1", "a", "2026-01-01T00:00:00Z", None),
            passport("a2", "a", "2026-06-01T00:00:00Z", Some("a1")),
            passport("a3", "a", "2026-11-01T00:00:00Z", Some("a2")),
            passport("a4", "a", "2026-11-20T00:00:00Z", Some("a3")),
            passport("b1", "b", "2025-01-01T00:00:00Z", None),
        ];
        let passports: Vec<_> = items.iter().map(|(p, _)| Arc::clone(p)).collect();
        let releases: Vec<_> = items.iter().map(|(_, r)| r).collect();
        let policy = Policy {
            max_age: Some(Duration::days(90)),
            keep_per_target: 2,
        };
        let gone: Vec<String> = expired(&passports, &releases, &policy, now)
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        // a4, a3 kept (newest two); a2 is a3's rollback target; b1 is b's newest.
        assert_eq!(gone, vec!["a1".to_string()]);
        let unlimited = Policy {
            max_age: None,
            keep_per_target: 0,
        };
        assert!(expired(&passports, &releases, &unlimited, now).is_empty());

        let doomed = expired(&passports, &releases, &policy, now);
        let live: BTreeSet<String> = passports
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        let mut stored = Stored::default();
        fold(&mut stored, &doomed, &live, now);
        fold(&mut stored, &doomed, &live, now);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let a = crate::metrics::delivery::TargetKey {
            namespace: "shop".into(),
            service: "a".into(),
            environment: "prod".into(),
        };
        assert_eq!(
            stored.rollups.targets[&a].days[&day].deployments, 1,
            "folded once"
        );
        // Once deleted, its uid is forgotten.
        fold(&mut stored, &[], &BTreeSet::new(), now);
        assert!(stored.folded.is_empty());
    }
}
