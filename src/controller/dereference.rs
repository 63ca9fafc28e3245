//! Step 1 of the Release pipeline (no client required): read from the caches everything a
//! decision needs.

use std::sync::Arc;

use crate::api::{Approval, Release, ReleasePassport, Waiver};
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
    let previous_release = release.spec.previous.as_deref().and_then(|prev| {
        let passport = ctx.stores.passport(ns, prev);
        let version = ctx
            .stores
            .release(ns, prev)
            .map(|r| r.spec.version)
            .or_else(|| passport.as_ref().map(|p| p.spec.version.clone()))?;
        Some(PreviousRelease {
            name: prev.to_string(),
            version,
            decision: passport.and_then(|p| p.status.as_ref().and_then(|s| s.decision)),
        })
    });
    Dereferenced {
        policies: ctx.compiled_policies(ns),
        approvals,
        waivers,
        passport: ctx.stores.passport(ns, name),
        previous_release,
    }
}
