//! `passport demo`: the bundled shop, decided in-process and served on localhost.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::console::{self, Snapshot};
use crate::decide::decide_all;
use crate::load::{Bundle, load_paths};
use crate::{examples, output};

pub struct Args {
    pub port: u16,
    pub bind: IpAddr,
    pub examples: Option<PathBuf>,
    pub at: Option<DateTime<Utc>>,
    pub no_serve: bool,
}

pub async fn run(args: Args, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let (bundle, source) = match &args.examples {
        Some(dir) => {
            let mut bundle = Bundle::default();
            load_paths(std::slice::from_ref(dir), "default", &mut bundle)?;
            (bundle, format!("demo: {}", dir.display()))
        }
        None => (
            examples::bundle()?,
            "demo: bundled example shop".to_string(),
        ),
    };
    // A recording is decided as of the moment it was taken, so the demo reads the same every day.
    let at = args.at.or(bundle.recorded_at).unwrap_or(now);
    let decided = decide_all(&bundle, at);
    let passports: Vec<_> = decided.into_iter().map(|d| d.passport).collect();
    output::emit(&format!(
        "Decisions as of {}:\n\n{}",
        crate::engine::rules::time(at),
        output::to_table(&passports)
    ));
    if args.no_serve {
        return Ok(0);
    }
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is the port in use? pass --port N)"))?;
    let host = match args.bind {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    output::emit(&format!(
        "\nConsole: http://{host}:{}/console  (Ctrl-C to stop)\n",
        listener.local_addr()?.port()
    ));
    let app = console::router(Snapshot::new(passports, Some(at), source));
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown_signal())
        .await
        .context("serving the console")?;
    Ok(0)
}
