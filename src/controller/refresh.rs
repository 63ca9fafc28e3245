//! The connector refresher: on each Connector's own interval, plan the queries releases need,
//! fetch them through the hub, re-trigger exactly the releases whose evidence changed, and keep
//! the Connector's status (health, lastSuccessAt, sanitised lastError).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::ObjectRef;
use tracing::{Instrument, debug, warn};

use crate::api::{Connector, Keyed, Release, namespace_of};
use crate::connectors::hub::{self, Credential, CredentialProblem, Hub};
use crate::connectors::kind_of;
use crate::connectors::queries::queries_for;
use crate::connectors::query::Query;
use crate::engine::needs::Needs;

use super::context::Context;

pub type Trigger = UnboundedSender<ObjectRef<DeserializeGuard<Release>>>;

/// How often the cluster is searched for integrations no Connector covers.
const DETECT_EVERY: Duration = Duration::from_secs(600);

/// Refreshes due connectors every second, and looks for candidates every ten minutes, until
/// `stop` resolves.
pub async fn run(
    ctx: Arc<Context>,
    hub: Arc<Hub>,
    trigger: Trigger,
    stop: impl std::future::Future<Output = ()>,
) {
    ctx.stores.wait_ready().await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut detect = tokio::time::interval(DETECT_EVERY);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => refresh_due(&ctx, &hub, &trigger).await,
            _ = detect.tick() => detect_candidates(&ctx, &hub).await,
        }
    }
}

/// Finds integrations present in the cluster that no Connector covers yet.
pub async fn detect_candidates(ctx: &Context, hub: &Hub) {
    match crate::connectors::detect::discover(&ctx.client).await {
        Ok(discovery) => {
            let connectors = ctx.stores.connectors.state();
            let found = crate::connectors::detect::candidates(&discovery, &connectors);
            for t in crate::connectors::detect::detectable() {
                ctx.metrics
                    .set_candidates(t, found.iter().filter(|c| c.type_ == t).count());
            }
            if hub.set_candidates(found.clone()) {
                for c in &found {
                    tracing::info!(connector_type = ?c.type_, endpoint = ?c.endpoint, "integration without a Connector: {}", c.found);
                }
            }
        }
        Err(e) => debug!(
            "integration discovery failed: {}",
            super::error::Error::from(e).category()
        ),
    }
}

/// Every release with what its policies read (policies compiled-and-collected once per namespace).
pub fn releases_with_needs(ctx: &Context) -> Vec<(Release, Needs)> {
    let mut by_namespace: std::collections::HashMap<
        String,
        Vec<Arc<crate::engine::CompiledPolicy>>,
    > = std::collections::HashMap::new();
    ctx.stores
        .valid_releases(None)
        .iter()
        .map(|r| {
            let ns = namespace_of(&r.metadata).to_string();
            let policies = by_namespace
                .entry(ns)
                .or_insert_with_key(|ns| ctx.compiled_policies(ns));
            let n = crate::decide::needs(&super::lookup::CacheLookup(ctx), r, policies);
            (r.clone(), n)
        })
        .collect()
}

/// One pass: refresh the connectors whose interval has elapsed.
pub async fn refresh_due(ctx: &Context, hub: &Hub, trigger: &Trigger) {
    let now = (ctx.clock)();
    let connectors = ctx.stores.connectors.state();
    let due: Vec<&Arc<Connector>> = connectors
        .iter()
        .filter(|c| kind_of(c.spec.type_).about().refreshed)
        .filter(|c| hub.due(c, now))
        .collect();
    if due.is_empty() {
        return;
    }
    let releases = releases_with_needs(ctx);
    let plan = hub::plan(&connectors, &releases);
    for connector in due {
        let ckey = connector.key();
        let queries = plan.get(&ckey).cloned().unwrap_or_default();
        let span = tracing::debug_span!("refresh", connector = %ckey, queries = queries.len());
        let credential = credential(ctx, connector).instrument(span.clone()).await;
        let refreshed = hub
            .refresh(connector, &queries, &credential, now)
            .instrument(span)
            .await;
        debug!(connector = %ckey, queries = queries.len(), health = ?refreshed.status.health, "refreshed");
        ctx.metrics
            .refreshed(connector.spec.type_, refreshed.status.health);
        if refreshed.changed {
            for (release, _) in releases
                .iter()
                .filter(|(r, n)| reads(connector, r, n, &queries, &connectors))
            {
                let ns = namespace_of(&release.metadata);
                let name = release.metadata.name.as_deref().unwrap_or("");
                let _ = trigger.unbounded_send(ObjectRef::new(name).within(ns));
            }
        }
        if connector.status.as_ref() != Some(&refreshed.status)
            && let Err(e) = write_status(ctx, connector, &refreshed.status).await
        {
            warn!(connector = %ckey, category = e.category(), "could not write the Connector status: {e}");
        }
    }
}

/// Whether `release` reads anything `connector` answered.
fn reads(
    connector: &Connector,
    release: &Release,
    needs: &Needs,
    queries: &BTreeSet<Query>,
    all: &[Arc<Connector>],
) -> bool {
    queries_for(connector, release, needs, all)
        .iter()
        .any(|q| queries.contains(q))
}

/// The credential the Connector names: read from its Secret, never logged or stored; with
/// the second key of the same Secret its type names, when it names one (Datadog's application
/// key) — one read either way.
async fn credential(ctx: &Context, connector: &Connector) -> Credential {
    let Some(r) = &connector.spec.credentials_secret_ref else {
        return Credential::NotNeeded;
    };
    let read = async {
        let secret = read_secret(ctx, namespace_of(&connector.metadata), &r.name).await?;
        let token = key_of(&secret, &r.name, &r.key)?;
        Ok(match connector.second_key() {
            Some(key) => Credential::Pair {
                token,
                second: key_of(&secret, &r.name, key)?,
            },
            None => Credential::Value(token),
        })
    };
    read.await.unwrap_or_else(Credential::Missing)
}

/// One key of a Secret in `ns`, as text: read when needed, never logged or stored.
pub async fn secret_value(
    ctx: &Context,
    ns: &str,
    r: &crate::api::connector::SecretKeyRef,
) -> Result<String, CredentialProblem> {
    key_of(&read_secret(ctx, ns, &r.name).await?, &r.name, &r.key)
}

async fn read_secret(ctx: &Context, ns: &str, name: &str) -> Result<Secret, CredentialProblem> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match secrets.get_opt(name).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(CredentialProblem::NoSecret {
            secret: name.to_string(),
        }),
        Err(e) => Err(CredentialProblem::Unreadable {
            secret: name.to_string(),
            category: super::error::Error::from(e).category(),
        }),
    }
}

/// The text at `key` of `secret` (named `name`).
fn key_of(secret: &Secret, name: &str, key: &str) -> Result<String, CredentialProblem> {
    let (secret_name, key_name) = (name.to_string(), key.to_string());
    match secret.data.as_ref().and_then(|d| d.get(key)) {
        Some(bytes) => match std::str::from_utf8(&bytes.0) {
            Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
            _ => Err(CredentialProblem::NotText {
                secret: secret_name,
                key: key_name,
            }),
        },
        None => Err(CredentialProblem::NoKey {
            secret: secret_name,
            key: key_name,
        }),
    }
}

async fn write_status(
    ctx: &Context,
    connector: &Connector,
    status: &crate::api::connector::ConnectorStatus,
) -> Result<(), super::error::Error> {
    let ns = namespace_of(&connector.metadata);
    let name = connector.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Connector> = Api::namespaced(ctx.client.clone(), ns);
    let value = serde_json::to_value(status).map_err(|source| super::error::Error::Serialize {
        what: "connector status",
        source,
    })?;
    let seen = connector.metadata.resource_version.as_deref();
    super::apply::apply_status(
        ctx,
        &api,
        (name, seen),
        super::error::Write::ConnectorStatus,
        value,
    )
    .await
    .map(|_| ())
}
