//! The demo's 90 days of history, decided by the engine itself: each historical release is a
//! Release the shop's policies (examples/shop/policies.yaml) decide at the moments a controller
//! would — when it appears, when an approval arrives, when a freeze lifts, during and after its
//! post-deploy watch — from evidence its connectors would have observed. So every historical
//! passport carries the trace, values, approvals, rollback posture and conditions a live one
//! does, and versions, policies and outcomes agree with each other.
//!
//! The files are written by this test: `PASSPORT_BLESS=1 cargo test --test integration demo_history`.
//! Without it, the test fails when the committed files differ from what the engine decides now.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use release_passport::api::passport::WatchPhase;
use release_passport::api::{Decision, EvidenceStatus, ReleasePassport};
use release_passport::engine::compile::CompiledPolicy;
use release_passport::engine::evidence::EvidenceItem;
use release_passport::engine::{Input, PreviousRelease, evaluate, needs, provenance};
use release_passport::load::{Bundle, load_str};

const HISTORY: &str = "examples/history/shop-90d.yaml";
/// The recorded passports `examples/shop` carries itself: the releases its live Releases name
/// as `spec.previous` (their rollback targets), so `passport evaluate -f examples/shop` finds them.
const SHOP_HISTORY: &str = "examples/shop/history.yaml";
/// The commit the live recording's rollback evidence names for that target.
const ROLLBACK_TARGET_COMMIT: &str = "7be1a04c2d19";

/// splitmix64: a fixed seed, the same history on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.below(u64::try_from(hi - lo + 1).unwrap())).unwrap()
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.below(1_000_000) as f64) < p * 1_000_000.0
    }

    fn commit(&mut self) -> String {
        format!("{:012x}", self.next() >> 16)
    }
}

/// One service of the shop and where its live releases (examples/shop/releases.yaml) stand:
/// the history ends just before them.
struct Service {
    name: &'static str,
    author: &'static str,
    /// Versions the history walks through, oldest first, ending with the one production runs
    /// now in staging only (its production release is live).
    versions: Vec<String>,
    gitops: &'static str,
}

/// `count` versions ending at `last`: patches counting down, a new minor every few releases.
fn versions_ending(rng: &mut Rng, last: (u32, u32, u32), count: usize) -> Vec<String> {
    let (mut major, mut minor, mut patch) = last;
    let mut out = vec![format!("{major}.{minor}.{patch}")];
    while out.len() < count {
        if patch == 0 {
            if minor == 0 {
                major -= 1;
                minor = 9;
            } else {
                minor -= 1;
            }
            patch = u32::try_from(rng.between(6, 12)).unwrap();
        } else {
            patch -= 1;
        }
        out.push(format!("{major}.{minor}.{patch}"));
    }
    out.reverse();
    out
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn name_of(service: &str, env: &str, version: &str, suffix: &str) -> String {
    format!("{service}-{env}-{}{suffix}", version.replace('.', "-"))
}

/// What one release goes through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    Fine,
    /// A metric rule blocks it for good.
    Blocked,
    /// Allowed, then its post-deploy watch fails.
    WatchFails,
}

struct Plan {
    name: String,
    service: &'static str,
    env: &'static str,
    version: String,
    commit: String,
    committed: DateTime<Utc>,
    created: DateTime<Utc>,
    fate: Fate,
    /// What a blocked release's metrics break.
    breaks: Failing,
    hotfix: bool,
    /// The release it replaces (the last allowed one of its service and environment).
    previous: Option<(String, String, String)>,
    /// The Argo CD history entry that deployed `previous` ([`number_history_entries`]).
    previous_entry: Option<u64>,
    /// Approvals: (approver, groups, when).
    approvals: Vec<(&'static str, &'static [&'static str], DateTime<Utc>)>,
    gitops: &'static str,
    author: &'static str,
}

fn release_yaml(p: &Plan) -> String {
    let labels = if p.hotfix {
        "\n  labels: {releasepassport.io/hotfix: \"true\"}"
    } else {
        ""
    };
    let ns = if p.env == "production" {
        "shop-prod"
    } else {
        "shop-staging"
    };
    let gitops = match (p.env, p.gitops) {
        ("production", "argo") => format!(
            "\n    gitopsApps: [{{kind: ArgoApplication, name: {}-prod, namespace: argocd}}]",
            p.service
        ),
        ("production", _) => format!(
            "\n    gitopsApps: [{{kind: FluxKustomization, name: {}, namespace: flux-system}}]",
            p.service
        ),
        _ => String::new(),
    };
    let previous = p
        .previous
        .as_ref()
        .map(|(name, _, _)| format!("\n  previous: {name}"))
        .unwrap_or_default();
    format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata:
  name: {name}
  namespace: shop
  creationTimestamp: \"{created}\"{labels}
spec:
  service: {service}
  version: \"{version}\"
  environment: {env}
  revision: {{commit: \"{commit}\", committedAt: \"{committed}\", author: {author}}}
  scope:
    namespaces: [{ns}]
    selector: {{matchLabels: {{app.kubernetes.io/name: {service}}}}}{gitops}
    metricLabels: {{service: {service}, env: {env}}}
    project: shop/{service}
    pipeline: release.yaml{previous}
",
        name = p.name,
        created = ts(p.created),
        service = p.service,
        version = p.version,
        env = p.env,
        commit = p.commit,
        committed = ts(p.committed),
        author = p.author,
    )
}

fn approval_yaml(release: &str, who: &str, groups: &[&str], at: DateTime<Utc>) -> String {
    format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Approval
metadata: {{name: {release}-{who}, namespace: shop, creationTimestamp: \"{at}\"}}
spec: {{releaseRef: {{name: {release}}}, decision: Approve, approver: {who}, groups: [{groups}]}}
",
        at = ts(at),
        groups = groups.join(", ")
    )
}

/// Which metric breaks its threshold, if any.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Failing {
    Nothing,
    ErrorRate,
    Latency,
}

impl Failing {
    /// One of the two metrics, at random.
    fn either(rng: &mut Rng) -> Self {
        if rng.chance(0.5) {
            Failing::ErrorRate
        } else {
            Failing::Latency
        }
    }
}

/// What the connectors would have observed for `p` at `at` (a minute before, as they refresh).
fn evidence_at(
    p: &Plan,
    needs: &needs::Needs,
    at: DateTime<Utc>,
    failing: Failing,
    rng: &mut Rng,
) -> Vec<EvidenceItem> {
    let seen = at - Duration::minutes(1);
    let item = |source: &str, connector: &str, summary: String| EvidenceItem {
        observed_at: Some(seen),
        connector: Some(connector.into()),
        summary: Some(summary),
        ..EvidenceItem::new(source, EvidenceStatus::Complete)
    };
    let replicas = if p.env == "production" { 6 } else { 2 };
    let mut out = Vec::new();
    for source in &needs.sources {
        out.push(match source.as_str() {
            "workload-health" => EvidenceItem {
                targets: Some(release_passport::api::passport::Targets {
                    total: replicas,
                    passing: replicas,
                }),
                ..item(
                    source,
                    "cluster",
                    format!(
                        "Deployment {} {} rolled out: {replicas}/{replicas} ready, 0 restarts",
                        p.service, p.version
                    ),
                )
            },
            "gitops-sync" if p.gitops == "argo" => item(
                source,
                "argocd",
                format!(
                    "Application {}-prod Synced to {}, Healthy",
                    p.service, p.commit
                ),
            ),
            "gitops-sync" => item(
                source,
                "flux",
                format!(
                    "Kustomization {} applied main@sha1:{}, Ready",
                    p.service, p.commit
                ),
            ),
            "ci" => item(
                source,
                "github",
                format!(
                    "release.yaml run {} succeeded for {}",
                    7000 + rng.below(1800),
                    p.commit
                ),
            ),
            "journeys" => EvidenceItem {
                targets: Some(release_passport::api::passport::Targets {
                    total: 4,
                    passing: 4,
                }),
                ..item(
                    source,
                    "journeys",
                    "browse, add to cart, pay, receipt: all within budget".into(),
                )
            },
            "card-provider-status" => {
                item(source, "card-provider", "All Systems Operational".into())
            }
            other => item(other, "manual", format!("{other} recorded")),
        });
    }
    for need in &needs.metrics {
        let latency = need.query.text.contains("duration_seconds");
        let value = match (latency, failing) {
            (true, Failing::Latency) => 0.62 + rng.below(300) as f64 / 1000.0,
            (true, _) => 0.15 + rng.below(200) as f64 / 1000.0,
            (false, Failing::ErrorRate) => 0.055 + rng.below(300) as f64 / 10_000.0,
            (false, _) => 0.001 + rng.below(50) as f64 / 10_000.0,
        };
        let summary = if latency {
            format!("p99 {:.0}ms", value * 1000.0)
        } else {
            format!("5xx ratio {:.2}%", value * 100.0)
        };
        out.push(EvidenceItem {
            query: Some(need.query.to_string()),
            value: Some(value),
            ..item(
                if latency { "p99-latency" } else { "error-rate" },
                "prometheus",
                summary,
            )
        });
    }
    if let (Some(_), Some((_, _, commit))) = (&needs.rollback, &p.previous)
        && p.gitops == "argo"
    {
        let entry = p.previous_entry.unwrap();
        let app = format!(
            "{}-{}",
            p.service,
            if p.env == "production" { "prod" } else { p.env }
        );
        out.push(item(
            release_passport::engine::ROLLBACK_REVISION_SOURCE,
            "argocd",
            format!(
                "Application {app} history entry {entry} deployed {commit}: argocd app rollback {app} {entry}"
            ),
        ));
    }
    out
}

/// Decides `plan` at each moment a controller would have, and returns its passport.
fn decide(
    plan: &Plan,
    policies: &[Arc<CompiledPolicy>],
    bundle: &Bundle,
    rng: &mut Rng,
) -> ReleasePassport {
    let release = bundle
        .releases
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(plan.name.as_str()))
        .unwrap();
    let needs = {
        let mut n = needs::needs(release, policies, None);
        n.rollback = plan.previous.as_ref().map(|(name, version, commit)| {
            PreviousRelease {
                name: name.clone(),
                version: version.clone(),
                revision: commit.clone(),
                decision: Some(Decision::Allow),
            }
            .need()
        });
        n
    };
    let previous = plan
        .previous
        .as_ref()
        .map(|(name, version, commit)| PreviousRelease {
            name: name.clone(),
            version: version.clone(),
            revision: commit.clone(),
            decision: Some(Decision::Allow),
        });
    let mut status = None;
    let mut evaluation = None;
    // The first reconcile comes once the metric rules' 5m windows have passed since the start.
    let mut at = plan.created + Duration::minutes(rng.between(7, 12));
    let mut watch_checked = false;
    for _ in 0..1000 {
        let watching = status
            .as_ref()
            .and_then(|s: &release_passport::api::passport::ReleasePassportStatus| s.watch.as_ref())
            .is_some_and(|w| w.started_at.is_some());
        let failing = match plan.fate {
            Fate::Blocked => plan.breaks,
            Fate::WatchFails if watching => Failing::ErrorRate,
            _ => Failing::Nothing,
        };
        let evidence = evidence_at(plan, &needs, at, failing, rng);
        let e = evaluate(&Input {
            release,
            policies,
            approvals: &bundle.approvals,
            waivers: &[],
            evidence: &evidence,
            previous: status.as_ref(),
            previous_release: previous.as_ref(),
            now: at,
            clock_skew: provenance::DEFAULT_CLOCK_SKEW,
        });
        let decided = e.status.decision;
        let watch = e.status.watch.clone();
        status = Some(e.status.clone());
        evaluation = Some(e.clone());
        let next = match decided {
            Some(Decision::Block) => None,
            Some(Decision::Allow) => match watch.as_ref().map(|w| (w.phase, w.started_at)) {
                Some((WatchPhase::Watching, Some(start))) if !watch_checked => {
                    watch_checked = true;
                    Some(if plan.fate == Fate::WatchFails {
                        start + Duration::minutes(rng.between(6, 20))
                    } else {
                        start + Duration::minutes(31)
                    })
                }
                _ => None,
            },
            _ => {
                // Held: the next approval, or the moment the engine said it changes by itself
                // (a freeze lifting), whichever comes first.
                let approval = plan.approvals.iter().map(|a| a.2).filter(|t| *t > at).min();
                let by_itself = e.next_review.filter(|t| *t > at);
                match (approval, by_itself) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        };
        match next {
            Some(t) => at = t,
            None => break,
        }
    }
    let mut passport = release_passport::decide::passport_for(release, &evaluation.unwrap());
    passport.metadata.creation_timestamp = release.metadata.creation_timestamp.clone();
    passport
}

fn shop_policies() -> Vec<Arc<CompiledPolicy>> {
    let mut bundle = Bundle::default();
    let text = std::fs::read_to_string("examples/shop/policies.yaml").unwrap();
    load_str("examples/shop/policies.yaml", &text, "shop", &mut bundle).unwrap();
    bundle.compiled_policies()
}

/// Every release of the 90 days, in the order they were created.
fn plans(rng: &mut Rng) -> Vec<Plan> {
    let end: DateTime<Utc> = "2026-11-24T06:00:00Z".parse().unwrap();
    let start = end - Duration::days(90);
    let services = [
        Service {
            name: "checkout",
            author: "bob",
            versions: versions_ending(rng, (2, 3, 1), 34),
            gitops: "argo",
        },
        Service {
            name: "catalog",
            author: "frank",
            versions: versions_ending(rng, (1, 11, 4), 30),
            gitops: "flux",
        },
        Service {
            name: "payments",
            author: "erin",
            versions: versions_ending(rng, (5, 0, 2), 26),
            gitops: "argo",
        },
    ];
    let approvers: [(&str, &[&str]); 3] = [
        ("alice", &["sre"]),
        ("carol", &["payments-leads"]),
        ("gina", &["payments-leads", "sre"]),
    ];
    let mut out = Vec::new();
    for s in &services {
        let span = (end - start).num_minutes();
        let step = span / i64::try_from(s.versions.len()).unwrap();
        let mut last_allowed: BTreeMap<&str, (String, String, String)> = BTreeMap::new();
        for (i, version) in s.versions.iter().enumerate() {
            let slot = start + Duration::minutes(step * i64::try_from(i).unwrap());
            let created = slot + Duration::minutes(rng.between(0, step / 2));
            // Working hours, as people release.
            let created = created
                .date_naive()
                .and_hms_opt(u32::try_from(rng.between(8, 16)).unwrap(), 0, 0)
                .unwrap()
                .and_utc()
                + Duration::minutes(rng.between(0, 59));
            let committed = created - Duration::hours(rng.between(2, 30));
            let commit = if s.name == "checkout" && version == "2.3.0" {
                ROLLBACK_TARGET_COMMIT.to_string()
            } else {
                rng.commit()
            };
            let last = i + 1 == s.versions.len();
            let target = s.name == "checkout" && version == "2.3.0";
            let staging_fate = if !last && !target && rng.chance(0.05) {
                Fate::Blocked
            } else {
                Fate::Fine
            };
            let staging = Plan {
                name: name_of(s.name, "staging", version, ""),
                service: s.name,
                env: "staging",
                version: version.clone(),
                commit: commit.clone(),
                committed,
                created,
                fate: staging_fate,
                breaks: Failing::either(rng),
                hotfix: false,
                previous: last_allowed.get("staging").cloned(),
                previous_entry: None,
                approvals: Vec::new(),
                gitops: s.gitops,
                author: s.author,
            };
            if staging.fate == Fate::Fine {
                last_allowed.insert(
                    "staging",
                    (staging.name.clone(), version.clone(), commit.clone()),
                );
            }
            let promoted = staging.fate == Fate::Fine && !last && (rng.chance(0.6) || target);
            out.push(staging);
            if !promoted {
                continue;
            }
            let prod_created = created + Duration::hours(rng.between(2, 20));
            let roll = rng.below(100);
            let fate = if target {
                Fate::Fine
            } else if roll < 6 {
                Fate::Blocked
            } else if roll < 16 {
                Fate::WatchFails
            } else {
                Fate::Fine
            };
            let wait = Duration::minutes(if rng.chance(0.45) {
                rng.between(10, 300)
            } else {
                rng.between(0, 2)
            });
            let approvals = if s.name == "payments" {
                vec![
                    (approvers[1].0, approvers[1].1, prod_created + wait),
                    (
                        approvers[2].0,
                        approvers[2].1,
                        prod_created + wait + Duration::minutes(rng.between(1, 40)),
                    ),
                ]
            } else {
                vec![(approvers[0].0, approvers[0].1, prod_created + wait)]
            };
            let prod = Plan {
                name: name_of(s.name, "production", version, ""),
                service: s.name,
                env: "production",
                version: version.clone(),
                commit: commit.clone(),
                committed,
                created: prod_created,
                fate,
                breaks: Failing::either(rng),
                hotfix: false,
                previous: last_allowed.get("production").cloned(),
                previous_entry: None,
                approvals,
                gitops: s.gitops,
                author: s.author,
            };
            let replaced = prod.previous.clone();
            if fate != Fate::Blocked {
                last_allowed.insert(
                    "production",
                    (prod.name.clone(), version.clone(), commit.clone()),
                );
            }
            out.push(prod);
            if fate == Fate::WatchFails {
                // Back out: redeploy the version before, or ship a hotfix of this one.
                let fix_at = prod_created + Duration::hours(rng.between(1, 5));
                let (name, fix_version, fix_commit, hotfix) = match (&replaced, rng.chance(0.5)) {
                    (Some((_, v, c)), true) => (
                        name_of(
                            s.name,
                            "production",
                            v,
                            &format!("-redeploy-{}", version.replace('.', "-")),
                        ),
                        v.clone(),
                        c.clone(),
                        false,
                    ),
                    _ => {
                        let v = format!("{version}-hotfix.1");
                        (name_of(s.name, "production", &v, ""), v, rng.commit(), true)
                    }
                };
                let wait = Duration::minutes(rng.between(0, 2));
                let approvals = if s.name == "payments" {
                    vec![
                        (approvers[1].0, approvers[1].1, fix_at + wait),
                        (approvers[2].0, approvers[2].1, fix_at + wait),
                    ]
                } else {
                    vec![(approvers[0].0, approvers[0].1, fix_at + wait)]
                };
                let fix = Plan {
                    name,
                    service: s.name,
                    env: "production",
                    version: fix_version.clone(),
                    commit: fix_commit.clone(),
                    committed: fix_at - Duration::minutes(40),
                    created: fix_at,
                    fate: Fate::Fine,
                    breaks: Failing::Nothing,
                    hotfix,
                    previous: last_allowed.get("production").cloned(),
                    previous_entry: None,
                    approvals,
                    gitops: s.gitops,
                    author: s.author,
                };
                last_allowed.insert("production", (fix.name.clone(), fix_version, fix_commit));
                out.push(fix);
            }
        }
    }
    out.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    out
}

/// The Argo CD history entry the live recording (examples/shop/evidence.yaml) names for each
/// Argo CD service's last production release: the history's entries count up to it.
const LIVE_ENTRIES: [(&str, u64); 2] = [("checkout", 41), ("payments", 57)];

/// Numbers every deployed release of an Argo CD service as Argo CD numbers an application's
/// history — one entry per sync, counting up in time (production ending at the live
/// recording's entry, staging from 1) — and gives each plan the entry of the release it
/// replaces (it named random, backwards-running ones before).
fn number_history_entries(plans: &mut [Plan]) {
    let mut entries: BTreeMap<String, u64> = BTreeMap::new();
    for (service, live) in LIVE_ENTRIES {
        for env in ["staging", "production"] {
            let deployed: Vec<&Plan> = plans
                .iter()
                .filter(|p| p.service == service && p.env == env && p.fate != Fate::Blocked)
                .collect();
            let count = u64::try_from(deployed.len()).unwrap();
            let first = if env == "production" {
                live + 1 - count
            } else {
                1
            };
            for (i, p) in deployed.into_iter().enumerate() {
                entries.insert(p.name.clone(), first + u64::try_from(i).unwrap());
            }
        }
    }
    for p in plans.iter_mut() {
        p.previous_entry = p
            .previous
            .as_ref()
            .and_then(|(name, _, _)| entries.get(name).copied());
    }
}

fn render(passports: &[&ReleasePassport], header: &str) -> String {
    let mut out = String::from(header);
    for p in passports {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(p).unwrap());
    }
    out
}

/// The history as the engine decides it now: (shop-90d.yaml, examples/shop/history.yaml).
fn generate() -> (String, String) {
    let mut rng = Rng(20_261_125);
    let mut plans = plans(&mut rng);
    number_history_entries(&mut plans);
    let mut bundle = Bundle::default();
    for p in &plans {
        load_str("generated", &release_yaml(p), "shop", &mut bundle).unwrap();
        for (who, groups, at) in &p.approvals {
            load_str(
                "generated",
                &approval_yaml(&p.name, who, groups, *at),
                "shop",
                &mut bundle,
            )
            .unwrap();
        }
    }
    let policies = shop_policies();
    let passports: Vec<ReleasePassport> = plans
        .iter()
        .map(|p| decide(p, &policies, &bundle, &mut rng))
        .collect();
    let live = {
        let mut b = Bundle::default();
        let text = std::fs::read_to_string("examples/shop/releases.yaml").unwrap();
        load_str("examples/shop/releases.yaml", &text, "shop", &mut b).unwrap();
        b.releases
    };
    let targets: Vec<&str> = live
        .iter()
        .filter_map(|r| r.spec.previous.as_deref())
        .collect();
    for t in &targets {
        assert!(
            passports
                .iter()
                .any(|p| p.metadata.name.as_deref() == Some(*t)
                    && p.status.as_ref().and_then(|s| s.decision) == Some(Decision::Allow)),
            "a live release's previous release {t} is not an allowed one of the history"
        );
    }
    let (target, rest): (Vec<&ReleasePassport>, Vec<&ReleasePassport>) =
        passports.iter().partition(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| targets.contains(&n))
        });
    let history = render(
        &rest,
        "# 90 days of the example shop's passports, decided by the engine from the shop's policies\n\
         # (tests/demo_history.rs writes it: PASSPORT_BLESS=1 cargo test --test integration demo_history).\n",
    );
    let recording = "---\n# When the history was recorded: `passport metrics -f` reads it as of this moment, whatever\n\
                     # today's date (as `evaluate` and `demo` read the shop's evidence).\n\
                     apiVersion: releasepassport.io/v1alpha1\nkind: EvidenceRecording\nrecordedAt: \"2026-11-25T14:00:00Z\"\n";
    let shop = render(
        &target,
        "# Passports recorded earlier: the releases the live Releases replace (their spec.previous),\n\
         # which their rollback readiness points to (tests/demo_history.rs writes them with the history).\n",
    );
    (history + recording, shop)
}

#[test]
fn the_demo_history_is_what_the_engine_decides() {
    let (history, shop) = generate();
    if std::env::var_os("PASSPORT_BLESS").is_some() {
        std::fs::write(HISTORY, &history).unwrap();
        std::fs::write(SHOP_HISTORY, &shop).unwrap();
    }
    assert!(
        std::fs::read_to_string(HISTORY).unwrap() == history
            && std::fs::read_to_string(SHOP_HISTORY).unwrap() == shop,
        "the demo history is not what the engine decides from the shop's policies: \
         PASSPORT_BLESS=1 cargo test --test integration demo_history"
    );
}

/// Every passport of the committed history files.
fn recorded_passports() -> Vec<ReleasePassport> {
    let mut bundle = Bundle::default();
    for file in [HISTORY, SHOP_HISTORY] {
        load_str(
            file,
            &std::fs::read_to_string(file).unwrap(),
            "shop",
            &mut bundle,
        )
        .unwrap();
    }
    bundle.passports
}

/// No recorded decision precedes an input it counts (#32): every approval a passport counted
/// was given before the decision that stands, every decision came after its release was
/// created, and no evidence it shows was observed before the release started.
#[test]
fn no_decision_in_the_history_precedes_what_it_counts() {
    let mut checked = 0;
    for p in &recorded_passports() {
        let name = p.metadata.name.as_deref().unwrap();
        let status = p.status.as_ref().unwrap();
        let created = release_passport::api::common::created_at(&p.metadata);
        for t in &status.timeline {
            assert!(
                created.is_none_or(|c| c <= t.at),
                "{name}: decided {} before it was created",
                t.at
            );
        }
        let decided = status.decided_at().unwrap();
        if status.decision == Some(Decision::Allow) {
            for r in status.approvals.iter().flat_map(|a| &a.records) {
                if r.not_counted.is_none() {
                    let given = r.at.unwrap();
                    assert!(
                        given <= decided,
                        "{name}: allowed at {decided} counting {}'s approval of {given}",
                        r.approver
                    );
                    checked += 1;
                }
            }
        }
        if let Some(started) = status.started_at {
            for e in &status.evidence {
                assert!(
                    e.observed_at.is_none_or(|o| o >= started),
                    "{name}: {} observed before the start",
                    e.source
                );
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} counted approvals were checked"
    );
}

/// The history's Argo CD rollback targets read as Argo CD numbers them (#32): every rollback
/// command names its history entry, and an application's entries count up in time.
#[test]
fn argo_history_entries_count_up_in_time() {
    let confirmed = regex::Regex::new(
        r"Application (\S+) history entry (\d+) deployed \S+: argocd app rollback (\S+) (\d+)$",
    )
    .unwrap();
    let mut by_app: BTreeMap<String, Vec<(DateTime<Utc>, u64)>> = BTreeMap::new();
    for p in &recorded_passports() {
        let Some(r) = p.status.as_ref().and_then(|s| s.rollback.as_ref()) else {
            continue;
        };
        if !r.ready || !r.reason.contains("history entry") {
            continue;
        }
        let c = confirmed
            .captures(&r.reason)
            .unwrap_or_else(|| panic!("{}", r.reason));
        assert_eq!((&c[1], &c[2]), (&c[3], &c[4]), "{}", r.reason);
        let created = release_passport::api::common::created_at(&p.metadata).unwrap();
        by_app
            .entry(c[1].to_string())
            .or_default()
            .push((created, c[2].parse().unwrap()));
    }
    assert!(by_app.contains_key("checkout-prod") && by_app.contains_key("payments-prod"));
    for (app, mut entries) in by_app {
        entries.sort();
        assert!(
            entries.windows(2).all(|w| w[0].1 <= w[1].1),
            "{app}'s history entries run backwards: {entries:?}"
        );
    }
}
