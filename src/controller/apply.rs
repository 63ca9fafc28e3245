//! The last step of the Release pipeline (client required): write what differs, by server-side
//! apply under one field manager, forced. An unchanged world writes nothing.

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::api::release::ReleaseStatus;
use crate::api::{API_VERSION, FIELD_MANAGER, Release, ReleasePassport, namespace_of};

use super::context::Context;
use super::error::{Error, Write};

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn to_value<T: serde::Serialize>(what: &'static str, v: &T) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|source| Error::Serialize { what, source })
}

/// Applies `status` to `name`'s status subresource (server-side apply, our field manager,
/// forced) and counts the write, unless it would repeat our last write to an object whose
/// cached copy (at resourceVersion `seen`) is older than that write. Every status this
/// controller writes goes through here. Returns the number of writes made.
pub async fn apply_status<K>(
    ctx: &Context,
    api: &Api<K>,
    (name, seen): (&str, Option<&str>),
    write: Write,
    status: Value,
) -> Result<u32, Error>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let ns = api.namespace().unwrap_or_default();
    let resource = write.resource();
    if ctx
        .written
        .newer(resource, ns, name, seen)
        .is_some_and(|ours| without_notifications(&ours["status"]) == status)
    {
        return Ok(0);
    }
    let body = status_patch(write, status);
    let written = api
        .patch_status(name, &params(), &Patch::Apply(body))
        .await
        .map_err(|source| Error::Write { write, source })?;
    ctx.metrics.wrote(resource);
    if let Ok(object) = serde_json::to_value(&written) {
        ctx.written.record(resource, ns, name, object);
    }
    Ok(1)
}

/// A written status as the decisions own it (Notifiers' records are another manager's).
fn without_notifications(status: &Value) -> Value {
    let mut status = status.clone();
    if let Some(fields) = status.as_object_mut() {
        fields.remove("notifications");
    }
    status
}

/// The apply body for a status write: only the status, under this controller's field manager.
pub fn status_patch(write: Write, status: Value) -> Value {
    json!({"apiVersion": API_VERSION, "kind": write.kind(), "status": status})
}

/// Whether the passport object itself (not its status) must be written.
pub fn object_differs(current: Option<&ReleasePassport>, desired: &ReleasePassport) -> bool {
    match current {
        None => true,
        Some(c) => {
            c.spec != desired.spec
                || c.metadata.owner_references != desired.metadata.owner_references
                || desired
                    .metadata
                    .labels
                    .iter()
                    .flatten()
                    .any(|(k, v)| c.metadata.labels.as_ref().and_then(|l| l.get(k)) != Some(v))
        }
    }
}

/// The apply body for the passport object: what this controller owns, nothing else.
pub fn object_patch(desired: &ReleasePassport) -> Result<Value, Error> {
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": "ReleasePassport",
        "metadata": {
            "name": desired.metadata.name,
            "namespace": desired.metadata.namespace,
            "labels": desired.metadata.labels,
            "ownerReferences": desired.metadata.owner_references,
        },
        "spec": to_value("passport spec", &desired.spec)?,
    }))
}

/// Writes the passport object where it differs from `current` (creating it if needed).
/// Returns the number of writes made.
pub async fn passport_object(
    ctx: &Context,
    current: Option<&ReleasePassport>,
    desired: &ReleasePassport,
) -> Result<u32, Error> {
    if !object_differs(current, desired) {
        return Ok(0);
    }
    let (ns, name) = names(desired);
    let api: Api<ReleasePassport> = Api::namespaced(ctx.client.clone(), ns);
    api.patch(name, &params(), &Patch::Apply(object_patch(desired)?))
        .await
        .map_err(|source| Error::Write {
            write: Write::PassportObject,
            source,
        })?;
    ctx.metrics.wrote(Write::PassportObject.resource());
    Ok(1)
}

/// Writes the passport status where it differs from `current`. Returns the number of writes.
pub async fn passport_status(
    ctx: &Context,
    current: Option<&ReleasePassport>,
    desired: &ReleasePassport,
) -> Result<u32, Error> {
    // What Notifiers recorded is theirs (another field manager): never a reason to write.
    let decided = current
        .and_then(|c| c.status.as_ref())
        .map(|s| s.decided_part());
    if decided.as_deref() == desired.status.as_ref() {
        return Ok(0);
    }
    let (ns, name) = names(desired);
    let api: Api<ReleasePassport> = Api::namespaced(ctx.client.clone(), ns);
    let status = to_value("passport status", &desired.status)?;
    let seen = current.and_then(|c| c.metadata.resource_version.as_deref());
    apply_status(ctx, &api, (name, seen), Write::PassportStatus, status).await
}

fn names(p: &ReleasePassport) -> (&str, &str) {
    (
        namespace_of(&p.metadata),
        p.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// The Release status mirrors the passport's decision and conditions.
pub fn release_status(release: &Release, passport: &ReleasePassport) -> ReleaseStatus {
    let status = passport.status.clone().unwrap_or_default();
    ReleaseStatus {
        decision: status.decision,
        passport: passport.metadata.name.clone(),
        started_at: status.started_at,
        observed_generation: release.metadata.generation,
        conditions: status.conditions,
    }
}

/// Writes the Release status when it differs. Returns the number of writes made.
pub async fn release(
    ctx: &Context,
    release: &Release,
    desired: &ReleaseStatus,
) -> Result<u32, Error> {
    if release.status.as_ref() == Some(desired) {
        return Ok(0);
    }
    let ns = namespace_of(&release.metadata);
    let name = release.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Release> = Api::namespaced(ctx.client.clone(), ns);
    let status = to_value("release status", desired)?;
    let seen = release.metadata.resource_version.as_deref();
    apply_status(ctx, &api, (name, seen), Write::ReleaseStatus, status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passport() -> ReleasePassport {
        serde_json::from_value(json!({
            "apiVersion": API_VERSION, "kind": "ReleasePassport",
            "metadata": {
                "name": "web-1", "namespace": "shop", "resourceVersion": "41",
                "labels": {"releasepassport.io/service": "web", "releasepassport.io/environment": "prod"},
                "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Release", "name": "web-1",
                                     "uid": "u-1", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": [{"manager": "someone-else"}]
            },
            "spec": {"releaseRef": {"name": "web-1"}, "service": "web", "version": "1.2.3", "environment": "prod"},
            "status": {"decision": "Hold", "reasons": ["p/r: waiting"]}
        }))
        .unwrap()
    }

    /// Exactly what the controller sends for the passport object: name, namespace, our labels,
    /// the owner reference and the spec — no status, resourceVersion or managed fields, so a
    /// forced apply takes nothing another manager owns.
    #[test]
    fn the_object_apply_body_is_exactly_ours() {
        assert_eq!(
            object_patch(&passport()).unwrap(),
            json!({
                "apiVersion": API_VERSION,
                "kind": "ReleasePassport",
                "metadata": {
                    "name": "web-1",
                    "namespace": "shop",
                    "labels": {"releasepassport.io/environment": "prod", "releasepassport.io/service": "web"},
                    "ownerReferences": [{"apiVersion": API_VERSION, "kind": "Release", "name": "web-1",
                                         "uid": "u-1", "controller": true, "blockOwnerDeletion": true}]
                },
                "spec": {"releaseRef": {"name": "web-1"}, "service": "web", "version": "1.2.3", "environment": "prod"}
            })
        );
    }

    /// A status write carries the status and the type, nothing else.
    #[test]
    fn status_apply_bodies_carry_only_the_status() {
        let status = json!({"decision": "Hold"});
        assert_eq!(
            status_patch(Write::PassportStatus, status.clone()),
            json!({"apiVersion": API_VERSION, "kind": "ReleasePassport", "status": status})
        );
        let mirror = release_status(
            &serde_json::from_value(json!({
                "apiVersion": API_VERSION, "kind": "Release",
                "metadata": {"name": "web-1", "namespace": "shop", "generation": 3},
                "spec": {"service": "web", "version": "1.2.3", "environment": "prod"}
            }))
            .unwrap(),
            &passport(),
        );
        assert_eq!(
            status_patch(Write::ReleaseStatus, serde_json::to_value(&mirror).unwrap()),
            json!({"apiVersion": API_VERSION, "kind": "Release", "status": {
                "decision": "Hold", "passport": "web-1", "observedGeneration": 3
            }})
        );
    }
}
