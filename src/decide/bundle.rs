//! Deciding the releases of a file [`Bundle`]: `passport evaluate`, `passport demo`, exports
//! and the tests. Pure: `now` is an argument.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Inputs, Lookup, evaluate, gather, passport_for, previous_release};
use crate::api::{Approval, Decision, Keyed, ObjectKey, Release, ReleasePassport, Waiver};
use crate::engine::needs::Needs;
use crate::engine::{CompiledPolicy, Evaluation, EvidenceItem, approval_applies, waiver_applies};
use crate::load::Bundle;

/// One release and its decision.
#[derive(Clone, Debug)]
pub struct Decided {
    pub release: Release,
    pub passport: ReleasePassport,
    pub evaluation: Evaluation,
}

/// A bundle's objects, indexed once, as the pipeline asks for them.
pub struct BundleLookup<'a> {
    bundle: &'a Bundle,
    policies: Vec<Arc<CompiledPolicy>>,
    releases: HashMap<ObjectKey, &'a Release>,
    passports: HashMap<ObjectKey, Arc<ReleasePassport>>,
    /// Decisions of the first pass (see [`decide_all`]).
    decided: HashMap<ObjectKey, Decision>,
}

impl<'a> BundleLookup<'a> {
    pub fn new(bundle: &'a Bundle) -> Self {
        Self {
            bundle,
            policies: bundle.compiled_policies(),
            releases: bundle.releases.iter().map(|r| (r.key(), r)).collect(),
            passports: bundle
                .passports
                .iter()
                .map(|p| (p.key(), Arc::new(p.clone())))
                .collect(),
            decided: HashMap::new(),
        }
    }
}

impl Lookup for BundleLookup<'_> {
    fn policies(&self, namespace: &str) -> Vec<Arc<CompiledPolicy>> {
        self.policies
            .iter()
            .filter(|p| p.namespace == namespace)
            .cloned()
            .collect()
    }

    fn approvals(&self, release: &Release) -> Vec<Approval> {
        self.bundle
            .approvals
            .iter()
            .filter(|a| approval_applies(a, release))
            .cloned()
            .collect()
    }

    fn waivers(&self, release: &Release) -> Vec<Waiver> {
        self.bundle
            .waivers
            .iter()
            .filter(|w| waiver_applies(w, release))
            .cloned()
            .collect()
    }

    fn release(&self, namespace: &str, name: &str) -> Option<Release> {
        self.releases
            .get(&ObjectKey::new(namespace, name))
            .map(|r| (*r).clone())
    }

    fn passport(&self, namespace: &str, name: &str) -> Option<Arc<ReleasePassport>> {
        self.passports
            .get(&ObjectKey::new(namespace, name))
            .cloned()
    }

    fn decided(&self, namespace: &str, name: &str) -> Option<Decision> {
        self.decided.get(&ObjectKey::new(namespace, name)).copied()
    }

    /// A bundle's evidence is recorded per release: all of it is read.
    fn evidence(
        &self,
        release: &Release,
        _needs: &Needs,
        _now: DateTime<Utc>,
    ) -> Vec<EvidenceItem> {
        self.bundle
            .evidence
            .get(&release.key())
            .cloned()
            .unwrap_or_default()
    }
}

/// Decides every release in the bundle at `now`, in the bundle's order.
pub fn decide_all(bundle: &Bundle, now: DateTime<Utc>) -> Vec<Decided> {
    let mut lookup = BundleLookup::new(bundle);
    // Rollback readiness needs the previous release's own decision, so decide in two passes
    // over inputs gathered once: the first without predecessors, the second with the first's
    // decisions.
    let releases: Vec<Release> = bundle
        .releases
        .iter()
        .map(|r| bundle.with_recorded_start(r))
        .collect();
    let mut gathered: Vec<(&Release, Inputs)> = releases
        .iter()
        .map(|r| {
            let mut inputs = gather(&lookup, r, now);
            inputs.previous_release = None;
            (r, inputs)
        })
        .collect();
    lookup.decided = gathered
        .iter()
        .map(|(r, inputs)| {
            let current = inputs.passport.as_ref().and_then(|p| p.status.as_ref());
            let decision = evaluate(r, inputs, current, now)
                .status
                .decision
                .unwrap_or(Decision::Hold);
            (r.key(), decision)
        })
        .collect();
    for (r, inputs) in &mut gathered {
        inputs.previous_release = previous_release(&lookup, r);
        inputs.needs = super::needs_with(r, &inputs.policies, inputs.previous_release.as_ref());
    }
    gathered
        .into_iter()
        .map(|(release, inputs)| {
            let current = inputs.passport.as_ref().and_then(|p| p.status.as_ref());
            let evaluation = evaluate(release, &inputs, current, now);
            Decided {
                passport: passport_for(release, &evaluation),
                release: release.clone(),
                evaluation,
            }
        })
        .collect()
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
