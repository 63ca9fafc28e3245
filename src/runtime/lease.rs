//! The leader Lease (`coordination.k8s.io/v1`) as client-go's leader election keeps it: taken
//! when absent, free or expired, renewed by its holder, released on the way out. Every write
//! carries the `resourceVersion` it was decided on, so two replicas racing for an expired Lease
//! cannot both win: the loser's write is refused (409) and it stays a standby.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// Why the Lease could not be read or written (a conflict is no error: someone else holds it).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("reading Lease {namespace}/{name}: {source}")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing Lease {namespace}/{name}: {source}")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Who holds the Lease after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    Us,
    Another,
}

pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    ttl: Duration,
}

impl LeaseLock {
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, ttl: Duration) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            ttl,
        }
    }

    /// Creates the Lease, renews it if ours, takes it over if free or expired.
    pub async fn try_acquire_or_renew(&self) -> Result<Holder, LeaseError> {
        let now = Timestamp::now();
        let Some(lease) = self.current().await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.held_since(now, now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Holder::Us),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Holder::Another),
                Err(e) => Err(self.write(e)),
            };
        };
        let spec = lease.spec.unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours && !free(&spec, now) {
            return Ok(Holder::Another);
        }
        let (acquired, transitions) = match (&spec.acquire_time, ours) {
            (Some(MicroTime(at)), true) => (*at, spec.lease_transitions.unwrap_or(0)),
            (None, true) => (now, spec.lease_transitions.unwrap_or(0)),
            (_, false) => (now, spec.lease_transitions.unwrap_or(0) + 1),
        };
        let spec = self.held_since(acquired, now, transitions);
        let patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": spec,
        });
        self.patch(&patch).await
    }

    /// Releases the Lease if this replica holds it, so a standby need not wait out the TTL.
    pub async fn step_down(&self) -> Result<(), LeaseError> {
        let Some(lease) = self.current().await? else {
            return Ok(());
        };
        let spec = lease.spec.unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": {"holderIdentity": null, "leaseDurationSeconds": 1},
        });
        self.patch(&patch).await.map(|_| ())
    }

    async fn patch(&self, patch: &serde_json::Value) -> Result<Holder, LeaseError> {
        match self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => Ok(Holder::Us),
            // Changed since it was read: another replica renewed or took it first.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Holder::Another),
            Err(e) => Err(self.write(e)),
        }
    }

    fn held_since(&self, acquired: Timestamp, now: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.ttl.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    async fn current(&self) -> Result<Option<Lease>, LeaseError> {
        self.api.get_opt(&self.name).await.map_err(|e| self.read(e))
    }

    fn read(&self, source: kube::Error) -> LeaseError {
        LeaseError::Read {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }

    fn write(&self, source: kube::Error) -> LeaseError {
        LeaseError::Write {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        }
    }
}

/// No holder, or one whose last renewal is older than the duration it promised.
fn free(spec: &LeaseSpec, now: Timestamp) -> bool {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    let (Some(MicroTime(renewed)), Some(seconds)) = (&spec.renew_time, spec.lease_duration_seconds)
    else {
        return true;
    };
    holder.is_empty()
        || renewed
            .checked_add(SignedDuration::from_secs(i64::from(seconds)))
            .is_ok_and(|expiry| expiry < now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed_ago: i64, seconds: i32) -> LeaseSpec {
        let now = Timestamp::now();
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            renew_time: Some(MicroTime(
                now.checked_sub(SignedDuration::from_secs(renewed_ago))
                    .unwrap(),
            )),
            lease_duration_seconds: Some(seconds),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_lease_is_free_without_a_holder_or_once_its_duration_has_passed() {
        let now = Timestamp::now();
        assert!(free(&spec(None, 0, 15), now));
        assert!(free(&spec(Some(""), 0, 15), now));
        assert!(!free(&spec(Some("a"), 5, 15), now));
        assert!(free(&spec(Some("a"), 16, 15), now));
        assert!(free(&LeaseSpec::default(), now));
    }
}
