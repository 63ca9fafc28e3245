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

    /// Remembers the object a status write returned.
    pub fn record(&self, resource: &'static str, ns: &str, name: &str, object: Value) {
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
}
