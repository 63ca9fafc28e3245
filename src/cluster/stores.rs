//! The watch caches of every kind this operator reads: what reconciles, the gate and the
//! console read instead of calling the API.

use std::sync::Arc;

use futures::StreamExt;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource};

use super::changes::{Changes, Watched, noted};
use super::watches::watch;
use crate::api::{Approval, Connector, GatePolicy, Notifier, Release, ReleasePassport, Waiver};

/// `Api` over one namespace, or every namespace with `None`.
pub fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Reflector caches of every kind, kept up to date in the background (for a console that
/// watches without deciding).
pub fn watch_stores(client: Client, ns: Option<&str>) -> Stores {
    fn cache<K>(
        client: &Client,
        ns: Option<&str>,
        changes: &Arc<Changes>,
        kind: Watched,
    ) -> reflector::Store<K>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let (store, writer) = reflector::store();
        let stream = noted(
            reflector::reflector(
                writer,
                watch(api(client, ns), watcher::Config::default().any_semantic()),
            ),
            Arc::clone(changes),
            kind,
        )
        .for_each(|_| async {});
        tokio::spawn(stream);
        store
    }
    let changes = Arc::new(Changes::default());
    Stores::new(
        cache(&client, ns, &changes, Watched::Release),
        cache(&client, ns, &changes, Watched::Policy),
        cache(&client, ns, &changes, Watched::Approval),
        cache(&client, ns, &changes, Watched::Waiver),
        cache(&client, ns, &changes, Watched::Passport),
        cache(&client, ns, &changes, Watched::Connector),
        cache(&client, ns, &changes, Watched::Notifier),
        changes,
    )
}

/// The watch caches reconciles read instead of calling the API.
#[derive(Clone)]
pub struct Stores {
    pub releases: Store<DeserializeGuard<Release>>,
    pub policies: Store<GatePolicy>,
    pub approvals: Store<Approval>,
    pub waivers: Store<Waiver>,
    pub passports: Store<ReleasePassport>,
    pub connectors: Store<Connector>,
    pub notifiers: Store<Notifier>,
    /// What the watches changed since the console last looked.
    pub changes: Arc<Changes>,
    /// Set once every watched cache has listed. One task waits on the stores; every reconcile
    /// waits on this: a store's own readiness signal wakes only the last of several concurrent
    /// waiters (kube-runtime's DelayedInit keeps one waker), so nothing else may wait on it.
    synced: Arc<tokio::sync::OnceCell<()>>,
}

impl Stores {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        releases: Store<DeserializeGuard<Release>>,
        policies: Store<GatePolicy>,
        approvals: Store<Approval>,
        waivers: Store<Waiver>,
        passports: Store<ReleasePassport>,
        connectors: Store<Connector>,
        notifiers: Store<Notifier>,
        changes: Arc<Changes>,
    ) -> Self {
        Self {
            releases,
            policies,
            approvals,
            waivers,
            passports,
            connectors,
            notifiers,
            changes,
            synced: Arc::default(),
        }
    }

    /// Waits until every cache has listed once, so no decision is made from a half-filled cache.
    /// The Release cache is not awaited here: the controller's runner already waits for it before
    /// the first reconcile, and a second waiter could starve the first.
    pub async fn wait_ready(&self) {
        self.synced
            .get_or_init(|| async {
                let _ = self.policies.wait_until_ready().await;
                let _ = self.approvals.wait_until_ready().await;
                let _ = self.waivers.wait_until_ready().await;
                let _ = self.passports.wait_until_ready().await;
                let _ = self.connectors.wait_until_ready().await;
                let _ = self.notifiers.wait_until_ready().await;
            })
            .await;
    }

    pub fn passport(&self, namespace: &str, name: &str) -> Option<Arc<ReleasePassport>> {
        self.passports.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn release(&self, namespace: &str, name: &str) -> Option<Release> {
        self.releases
            .get(&ObjectRef::new(name).within(namespace))
            .and_then(|g| g.0.as_ref().ok().cloned())
    }

    /// The releases that deserialise, in one namespace (or all with `None`).
    pub fn valid_releases(&self, namespace: Option<&str>) -> ValidReleases {
        ValidReleases(
            self.releases
                .state()
                .into_iter()
                .filter(|g| {
                    g.0.as_ref().is_ok_and(|r| {
                        namespace.is_none() || r.metadata.namespace.as_deref() == namespace
                    })
                })
                .collect(),
        )
    }
}

/// The Releases of one cache snapshot that deserialise: shared with the cache, not copied (a
/// policy's status counts them on every Release change).
pub struct ValidReleases(Vec<Arc<DeserializeGuard<Release>>>);

impl ValidReleases {
    pub fn iter(&self) -> impl Iterator<Item = &Release> {
        self.0.iter().filter_map(|g| g.0.as_ref().ok())
    }
}
