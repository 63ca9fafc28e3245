//! The controller's figures on the real control plane (tests/common/cluster.rs): API writes per
//! no-op reconcile and per decision change (P2), memory over 10,000 Releases (P3), a new Release
//! to its decision against one bare status patch (P4), an Approval to its decision, and cold
//! starts. `cargo bench --bench cluster`; the tables go to docs/BENCHMARKS.md. Every ratio is
//! measured in this one run, against one API server; its audit log is the witness of every
//! request the controller made and of every write (server-side timestamps, microseconds).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
mod fleet;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use common::cluster::{ControlPlane, Options};
use common::controller::Controller;
use fleet::quantile;
use release_passport::api::passport::EvidenceCount;
use release_passport::api::{Approval, Decision, GatePolicy, Release, ReleasePassport};

/// Releases in the namespace where latencies and no-op reconciles are measured.
const SMALL: usize = 1_000;
/// Releases in the namespace where memory and cold starts are measured.
const LARGE: usize = 10_000;
/// Creations and approvals timed, one at a time.
const SAMPLES: usize = 200;
/// Requests the bench keeps in flight while it fills the API server.
const FILL_CONCURRENCY: usize = 32;

/// One request as the audit log recorded it at ResponseComplete (or ResponseStarted for a watch
/// still open).
#[derive(Clone, Debug)]
struct Entry {
    id: String,
    agent: String,
    verb: String,
    resource: String,
    subresource: String,
    name: String,
    code: u64,
    received: DateTime<Utc>,
    done: DateTime<Utc>,
}

impl Entry {
    fn parse(line: &str) -> Option<Entry> {
        let v: Value = serde_json::from_str(line).ok()?;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let time = |v: &Value| DateTime::parse_from_rfc3339(v.as_str()?).ok();
        Some(Entry {
            id: text(&v["auditID"]),
            agent: text(&v["userAgent"]),
            verb: text(&v["verb"]),
            resource: text(&v["objectRef"]["resource"]),
            subresource: text(&v["objectRef"]["subresource"]),
            name: text(&v["objectRef"]["name"]),
            code: v["responseStatus"]["code"].as_u64().unwrap_or(0),
            received: time(&v["requestReceivedTimestamp"])?.to_utc(),
            done: time(&v["stageTimestamp"])?.to_utc(),
        })
    }

    fn by(&self, replica: &str) -> bool {
        self.agent.ends_with(&format!("({replica})"))
    }

    fn is_write(&self) -> bool {
        matches!(self.verb.as_str(), "create" | "update" | "patch" | "delete")
            && (200..300).contains(&self.code)
    }

    fn is_lease(&self) -> bool {
        self.resource == "leases"
    }

    /// What was written, e.g. `releasepassports/status`.
    fn target(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// The API server's audit log (every ServiceAccount request, every write), read from a mark on.
struct Audit(PathBuf);

impl Audit {
    fn mark(&self) -> u64 {
        std::fs::metadata(&self.0).map_or(0, |m| m.len())
    }

    fn since(&self, mark: u64) -> Vec<Entry> {
        let mut file = std::fs::File::open(&self.0).unwrap();
        file.seek(SeekFrom::Start(mark)).unwrap();
        BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| Entry::parse(&l))
            .collect()
    }
}

/// Distinct requests by verb (a watch is logged when it starts and when it ends).
fn requests_by_verb<'a>(entries: impl Iterator<Item = &'a Entry>) -> BTreeMap<String, usize> {
    let mut seen = BTreeSet::new();
    let mut verbs = BTreeMap::new();
    for e in entries {
        if seen.insert(e.id.clone()) {
            *verbs.entry(e.verb.clone()).or_default() += 1;
        }
    }
    verbs
}

/// Successful writes by `replica`, outside its Lease, counted by what they wrote.
fn writes_by_target(entries: &[Entry], replica: &str) -> BTreeMap<String, usize> {
    let mut targets = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.by(replica) && e.is_write() && !e.is_lease())
    {
        *targets.entry(e.target()).or_default() += 1;
    }
    targets
}

fn describe(counts: &BTreeMap<String, usize>, per: usize) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {:.2}", *n as f64 / per as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "p50 / p99" of `samples`, in milliseconds.
fn p50_p99(samples: &[Duration]) -> String {
    format!(
        "{} / {}",
        ms(quantile(samples, 0.5)),
        ms(quantile(samples, 0.99))
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or(Duration::ZERO)
}

async fn admin(plane: &ControlPlane) -> Client {
    let kubeconfig = Kubeconfig::read_from(plane.kubeconfig()).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    // As the controller connects (`cluster::client`): the floor measures bare writes.
    config.default_retry = false;
    Client::try_from(config).unwrap()
}

/// Creates every object, `FILL_CONCURRENCY` at a time.
async fn create_all<K>(client: &Client, ns: &str, objects: impl Iterator<Item = Value>)
where
    K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(objects)
        .map(|value| {
            let api = api.clone();
            async move {
                let object: K = serde_json::from_value(value).unwrap();
                api.create(&PostParams::default(), &object).await.unwrap();
            }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .collect::<()>()
        .await;
}

/// The fleet's policies and its first `releases` Releases, created in `ns`.
async fn fill(client: &Client, ns: &str, releases: usize) {
    create_all::<GatePolicy>(
        client,
        ns,
        (0..fleet::SERVICES).map(|i| fleet::policy(ns, i)),
    )
    .await;
    create_all::<Release>(client, ns, (0..releases).map(|i| fleet::release(ns, i))).await;
}

/// How long this API server takes to accept, at the controller's default concurrency (16),
/// the four writes a first decision makes per Release — create the passport, apply its status,
/// patch the Release's status, create the Event — for `n` Releases created beforehand (untimed)
/// in a namespace of their own.
fn cold_start_floor(
    rt: &tokio::runtime::Runtime,
    plane: &ControlPlane,
    client: &Client,
    template: &ReleasePassport,
    n: usize,
) -> Duration {
    const CONCURRENCY: usize = 16;
    let ns = plane.namespace("bench-cold-floor");
    rt.block_on(create_all::<Release>(
        client,
        &ns,
        (0..n).map(|i| fleet::release(&ns, i)),
    ));
    let passports: Api<ReleasePassport> = Api::namespaced(client.clone(), &ns);
    let releases: Api<Release> = Api::namespaced(client.clone(), &ns);
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let status = template.status.clone().unwrap_or_default();
    let started = Instant::now();
    rt.block_on(
        futures::stream::iter(0..n)
            .map(|i| {
                let (passports, releases, events) =
                    (passports.clone(), releases.clone(), events.clone());
                let (ns, status) = (ns.clone(), status.clone());
                let spec = template.spec.clone();
                async move {
                    let name = release_name(i);
                    let object: ReleasePassport = serde_json::from_value(json!({
                        "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
                        "metadata": {"name": name, "namespace": ns}, "spec": spec,
                    }))
                    .unwrap();
                    passports.create(&PostParams::default(), &object).await.unwrap();
                    let body = json!({"apiVersion": "releasepassport.io/v1alpha1",
                        "kind": "ReleasePassport", "status": status});
                    passports
                        .patch_status(&name, &PatchParams::apply("bench").force(), &Patch::Apply(&body))
                        .await
                        .unwrap();
                    let mirror = json!({"status": {"decision": status.decision, "passport": name}});
                    releases
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&mirror))
                        .await
                        .unwrap();
                    let event: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
                        "metadata": {"generateName": format!("{name}-"), "namespace": ns},
                        "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                        "reportingController": "bench", "reportingInstance": "bench",
                        "action": "Decide", "reason": "Decided", "type": "Normal",
                        "note": "decided",
                        "regarding": {"apiVersion": "releasepassport.io/v1alpha1",
                            "kind": "Release", "name": name, "namespace": ns},
                    }))
                    .unwrap();
                    events.create(&PostParams::default(), &event).await.unwrap();
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<()>(),
    );
    started.elapsed()
}

/// A cache of the namespace's passports, as `kubectl get rp -w` would see them.
fn watch_passports(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    ns: &str,
) -> Store<ReleasePassport> {
    let (reader, writer) = reflector::store();
    let stream = watcher(
        Api::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects();
    rt.spawn(stream.for_each(|_| async {}));
    reader
}

fn decision(store: &Store<ReleasePassport>, ns: &str, name: &str) -> Option<Decision> {
    store
        .get(&ObjectRef::new(name).within(ns))
        .and_then(|p| p.status.as_ref()?.decision)
}

fn decided(store: &Store<ReleasePassport>) -> usize {
    store
        .state()
        .iter()
        .filter(|p| p.status.as_ref().is_some_and(|s| s.decision.is_some()))
        .count()
}

/// Polls `check` every 5 ms (the figures come from the audit log, so polling only paces the
/// bench); panics after `limit`.
fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The controller's count of Release reconciles (its `passport_reconciles_total`).
fn reconciles(controller: &Controller) -> u64 {
    controller
        .get("/metrics")
        .1
        .lines()
        .filter(|l| l.starts_with("passport_reconciles_total{") && l.contains("kind=\"Release\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until neither the controller's reconciles nor the audit log have moved for two seconds.
fn settle(controller: &Controller, audit: &Audit) {
    let mut last = (reconciles(controller), audit.mark());
    let mut quiet_since = Instant::now();
    until("the controller to settle", Duration::from_secs(600), || {
        let now = (reconciles(controller), audit.mark());
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
        quiet_since.elapsed() >= Duration::from_secs(2)
    });
}

fn release_name(i: usize) -> String {
    fleet::release("", i)["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string()
}

/// How many objects of kind `K` are in `ns`, and their JSON size as the API server serves them
/// and as the controller caches them (without `managedFields`).
async fn json_bytes<K: Resource<DynamicType = ()>>(
    client: &Client,
    ns: &str,
) -> (usize, usize, usize) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<K>(&()));
    let mut items = api.list(&Default::default()).await.unwrap().items;
    let size = |items: &[DynamicObject]| -> usize {
        items
            .iter()
            .map(|o| serde_json::to_vec(o).unwrap().len())
            .sum()
    };
    let served = size(&items);
    for o in &mut items {
        o.metadata.managed_fields = None;
    }
    (items.len(), served, size(&items))
}

/// Approves each of `names` (Hold → Allow), one at a time: the Approval's create → the decision
/// written (audit log), and → the decision seen by a watching client; with the audit entries.
fn approvals_timed(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    audit: &Audit,
    store: &Store<ReleasePassport>,
    ns: &str,
    controller: &Controller,
    names: &[String],
) -> (Vec<Duration>, Vec<Duration>, Vec<Entry>) {
    let replica = controller.identity.as_str();
    let mark = audit.mark();
    let mut observed = Vec::new();
    for name in names {
        let approval = json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "Approval",
            "metadata": {"name": format!("{name}-admin"), "namespace": ns},
            "spec": {"releaseRef": {"name": name}, "decision": "Approve", "approver": "admin"}
        });
        let t = Instant::now();
        rt.block_on(create_all::<Approval>(
            client,
            ns,
            std::iter::once(approval),
        ));
        until("an approved decision", Duration::from_secs(60), || {
            decision(store, ns, name) == Some(Decision::Allow)
        });
        observed.push(t.elapsed());
    }
    settle(controller, audit);
    let changes = audit.since(mark);
    let written_of = |name: &str| {
        let created = changes
            .iter()
            .find(|e| {
                e.resource == "approvals" && e.verb == "create" && e.name == format!("{name}-admin")
            })?
            .done;
        let written = changes
            .iter()
            .find(|e| {
                e.by(replica)
                    && e.is_write()
                    && e.target() == "releasepassports/status"
                    && e.name == name
                    && e.done > created
            })?
            .done;
        Some(between(created, written))
    };
    let server = names
        .iter()
        .map(|name| {
            written_of(name).expect(
                "the Approval's create and the decision's status write are in the audit log",
            )
        })
        .collect();
    (server, observed, changes)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn main() {
    // kube's client takes the process's rustls provider, as the passport binary installs it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Utc::now();
    let plane = ControlPlane::start(Options::default());
    plane.install();
    let audit = Audit(plane.dir().join("audit.log"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(admin(&plane));
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |what: &str, value: String| {
        eprintln!("{what}: {value}");
        rows.push((what.to_string(), value));
    };

    // PASSPORT_BENCH_ONLY=large skips the 1,000-Release half, PASSPORT_BENCH_RELEASES sizes the
    // other, PASSPORT_BENCH_LOGS keeps the controllers' logs and metrics: for investigating only;
    // the published figures come from a run with none of them set.
    let only = std::env::var("PASSPORT_BENCH_ONLY").unwrap_or_default();
    let large_n: usize = std::env::var("PASSPORT_BENCH_RELEASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(LARGE);
    let keep = |c: &Controller| {
        if let Some(dir) = std::env::var_os("PASSPORT_BENCH_LOGS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{}.log", c.identity)), c.log()).unwrap();
            std::fs::write(
                dir.join(format!("{}.metrics", c.identity)),
                c.get("/metrics").1,
            )
            .unwrap();
        }
    };
    if only != "large" {
        // ---- 1,000 Releases: no-op reconciles, decision changes, latencies ----
        let small = plane.namespace("bench");
        let identity = plane.controller_identity(&small);
        rt.block_on(fill(&client, &small, SMALL));
        let store = watch_passports(&rt, &client, &small);
        let a = Controller::start(&identity, &small, "bench-a", &[]);
        until("1,000 decisions", Duration::from_secs(600), || {
            decided(&store) >= SMALL
        });
        settle(&a, &audit);

        // P2, quiet: a minute with nothing changed.
        let mark = audit.mark();
        let before = reconciles(&a);
        std::thread::sleep(Duration::from_secs(60));
        let quiet = audit.since(mark);
        let quiet_reconciles = reconciles(&a) - before;
        let leases = quiet
            .iter()
            .filter(|e| e.by("bench-a") && e.is_write() && e.is_lease())
            .count();
        row(
            "P2 quiet minute at 1,000 Releases: reconciles / writes (Lease renewals apart)",
            format!(
                "{quiet_reconciles} / {} ({leases} Lease renewals)",
                writes_by_target(&quiet, "bench-a").values().sum::<usize>()
            ),
        );

        // P2, no-op reconciles: every Release touched (an annotation no rule reads), so every one is
        // reconciled and nothing it decides changes.
        let mark = audit.mark();
        let before = reconciles(&a);
        rt.block_on(async {
            let api: Api<Release> = Api::namespaced(client.clone(), &small);
            let patch =
                json!({"metadata": {"annotations": {"bench.releasepassport.io/touched": "1"}}});
            futures::stream::iter(0..SMALL)
                .map(|i| {
                    let (api, patch) = (api.clone(), patch.clone());
                    async move {
                        api.patch(
                            &release_name(i),
                            &PatchParams::default(),
                            &Patch::Merge(&patch),
                        )
                        .await
                        .unwrap();
                    }
                })
                .buffer_unordered(FILL_CONCURRENCY)
                .collect::<()>()
                .await;
        });
        until(
            "every touched Release reconciled",
            Duration::from_secs(300),
            || reconciles(&a) - before >= SMALL as u64,
        );
        settle(&a, &audit);
        let touched = audit.since(mark);
        let noop = reconciles(&a) - before;
        let noop_writes: usize = writes_by_target(&touched, "bench-a").values().sum();
        row(
            "P2 no-op reconciles (every Release touched) / API writes",
            format!(
                "{noop} / {noop_writes} = {:.3} writes per no-op reconcile",
                noop_writes as f64 / noop as f64
            ),
        );

        let approved: Vec<String> = (0..SAMPLES)
            .map(|k| release_name(k * (SMALL / SAMPLES)))
            .collect();
        let (server, observed, changes) =
            approvals_timed(&rt, &client, &audit, &store, &small, &a, &approved);
        row(
            "Approval created → decision written, at 1,000 Releases (audit log, p50 / p99)",
            p50_p99(&server),
        );
        row(
            "Approval created → decision seen by a watching client (p50 / p99)",
            p50_p99(&observed),
        );
        row(
            "P2 API writes per decision change",
            describe(&writes_by_target(&changes, "bench-a"), SAMPLES),
        );

        // P4: the floor, one bare status patch (server-side apply, as the controller writes) of a
        // passport's full status, in a namespace no controller watches.
        let floor_ns = plane.namespace("bench-floor");
        let template = store
            .get(&ObjectRef::new(&approved[0]).within(&small))
            .expect("a decided passport");
        let floor_status = template.status.clone().unwrap();
        let floor = json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
            "metadata": {"name": "floor", "namespace": floor_ns},
            "spec": template.spec,
        });
        rt.block_on(create_all::<ReleasePassport>(
            &client,
            &floor_ns,
            std::iter::once(floor),
        ));
        let bare: Vec<Duration> = rt.block_on(async {
            let api: Api<ReleasePassport> = Api::namespaced(client.clone(), &floor_ns);
            let mut samples = Vec::new();
            for k in 0..SAMPLES {
                let mut status = floor_status.clone();
                status.evidence_summary = Some(EvidenceCount {
                    complete: k as u32,
                    read: SAMPLES as u32,
                });
                let body = json!({"apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport", "status": status});
                let t = Instant::now();
                api.patch_status("floor", &PatchParams::apply("bench").force(), &Patch::Apply(&body))
                    .await
                    .unwrap();
                samples.push(t.elapsed());
            }
            samples
        });

        // P4: a new Release → its decision written, one at a time.
        let mark = audit.mark();
        let created: Vec<String> = (SMALL..SMALL + SAMPLES).map(release_name).collect();
        for (k, name) in created.iter().enumerate() {
            rt.block_on(create_all::<Release>(
                &client,
                &small,
                std::iter::once(fleet::release(&small, SMALL + k)),
            ));
            until("a new Release's decision", Duration::from_secs(60), || {
                decision(&store, &small, name).is_some()
            });
        }
        settle(&a, &audit);
        let fresh = audit.since(mark);
        let mut to_decision = Vec::new();
        let (mut to_first_write, mut object_write, mut between_writes, mut status_write) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for name in &created {
            let created = fresh
                .iter()
                .find(|e| e.resource == "releases" && e.verb == "create" && &e.name == name)
                .expect("the Release's create is in the audit log")
                .done;
            let ours = |target: &str| {
                fresh
                    .iter()
                    .find(|e| {
                        e.by("bench-a") && e.is_write() && e.target() == target && &e.name == name
                    })
                    .unwrap_or_else(|| panic!("no {target} write of {name} in the audit log"))
            };
            let (object, status) = (ours("releasepassports"), ours("releasepassports/status"));
            to_decision.push(between(created, status.done));
            to_first_write.push(between(created, object.received));
            object_write.push(between(object.received, object.done));
            between_writes.push(between(object.done, status.received));
            status_write.push(between(status.received, status.done));
        }
        let (p50, p99) = (quantile(&to_decision, 0.5), quantile(&to_decision, 0.99));
        let (b50, b99) = (quantile(&bare, 0.5), quantile(&bare, 0.99));
        row(
            "P4 Release created → decision written (audit log, p50 / p99)",
            p50_p99(&to_decision),
        );
        row(
            "P4 one bare status patch round trip, client side (p50 / p99)",
            p50_p99(&bare),
        );
        row(
            "P4 ratio (p50 / p99)",
            format!(
                "{:.2} / {:.2}",
                p50.as_secs_f64() / b50.as_secs_f64(),
                p99.as_secs_f64() / b99.as_secs_f64()
            ),
        );
        row(
            "P4 critical path, medians: create → controller's first write arrives / passport object write / gap / status write",
            format!(
                "{} / {} / {} / {}",
                ms(quantile(&to_first_write, 0.5)),
                ms(quantile(&object_write, 0.5)),
                ms(quantile(&between_writes, 0.5)),
                ms(quantile(&status_write, 0.5))
            ),
        );
        drop(a);
    }
    // ---- 10,000 Releases: a first start, memory, a restart ----
    let large = plane.namespace("bench-scale");
    let identity = plane.controller_identity(&large);
    // What the process costs before it caches anything: the same controller, an empty namespace.
    let mut empty = Controller::start(&identity, &large, "bench-empty", &[]);
    empty.wait(
        "the controller of the empty namespace to lead",
        Controller::leads,
    );
    let (baseline, _) = empty.memory_kib();
    empty.terminate();
    let filling = Instant::now();
    rt.block_on(fill(&client, &large, large_n));
    let fill = filling.elapsed();
    let store = watch_passports(&rt, &client, &large);
    let mark = audit.mark();
    let spawned = Utc::now();
    let clock = Instant::now();
    let mut b = Controller::start(&identity, &large, "bench-b", &[]);
    until("10,000 decisions", Duration::from_secs(1800), || {
        decided(&store) >= large_n
    });
    let all_decided = clock.elapsed();
    settle(&b, &audit);
    let (rss, hwm) = b.memory_kib();
    let first = audit.since(mark);
    let first_write = first
        .iter()
        .find(|e| e.by("bench-b") && e.is_write() && !e.is_lease())
        .expect("bench-b wrote")
        .done;
    let ours: Vec<&Entry> = first.iter().filter(|e| e.by("bench-b")).collect();
    row(
        "First start over 10,000 undecided Releases (bench client created them in)",
        format!("{:.1} s", fill.as_secs_f64()),
    );
    row(
        "First start: spawn → first decision write / all 10,000 decided",
        format!(
            "{:.2} s / {:.1} s ({:.0} decisions/s)",
            between(spawned, first_write).as_secs_f64(),
            all_decided.as_secs_f64(),
            large_n as f64 / all_decided.as_secs_f64()
        ),
    );
    row(
        "First start: requests by verb",
        format!("{:?}", requests_by_verb(ours.iter().copied())),
    );
    row(
        "First start: writes per Release",
        describe(&writes_by_target(&first, "bench-b"), large_n),
    );
    keep(&b);
    // A rollout's restart: SIGTERM, so the Lease is handed over at once.
    b.terminate();

    // The cold start's floor: the same writes per Release (the passport, its status, the
    // Release's status, one Event) sent bare by this client at the controller's concurrency,
    // into a namespace of their own whose Releases exist already.
    let template = store
        .get(&ObjectRef::new(&release_name(0)).within(&large))
        .expect("a decided passport");
    let floor = cold_start_floor(&rt, &plane, &client, &template, large_n);
    row(
        "Cold start floor: the same 4 writes per Release sent bare at concurrency 16 / ratio all decided ÷ floor",
        format!(
            "{:.1} s / {:.2}",
            floor.as_secs_f64(),
            all_decided.as_secs_f64() / floor.as_secs_f64()
        ),
    );

    let (mut objects, mut served, mut bytes) = (0, 0, 0);
    rt.block_on(async {
        for (n, as_served, as_cached) in [
            json_bytes::<Release>(&client, &large).await,
            json_bytes::<ReleasePassport>(&client, &large).await,
            json_bytes::<GatePolicy>(&client, &large).await,
        ] {
            objects += n;
            served += as_served;
            bytes += as_cached;
        }
    });

    let mark = audit.mark();
    let spawned = Utc::now();
    let clock = Instant::now();
    // PASSPORT_BENCH_HEAP=DIR runs the restarted controller under heaptrack's preload library
    // (DIR/bench-c.raw; docs/BENCHMARKS.md says how it is read): for attributing P3 only, its
    // figures are not the published ones.
    let heap = std::env::var("PASSPORT_BENCH_HEAP").ok().map(|dir| {
        std::fs::create_dir_all(&dir).unwrap();
        format!("{dir}/bench-c.raw")
    });
    let profiled: Vec<(&str, &str)> = heap
        .as_deref()
        .map(|raw| {
            vec![
                ("LD_PRELOAD", "/usr/lib/heaptrack/libheaptrack_preload.so"),
                ("DUMP_HEAPTRACK_OUTPUT", raw),
            ]
        })
        .unwrap_or_default();
    let c = Controller::start_with_env(&identity, &large, "bench-c", &[], &profiled);
    let ready = clock.elapsed();
    until(
        "10,000 reconciles after the restart",
        Duration::from_secs(900),
        || reconciles(&c) >= large_n as u64,
    );
    let all_reconciled = clock.elapsed();
    settle(&c, &audit);
    let (restart_rss, restart_hwm) = c.memory_kib();
    let restart = audit.since(mark);
    let ours: Vec<&Entry> = restart.iter().filter(|e| e.by("bench-c")).collect();
    let verbs = requests_by_verb(ours.iter().copied());
    let beyond: usize = verbs
        .iter()
        .filter(|(v, _)| !matches!(v.as_str(), "list" | "watch"))
        .map(|(_, n)| n)
        .sum();
    let first_write = ours
        .iter()
        .find(|e| e.is_write())
        .map(|e| format!("{:.2} s", between(spawned, e.done).as_secs_f64()))
        .unwrap_or_else(|| "none".into());
    row(
        "Restart (SIGTERM, then a fresh controller) over 10,000 decided Releases: ready / first write (the Lease) / all reconciled",
        format!(
            "{:.2} s / {first_write} / {:.1} s",
            ready.as_secs_f64(),
            all_reconciled.as_secs_f64()
        ),
    );
    row("Restart: requests by verb", format!("{verbs:?}"));
    row(
        "Restart: requests beyond the list-watches, per Release",
        format!(
            "{beyond} / {large_n} = {:.4}",
            beyond as f64 / large_n as f64
        ),
    );
    row(
        "Restart: writes outside the Lease",
        describe(&writes_by_target(&restart, "bench-c"), 1),
    );
    row(
        "P3 objects the controller caches / their JSON size as cached (as served, with managedFields)",
        format!(
            "{objects} / {:.1} MiB ({:.1} MiB)",
            bytes as f64 / 1048576.0,
            served as f64 / 1048576.0
        ),
    );
    row(
        "P3 controller RSS after the first start (VmRSS / peak VmHWM)",
        format!("{} / {}", mib(rss), mib(hwm)),
    );
    row(
        "P3 controller RSS after the restart, caches full (VmRSS / peak VmHWM)",
        format!("{} / {}", mib(restart_rss), mib(restart_hwm)),
    );
    row(
        "P3 controller RSS over an empty namespace (binary, runtime, TLS, empty caches)",
        mib(baseline),
    );
    row(
        "P3 ratio RSS after the restart / JSON size as cached (whole process / growth over the empty one)",
        format!(
            "{:.2} / {:.2}",
            restart_rss as f64 * 1024.0 / bytes as f64,
            restart_rss.saturating_sub(baseline) as f64 * 1024.0 / bytes as f64
        ),
    );
    // An Approval → its decision at 10,000 Releases, the restarted controller leading.
    let approved: Vec<String> = (0..SAMPLES)
        .map(|k| release_name(k * (large_n / SAMPLES)))
        .collect();
    let (server, observed, _) =
        approvals_timed(&rt, &client, &audit, &store, &large, &c, &approved);
    row(
        "Approval created → decision written, at 10,000 Releases (audit log, p50 / p99)",
        p50_p99(&server),
    );
    row(
        "Approval created → decision seen by a watching client, at 10,000 (p50 / p99)",
        p50_p99(&observed),
    );
    keep(&c);
    drop(c);

    println!(
        "\ncluster benchmark, {} (started {}), control plane {}",
        Utc::now().format("%Y-%m-%d"),
        started.format("%H:%M UTC"),
        common::cluster::bin_dir()
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
    );
    println!("| measurement | value |\n|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
}
