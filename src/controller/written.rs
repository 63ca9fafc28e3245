//! What this process last wrote to each status, until the watch cache shows it.
//!
//! A reconcile triggered by one of our own writes (the passport's object, the Release mirror)
//! can run before the cache has the status we just wrote — or, under load, before it has the
//! passport at all: compared with the cache, the same status would go out again. Under load that
//! doubled writes. So the object each status write returns is kept while the cache is older than
//! it (or lacks the object); once the cache has reached that resourceVersion, the cache is the
//! truth again and the entry goes.
//!
// resourceVersions are etcd revisions; the API asks clients to treat them as opaque, so one that
// does not parse as a number is never taken as older (the cache decides, at worst one more write).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Which object: (resource, namespace, name).
type Key = (&'static str, String, String);

/// More entries than this means objects were deleted while their entries waited: start over
/// (an entry only ever saves a write).
const MOST: usize = 10_000;

/// How long an entry outlives the watch showing its write. Not at once: a reconcile may have
/// read the cache just before the watch delivered the write and look the entry up just after
/// (dropping it at once made one decision in a few hundred under load write twice).
const LINGER: Duration = Duration::from_secs(30);

struct Entry {
    /// The resourceVersion our write produced.
    at: u64,
    object: Value,
    /// When the watch first showed a version at least as new.
    shown: Option<Instant>,
}

#[derive(Default)]
pub struct Written {
    entries: Mutex<HashMap<Key, Entry>>,
    swept: Mutex<Option<Instant>>,
}

fn revision(rv: Option<&str>) -> Option<u64> {
    rv?.parse().ok()
}

impl Written {
    /// The object as our last status write left it, if the cached copy is older than that write
    /// (at resourceVersion `seen`) or missing (`None`).
    pub fn newer(
        &self,
        resource: &'static str,
        ns: &str,
        name: &str,
        seen: Option<&str>,
    ) -> Option<Value> {
        let mut entries = self.entries.lock().ok()?;
        let key = (resource, ns.to_string(), name.to_string());
        let entry = entries.get(&key)?;
        let older = match seen {
            None => true,
            Some(rv) => revision(Some(rv)).is_some_and(|seen| seen < entry.at),
        };
        if older {
            Some(entry.object.clone())
        } else {
            entries.remove(&key);
            None
        }
    }

    /// Notes that the watch shows the object at `meta`'s resourceVersion: an entry whose write
    /// it includes is forgotten [`LINGER`] later, instead of waiting for the next reconcile of
    /// the object (which may never come) and holding its memory meanwhile.
    pub fn seen(&self, resource: &'static str, meta: &kube::api::ObjectMeta) {
        let (Some(ns), Some(name), Some(rv)) = (
            meta.namespace.as_deref(),
            meta.name.as_deref(),
            revision(meta.resource_version.as_deref()),
        ) else {
            return;
        };
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if let Some(entry) = entries.get_mut(&(resource, ns.to_string(), name.to_string()))
            && entry.at <= rv
        {
            entry.shown.get_or_insert(now);
        }
        // At most once a second: a sweep reads every entry.
        if let Ok(mut swept) = self.swept.lock()
            && swept.is_none_or(|at| now - at >= Duration::from_secs(1))
        {
            *swept = Some(now);
            entries.retain(|_, e| e.shown.is_none_or(|at| now - at < LINGER));
        }
    }

    /// Remembers the object a status write returned (without its `managedFields`, which no
    /// comparison reads and which are as large as the status).
    pub fn record(&self, resource: &'static str, ns: &str, name: &str, mut object: Value) {
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        let at = revision(object["metadata"]["resourceVersion"].as_str());
        let (Some(at), Ok(mut entries)) = (at, self.entries.lock()) else {
            return;
        };
        if entries.len() >= MOST {
            entries.clear();
        }
        entries.insert(
            (resource, ns.to_string(), name.to_string()),
            Entry {
                at,
                object,
                shown: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RP: &str = "releasepassports/status";

    fn at(rv: &str, decision: &str) -> Value {
        json!({"metadata": {"resourceVersion": rv}, "status": {"decision": decision}})
    }

    #[test]
    fn our_write_is_newer_until_the_cache_reaches_it() {
        let w = Written::default();
        assert_eq!(w.newer(RP, "shop", "web", Some("7")), None);
        w.record(RP, "shop", "web", at("9", "Allow"));
        // The cache lacks it, or is behind our write (7, then 8 — the object's own write): ours
        // is newer; another object's is not ours.
        assert_eq!(w.newer(RP, "shop", "web", None), Some(at("9", "Allow")));
        assert_eq!(
            w.newer(RP, "shop", "web", Some("7")),
            Some(at("9", "Allow"))
        );
        assert_eq!(
            w.newer(RP, "shop", "web", Some("8")),
            Some(at("9", "Allow"))
        );
        assert_eq!(w.newer("releases/status", "shop", "web", Some("8")), None);
        // The cache has reached it: the cache decides from now on.
        assert_eq!(w.newer(RP, "shop", "web", Some("9")), None);
        assert_eq!(w.newer(RP, "shop", "web", Some("8")), None);
        // A version that is no number never counts as older.
        w.record(RP, "shop", "web", at("9", "Allow"));
        assert_eq!(w.newer(RP, "shop", "web", Some("opaque")), None);
    }

    #[test]
    fn the_watch_showing_our_write_forgets_it_without_its_managed_fields() {
        let w = Written::default();
        let mut object = at("9", "Allow");
        object["metadata"]["managedFields"] = json!([{"manager": "release-passport"}]);
        w.record(RP, "shop", "web", object);
        assert_eq!(w.newer(RP, "shop", "web", None), Some(at("9", "Allow")));
        let meta = |rv: &str| kube::api::ObjectMeta {
            namespace: Some("shop".into()),
            name: Some("web".into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        };
        // An older version on the watch (the object's own write) keeps our entry; the version
        // of our write marks it, and it goes LINGER later (a reconcile that read the cache just
        // before may still look it up).
        w.seen(RP, &meta("8"));
        assert!(
            w.entries.lock().unwrap()[&(RP, "shop".into(), "web".into())]
                .shown
                .is_none()
        );
        w.seen(RP, &meta("9"));
        assert_eq!(w.newer(RP, "shop", "web", None), Some(at("9", "Allow")));
        let key = (RP, "shop".to_string(), "web".to_string());
        let shown = w.entries.lock().unwrap()[&key].shown.unwrap();
        w.entries.lock().unwrap().get_mut(&key).unwrap().shown = Some(shown - LINGER);
        *w.swept.lock().unwrap() = None;
        w.seen(RP, &meta("9"));
        assert_eq!(w.newer(RP, "shop", "web", None), None);
    }
}
