//! Release Passport: decides whether a release may be promoted, from scoped evidence.

pub mod api;
pub mod attest;
pub mod cli;
pub mod commands;
pub mod connectors;
pub mod console;
pub mod controller;
pub mod decide;
pub mod engine;
pub mod evidence;
pub mod examples;
pub mod gate;
pub mod load;
pub mod metrics;
pub mod output;
pub mod radar;
pub mod simulate;
pub mod text;

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
