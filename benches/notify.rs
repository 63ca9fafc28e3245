//! What a notification pass costs the leader: planning four Notifiers (one of each type) over
//! 10,000 passports, most already told, against the floor of reading every passport's decision
//! once; and rendering one message against serialising the same JSON. `cargo bench --bench
//! notify`; figures go to docs/BENCHMARKS.md. Prints one table, every ratio from this one run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fleet;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use release_passport::api::{Keyed, Notifier, ObjectKey, Release, ReleasePassport};
use release_passport::notify::payload::{self, Target};
use release_passport::notify::{self, World};
use serde_json::json;

const PASSPORTS: usize = 10_000;
/// Every tenth passport changed decision since it was told.
const CHANGED_EVERY: usize = 10;
const TYPES: [&str; 4] = ["Slack", "MSTeams", "Webhook", "GitHubStatus"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn release(i: usize) -> Release {
    let mut value = fleet::release("shop", i);
    value["spec"]["scope"]["project"] = json!("acme/shop");
    serde_json::from_value(value).unwrap()
}

fn passport(i: usize, release: &Release) -> ReleasePassport {
    let told = if i.is_multiple_of(CHANGED_EVERY) {
        "Hold"
    } else {
        "Allow"
    };
    let notifications: Vec<_> = TYPES
        .iter()
        .map(|t| {
            json!({"notifier": t.to_lowercase(), "type": t, "event": "DecisionChanged",
                        "decision": told, "at": "2026-12-02T09:00:00Z"})
        })
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
        "metadata": {"name": release.metadata.name, "namespace": "shop"},
        "spec": {"releaseRef": {"name": release.metadata.name}, "service": release.spec.service,
                 "version": release.spec.version, "environment": "production",
                 "revision": release.spec.revision},
        "status": {"decision": "Allow", "reasons": [],
                   "timeline": [{"at": "2026-12-02T09:30:00Z", "decision": "Allow", "message": "3 of 3 rules pass"}],
                   "notifications": notifications}
    }))
    .unwrap()
}

fn notifier(type_: &str) -> Notifier {
    serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "Notifier",
        "metadata": {"name": type_.to_lowercase(), "namespace": "shop",
                     "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {"type": type_, "url": "https://hooks.example/in",
                 "credentialsSecretRef": {"name": "hook", "key": "url"},
                 "selector": {"environments": ["production"]}}
    }))
    .unwrap()
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let releases: Vec<Release> = (0..PASSPORTS).map(release).collect();
    let passports: Vec<Arc<ReleasePassport>> = releases
        .iter()
        .enumerate()
        .map(|(i, r)| Arc::new(passport(i, r)))
        .collect();
    let by_key: BTreeMap<ObjectKey, &Release> = releases.iter().map(|r| (r.key(), r)).collect();
    let notifiers: Vec<Notifier> = TYPES.iter().map(|t| notifier(t)).collect();
    let world = World {
        passports: &passports,
        releases: &by_key,
        waivers: &[],
        connectors: &[],
        console: Some("https://passport.example"),
        now: now(),
    };

    let runs = 30;
    let mut planned = 0;
    let mut plan: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            planned = notifiers
                .iter()
                .map(|n| std::hint::black_box(notify::plan(n, &world)).len())
                .sum();
            start.elapsed()
        })
        .collect();
    // The floor: each notifier reads each passport's decision and its last record once.
    let mut floor: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for n in &notifiers {
                let name = n.metadata.name.as_deref().unwrap();
                std::hint::black_box(
                    passports
                        .iter()
                        .filter(|p| {
                            let s = p.status.as_ref().unwrap();
                            s.notifications
                                .iter()
                                .rev()
                                .find(|t| t.notifier == name)
                                .map(|t| t.decision)
                                != s.decision
                        })
                        .count(),
                );
            }
            start.elapsed()
        })
        .collect();
    // What a pass does: key every owed delivery, write the messages of the 64 it may start.
    let mut pass: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let mut written = 0;
            for n in &notifiers {
                for owed in notify::owed(n, &world) {
                    if written < 64 {
                        std::hint::black_box(owed.due());
                        written += 1;
                    } else {
                        std::hint::black_box(&owed.key);
                    }
                }
            }
            start.elapsed()
        })
        .collect();
    let (plan, floor, pass) = (median(&mut plan), median(&mut floor), median(&mut pass));

    let due = notify::plan(&notifiers[0], &world).pop().unwrap();
    let key = notifiers[0].key();
    let target = Target {
        notifier: &key,
        type_: notifiers[0].spec.type_,
        url: None,
        credential: "https://hooks.example/services/T0/B0/X",
        credential_key: "url",
        check_run: false,
    };
    let renders = 2_000;
    let start = Instant::now();
    for _ in 0..renders {
        std::hint::black_box(payload::request(&target, &due.message, now()).unwrap());
    }
    let render = start.elapsed() / renders;
    let value = payload::slack(&due.message);
    let start = Instant::now();
    for _ in 0..renders {
        std::hint::black_box(serde_json::to_vec(&value).unwrap());
    }
    let serialise = start.elapsed() / renders;

    println!(
        "notify bench: {PASSPORTS} passports, 4 Notifiers, 1 in {CHANGED_EVERY} changed since told"
    );
    println!("| figure | ours | floor | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| every message written, 4 Notifiers ({planned} owed) | {:.2} ms | {:.2} ms (read every decision and record) | {:.2}× |",
        plan.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        plan.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| a pass: every owed delivery keyed, 64 messages written | {:.2} ms | {:.2} ms | {:.2}× |",
        pass.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        pass.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "| one Slack message | {:.1} µs | {:.1} µs (serialise its JSON) | {:.2}× |",
        render.as_secs_f64() * 1e6,
        serialise.as_secs_f64() * 1e6,
        render.as_secs_f64() / serialise.as_secs_f64()
    );
    println!("| RSS after | {} MiB | | |", rss_kib() / 1024);
}
