//! `passport freeze`: stop the line in a namespace, or end the freeze (see `crate::freeze`).

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

use super::approve::whoami;
use crate::api::GatePolicy;
use crate::freeze::{self, Freeze};

pub struct FreezeArgs {
    pub namespace: String,
    pub reason: Option<String>,
    pub until: Option<chrono::Duration>,
    pub end: bool,
}

pub async fn run(args: FreezeArgs, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let client = crate::cluster::client::connect(None).await?;
    let (who, _) = whoami(&client).await?;
    let api: Api<GatePolicy> = Api::namespaced(client, &args.namespace);
    let active: Vec<Freeze> = api
        .list(&ListParams::default().labels(&format!("{}=true", freeze::LABEL)))
        .await
        .with_context(|| format!("listing the freezes of namespace {}", args.namespace))?
        .items
        .iter()
        .filter_map(Freeze::of)
        .filter(|f| f.active(now))
        .collect();
    if args.end {
        anyhow::ensure!(
            !active.is_empty(),
            "no freeze is active in namespace {}",
            args.namespace
        );
        for f in &active {
            api.patch(
                &f.name,
                &PatchParams::default(),
                &Patch::Merge(freeze::end_patch(f, &who, now)),
            )
            .await
            .with_context(|| format!("ending freeze {}/{}", f.namespace, f.name))?;
            crate::output::emit(&format!(
                "Ended freeze {}/{} ({}) as {who}\n",
                f.namespace, f.name, f.reason
            ));
        }
        return Ok(0);
    }
    let reason = args.reason.unwrap_or_default();
    anyhow::ensure!(
        !reason.trim().is_empty(),
        "--reason is required: say why the line stops"
    );
    if let Some(until) = args.until {
        anyhow::ensure!(
            until > chrono::Duration::zero(),
            "--until must be a positive duration"
        );
    }
    let policy = freeze::policy(&args.namespace, &reason, &who, now, args.until);
    let created = api
        .create(&PostParams::default(), &policy)
        .await
        .with_context(|| format!("creating a freeze in namespace {}", args.namespace))?;
    let until = match args.until {
        Some(d) => format!("until {}", crate::engine::rules::time(now + d)),
        None => format!(
            "until `passport freeze --namespace {} --end`",
            args.namespace
        ),
    };
    crate::output::emit(&format!(
        "Froze namespace {} as {who}: GatePolicy {} holds every release, {until}\n",
        args.namespace,
        created.metadata.name.unwrap_or_default()
    ));
    if !active.is_empty() {
        eprintln!("note: {} other freeze(s) already active here", active.len());
    }
    Ok(0)
}
