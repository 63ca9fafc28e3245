//! What evidence a release's policies will read: the connectors use it to fetch exactly that,
//! once per distinct query, for every release that asks it.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::compile::{CompiledPolicy, MetricJudge, MetricRule, RuleKind};
use super::metric::MetricQuery;
use crate::api::Release;

/// One metric query a release needs, after `$labels` expansion.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricNeed {
    /// The Connector the rule names, if any (otherwise the namespace's Prometheus connector).
    pub connector: Option<String>,
    pub query: MetricQuery,
}

/// Everything the selected policies of one release read (enforced, simulated and watched rules).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub sources: BTreeSet<String>,
    pub metrics: BTreeSet<MetricNeed>,
    /// The previous release, when one is named and known: connectors check that its revision
    /// can still be returned to.
    pub rollback: Option<RollbackNeed>,
}

/// What a rollback would return to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackNeed {
    /// Its version (image tag or `app.kubernetes.io/version`).
    pub version: String,
    /// Its GitOps revision: the commit when known, else the version.
    pub revision: String,
}

/// Whether `release` leaves one of `policy`'s metric queries unscoped: the query uses `$labels`
/// and the release sets no `spec.scope.metricLabels`.
pub fn unscoped(policy: &CompiledPolicy, release: &Release) -> bool {
    release.spec.scope.metric_labels.is_empty()
        && rules_of(policy).any(|r| matches!(&r.kind, RuleKind::Metric(m) if m.query.uses_labels()))
}

fn rules_of(policy: &CompiledPolicy) -> impl Iterator<Item = &super::compile::CompiledRule> {
    let watched = policy.watch.iter().flat_map(|w| w.rules.iter());
    policy.rules.iter().chain(watched)
}

/// What `release` needs read; `previous_version` is the version of the release `spec.previous`
/// names, when known (a previous-version comparison asks about it).
pub fn needs(
    release: &Release,
    policies: &[Arc<CompiledPolicy>],
    previous_version: Option<&str>,
) -> Needs {
    let (selected, _) = super::select(release, policies);
    let mut out = Needs::default();
    for policy in selected.iter().filter(|p| p.is_valid()) {
        for rule in rules_of(policy) {
            match &rule.kind {
                RuleKind::Evidence(e) => {
                    out.sources.insert(e.source.clone());
                }
                // What an expression names is fetched like what an evidence rule reads (one
                // that iterates the whole map reads whatever the connectors already fetch).
                RuleKind::Expression(x) => {
                    out.sources
                        .extend(x.reads.evidence.iter().flatten().cloned());
                }
                RuleKind::Metric(MetricRule {
                    query,
                    connector,
                    judge: MetricJudge::Compare(c),
                    ..
                }) => {
                    // Both windows (a comparison that cannot be asked holds instead).
                    if let Ok(q) = c.questions(query, release, previous_version) {
                        for query in [q.release, q.baseline] {
                            out.metrics.insert(MetricNeed {
                                connector: connector.clone(),
                                query,
                            });
                        }
                    }
                }
                RuleKind::Metric(MetricRule {
                    query, connector, ..
                }) => {
                    // An unscoped query is never asked: the rule holds instead.
                    if let Ok(Some(query)) = query.scoped(&release.spec.scope.metric_labels) {
                        out.metrics.insert(MetricNeed {
                            connector: connector.clone(),
                            query,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out
}
