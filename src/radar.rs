//! Radar: the runtime picture behind the decisions — per service and environment health,
//! connector freshness, journey results, third-party signals and a confidence figure. Pure:
//! computed from passports and Connectors at `now`. Advisory only: nothing here decides.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::api::passport::{EvidenceEntry, Targets};
use crate::api::{
    Connector, ConnectorHealth, ConnectorType, Decision, EvidenceStatus, Keyed, ObjectKey,
    ReleasePassport,
};
use crate::connectors::kind::Answers;
use crate::connectors::kind_of;

/// The latest passport of one service in one environment.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceHealth {
    pub service: String,
    pub environment: String,
    /// `namespace/name` of the release the passport belongs to.
    pub release: ObjectKey,
    pub version: String,
    pub decision: Option<Decision>,
    /// The decision in the passport's words ("Allow (1 waived)").
    pub decision_label: String,
    pub evidence_complete: u32,
    pub evidence_total: u32,
    /// The release's target scopes — workloads, GitOps applications, journey steps — and how
    /// many of them have health evidence that is acceptable now ([`healthy_targets`]).
    pub targets: Targets,
}

/// How recent a connector's last success is, against its refresh interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freshness {
    /// Within two refresh intervals.
    Fresh,
    /// Within five.
    Late,
    /// Older.
    Stale,
    /// Never succeeded.
    Never,
    /// Its results are pushed or recorded by people: no interval to be late against.
    OnDelivery,
}

impl Freshness {
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Late => "late",
            Freshness::Stale => "stale",
            Freshness::Never => "never read",
            Freshness::OnDelivery => "on delivery",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorFreshness {
    pub connector: ObjectKey,
    pub type_: ConnectorType,
    pub health: Option<ConnectorHealth>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub freshness: Freshness,
    /// The last error, as the connector recorded it (already scrubbed).
    pub last_error: Option<String>,
    /// Releases (the latest of each target) whose evidence from this connector is Stale, with
    /// when it was last observed: a connector fresh overall is not fresh for these scopes.
    pub stale_scopes: Vec<StaleScope>,
}

/// A release whose evidence from a connector is Stale, and when that evidence was observed.
pub type StaleScope = (ObjectKey, Option<DateTime<Utc>>);

impl ConnectorFreshness {
    /// What is wrong with the connector, if anything: an unhealthy read, no read ever, a last
    /// success older than five refresh intervals, or a release's scope it has not reported
    /// recently enough. Overview's "connector issues", Radar's and Metrics' "without issues",
    /// Integrations and Settings all count with this.
    pub fn trouble(&self) -> Option<String> {
        if let Some(stale) = self.stale_for() {
            return Some(stale);
        }
        match (self.health, self.freshness) {
            (Some(h), _) if h != ConnectorHealth::Healthy => Some(match &self.last_error {
                Some(e) => format!("{h:?}: {e}"),
                None => format!("{h:?}"),
            }),
            (_, Freshness::Never) => Some("not checked yet: no read has succeeded".to_string()),
            (_, Freshness::Stale) => {
                Some("its last success is older than five refresh intervals".to_string())
            }
            _ => None,
        }
    }

    /// Its freshness in words, per scope too: "fresh", "fresh, stale for 1 release".
    pub fn freshness_words(&self) -> String {
        match self.stale_scopes.len() {
            0 => self.freshness.as_str().to_string(),
            n => format!(
                "{}, stale for {}",
                self.freshness.as_str(),
                crate::text::count(n, "release", "releases")
            ),
        }
    }

    /// "stale for shop/payments-staging-5-1-0 (last observed …)": the scopes this connector
    /// has not reported recently enough, however fresh its other reads are.
    fn stale_for(&self) -> Option<String> {
        if self.stale_scopes.is_empty() {
            return None;
        }
        let scopes: Vec<String> = self
            .stale_scopes
            .iter()
            .map(|(release, at)| match at {
                Some(at) => format!(
                    "{release} (last observed {})",
                    crate::engine::rules::time(*at)
                ),
                None => format!("{release} (never observed)"),
            })
            .collect();
        Some(format!(
            "has not reported the scope of {} recently enough: its evidence there is Stale",
            scopes.join(", ")
        ))
    }
}

/// One observation worth showing on its own (a journey, a third party's status).
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The release whose evidence it is.
    pub release: ObjectKey,
    pub service: String,
    pub environment: String,
    pub source: String,
    pub status: EvidenceStatus,
    pub summary: String,
    pub observed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Radar {
    pub services: Vec<ServiceHealth>,
    pub connectors: Vec<ConnectorFreshness>,
    pub journeys: Vec<Signal>,
    pub third_party: Vec<Signal>,
    /// Metrics compared with their baseline whose release median sits within a fifth of the
    /// tolerance of its limit ([`crate::api::passport::ComparisonSummary::near_the_line`]).
    pub near_the_line: Vec<Signal>,
    /// 0..1: the share of complete evidence across the latest passports, times the share of
    /// connectors without trouble ([`ConnectorFreshness::trouble`]; 1 when none are configured).
    pub confidence: f64,
}

/// The target scopes `evidence` reports on and how many are healthy now: an item that counts
/// targets (five workloads, three journey steps) counts each, an item about one target (a
/// GitOps application's sync) counts one; all of an item's targets are unhealthy unless the
/// item itself is acceptable now (Complete) — a Failed sync or Stale rollout is not healthy,
/// whatever it counted when it was read.
pub fn healthy_targets(
    evidence: &[EvidenceEntry],
    answers: impl Fn(&EvidenceEntry) -> Option<Answers>,
) -> Targets {
    let mut all = Targets::default();
    for e in evidence {
        let about_targets = matches!(
            answers(e),
            Some(Answers::Workloads | Answers::GitOps | Answers::Journeys)
        );
        if e.targets.is_none() && !about_targets {
            continue;
        }
        let counted = e.targets.unwrap_or(Targets {
            total: 1,
            passing: 1,
        });
        all.total += counted.total;
        if e.status == EvidenceStatus::Complete {
            all.passing += counted.passing;
        }
    }
    all
}

fn freshness(last: Option<DateTime<Utc>>, interval: Duration, now: DateTime<Utc>) -> Freshness {
    match last {
        None => Freshness::Never,
        Some(at) if now - at <= interval * 2 => Freshness::Fresh,
        Some(at) if now - at <= interval * 5 => Freshness::Late,
        Some(_) => Freshness::Stale,
    }
}

/// The newest passport of each namespace, service and environment, by position in
/// `passports` (a passport not yet stored counts as newest; the name breaks ties). Namespaces
/// stay apart: each is somebody's, and may be all they see. Overview, Releases' "latest" and
/// Radar all read this one definition.
pub fn latest_per_target<P: Borrow<ReleasePassport>>(
    passports: &[P],
) -> BTreeMap<(&str, String, String), usize> {
    let order = |p: &ReleasePassport| {
        (
            crate::api::common::created_order(&p.metadata),
            p.metadata.name.clone(),
        )
    };
    let mut latest: BTreeMap<(&str, String, String), usize> = BTreeMap::new();
    for (i, p) in passports.iter().map(Borrow::borrow).enumerate() {
        let k = (
            crate::api::namespace_of(&p.metadata),
            p.spec.service.clone(),
            p.spec.environment.clone(),
        );
        match latest.get(&k) {
            Some(q) if order(passports[*q].borrow()) >= order(p) => {}
            _ => {
                latest.insert(k, i);
            }
        }
    }
    latest
}

pub fn radar<P: Borrow<ReleasePassport>, C: Borrow<Connector>>(
    passports: &[P],
    connectors: &[C],
    now: DateTime<Utc>,
) -> Radar {
    let latest: BTreeMap<(&str, String, String), &ReleasePassport> = latest_per_target(passports)
        .into_iter()
        .map(|(k, i)| (k, passports[i].borrow()))
        .collect();
    let type_of = |namespace: &str, name: &str| {
        connectors
            .iter()
            .map(Borrow::borrow)
            .find(|c: &&Connector| {
                c.metadata.name.as_deref() == Some(name)
                    && crate::api::namespace_of(&c.metadata) == namespace
            })
            .map(|c| kind_of(c.spec.type_).about().answers)
    };
    let mut services = Vec::new();
    let mut journeys = Vec::new();
    let mut third_party = Vec::new();
    let mut near_the_line = Vec::new();
    // By connector: (release, last observed) of every Stale item of the latest passports.
    let mut stale: BTreeMap<ObjectKey, Vec<StaleScope>> = BTreeMap::new();
    let (mut complete, mut total) = (0u32, 0u32);
    for ((namespace, service, environment), p) in &latest {
        let status = p.status.clone().unwrap_or_default();
        let done = u32::try_from(
            status
                .evidence
                .iter()
                .filter(|e| e.status == EvidenceStatus::Complete)
                .count(),
        )
        .unwrap_or(0);
        let all = u32::try_from(status.evidence.len()).unwrap_or(0);
        complete += done;
        total += all;
        let targets = healthy_targets(&status.evidence, |e| {
            e.connector.as_deref().and_then(|c| type_of(namespace, c))
        });
        for e in &status.evidence {
            if e.status == EvidenceStatus::Stale
                && let Some(connector) = e.connector.as_deref()
            {
                stale
                    .entry(ObjectKey::new(*namespace, connector))
                    .or_default()
                    .push((p.key(), e.observed_at));
            }
            let signal = || Signal {
                release: p.key(),
                service: service.clone(),
                environment: environment.clone(),
                source: e.source.clone(),
                status: e.status,
                summary: e.summary.clone().unwrap_or_default(),
                observed_at: e.observed_at,
            };
            if let Some(c) = e.comparison.as_ref().filter(|c| c.near_the_line()) {
                let used = c.tolerance_used().unwrap_or_default();
                near_the_line.push(Signal {
                    summary: format!(
                        "used {}% of its tolerance: {} against a limit of {} ({})",
                        (used * 100.0).round(),
                        crate::api::policy::show_value(c.release_median, c.unit),
                        crate::api::policy::show_value(c.limit, c.unit),
                        c.baseline
                    ),
                    ..signal()
                });
            }
            match e.connector.as_deref().and_then(|c| type_of(namespace, c)) {
                Some(Answers::Journeys) => journeys.push(signal()),
                Some(Answers::ThirdPartyStatus) => third_party.push(signal()),
                None if e.source == "journeys" => journeys.push(signal()),
                _ => {}
            }
        }
        services.push(ServiceHealth {
            service: service.clone(),
            environment: environment.clone(),
            release: p.key(),
            version: p.spec.version.clone(),
            decision: status.decision,
            decision_label: status.decision_label(),
            evidence_complete: done,
            evidence_total: all,
            targets,
        });
    }
    let mut fresh: Vec<ConnectorFreshness> = connectors
        .iter()
        .map(Borrow::borrow)
        .map(|c: &Connector| {
            let interval = c
                .spec
                .refresh_interval
                .as_ref()
                .and_then(|d| d.parse().ok())
                .unwrap_or_else(|| Duration::minutes(1));
            let status = c.status.clone().unwrap_or_default();
            ConnectorFreshness {
                connector: c.key(),
                type_: c.spec.type_,
                health: status.health,
                last_success_at: status.last_success_at,
                freshness: {
                    let about = kind_of(c.spec.type_).about();
                    if about.pushed || !about.refreshed {
                        Freshness::OnDelivery
                    } else {
                        freshness(status.last_success_at, interval, now)
                    }
                },
                last_error: status.last_error,
                stale_scopes: stale.remove(&c.key()).unwrap_or_default(),
            }
        })
        .collect();
    fresh.sort_by(|a, b| a.connector.cmp(&b.connector));
    let connector_share = if fresh.is_empty() {
        1.0
    } else {
        fresh.iter().filter(|c| c.trouble().is_none()).count() as f64 / fresh.len() as f64
    };
    let evidence_share = if total == 0 {
        0.0
    } else {
        f64::from(complete) / f64::from(total)
    };
    Radar {
        services,
        connectors: fresh,
        journeys,
        third_party,
        near_the_line,
        confidence: (evidence_share * connector_share * 100.0).round() / 100.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::decide_all;

    #[test]
    fn the_demo_shop_on_the_radar() {
        let bundle = crate::examples::bundle().unwrap();
        let at = bundle.recorded_at.unwrap();
        let passports: Vec<ReleasePassport> = decide_all(&bundle, at)
            .into_iter()
            .map(|d| d.passport)
            .chain(bundle.passports.clone())
            .collect();
        let r = radar(&passports, &bundle.connectors, at);
        assert_eq!(r.services.len(), 6, "three services in two environments");
        let checkout = r
            .services
            .iter()
            .find(|s| s.service == "checkout" && s.environment == "production")
            .unwrap();
        assert_eq!(
            checkout.version, "2.3.1",
            "the live release, not the recorded 2.3.0"
        );
        assert_eq!(
            (checkout.evidence_complete, checkout.evidence_total),
            (6, 6),
            "five sources evidence and metric rules read, and the journeys an expression reads"
        );
        assert_eq!(
            checkout.targets,
            Targets {
                total: 11,
                passing: 11
            },
            "six workloads, four journey steps and its GitOps application"
        );
        let catalog = r
            .services
            .iter()
            .find(|s| s.service == "catalog" && s.environment == "production")
            .unwrap();
        assert_eq!(
            catalog.targets,
            Targets {
                total: 9,
                passing: 8
            },
            "five workloads and three journey steps healthy; its GitOps sync Failed"
        );
        assert!(
            !r.journeys.is_empty(),
            "journey evidence an expression reads is the passport's evidence too"
        );
        assert_eq!(r.third_party.len(), 1, "the card provider's status page");
        assert_eq!(r.third_party[0].status, EvidenceStatus::Complete);
        assert_eq!(r.connectors.len(), 10);
        assert!(
            r.connectors
                .iter()
                .all(|c| matches!(c.freshness, Freshness::Never | Freshness::OnDelivery)),
            "no connector has run"
        );
        assert!(
            r.confidence < 0.3,
            "no polled connector read anything: {}",
            r.confidence
        );
        let recorded = bundle.connectors_as_recorded();
        let r = radar(&passports, &recorded, at);
        let troubled: Vec<&ConnectorFreshness> = r
            .connectors
            .iter()
            .filter(|c| c.trouble().is_some())
            .collect();
        // Every polled connector answered the recording and the pushed ones wait for
        // deliveries, but the cluster connector's evidence of payments-staging 5.1.0 is Stale:
        // fresh overall, not for that scope — and the words say both. The search vendor's
        // status page (demo data) waits for its Secret.
        let names: Vec<&str> = troubled.iter().map(|c| c.connector.name.as_str()).collect();
        assert_eq!(names, ["cluster", "search-vendor-status"], "{troubled:?}");
        assert_eq!(
            troubled[1].health,
            Some(ConnectorHealth::CredentialRequired)
        );
        let cluster = troubled[0];
        assert_eq!(cluster.connector.name, "cluster");
        assert_eq!(cluster.freshness, Freshness::Fresh);
        assert_eq!(cluster.freshness_words(), "fresh, stale for 1 release");
        let trouble = cluster.trouble().unwrap();
        assert!(
            trouble.contains("shop/payments-staging-5-1-0") && trouble.contains("Stale"),
            "{trouble}"
        );
        assert!(r.confidence > 0.7 && r.confidence < 1.0, "{}", r.confidence);
    }

    #[test]
    fn freshness_against_the_refresh_interval() {
        let now = DateTime::from_timestamp(10_000, 0).unwrap_or_default();
        let m = Duration::minutes(1);
        assert_eq!(freshness(None, m, now), Freshness::Never);
        assert_eq!(
            freshness(Some(now - Duration::seconds(90)), m, now),
            Freshness::Fresh
        );
        assert_eq!(
            freshness(Some(now - Duration::minutes(4)), m, now),
            Freshness::Late
        );
        assert_eq!(
            freshness(Some(now - Duration::minutes(6)), m, now),
            Freshness::Stale
        );
    }
}
