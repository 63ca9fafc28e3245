//! The controller at scale, against the in-memory Kubernetes API: 10,000 Releases, 100
//! GatePolicies, 10,000 passports. `cargo bench --bench controller`; figures go to
//! docs/BENCHMARKS.md. Prints one table; every ratio is measured in this one run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/fake_api.rs"]
mod fake_api;
mod fleet;
#[path = "../tests/common/world.rs"]
mod world;

use std::time::Instant;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use release_passport::api::{GatePolicy, Release, ReleasePassport};
use release_passport::controller::release::reconcile_release;
use world::World;

const RELEASES: usize = 10_000;
const POLICIES: usize = fleet::SERVICES;

/// Release `i` as the in-memory API holds it (uid and generation set, as the server would).
fn release(i: usize) -> Release {
    let mut value = fleet::release("shop", i);
    value["metadata"]["uid"] = format!("uid-{i}").into();
    value["metadata"]["generation"] = 1.into();
    serde_json::from_value(value).unwrap()
}

fn policy(i: usize) -> GatePolicy {
    let mut value = fleet::policy("shop", i);
    value["metadata"]["uid"] = format!("p-{i}").into();
    value["metadata"]["generation"] = 1.into();
    serde_json::from_value(value).unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The controller's caches alone, filled with the objects a sync of this size would hold.
fn cache_memory(
    releases: &[Release],
    passports: &[ReleasePassport],
    policies: &[GatePolicy],
) -> (u64, u64) {
    let json: usize = releases
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap().len())
        .sum::<usize>()
        + passports
            .iter()
            .map(|p| serde_json::to_vec(p).unwrap().len())
            .sum::<usize>()
        + policies
            .iter()
            .map(|p| serde_json::to_vec(p).unwrap().len())
            .sum::<usize>();
    let before = rss_kib();
    let (r, mut rw) = reflector::store::<Release>();
    let (p, mut pw) = reflector::store::<ReleasePassport>();
    let (g, mut gw) = reflector::store::<GatePolicy>();
    fn fill<K: kube::Resource<DynamicType = ()> + Clone>(w: &mut Writer<K>, items: &[K]) {
        w.apply_watcher_event(&watcher::Event::Init);
        for i in items {
            w.apply_watcher_event(&watcher::Event::InitApply(i.clone()));
        }
        w.apply_watcher_event(&watcher::Event::InitDone);
    }
    fill(&mut rw, releases);
    fill(&mut pw, passports);
    fill(&mut gw, policies);
    let after = rss_kib();
    assert_eq!(
        r.state().len() + p.state().len() + g.state().len(),
        releases.len() + passports.len() + policies.len()
    );
    ((after.saturating_sub(before)) * 1024, json as u64)
}

/// Reconciles every release once, as a full resync of the controller would.
async fn reconcile_all(world: &World, releases: &[Release]) {
    for r in releases {
        reconcile_release(
            &world.release(r.metadata.name.as_deref().unwrap()),
            &world.ctx,
        )
        .await
        .unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let baseline = rss_kib();
    let releases: Vec<Release> = (0..RELEASES).map(release).collect();
    let policies: Vec<GatePolicy> = (0..POLICIES).map(policy).collect();
    // Memory first, in a process that has not allocated much yet: the caches as a synced
    // controller holds them (passports decided by the same engine, no API involved).
    let bundle = release_passport::load::Bundle {
        releases: releases.clone(),
        policies: policies.clone(),
        ..Default::default()
    };
    let decided: Vec<ReleasePassport> =
        release_passport::decide::decide_all(&bundle, world::t(world::T0))
            .into_iter()
            .map(|d| d.passport)
            .collect();
    let (cache_bytes, json_bytes) = cache_memory(&releases, &decided, &policies);
    drop(decided);
    drop(bundle);
    let world = World::new(releases.clone(), policies.clone()).await;

    // Initial sync: every release decided and its passport written.
    let start = Instant::now();
    reconcile_all(&world, &releases).await;
    let initial = start.elapsed();
    let writes_initial = world.writes.get();
    world.sync().await;

    // Steady state: nothing changed, so reconciles decide again and write nothing.
    let before = world.writes.get();
    let start = Instant::now();
    reconcile_all(&world, &releases).await;
    let steady = start.elapsed();
    let noop_writes = world.writes.get() - before;

    // One new release to a written decision, vs one bare status patch round trip.
    let api: Api<ReleasePassport> = Api::namespaced(world.client.clone(), "shop");
    let target = releases[0].metadata.name.clone().unwrap();
    let body = serde_json::json!({"apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport", "status": {"decision": "Hold"}});
    let mut bare = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        api.patch_status(
            &target,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&body),
        )
        .await
        .unwrap();
        bare.push(t.elapsed());
    }
    let mut fresh = Vec::new();
    for i in 0..200 {
        let mut r = release(RELEASES + i);
        r.metadata.name = Some(format!("fresh-{i}"));
        Api::<Release>::namespaced(world.client.clone(), "shop")
            .create(&Default::default(), &r)
            .await
            .unwrap();
        let t = Instant::now();
        reconcile_release(&r, &world.ctx).await.unwrap();
        fresh.push(t.elapsed());
    }
    let passports: Vec<ReleasePassport> = api.list(&Default::default()).await.unwrap().items;

    let bare_median = fleet::quantile(&bare, 0.5);
    let fresh_median = fleet::quantile(&fresh, 0.5);
    println!(
        "controller benchmark: {RELEASES} releases, {POLICIES} policies, {} passports",
        passports.len()
    );
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| initial sync (decide + write all {RELEASES}) | {:.2} s ({:.0} releases/s, {writes_initial} writes) |",
        initial.as_secs_f64(),
        RELEASES as f64 / initial.as_secs_f64()
    );
    println!(
        "| steady-state reconciles | {:.0} /s |",
        RELEASES as f64 / steady.as_secs_f64()
    );
    println!(
        "| API writes per no-op reconcile | {} |",
        noop_writes as f64 / RELEASES as f64
    );
    println!(
        "| new release → decision written (median) | {:.3} ms |",
        fresh_median.as_secs_f64() * 1e3
    );
    println!(
        "| one bare status patch round trip (median) | {:.3} ms |",
        bare_median.as_secs_f64() * 1e3
    );
    println!(
        "| ratio new-release / bare patch | {:.2} |",
        fresh_median.as_secs_f64() / bare_median.as_secs_f64()
    );
    println!(
        "| cache memory (RSS growth filling the caches) | {:.1} MiB |",
        cache_bytes as f64 / 1048576.0
    );
    println!(
        "| JSON size of the cached objects | {:.1} MiB |",
        json_bytes as f64 / 1048576.0
    );
    println!(
        "| ratio cache memory / JSON | {:.2} |",
        cache_bytes as f64 / json_bytes as f64
    );
    println!(
        "| process RSS before any object (binary + runtime) | {:.1} MiB |",
        baseline as f64 / 1024.0
    );
    println!(
        "| controller RSS estimate (baseline + caches) | {:.1} MiB |",
        baseline as f64 / 1024.0 + cache_bytes as f64 / 1048576.0
    );
    println!(
        "| process RSS at the end (includes the in-memory API server) | {:.1} MiB |",
        rss_kib() as f64 / 1024.0
    );
    assert_eq!(noop_writes, 0, "a no-op reconcile must not write");
}
