//! The release pipeline's inputs from the watch caches (no client call): the controller's
//! [`Lookup`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::{Approval, Release, ReleasePassport, Waiver};
use crate::decide::Lookup;
use crate::engine::needs::Needs;
use crate::engine::{CompiledPolicy, EvidenceItem, approval_applies, waiver_applies};
use crate::evidence;

use super::context::Context;

/// The caches and evidence sources of one controller, as the pipeline asks for them.
pub struct CacheLookup<'a>(pub &'a Context);

impl Lookup for CacheLookup<'_> {
    fn policies(&self, namespace: &str) -> Vec<Arc<CompiledPolicy>> {
        self.0.compiled_policies(namespace)
    }

    fn approvals(&self, release: &Release) -> Vec<Approval> {
        self.0
            .stores
            .approvals
            .state()
            .iter()
            .filter(|a| approval_applies(a, release))
            .map(|a| (**a).clone())
            .collect()
    }

    fn waivers(&self, release: &Release) -> Vec<Waiver> {
        self.0
            .stores
            .waivers
            .state()
            .iter()
            .filter(|w| waiver_applies(w, release))
            .map(|w| (**w).clone())
            .collect()
    }

    fn release(&self, namespace: &str, name: &str) -> Option<Release> {
        self.0.stores.release(namespace, name)
    }

    fn passport(&self, namespace: &str, name: &str) -> Option<Arc<ReleasePassport>> {
        self.0.stores.passport(namespace, name)
    }

    fn evidence(&self, release: &Release, needs: &Needs, now: DateTime<Utc>) -> Vec<EvidenceItem> {
        evidence::gather(&self.0.sources, release, needs, now)
    }

    fn clock_skew(&self) -> chrono::Duration {
        self.0.clock_skew
    }
}
