//! An in-memory Kubernetes API behind a real `kube::Client`: the REST paths, verbs, status codes
//! and `Status` bodies the API server uses, for the reconcile tests and the controller benchmark
//! (fast, and every write counted exactly). What it keeps of the server's semantics:
//! - create sets uid, resourceVersion, generation 1 and creationTimestamp (seeded objects keep
//!   what they name) from the server's clock — the wall clock, or the test's own
//!   ([`FakeApi::with_clock`]), as a real server and its controller share one time; a taken name
//!   is 409;
//! - a write naming a stale `metadata.resourceVersion` is 409 Conflict;
//! - writes to the object never touch `status`; writes to `/status` touch only `status`;
//! - a change of `spec` bumps `generation`;
//! - merge patches follow RFC 7386; a server-side apply (one field manager per field here)
//!   replaces the top-level fields it names and merges labels and annotations — what SSA does
//!   when a single manager owns what it applies; apply creates a missing object;
//! - lists honour `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `k`, `!k`).
//!
//! No watch: tests refill caches from lists (`World::sync`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One request as the hook sees it.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: http::Method,
    /// `deployments`, `releasepassports`, …
    pub resource: String,
    pub subresource: Option<String>,
    pub name: Option<String>,
}

/// Refuses a call before it is served: the status code and message of the `Status` returned.
pub type Hook = dyn Fn(&Call) -> Option<(u16, String)> + Send + Sync;

/// `(collection path without namespace, namespace, name)`, e.g.
/// `("/apis/apps/v1/deployments", "shop", "checkout")`.
type Key = (String, String, String);

/// The server's clock.
type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    version: u64,
    clock: Option<Clock>,
}

impl State {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.as_ref().map_or_else(chrono::Utc::now, |c| c())
    }
}

#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    hook: Arc<Mutex<Option<Arc<Hook>>>>,
}

impl FakeApi {
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            hook: Arc::default(),
        }
    }

    /// Stamps new objects with `clock`'s time instead of the wall clock's.
    pub fn with_clock(
        self,
        clock: impl Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync + 'static,
    ) -> Self {
        self.state.lock().unwrap().clock = Some(Arc::new(clock));
        self
    }

    /// Stores objects as they are, status included (as if written earlier by their controllers).
    pub fn with_objects<K>(self, objects: impl IntoIterator<Item = K>) -> Self
    where
        K: kube::Resource<DynamicType = ()> + Serialize,
    {
        {
            let mut state = self.state.lock().unwrap();
            for object in objects {
                let mut value = serde_json::to_value(&object).unwrap();
                let meta = object.meta();
                let namespace = meta.namespace.clone().unwrap_or_default();
                let name = meta.name.clone().expect("a seeded object has a name");
                value["apiVersion"] = K::api_version(&()).into();
                value["kind"] = K::kind(&()).into();
                state.version += 1;
                let now = state.now();
                stamp_new(&mut value, state.version, now);
                state
                    .objects
                    .insert((K::url_path(&(), None), namespace, name), value);
            }
        }
        self
    }

    pub fn on_request(
        self,
        hook: impl Fn(&Call) -> Option<(u16, String)> + Send + Sync + 'static,
    ) -> Self {
        *self.hook.lock().unwrap() = Some(Arc::new(hook));
        self
    }

    pub fn client(&self) -> Client {
        let api = self.clone();
        let service = tower::service_fn(move |request: http::Request<Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.serve(request).await) }
        });
        Client::new(service, "default")
    }

    async fn serve(&self, request: http::Request<Body>) -> http::Response<Body> {
        let (parts, body) = request.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let Some(target) = Target::parse(parts.uri.path()) else {
            return status(404, "NotFound", &format!("no route {}", parts.uri.path()));
        };
        let call = Call {
            method: parts.method.clone(),
            resource: target.resource.clone(),
            subresource: target.subresource.clone(),
            name: target.name.clone(),
        };
        let hook = self.hook.lock().unwrap().clone();
        if let Some((code, message)) = hook.and_then(|h| h(&call)) {
            return status(code, reason_of(code), &message);
        }
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return status(400, "BadRequest", &e.to_string()),
            }
        };
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let query = parts.uri.query().unwrap_or_default();
        let mut state = self.state.lock().unwrap();
        match (parts.method, target.name.is_some()) {
            (http::Method::GET, false) => state.list(&target, query),
            (http::Method::GET, true) => state.get(&target),
            (http::Method::POST, false) => state.create(&target, body),
            (http::Method::PUT, true) => state.replace(&target, body),
            (http::Method::PATCH, true) => state.patch(&target, body, &content_type),
            (http::Method::DELETE, true) => state.delete(&target),
            (method, _) => status(
                405,
                "MethodNotAllowed",
                &format!("{method} {}", target.collection),
            ),
        }
    }
}

/// Where a request points.
struct Target {
    /// The collection without namespace: `/apis/{group}/{version}/{resource}`.
    collection: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn parse(path: &str) -> Option<Self> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (prefix, rest) = match *parts.first()? {
            "api" => (parts.get(..2)?.join("/"), parts.get(2..)?),
            "apis" => (parts.get(..3)?.join("/"), parts.get(3..)?),
            _ => return None,
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_string()), rest),
            _ => (None, rest),
        };
        let (resource, rest) = rest.split_first()?;
        Some(Self {
            collection: format!("/{prefix}/{resource}"),
            resource: (*resource).to_string(),
            namespace,
            name: rest.first().map(|n| (*n).to_string()),
            subresource: rest.get(1).map(|s| (*s).to_string()),
        })
    }

    fn key(&self) -> Key {
        (
            self.collection.clone(),
            self.namespace.clone().unwrap_or_default(),
            self.name.clone().unwrap_or_default(),
        )
    }
}

impl State {
    fn list(&self, target: &Target, query: &str) -> http::Response<Body> {
        let selector = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "labelSelector")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((collection, ns, _), _)| {
                *collection == target.collection
                    && target.namespace.as_ref().is_none_or(|want| want == ns)
            })
            .map(|(_, v)| v)
            .filter(|v| selects(&selector, &v["metadata"]["labels"]))
            .cloned()
            .collect();
        let kind = items
            .first()
            .and_then(|i| i["kind"].as_str())
            .map_or("List".to_string(), |k| format!("{k}List"));
        let api_version = items
            .first()
            .map_or(json!("v1"), |i| i["apiVersion"].clone());
        ok(&json!({
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"resourceVersion": self.version.to_string()},
            "items": items,
        }))
    }

    fn get(&self, target: &Target) -> http::Response<Body> {
        match self.objects.get(&target.key()) {
            Some(object) => ok(object),
            None => not_found(target),
        }
    }

    fn create(&mut self, target: &Target, mut object: Value) -> http::Response<Body> {
        let meta = &mut object["metadata"];
        if meta["name"].as_str().is_none() {
            let Some(prefix) = meta["generateName"].as_str() else {
                return status(422, "Invalid", "metadata.name: Required value");
            };
            meta["name"] = format!("{prefix}{:05}", self.version + 1).into();
        }
        if let Some(ns) = &target.namespace {
            meta["namespace"] = ns.clone().into();
        }
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let key = (
            target.collection.clone(),
            target.namespace.clone().unwrap_or_default(),
            name,
        );
        if self.objects.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                &format!("{} \"{}\" already exists", target.resource, key.2),
            );
        }
        // The server's to set, whatever the client sent.
        for owned in ["uid", "generation", "creationTimestamp", "resourceVersion"] {
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove(owned);
            }
        }
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
        self.version += 1;
        let now = self.now();
        stamp_new(&mut object, self.version, now);
        self.objects.insert(key, object.clone());
        respond(201, &object)
    }

    fn replace(&mut self, target: &Target, mut object: Value) -> http::Response<Body> {
        let Some(current) = self.objects.get(&target.key()) else {
            return not_found(target);
        };
        if let Some(refusal) = stale(current, &object) {
            return refusal;
        }
        let on_status = target.subresource.as_deref() == Some("status");
        let mut next = current.clone();
        if on_status {
            next["status"] = object["status"].take();
        } else {
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
                for (k, v) in std::mem::take(map) {
                    next[k] = v;
                }
            }
        }
        self.store(target, current.clone(), next)
    }

    fn patch(&mut self, target: &Target, patch: Value, content_type: &str) -> http::Response<Body> {
        let apply = content_type.starts_with("application/apply-patch");
        let merge = content_type.starts_with("application/merge-patch")
            || content_type.starts_with("application/strategic-merge-patch");
        if !apply && !merge {
            return status(415, "UnsupportedMediaType", content_type);
        }
        let on_status = target.subresource.as_deref() == Some("status");
        let Some(current) = self.objects.get(&target.key()).cloned() else {
            if apply && !on_status {
                return self.create(target, patch);
            }
            return not_found(target);
        };
        if let Some(refusal) = stale(&current, &patch) {
            return refusal;
        }
        let mut next = current.clone();
        let Value::Object(fields) = patch else {
            return status(400, "BadRequest", "a patch is an object");
        };
        for (field, value) in fields {
            match field.as_str() {
                "apiVersion" | "kind" => {}
                "status" if !on_status => {}
                _ if on_status && field != "status" => {}
                "metadata" if apply => apply_metadata(&mut next["metadata"], value),
                _ if apply => next[field.as_str()] = value,
                _ => merge_into(&mut next[field.as_str()], value),
            }
        }
        self.store(target, current, next)
    }

    fn delete(&mut self, target: &Target) -> http::Response<Body> {
        match self.objects.remove(&target.key()) {
            Some(object) => ok(&object),
            None => not_found(target),
        }
    }

    /// Keeps the server-owned metadata, bumps resourceVersion (and generation on a new spec).
    fn store(&mut self, target: &Target, current: Value, mut next: Value) -> http::Response<Body> {
        for owned in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "generation",
        ] {
            next["metadata"][owned] = current["metadata"][owned].clone();
        }
        if next["spec"] != current["spec"] {
            let generation = current["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            next["metadata"]["generation"] = generation.into();
        }
        self.version += 1;
        next["metadata"]["resourceVersion"] = self.version.to_string().into();
        self.objects.insert(target.key(), next.clone());
        ok(&next)
    }
}

fn stamp_new(object: &mut Value, version: u64, now: chrono::DateTime<chrono::Utc>) {
    let meta = &mut object["metadata"];
    if meta["uid"].is_null() {
        meta["uid"] = format!("00000000-0000-4000-8000-{version:012}").into();
    }
    meta["resourceVersion"] = version.to_string().into();
    if meta["generation"].is_null() {
        meta["generation"] = 1.into();
    }
    if meta["creationTimestamp"].is_null() {
        meta["creationTimestamp"] = now
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .into();
    }
}

/// 409 when the write names a resourceVersion the object has moved past.
fn stale(current: &Value, write: &Value) -> Option<http::Response<Body>> {
    let named = write["metadata"]["resourceVersion"].as_str()?;
    (named != current["metadata"]["resourceVersion"]).then(|| {
        status(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    })
}

fn apply_metadata(current: &mut Value, applied: Value) {
    let Value::Object(fields) = applied else {
        return;
    };
    for (field, value) in fields {
        match field.as_str() {
            "labels" | "annotations" => merge_into(&mut current[field.as_str()], value),
            "resourceVersion" | "managedFields" => {}
            _ => current[field.as_str()] = value,
        }
    }
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge_into(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else { return };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            merge_into(map.entry(key).or_insert(Value::Null), value);
        }
    }
}

/// Whether `labels` satisfy a label selector as `kubectl -l` writes it.
fn selects(selector: &str, labels: &Value) -> bool {
    let label = |k: &str| labels[k.trim()].as_str();
    split_terms(selector).iter().all(|term| {
        let term = term.trim();
        if term.is_empty() {
            return true;
        }
        if let Some((key, values)) = term.split_once(" notin ") {
            return !set(values).contains(&label(key).unwrap_or("\u{0}"));
        }
        if let Some((key, values)) = term.split_once(" in ") {
            return label(key).is_some_and(|v| set(values).contains(&v));
        }
        if let Some((key, value)) = term.split_once("!=") {
            return label(key) != Some(value.trim());
        }
        if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return label(key) == Some(value.trim());
        }
        match term.strip_prefix('!') {
            Some(key) => label(key).is_none(),
            None => label(term).is_some(),
        }
    })
}

/// Splits on the commas between terms, not those inside `in (a,b)`.
fn split_terms(selector: &str) -> Vec<&str> {
    let (mut terms, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

fn set(values: &str) -> Vec<&str> {
    values
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .collect()
}

fn reason_of(code: u16) -> &'static str {
    match code {
        404 => "NotFound",
        409 => "Conflict",
        422 => "Invalid",
        429 => "TooManyRequests",
        _ => "InternalError",
    }
}

fn not_found(target: &Target) -> http::Response<Body> {
    let name = target.name.as_deref().unwrap_or_default();
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", target.resource),
    )
}

fn ok(value: &Value) -> http::Response<Body> {
    respond(200, value)
}

fn status(code: u16, reason: &str, message: &str) -> http::Response<Body> {
    respond(
        code,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code,
        }),
    )
}

fn respond(code: u16, value: &Value) -> http::Response<Body> {
    http::Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(value).unwrap()))
        .unwrap()
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports)] // a bench that includes this file runs no #[test]
    use super::*;

    #[test]
    fn selectors_match_as_kubectl_does() {
        let labels = json!({"app": "web", "tier": "front"});
        for (selector, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app=db", false),
            ("app!=db", true),
            ("app in (web, db)", true),
            ("app notin (web,db)", false),
            ("tier", true),
            ("!tier", false),
            ("!zone", true),
            ("zone notin (a)", true),
        ] {
            assert_eq!(selects(selector, &labels), want, "{selector}");
        }
    }

    #[test]
    fn paths_name_their_collection_namespace_and_subresource() {
        let t = Target::parse(
            "/apis/releasepassport.io/v1alpha1/namespaces/shop/releasepassports/web/status",
        )
        .unwrap();
        assert_eq!(
            t.collection,
            "/apis/releasepassport.io/v1alpha1/releasepassports"
        );
        assert_eq!(
            (
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            (Some("shop"), Some("web"), Some("status"))
        );
        let all = Target::parse("/api/v1/pods").unwrap();
        assert_eq!(
            (all.collection.as_str(), all.namespace, all.name),
            ("/api/v1/pods", None, None)
        );
        let namespace = Target::parse("/api/v1/namespaces/shop").unwrap();
        assert_eq!(
            (namespace.resource.as_str(), namespace.name.as_deref()),
            ("namespaces", Some("shop"))
        );
    }
}
