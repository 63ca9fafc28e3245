//! `passport controller`: the operator.

use crate::cli::ControllerArgs;
use crate::controller::{Scope, retention};
use crate::runtime::leader::LeaseSettings;
use crate::runtime::{self, ConsoleServe, Settings};

pub async fn run(args: ControllerArgs) -> anyhow::Result<u8> {
    let identity = args
        .identity
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("passport-{}", std::process::id()));
    let console = match args.console_addr {
        Some(addr) => Some(ConsoleServe {
            addr,
            auth: super::console::auth_config(&args.console, addr)?,
            summary: super::console::summarizer(&args.console.summary)?,
            limits: super::console::limits(&args.console),
        }),
        None => None,
    };
    let zero_is_off = |d: chrono::Duration| (d > chrono::Duration::zero()).then_some(d);
    let settings = Settings {
        console,
        retention: retention::Policy {
            max_age: zero_is_off(args.retention_max_age),
            keep_per_target: args.retention_keep,
        },
        home_namespace: args.lease_namespace.clone(),
        pod: identity.clone(),
        notify: crate::controller::delivery::Settings {
            console_url: args.console_url,
        },
        github_app_secret: args.github_app_secret,
        scope: Scope {
            namespace: args.namespace,
            release_selector: args.release_selector,
            concurrency: args.concurrency,
            clock_skew: args.clock_skew,
        },
        probe_addr: args.probe_addr,
        webhook_addr: args.webhook_addr,
        gate_audience: args.gate_audience,
        webhook_limits: crate::serve::Limits {
            connections: args.webhook_max_connections.max(1),
            per_client: args.webhook_max_connections_per_client.max(1),
            header_read: args.webhook_header_read_timeout,
            request: args.webhook_request_timeout,
            ..crate::serve::Limits::default()
        },
        gate_tls: match (args.gate_tls_cert, args.gate_tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::serve::tls::acceptor(&crate::serve::tls::CertFiles { cert, key })
                    .map_err(|e| anyhow::anyhow!("--gate-tls-cert / --gate-tls-key: {e}"))?,
            ),
            _ => None,
        },
        lease: args.leader_election.then_some(LeaseSettings {
            namespace: args.lease_namespace,
            name: args.lease_name,
            identity,
            ttl: args.lease_ttl,
        }),
    };
    runtime::run(settings).await?;
    Ok(0)
}
