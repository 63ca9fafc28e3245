//! One watch of one kind, shared: its cache, and what each event touched for every consumer
//! that reacts (the Release and GatePolicy controllers, notification delivery). The console
//! reads the same cache through [`super::changes`].
//!
//! kube-runtime's own fan-out (`store_shared`, `ReflectHandle`) announces only objects the
//! cache holds, so deletions never reach a subscriber — yet deleting an Approval or a Waiver
//! must move the decision it counted in. Here a deleted object is announced as it was last
//! seen, and a relist (or a consumer that fell behind) announces every cached object again.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt, future};
use kube::Resource;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use super::changes::{Changes, Watched};
use super::watches::watch;

/// Announcements a consumer may fall behind by before it is sent everything again. A
/// Controller moves triggers into its own queue as they come, so it lags only when starved.
const BACKLOG: usize = 4096;

#[derive(Clone, Debug)]
enum Touch<K> {
    /// Added, changed or deleted: the object as the watch last showed it.
    One(Arc<K>),
    /// The watch listed again (its `n`th listing): every cached object may have changed.
    Relisted(u64),
}

/// One kind's cache and the announcements of what its watch touched.
pub struct Feed<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    touched: broadcast::Sender<Touch<K>>,
    changes: Arc<Changes>,
    kind: Watched,
}

impl<K> Clone for Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            touched: self.touched.clone(),
            changes: Arc::clone(&self.changes),
            kind: self.kind,
        }
    }
}

/// The watch of `api` as a [`Feed`], and the work that drives it (to be run for as long as
/// anyone reads the feed). Every event is noted in `changes` as `kind`.
pub fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    changes: &Arc<Changes>,
    kind: Watched,
) -> (Feed<K>, impl Future<Output = ()> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let (touched, _) = broadcast::channel(BACKLOG);
    let feed = Feed {
        store: store.clone(),
        touched: touched.clone(),
        changes: Arc::clone(changes),
        kind,
    };
    let changes = Arc::clone(changes);
    let driving = reflector::reflector(writer, watch(api, config)).for_each(move |event| {
        if let Ok(event) = &event {
            changes.note(kind, event);
            // No consumer yet (a standby serving only its console): nothing to announce, and
            // whoever subscribes later starts from the cache.
            if touched.receiver_count() == 0 {
                return future::ready(());
            }
            let _ = match event {
                // The cache's own copy, not a second one.
                watcher::Event::Apply(o) => touched.send(Touch::One(
                    store
                        .get(&reflector::ObjectRef::from_obj(o))
                        .unwrap_or_else(|| Arc::new(o.clone())),
                )),
                watcher::Event::Delete(o) => touched.send(Touch::One(Arc::new(o.clone()))),
                watcher::Event::InitDone => touched.send(Touch::Relisted(changes.listings(kind))),
                watcher::Event::Init | watcher::Event::InitApply(_) => Ok(0),
            };
        }
        future::ready(())
    });
    (feed, driving)
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The cache.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Every object the watch touches from now on, starting with every cached object once the
    /// watch has listed: what a consumer that joins late (a replica that has just become the
    /// leader) must look at first.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let receiver = self.touched.subscribe();
        let (store, changes, kind) = (self.store.clone(), Arc::clone(&self.changes), self.kind);
        // `None`: the cache has not been read yet.
        let announced = futures::stream::unfold((receiver, None), move |(mut receiver, seen)| {
            let (store, changes) = (store.clone(), Arc::clone(&changes));
            async move {
                let Some(mut seen) = seen else {
                    changes.listed(&[kind]).await;
                    let seen = changes.listings(kind);
                    return Some((store.state(), (receiver, Some(seen))));
                };
                loop {
                    let everything = match receiver.recv().await {
                        Ok(Touch::One(o)) => return Some((vec![o], (receiver, Some(seen)))),
                        // A listing this consumer already started from is not news.
                        Ok(Touch::Relisted(n)) if n <= seen => continue,
                        Ok(Touch::Relisted(n)) => {
                            seen = n;
                            store.state()
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => store.state(),
                        Err(broadcast::error::RecvError::Closed) => return None,
                    };
                    return Some((everything, (receiver, Some(seen))));
                }
            }
        });
        announced.flat_map(futures::stream::iter)
    }
}
