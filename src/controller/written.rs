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

use serde_json::Value;

/// Which object: (resource, namespace, name).
type Key = (&'static str, String, String);

/// More entries than this means objects were deleted while their entries waited: start over
/// (an entry only ever saves a write).
const MOST: usize = 10_000;

#[derive(Default)]
pub struct Written {
    entries: Mutex<HashMap<Key, (u64, Value)>>,
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
        let (written_at, object) = entries.get(&key)?;
        let older = match seen {
            None => true,
            Some(rv) => revision(Some(rv)).is_some_and(|seen| seen < *written_at),
        };
        if older {
            Some(object.clone())
        } else {
            entries.remove(&key);
            None
        }
    }

    /// Forgets our write to `resource` of the object the watch now shows at `meta`'s
    /// resourceVersion, if that is not older than the write: the cache holds it, and the entry
    /// would only take memory until the next reconcile of the object (which may never come).
    pub fn seen(&self, resource: &'static str, meta: &kube::api::ObjectMeta) {
        let (Some(ns), Some(name), Some(rv)) = (
            meta.namespace.as_deref(),
            meta.name.as_deref(),
            revision(meta.resource_version.as_deref()),
        ) else {
            return;
        };
        if let Ok(mut entries) = self.entries.lock() {
            let key = (resource, ns.to_string(), name.to_string());
            if entries.get(&key).is_some_and(|(at, _)| *at <= rv) {
                entries.remove(&key);
            }
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
        entries.insert((resource, ns.to_string(), name.to_string()), (at, object));
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
        // An older version on the watch (the object's own write) keeps our entry.
        w.seen(RP, &meta("8"));
        assert!(w.newer(RP, "shop", "web", None).is_some());
        w.seen(RP, &meta("9"));
        assert_eq!(w.newer(RP, "shop", "web", None), None);
    }
}
