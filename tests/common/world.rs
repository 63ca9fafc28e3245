//! An in-memory Kubernetes API (`fake_api`) with the controller's caches and context on
//! top: shared by the reconcile tests and the controller benchmark.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::{Client, Resource};
use release_passport::api::{
    Approval, Connector, GatePolicy, Notifier, Release, ReleasePassport, Waiver,
};
use release_passport::cluster::Stores;
use release_passport::cluster::changes::Watched;
use release_passport::controller::context::Context;
use release_passport::controller::release;
use release_passport::evidence::{EvidenceSource, manual::ManualEvidence};
use release_passport::metrics::Metrics;
use serde::de::DeserializeOwned;

use super::fake_api::FakeApi;

pub const T0: &str = "2026-11-25T14:00:00Z";

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Counts every write request the controller makes.
#[derive(Clone, Default)]
pub struct Writes {
    pub count: Arc<AtomicUsize>,
    pub conflicts_left: Arc<AtomicUsize>,
}

impl Writes {
    pub fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

pub struct World {
    pub client: Client,
    pub ctx: Arc<Context>,
    writers: Mutex<Writers>,
    now: Arc<Mutex<DateTime<Utc>>>,
    pub writes: Writes,
}

struct Writers {
    releases: Writer<DeserializeGuard<Release>>,
    policies: Writer<DeserializeGuard<GatePolicy>>,
    approvals: Writer<Approval>,
    waivers: Writer<Waiver>,
    passports: Writer<ReleasePassport>,
    connectors: Writer<Connector>,
    notifiers: Writer<Notifier>,
}

async fn refill<K>(client: &Client, writer: &mut Writer<K>)
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let items = Api::<K>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    writer.apply_watcher_event(&watcher::Event::Init);
    for item in items {
        writer.apply_watcher_event(&watcher::Event::InitApply(item));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
}

impl World {
    pub async fn new(releases: Vec<Release>, policies: Vec<GatePolicy>) -> Self {
        let writes = Writes::default();
        let counted = writes.clone();
        let now = Arc::new(Mutex::new(t(T0)));
        let server_now = Arc::clone(&now);
        let client = FakeApi::new()
            .with_clock(move || *server_now.lock().unwrap())
            .with_objects(releases)
            .with_objects(policies)
            .on_request(move |call| {
                use http::Method;
                if ![Method::POST, Method::PATCH].contains(&call.method) {
                    return None;
                }
                counted.count.fetch_add(1, Ordering::SeqCst);
                let status_patch =
                    call.method == Method::PATCH && call.subresource.as_deref() == Some("status");
                if status_patch
                    && counted
                        .conflicts_left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    return Some((409, "the object has been modified".into()));
                }
                None
            })
            .client();
        let (releases_r, releases_w) = reflector::store();
        let (policies_r, policies_w) = reflector::store();
        let (approvals_r, approvals_w) = reflector::store();
        let (waivers_r, waivers_w) = reflector::store();
        let (passports_r, passports_w) = reflector::store();
        let (connectors_r, connectors_w) = reflector::store();
        let (notifiers_r, notifiers_w) = reflector::store();
        let stores = Stores::new(
            releases_r,
            policies_r,
            approvals_r,
            waivers_r,
            passports_r,
            connectors_r,
            notifiers_r,
            Arc::default(),
        );
        let clock_now = Arc::clone(&now);
        let sources: Vec<Box<dyn EvidenceSource>> = vec![Box::new(ManualEvidence)];
        let ctx = Arc::new(Context::new(
            client.clone(),
            stores,
            sources,
            Arc::new(Metrics::new()),
            Arc::new(move || *clock_now.lock().unwrap()),
        ));
        let world = World {
            client,
            ctx,
            writers: Mutex::new(Writers {
                releases: releases_w,
                policies: policies_w,
                approvals: approvals_w,
                waivers: waivers_w,
                passports: passports_w,
                connectors: connectors_w,
                notifiers: notifiers_w,
            }),
            now,
            writes,
        };
        world.sync().await;
        world
    }

    /// Refills the caches from the API, as the watches would.
    pub async fn sync(&self) {
        let mut w = std::mem::replace(
            &mut *self.writers.lock().unwrap(),
            Writers {
                releases: Writer::default(),
                policies: Writer::default(),
                approvals: Writer::default(),
                waivers: Writer::default(),
                passports: Writer::default(),
                connectors: Writer::default(),
                notifiers: Writer::default(),
            },
        );
        refill(&self.client, &mut w.releases).await;
        refill(&self.client, &mut w.policies).await;
        refill(&self.client, &mut w.approvals).await;
        refill(&self.client, &mut w.waivers).await;
        refill(&self.client, &mut w.passports).await;
        refill(&self.client, &mut w.connectors).await;
        refill(&self.client, &mut w.notifiers).await;
        *self.writers.lock().unwrap() = w;
        for kind in Watched::ALL {
            self.ctx.stores.changes.relisted(kind);
        }
    }

    pub fn set_now(&self, at: &str) {
        *self.now.lock().unwrap() = t(at);
    }

    pub fn release(&self, name: &str) -> Release {
        self.ctx.stores.release("shop", name).unwrap()
    }

    /// One reconcile of `name` through the controller's entry point, then a cache refresh.
    pub async fn reconcile(&self, name: &str) -> Result<release::Outcome, String> {
        let release = self.release(name);
        let out = release::reconcile_release(&release, &self.ctx)
            .await
            .map_err(|e| e.category().to_string());
        self.sync().await;
        out
    }

    pub async fn passport(&self, name: &str) -> Option<ReleasePassport> {
        Api::<ReleasePassport>::namespaced(self.client.clone(), "shop")
            .get_opt(name)
            .await
            .unwrap()
    }

    pub async fn events(&self) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), "shop")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    pub async fn apply<K>(&self, obj: &K)
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + serde::Serialize
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api = Api::<K>::namespaced(self.client.clone(), "shop");
        let name = obj.meta().name.clone().unwrap();
        if api.get_opt(&name).await.unwrap().is_some() {
            api.patch(
                &name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(obj),
            )
            .await
            .unwrap();
        } else {
            api.create(&PostParams::default(), obj).await.unwrap();
        }
        self.sync().await;
    }
}
