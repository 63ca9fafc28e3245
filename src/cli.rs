//! The `passport` command line: one binary, one subcommand per job.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Release Passport decides whether a release may be promoted (Allow / Hold / Block) from
/// scoped evidence, and explains why.
#[derive(Debug, Parser)]
#[command(name = "passport", version, about, long_about = None)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "PASSPORT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions (or write one file per kind with --out-dir).
    Crd {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Decide releases from manifests and recorded evidence, without a cluster.
    ///
    /// Exit code: 0 every release Allow, 1 any Block, 2 otherwise (Hold), 3 bad input.
    Evaluate {
        /// Manifest files or directories (multi-document YAML or JSON).
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Recorded-evidence files (`kind: EvidenceRecording`); may also sit among the manifests.
        #[arg(long)]
        evidence: Vec<PathBuf>,
        /// Decide as of this moment (RFC 3339) instead of now.
        #[arg(long, value_parser = parse_time)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Namespace for objects that do not name one.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Evaluate the bundled example shop in-process and serve the console on localhost.
    Demo {
        /// Port to serve on.
        #[arg(long, env = "PASSPORT_DEMO_PORT", default_value_t = 8080)]
        port: u16,
        /// Address to bind.
        #[arg(long, env = "PASSPORT_DEMO_BIND", default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Use manifests and evidence from this directory instead of the bundled examples.
        #[arg(long)]
        examples: Option<PathBuf>,
        /// Decide as of this moment (RFC 3339) instead of the recording's `recordedAt`.
        #[arg(long, value_parser = parse_time)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// Print the decisions and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time (e.g. 2026-11-25T14:00:00Z): {e}"))
}
