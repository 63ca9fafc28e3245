//! Step 1 of the Release pipeline (no client required): read from the caches everything a
//! decision needs.

use std::sync::Arc;

use crate::api::{Approval, Release, ReleasePassport, Waiver};
use crate::engine::needs::Needs;
use crate::engine::{CompiledPolicy, PreviousRelease, approval_applies, waiver_applies};

use super::context::Context;

/// The objects one Release's decision reads.
pub struct Dereferenced {
    pub policies: Vec<Arc<CompiledPolicy>>,
    pub approvals: Vec<Approval>,
    pub waivers: Vec<Waiver>,
    pub passport: Option<Arc<ReleasePassport>>,
    pub previous_release: Option<PreviousRelease>,
}

pub fn dereference(ctx: &Context, release: &Release) -> Dereferenced {
    let ns = release.metadata.namespace.as_deref().unwrap_or("default");
    let name = release.metadata.name.as_deref().unwrap_or("");
    let approvals = ctx
        .stores
        .approvals
        .state()
        .iter()
        .filter(|a| approval_applies(a, release))
        .map(|a| (**a).clone())
        .collect();
    let waivers = ctx
        .stores
        .waivers
        .state()
        .iter()
        .filter(|w| waiver_applies(w, release))
        .map(|w| (**w).clone())
        .collect();
    Dereferenced {
        policies: ctx.compiled_policies(ns),
        approvals,
        waivers,
        passport: ctx.stores.passport(ns, name),
        previous_release: previous_release(ctx, release),
    }
}

/// The release `spec.previous` names, from the caches: its version and revision from the
/// Release (or, once it is gone, its passport) and its decision from the passport.
pub fn previous_release(ctx: &Context, release: &Release) -> Option<PreviousRelease> {
    let ns = release.metadata.namespace.as_deref().unwrap_or("default");
    let prev = release.spec.previous.as_deref()?;
    let passport = ctx.stores.passport(ns, prev);
    let (version, revision) = match ctx.stores.release(ns, prev) {
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
        decision: passport.and_then(|p| p.status.as_ref().and_then(|s| s.decision)),
    })
}

/// What a release's policies read, plus the rollback target connectors should confirm.
pub fn release_needs(ctx: &Context, release: &Release, policies: &[Arc<CompiledPolicy>]) -> Needs {
    let mut needs = crate::engine::needs::needs(release, policies);
    needs.rollback = previous_release(ctx, release).map(|p| p.need());
    needs
}
