//! The watch caches of every kind this operator reads: what reconciles, the gate and the
//! console read instead of calling the API.

use std::sync::Arc;

use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource};

use super::changes::{Changes, Watched};
use super::feed::{Feed, follow};
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

/// One watch of every kind this operator reads, shared by whoever reads it: the controllers
/// subscribe to what each touches, the console and every reconcile read the caches.
pub struct Feeds {
    pub releases: Feed<DeserializeGuard<Release>>,
    pub policies: Feed<DeserializeGuard<GatePolicy>>,
    pub approvals: Feed<Approval>,
    pub waivers: Feed<Waiver>,
    pub passports: Feed<ReleasePassport>,
    pub connectors: Feed<Connector>,
    pub notifiers: Feed<Notifier>,
    /// The caches of the same watches.
    pub stores: Stores,
}

/// The work that keeps every [`Feeds`] watch going; it ends only if a watch stream does.
pub type Following = futures::future::BoxFuture<'static, ()>;

impl Feeds {
    /// The watches of one namespace (every namespace with `None`); Releases only those matching
    /// `release_selector`, when one is given.
    pub fn start(
        client: &Client,
        namespace: Option<&str>,
        release_selector: Option<&str>,
    ) -> (Self, Following) {
        let changes = Arc::new(Changes::default());
        let config = watcher::Config::default().any_semantic();
        let mut release_config = config.clone();
        if let Some(selector) = release_selector {
            release_config = release_config.labels(selector);
        }
        let (releases, r) = follow(
            api(client, namespace),
            release_config,
            &changes,
            Watched::Release,
        );
        let each = Each {
            client,
            namespace,
            config: &config,
            changes: &changes,
        };
        let (policies, p) = each.follow(Watched::Policy);
        let (approvals, a) = each.follow(Watched::Approval);
        let (waivers, w) = each.follow(Watched::Waiver);
        let (passports, rp) = each.follow(Watched::Passport);
        let (connectors, c) = each.follow(Watched::Connector);
        let (notifiers, n) = each.follow(Watched::Notifier);
        let stores = Stores::new(
            releases.store().clone(),
            policies.store().clone(),
            approvals.store().clone(),
            waivers.store().clone(),
            passports.store().clone(),
            connectors.store().clone(),
            notifiers.store().clone(),
            changes,
        );
        let following = async move {
            futures::join!(r, p, a, w, rp, c, n);
        };
        let feeds = Self {
            releases,
            policies,
            approvals,
            waivers,
            passports,
            connectors,
            notifiers,
            stores,
        };
        (feeds, Box::pin(following))
    }
}

/// What every kind's watch but the Releases' shares.
struct Each<'a> {
    client: &'a Client,
    namespace: Option<&'a str>,
    config: &'a watcher::Config,
    changes: &'a Arc<Changes>,
}

impl Each<'_> {
    fn follow<K>(&self, kind: Watched) -> (Feed<K>, impl Future<Output = ()> + Send + 'static)
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug
            + Send
            + Sync
            + 'static,
    {
        follow(
            api(self.client, self.namespace),
            self.config.clone(),
            self.changes,
            kind,
        )
    }
}

/// The watch caches reconciles read instead of calling the API.
#[derive(Clone)]
pub struct Stores {
    pub releases: Store<DeserializeGuard<Release>>,
    pub policies: Store<DeserializeGuard<GatePolicy>>,
    pub approvals: Store<Approval>,
    pub waivers: Store<Waiver>,
    pub passports: Store<ReleasePassport>,
    pub connectors: Store<Connector>,
    pub notifiers: Store<Notifier>,
    /// What the watches changed since the console last looked.
    pub changes: Arc<Changes>,
}

impl Stores {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        releases: Store<DeserializeGuard<Release>>,
        policies: Store<DeserializeGuard<GatePolicy>>,
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
        }
    }

    /// Waits until every cache has listed once, so no decision is made from a half-filled cache.
    pub async fn wait_ready(&self) {
        self.changes.listed(&Watched::ALL).await;
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
    pub fn valid_releases(&self, namespace: Option<&str>) -> Valid<Release> {
        Valid::of(&self.releases, namespace)
    }

    /// The policies that deserialise, in one namespace (or all with `None`).
    pub fn valid_policies(&self, namespace: Option<&str>) -> Valid<GatePolicy> {
        Valid::of(&self.policies, namespace)
    }
}

/// The objects of one cache snapshot that deserialise: shared with the cache, not copied (a
/// policy's status counts Releases on every Release change).
pub struct Valid<K>(Vec<Arc<DeserializeGuard<K>>>);

impl<K: Resource> Valid<K> {
    fn of(store: &Store<DeserializeGuard<K>>, namespace: Option<&str>) -> Self
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        Self(store.state_filter(|g| {
            g.0.as_ref()
                .is_ok_and(|o| namespace.is_none() || o.meta().namespace.as_deref() == namespace)
        }))
    }

    pub fn iter(&self) -> impl Iterator<Item = &K> {
        self.0.iter().filter_map(|g| g.0.as_ref().ok())
    }
}
