//! Decides every Release of a [`Bundle`]: the orchestration shared by `passport evaluate`,
//! `passport demo` and the tests. Pure: `now` is an argument.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::api::ObjectMeta;
use kube::core::Resource;

use crate::api::common::ReleaseRef;
use crate::api::{Decision, Release, ReleasePassport, ReleasePassportSpec};
use crate::engine::{self, CompiledPolicy, Evaluation, Input, PreviousRelease};
use crate::load::Bundle;

/// One release and its decision.
#[derive(Clone, Debug)]
pub struct Decided {
    pub release: Release,
    pub passport: ReleasePassport,
    pub evaluation: Evaluation,
}

/// Decides every release in the bundle at `now`, in the bundle's order.
pub fn decide_all(bundle: &Bundle, now: DateTime<Utc>) -> Vec<Decided> {
    let policies: Vec<Arc<CompiledPolicy>> = bundle.compiled_policies();
    let no_evidence = Vec::new();
    let evaluate = |release: &Release, previous: Option<&PreviousRelease>| {
        let evidence = bundle.evidence.get(&release.key()).unwrap_or(&no_evidence);
        let recorded = bundle.passports.iter().find(|p| {
            p.metadata.namespace == release.metadata.namespace
                && p.metadata.name == release.metadata.name
        });
        engine::evaluate(&Input {
            release,
            policies: &policies,
            approvals: &bundle.approvals,
            waivers: &bundle.waivers,
            evidence,
            previous: recorded.and_then(|p| p.status.as_ref()),
            previous_release: previous,
            now,
        })
    };
    // Rollback readiness needs the previous release's own decision, so decide in two passes.
    let first: BTreeMap<String, PreviousRelease> = bundle
        .releases
        .iter()
        .map(|r| {
            let decision = evaluate(r, None).status.decision.unwrap_or(Decision::Hold);
            let previous = PreviousRelease {
                name: r.metadata.name.clone().unwrap_or_default(),
                version: r.spec.version.clone(),
                revision: r.expected_revision(),
                decision: Some(decision),
            };
            (r.key(), previous)
        })
        .collect();
    bundle
        .releases
        .iter()
        .map(|release| {
            let previous = release
                .spec
                .previous
                .as_ref()
                .and_then(|name| previous_release(bundle, &first, release, name));
            let evaluation = evaluate(release, previous.as_ref());
            Decided {
                passport: passport_for(release, &evaluation),
                release: release.clone(),
                evaluation,
            }
        })
        .collect()
}

/// The release `name` (same namespace as `release`): decided in this run, or else known from a
/// recorded passport.
fn previous_release(
    bundle: &Bundle,
    decided: &BTreeMap<String, PreviousRelease>,
    release: &Release,
    name: &str,
) -> Option<PreviousRelease> {
    let ns = release.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(p) = decided.get(&format!("{ns}/{name}")) {
        return Some(p.clone());
    }
    bundle
        .passports
        .iter()
        .find(|p| {
            p.metadata.namespace.as_deref() == Some(ns) && p.metadata.name.as_deref() == Some(name)
        })
        .map(|p| PreviousRelease {
            name: name.to_string(),
            version: p.spec.version.clone(),
            revision: p.spec.version.clone(),
            decision: p.status.as_ref().and_then(|s| s.decision),
        })
}

/// The passports just decided, then the recorded ones they do not replace (same namespace and
/// name): the history a bundle describes.
pub fn with_recorded(bundle: &Bundle, decided: Vec<ReleasePassport>) -> Vec<ReleasePassport> {
    let names: std::collections::BTreeSet<(Option<String>, Option<String>)> = decided
        .iter()
        .map(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()))
        .collect();
    let recorded = bundle
        .passports
        .iter()
        .filter(|p| !names.contains(&(p.metadata.namespace.clone(), p.metadata.name.clone())))
        .cloned();
    decided.into_iter().chain(recorded).collect()
}

/// A Release labelled with this (`"true"`) is a hotfix for the release it replaces.
pub const HOTFIX_LABEL: &str = "releasepassport.io/hotfix";

/// The ReleasePassport object for a release: same name and namespace, owned by the release.
pub fn passport_for(release: &Release, evaluation: &Evaluation) -> ReleasePassport {
    let mut passport = ReleasePassport::new(
        release.metadata.name.as_deref().unwrap_or_default(),
        ReleasePassportSpec {
            release_ref: ReleaseRef {
                name: release.metadata.name.clone().unwrap_or_default(),
            },
            service: release.spec.service.clone(),
            version: release.spec.version.clone(),
            environment: release.spec.environment.clone(),
            metric_labels: release.spec.scope.metric_labels.clone(),
            revision: release.spec.revision.clone(),
            hotfix: release
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(HOTFIX_LABEL))
                .is_some_and(|v| v == "true"),
        },
    );
    passport.metadata = ObjectMeta {
        name: release.metadata.name.clone(),
        namespace: release.metadata.namespace.clone(),
        labels: Some(
            [
                (
                    "releasepassport.io/service".to_string(),
                    release.spec.service.clone(),
                ),
                (
                    "releasepassport.io/environment".to_string(),
                    release.spec.environment.clone(),
                ),
            ]
            .into(),
        ),
        owner_references: release.controller_owner_ref(&()).map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    passport.status = Some(evaluation.status.clone());
    passport
}

/// The exit code of a set of decisions: 0 all Allow, 1 any Block, 2 otherwise (Hold).
pub fn exit_code<'a>(decisions: impl IntoIterator<Item = &'a Decision>) -> u8 {
    let mut code = 0;
    for d in decisions {
        match d {
            Decision::Block => return 1,
            Decision::Hold => code = 2,
            Decision::Allow => {}
        }
    }
    code
}
