//! The release pipeline, written once for the CLI and the controller: look up what a
//! release's decision reads ([`Lookup`]: a file bundle, or the controller's watch caches),
//! gather it ([`gather`]), evaluate it (the pure engine) and build the passport object
//! ([`passport_for`]). Writing the passport is the controller's; printing it the CLI's.

pub mod bundle;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kube::api::ObjectMeta;
use kube::core::Resource;

use crate::api::common::ReleaseRef;
use crate::api::{
    Approval, Decision, Release, ReleasePassport, ReleasePassportSpec, ReleasePassportStatus,
    Waiver, namespace_of,
};
use crate::engine::needs::Needs;
use crate::engine::{self, CompiledPolicy, Evaluation, EvidenceItem, Input, PreviousRelease};

pub use bundle::{Decided, decide_all, with_recorded};

/// Where a release's inputs come from.
pub trait Lookup {
    /// Every compiled policy of `namespace` (the engine picks those that select a release).
    fn policies(&self, namespace: &str) -> Vec<Arc<CompiledPolicy>>;
    /// `release`'s approvals ([`engine::approval_applies`]; the engine checks again).
    fn approvals(&self, release: &Release) -> Vec<Approval>;
    /// The waivers that apply to `release` ([`engine::waiver_applies`]).
    fn waivers(&self, release: &Release) -> Vec<Waiver>;
    fn release(&self, namespace: &str, name: &str) -> Option<Release>;
    fn passport(&self, namespace: &str, name: &str) -> Option<Arc<ReleasePassport>>;
    /// The decision reached for `name` earlier in the same run, when several releases are
    /// decided together (it outranks the decision its passport recorded).
    fn decided(&self, _namespace: &str, _name: &str) -> Option<Decision> {
        None
    }
    /// The evidence `release` reads.
    fn evidence(&self, release: &Release, needs: &Needs, now: DateTime<Utc>) -> Vec<EvidenceItem>;
    /// How far in the future an observation may be dated.
    fn clock_skew(&self) -> chrono::Duration {
        engine::provenance::DEFAULT_CLOCK_SKEW
    }
}

/// Everything one decision reads.
pub struct Inputs {
    pub policies: Vec<Arc<CompiledPolicy>>,
    pub approvals: Vec<Approval>,
    pub waivers: Vec<Waiver>,
    /// The release's passport as last recorded.
    pub passport: Option<Arc<ReleasePassport>>,
    pub previous_release: Option<PreviousRelease>,
    pub needs: Needs,
    pub evidence: Vec<EvidenceItem>,
    pub clock_skew: chrono::Duration,
}

/// Looks up and gathers what `release`'s decision reads at `now`.
pub fn gather(lookup: &impl Lookup, release: &Release, now: DateTime<Utc>) -> Inputs {
    let ns = namespace_of(&release.metadata);
    let name = release.metadata.name.as_deref().unwrap_or("");
    let policies = lookup.policies(ns);
    let previous_release = previous_release(lookup, release);
    let needs = needs_with(release, &policies, previous_release.as_ref());
    let evidence = lookup.evidence(release, &needs, now);
    Inputs {
        approvals: lookup.approvals(release),
        waivers: lookup.waivers(release),
        passport: lookup.passport(ns, name),
        policies,
        previous_release,
        needs,
        evidence,
        clock_skew: lookup.clock_skew(),
    }
}

/// What `release`'s policies read, plus the rollback target connectors should confirm.
pub fn needs(lookup: &impl Lookup, release: &Release, policies: &[Arc<CompiledPolicy>]) -> Needs {
    needs_with(
        release,
        policies,
        previous_release(lookup, release).as_ref(),
    )
}

fn needs_with(
    release: &Release,
    policies: &[Arc<CompiledPolicy>],
    previous: Option<&PreviousRelease>,
) -> Needs {
    let mut needs = engine::needs::needs(release, policies, previous.map(|p| p.version.as_str()));
    needs.rollback = previous.map(PreviousRelease::need);
    needs
}

/// The release `spec.previous` names: its version and revision from the Release (or, once it
/// is gone, its passport), its decision from this run or else its passport.
pub fn previous_release(lookup: &impl Lookup, release: &Release) -> Option<PreviousRelease> {
    let ns = namespace_of(&release.metadata);
    let prev = release.spec.previous.as_deref()?;
    let passport = lookup.passport(ns, prev);
    let (version, revision) = match lookup.release(ns, prev) {
        Some(r) => (r.spec.version.clone(), r.expected_revision()),
        None => {
            let v = passport.as_ref()?.spec.version.clone();
            (v.clone(), v)
        }
    };
    Some(PreviousRelease {
        name: prev.to_string(),
        version,
        revision,
        decision: lookup
            .decided(ns, prev)
            .or_else(|| passport.and_then(|p| p.status.as_ref().and_then(|s| s.decision))),
    })
}

/// Decides `release` from its inputs; `current` is the status it continues from (unchanged
/// conditions keep their transition times).
pub fn evaluate(
    release: &Release,
    inputs: &Inputs,
    current: Option<&ReleasePassportStatus>,
    now: DateTime<Utc>,
) -> Evaluation {
    engine::evaluate(&Input {
        release,
        policies: &inputs.policies,
        approvals: &inputs.approvals,
        waivers: &inputs.waivers,
        evidence: &inputs.evidence,
        previous: current,
        previous_release: inputs.previous_release.as_ref(),
        now,
        clock_skew: inputs.clock_skew,
    })
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
