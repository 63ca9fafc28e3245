//! Delivery metrics over 100,000 historical decisions: `cargo bench --bench metrics`. A full
//! recompute (fold every record into rollups, then the figures of every target over 90 days)
//! against the incremental update one new decision costs (add it to the kept rollups, then the
//! figures of its target). Goal: incremental ≤ 1/100 of full. Figures go to docs/BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use release_passport::api::Decision;
use release_passport::metrics::delivery::{Record, Rollups, Scope};

const DECISIONS: usize = 100_000;
const TARGETS: usize = 200;

fn record(i: usize, start: DateTime<Utc>) -> Record {
    let at = start + chrono::Duration::minutes(i as i64 * 5);
    Record {
        namespace: "shop".into(),
        service: format!("svc-{:03}", i % (TARGETS / 2)),
        environment: if i.is_multiple_of(2) {
            "production"
        } else {
            "staging"
        }
        .into(),
        version: format!("1.{}.0", i / TARGETS),
        created: Some(at - chrono::Duration::minutes(20)),
        promoted_at: (!i.is_multiple_of(13)).then_some(at),
        committed_at: Some(at - chrono::Duration::hours((i % 30) as i64 + 1)),
        failed: i.is_multiple_of(17),
        hotfix: i.is_multiple_of(41),
        decision: Some(if i.is_multiple_of(13) {
            Decision::Hold
        } else {
            Decision::Allow
        }),
        dwell: (i.is_multiple_of(5)).then(|| chrono::Duration::minutes((i % 90) as i64)),
        approval_waits: if i.is_multiple_of(3) {
            vec![(i % 7200) as i64]
        } else {
            Vec::new()
        },
        evidence: (4 + (i % 2) as u32, 5),
        holding: if i.is_multiple_of(13) {
            vec![format!("prod/rule-{}", i % 4)]
        } else {
            Vec::new()
        },
    }
}

fn best_of(runs: u32, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let records: Vec<Record> = (0..DECISIONS).map(|i| record(i, start)).collect();
    let last = records.last().unwrap().promoted_at.unwrap().date_naive();
    let from: NaiveDate = last - chrono::Duration::days(89);
    let all = Scope::default();

    let mut kept = Rollups::default();
    let full = best_of(3, || {
        let rollups = Rollups::fold(&records, last);
        let _ = rollups.figures(&all, from, last);
        std::hint::black_box(rollups.per_target(&all, from, last));
        kept = rollups;
    });
    // One new decision at a time, each newer than the last, added in place as the controller
    // does: 1,000 of them, timed together.
    const NEW: usize = 1_000;
    let news: Vec<Record> = (DECISIONS..DECISIONS + NEW)
        .map(|i| record(i, start))
        .collect();
    let begin = Instant::now();
    for r in &news {
        kept.add(r, last);
        let scope = Scope {
            namespace: Some(r.namespace.clone()),
            service: Some(r.service.clone()),
            environment: Some(r.environment.clone()),
        };
        std::hint::black_box(kept.figures(&scope, from, last));
    }
    let incremental = begin.elapsed() / NEW as u32;
    let stored =
        release_passport::cluster::history::encode(&release_passport::cluster::history::Stored {
            rollups: kept.clone(),
            folded: Default::default(),
        })
        .unwrap()
        .len();
    let json = serde_json::to_vec(&kept).unwrap().len();
    println!(
        "Delivery metrics over {DECISIONS} decisions, {TARGETS} service/environment targets:\n"
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| full recompute (fold all + figures for every target, 90 days) | {:.1} ms |",
        full.as_secs_f64() * 1e3
    );
    println!(
        "| incremental update (add one decision + its target's figures) | {:.1} µs |",
        incremental.as_secs_f64() * 1e6
    );
    println!(
        "| **ratio incremental / full** (goal ≤ 0.01) | **{:.5}** |",
        incremental.as_secs_f64() / full.as_secs_f64()
    );
    println!(
        "| rollups for {DECISIONS} decisions: JSON / gzipped in the ConfigMap | {:.0} KiB / {:.0} KiB |",
        json as f64 / 1024.0,
        stored as f64 / 1024.0
    );
}
