use std::process::ExitCode;

use release_passport::api::ApprovalDecision;
use release_passport::cli::{Cli, Command, LogFormat};
use release_passport::commands::{
    approve, attest, console, controller, crd, demo, evaluate, freeze, gate, metrics, simulate,
};

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: a log file or collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<u8>>>(future: F) -> anyhow::Result<u8> {
    tokio::runtime::Runtime::new()?.block_on(future)
}

fn main() -> ExitCode {
    let cli = Cli::from_env();
    init_tracing(cli.log_format);
    // One TLS provider for the whole process, whatever else the build links in.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let now = chrono::Utc::now();
    let result = match cli.command {
        Command::Crd { out_dir } => crd::run(out_dir.as_deref()),
        Command::Approve {
            release,
            comment,
            groups,
        } => block_on(approve::approve(
            &release,
            ApprovalDecision::Approve,
            comment,
            groups,
            now,
        )),
        Command::Reject { release, comment } => block_on(approve::approve(
            &release,
            ApprovalDecision::Reject,
            comment,
            Vec::new(),
            now,
        )),
        Command::Waive {
            release,
            rules,
            reason,
            expires,
        } => block_on(approve::waive(
            approve::WaiveArgs {
                release,
                rules,
                reason,
                expires,
            },
            now,
        )),
        Command::Freeze {
            namespace,
            reason,
            until,
            end,
        } => block_on(freeze::run(
            freeze::FreezeArgs {
                namespace,
                reason,
                until,
                end,
            },
            now,
        )),
        Command::Attest(args) => block_on(attest::attest(args, now)),
        Command::Verify { file, public_key } => attest::verify(&file, public_key.as_deref()),
        Command::Keygen { out_dir } => attest::keygen(&out_dir),
        Command::Simulate(args) => block_on(simulate::run(args, now)),
        Command::Gate(args) => block_on(gate::run(args)),
        Command::Controller(args) => block_on(controller::run(*args)),
        Command::Metrics {
            paths,
            service,
            environment,
            since,
            namespace,
            output,
            rollups,
        } => block_on(metrics::run(
            metrics::Args {
                paths,
                service,
                environment,
                since,
                output,
                namespace,
                controller_namespace: rollups.controller_namespace,
            },
            now,
        )),
        Command::Console {
            addr,
            namespace,
            auth,
            rollups,
        } => block_on(console::run(addr, namespace, auth, rollups)),
        Command::Evaluate(args) => Ok(evaluate::run(args, now)),
        Command::Demo(args) => block_on(demo::run(args, now)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // An error quotes its input (a file's text, a server's answer): shown, never obeyed.
            eprintln!(
                "error: {}",
                release_passport::text::inert(&format!("{e:#}"))
            );
            ExitCode::from(evaluate::EXIT_BAD_INPUT)
        }
    }
}
