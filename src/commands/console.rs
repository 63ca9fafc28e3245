//! `passport console`, and the console flags `controller` and `demo` share: sign-in
//! configuration and serving.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::{ConsoleArgs, SummaryArgs};
use crate::console::auth::ProxyAuth;
use crate::console::oidc::{OidcConfig, Verifier};
use crate::console::summary::{Summarizer, SummaryConfig};
use crate::console::{AuthConfig, Runtime, Settings};

/// The AI summary from flags: None unless an endpoint is given. The token file is read once,
/// here; its content is never printed.
pub fn summarizer(args: &SummaryArgs) -> anyhow::Result<Option<Arc<Summarizer>>> {
    let Some(endpoint) = &args.summary_endpoint else {
        return Ok(None);
    };
    let endpoint: reqwest::Url = endpoint
        .parse()
        .with_context(|| format!("--summary-endpoint: {endpoint:?} is not a URL"))?;
    if !matches!(endpoint.scheme(), "http" | "https") {
        anyhow::bail!("--summary-endpoint: {endpoint} is not an http(s) URL");
    }
    let token = match &args.summary_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--summary-token-file: cannot read {}", path.display()))?;
            let token = text.trim().to_string();
            if token.is_empty() {
                anyhow::bail!("--summary-token-file: {} is empty", path.display());
            }
            Some(token)
        }
        None => None,
    };
    let summarizer = Summarizer::new(SummaryConfig {
        endpoint,
        model: args.summary_model.clone(),
        token,
        timeout: args.summary_timeout,
    })
    .context("building the HTTP client for the AI summary")?;
    Ok(Some(Arc::new(summarizer)))
}

/// The sign-in configuration from flags. A console reachable beyond loopback must sign people in.
/// What the console's listener takes, from its flags.
pub fn limits(args: &ConsoleArgs) -> crate::serve::Limits {
    crate::serve::Limits {
        connections: args.max_connections.max(1),
        per_client: args.max_connections_per_client.max(1),
        proxies: args.auth_proxy.clone(),
        header_read: args.header_read_timeout,
        request: args.request_timeout,
        ..crate::serve::Limits::default()
    }
}

pub fn auth_config(args: &ConsoleArgs, addr: SocketAddr) -> anyhow::Result<AuthConfig> {
    let mut config = AuthConfig {
        sign_in_url: args.sign_in_url.clone(),
        sign_out_url: args.sign_out_url.clone(),
        ..AuthConfig::local()
    };
    if let Some(issuer) = &args.oidc_issuer {
        let audience = args.oidc_audience.clone().ok_or_else(|| {
            anyhow::anyhow!("--oidc-issuer needs --oidc-audience (the console's client id)")
        })?;
        let mut algorithms = Vec::new();
        for name in &args.oidc_algorithms {
            let alg: jsonwebtoken::Algorithm = name
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--oidc-algorithms: {name:?} is not a signature algorithm (e.g. RS256, ES256, EdDSA)"))?;
            if matches!(
                alg,
                jsonwebtoken::Algorithm::HS256
                    | jsonwebtoken::Algorithm::HS384
                    | jsonwebtoken::Algorithm::HS512
            ) {
                anyhow::bail!(
                    "--oidc-algorithms: {name} is a shared-secret algorithm; ID tokens are checked against the issuer's public keys"
                );
            }
            algorithms.push(alg);
        }
        let http = crate::connectors::http::client()
            .context("building the HTTP client for the OIDC issuer")?;
        config.oidc = Some(Arc::new(Verifier::new(
            OidcConfig {
                issuer: issuer.clone(),
                audience,
                algorithms,
                username_claim: args.oidc_username_claim.clone(),
                groups_claim: args.oidc_groups_claim.clone(),
                leeway: args.oidc_leeway.as_secs(),
            },
            http,
        )));
    }
    if let Some(any) = args.auth_proxy.iter().find(|net| net.prefix_len() == 0) {
        anyhow::bail!(
            "--auth-proxy {any} would believe identity headers from any address: name the proxy's own addresses"
        );
    }
    if !args.auth_proxy.is_empty() {
        config.proxy = Some(ProxyAuth {
            trusted: args.auth_proxy.clone(),
            user_header: args.auth_proxy_user_header.to_ascii_lowercase(),
            groups_header: args.auth_proxy_groups_header.to_ascii_lowercase(),
        });
    }
    for mapping in &args.group_namespaces {
        let (group, namespaces) = mapping.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--group-namespaces {mapping:?}: expected GROUP=NS1;NS2")
        })?;
        config.group_namespaces.insert(
            group.trim().to_string(),
            namespaces
                .split(';')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
        );
    }
    if !config.requires_sign_in() && !addr.ip().is_loopback() {
        anyhow::bail!(
            "the console on {addr} would be open to anyone: configure --oidc-issuer/--oidc-audience or --auth-proxy, or bind to 127.0.0.1"
        );
    }
    Ok(config)
}

/// `passport console`: watch the objects (read-only) and serve the console over them.
pub use crate::console::spawn;

pub async fn run(
    addr: SocketAddr,
    namespace: Option<String>,
    args: ConsoleArgs,
    rollups_at: crate::cli::RollupsArgs,
) -> anyhow::Result<u8> {
    let auth = auth_config(&args, addr)?;
    let summary = summarizer(&args.summary)?;
    let client = crate::cluster::client::connect(None)
        .await
        .context("no Kubernetes client configuration (in-cluster or kubeconfig)")?;
    let (feeds, following) = crate::cluster::Feeds::start(&client, namespace.as_deref(), None);
    tokio::spawn(following);
    let stores = feeds.stores;
    stores.wait_ready().await;
    let runtime = Runtime {
        mode: "console (read-only)".into(),
        source: format!(
            "cluster{}",
            namespace
                .as_deref()
                .map(|n| format!(", namespace {n}"))
                .unwrap_or_default()
        ),
        leader: None,
        watch_namespace: namespace,
    };
    let gate_url = format!(
        "http://release-passport-gate.{}:8082",
        rollups_at.controller_namespace
    );
    let rollups = crate::cluster::history::SharedRollups::default();
    tokio::spawn(crate::cluster::history::follow(
        client,
        rollups_at.controller_namespace,
        Arc::clone(&rollups),
    ));
    let source = crate::console::cluster::source(stores, None, rollups, runtime, None);
    let local = spawn(
        addr,
        source,
        auth,
        Settings {
            summary,
            gate_url,
            limits: limits(&args),
            ..Settings::default()
        },
        crate::runtime::shutdown_signal(),
    )
    .await?;
    crate::output::emit(&format!("Console: http://{local}/console\n"));
    crate::runtime::shutdown_signal().await;
    Ok(0)
}
