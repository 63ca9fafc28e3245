//! Which Releases a change to another kind touches (no client required). Each mapper returns
//! exactly the releases whose decision can depend on the changed object — never a full resync.

use kube::runtime::reflector::ObjectRef;

use crate::api::{
    Approval, Connector, GatePolicy, Keyed, ObjectKey, Release, ReleasePassport, Waiver,
    namespace_of,
};
use crate::engine::{policy_applies, waiver_applies};

use crate::cluster::Stores;

fn refs(
    releases: impl IntoIterator<Item = ObjectKey>,
) -> Vec<ObjectRef<kube::core::DeserializeGuard<Release>>> {
    let mut out: Vec<ObjectKey> = releases.into_iter().collect();
    out.sort();
    out.dedup();
    out.into_iter()
        .map(|k| ObjectRef::new(&k.name).within(&k.namespace))
        .collect()
}

/// Passports (in `ns`) whose last decision mentions something, so a change that *stops*
/// selecting a release still reaches it.
fn passports_where(
    stores: &Stores,
    ns: &str,
    mentions: impl Fn(&ReleasePassport) -> bool,
) -> Vec<ObjectKey> {
    stores
        .passports
        .state()
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns) && mentions(p))
        .map(|p| ObjectKey::new(ns, p.spec.release_ref.name.clone()))
        .collect()
}

/// A policy touches the releases it selects (or that pin it) and those it decided before; one
/// that does not deserialise selects nothing, but may have decided some.
pub fn policy(
    stores: &Stores,
    guard: &kube::core::DeserializeGuard<GatePolicy>,
) -> Vec<ObjectRef<kube::core::DeserializeGuard<Release>>> {
    let meta = kube::Resource::meta(guard);
    let ns = namespace_of(meta);
    let name = meta.name.as_deref().unwrap_or("");
    let selected: Vec<ObjectKey> = match &guard.0 {
        Ok(policy) => stores
            .valid_releases(Some(ns))
            .iter()
            .filter(|r| policy_applies(policy, r))
            .map(|r| r.key())
            .collect(),
        Err(_) => Vec::new(),
    };
    let decided = passports_where(stores, ns, |p| {
        p.status
            .as_ref()
            .is_some_and(|s| s.trace.iter().any(|t| t.policy == name))
    });
    refs(selected.into_iter().chain(decided))
}

/// The policies whose status a change to a Release can move (their count of selected
/// releases): those that apply to it now and those that decided it last, which it may have
/// just left. Not every policy of the namespace: at 100 policies and 10,000 Releases that
/// turned each Release write into 100 policy reconciles, each counting 10,000 Releases.
pub fn policies_of(
    stores: &Stores,
    release: &kube::core::DeserializeGuard<Release>,
) -> Vec<ObjectRef<kube::core::DeserializeGuard<GatePolicy>>> {
    let meta = kube::Resource::meta(release);
    let ns = namespace_of(meta);
    let mut names: Vec<String> = stores
        .valid_policies(Some(ns))
        .iter()
        .filter(|p| release.0.as_ref().is_ok_and(|r| policy_applies(p, r)))
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if let Some(passport) = meta.name.as_deref().and_then(|n| stores.passport(ns, n)) {
        names.extend(
            passport
                .status
                .iter()
                .flat_map(|s| s.trace.iter().map(|t| t.policy.clone())),
        );
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| ObjectRef::new(&name).within(ns))
        .collect()
}

/// An approval touches the release it names.
pub fn approval(approval: &Approval) -> Vec<ObjectRef<kube::core::DeserializeGuard<Release>>> {
    refs([ObjectKey::new(
        namespace_of(&approval.metadata),
        approval.spec.release_ref.name.clone(),
    )])
}

/// A waiver touches the releases it applies to and those whose passport lists it.
pub fn waiver(
    stores: &Stores,
    waiver: &Waiver,
) -> Vec<ObjectRef<kube::core::DeserializeGuard<Release>>> {
    let ns = namespace_of(&waiver.metadata);
    let name = waiver.metadata.name.as_deref().unwrap_or("");
    let applies = stores
        .valid_releases(Some(ns))
        .iter()
        .filter(|r| waiver_applies(waiver, r))
        .map(|r| r.key())
        .collect::<Vec<_>>();
    let listed = passports_where(stores, ns, |p| {
        p.status
            .as_ref()
            .is_some_and(|s| s.waivers.iter().any(|w| w.name == name))
    });
    refs(applies.into_iter().chain(listed))
}

/// A connector touches the releases of its namespace (its evidence may change any of them).
pub fn connector(
    stores: &Stores,
    connector: &Connector,
) -> Vec<ObjectRef<kube::core::DeserializeGuard<Release>>> {
    let ns = connector.metadata.namespace.as_deref();
    refs(stores.valid_releases(ns).iter().map(|r| r.key()))
}
