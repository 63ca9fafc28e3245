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

/// The name kubectl runs a plugin by: on PATH as this, the binary answers `kubectl passport …`.
pub const KUBECTL_PLUGIN: &str = "kubectl-passport";

impl Cli {
    /// Parses the process's arguments; called as [`KUBECTL_PLUGIN`], usage and errors say
    /// `kubectl passport`, as the user typed it.
    pub fn from_env() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let plugin = args
            .first()
            .and_then(|a| std::path::Path::new(a).file_stem())
            .is_some_and(|name| name == KUBECTL_PLUGIN);
        let mut command = Self::command();
        if plugin {
            command = command
                .bin_name("kubectl passport")
                .display_name("kubectl passport");
        }
        let matches = command.get_matches_from(args);
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// How `passport metrics` prints its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricsFormat {
    Table,
    Json,
    Csv,
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
    /// Run the operator: decide every Release in the cluster and keep its ReleasePassport current.
    Controller(Box<ControllerArgs>),
    /// May this release be promoted? Exit 0 Allow, 1 Block, 2 Hold (at the timeout with --wait), 3 error.
    Gate(GateArgs),
    /// Replay a candidate policy over recorded passports: what would it have decided?
    Simulate(SimulateArgs),
    /// Export a release's decision as an in-toto Statement (signed with --key: a DSSE envelope).
    Attest(AttestArgs),
    /// Check an attestation: its signature (with --public-key) and every digest in it.
    /// Exit 0 verified, 1 not verified, 3 unreadable.
    Verify {
        /// The attestation (statement or DSSE envelope, JSON).
        file: PathBuf,
        /// The signer's public key (base64, as `passport keygen` writes).
        #[arg(long)]
        public_key: Option<PathBuf>,
    },
    /// Make an ed25519 signing key for attestations: passport.key and passport.pub.
    Keygen {
        /// Directory to write the two files into.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Approve a release as the current kubeconfig user (creates an Approval).
    Approve {
        /// The Release: NAMESPACE/NAME, or NAME in the kubeconfig's namespace.
        release: String,
        #[arg(long)]
        comment: Option<String>,
        /// Groups you approve for (must be yours); approval rules with fromGroups count them.
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// Reject a release as the current kubeconfig user (a Reject blocks while it exists).
    Reject {
        release: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Waive named rules for a release, with a reason, until a time (creates a Waiver).
    Waive {
        release: String,
        /// A rule to waive: `rule` or `policy/rule` (repeat for several).
        #[arg(long = "rule", required = true)]
        rules: Vec<String>,
        /// Why the exception is acceptable.
        #[arg(long)]
        reason: String,
        /// When it ends: a duration from now (24h, 3d) or an RFC 3339 time, within the
        /// longest waiver the release's policies allow (`spec.waivers.maxDuration`, default 7d).
        #[arg(long)]
        expires: String,
    },
    /// Stop the line: hold every release of a namespace with a reason (creates a GatePolicy with
    /// an absolute freeze window, so RBAC and the audit log govern it), or end it with --end.
    Freeze {
        /// The namespace to freeze.
        #[arg(short = 'n', long)]
        namespace: String,
        /// Why the line stops; every held release shows it.
        #[arg(long, required_unless_present = "end")]
        reason: Option<String>,
        /// How long it lasts (e.g. 4h); without it, until ended.
        #[arg(long, value_parser = parse_chrono_duration, conflicts_with = "end")]
        until: Option<chrono::Duration>,
        /// End the namespace's active freezes now (their record stays).
        #[arg(long, conflicts_with = "reason")]
        end: bool,
    },
    /// Print the CustomResourceDefinitions (or write one file per kind with --out-dir).
    Crd {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Decide releases from manifests and recorded evidence, without a cluster.
    ///
    /// Exit code: 0 every release Allow, 1 any Block, 2 otherwise (Hold), 3 bad input.
    Evaluate(EvaluateArgs),
    /// Evaluate the bundled example shop in-process and serve the console on localhost.
    Demo(DemoArgs),
    /// Delivery metrics (DORA-style) per service and environment, from recorded history (-f)
    /// or the cluster's passports and rollups.
    Metrics {
        /// Recorded history: manifests, passports and evidence files or directories.
        #[arg(short = 'f', long = "filename", num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// Only this environment.
        #[arg(long = "env")]
        environment: Option<String>,
        /// The window: this long back from now (or from the recording), e.g. 30d.
        #[arg(long, default_value = "30d", value_parser = parse_chrono_duration)]
        since: chrono::Duration,
        /// Only this namespace's passports (cluster mode).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = MetricsFormat::Table)]
        output: MetricsFormat,
        #[command(flatten)]
        rollups: RollupsArgs,
    },
    /// Serve the read-only console over the cluster's objects (watched, never written).
    Console {
        /// Address to serve on.
        #[arg(long, env = "PASSPORT_CONSOLE_ADDR", default_value = "0.0.0.0:8083")]
        addr: std::net::SocketAddr,
        /// Show only this namespace.
        #[arg(long, env = "PASSPORT_NAMESPACE")]
        namespace: Option<String>,
        #[command(flatten)]
        auth: ConsoleArgs,
        #[command(flatten)]
        rollups: RollupsArgs,
    },
}

/// Where the delivery rollups live (shared by `console` and `metrics` in cluster mode).
#[derive(Debug, Clone, clap::Args)]
pub struct RollupsArgs {
    /// The controller's namespace, which holds its rollups ConfigMap (the delivery metrics of
    /// passports retention has removed).
    #[arg(long, env = "POD_NAMESPACE", default_value = "release-passport-system")]
    pub controller_namespace: String,
}

/// How the console signs people in, and its optional AI summary (shared by `console`,
/// `controller` and `demo`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    pub summary: SummaryArgs,
    /// Connections the console keeps open at once; more are closed as they arrive.
    #[arg(long, env = "PASSPORT_CONSOLE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Connections one client address (an IPv6 client's /64) keeps open at once; more are closed
    /// as they arrive, so one client cannot take them all. The --auth-proxy addresses are exempt.
    #[arg(
        long,
        env = "PASSPORT_CONSOLE_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 64
    )]
    pub max_connections_per_client: usize,
    /// A client must send each request head within this (an idle connection is closed after it).
    #[arg(long, env = "PASSPORT_CONSOLE_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: std::time::Duration,
    /// The longest a console request may take (408 after).
    #[arg(long, env = "PASSPORT_CONSOLE_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: std::time::Duration,
    /// OIDC issuer whose ID tokens (Authorization: Bearer) are accepted; its JWKS is discovered.
    #[arg(long, env = "PASSPORT_CONSOLE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The audience (client id) ID tokens must carry.
    #[arg(long, env = "PASSPORT_CONSOLE_OIDC_AUDIENCE", requires = "oidc_issuer")]
    pub oidc_audience: Option<String>,
    /// Signature algorithms accepted (never `none`).
    #[arg(
        long,
        env = "PASSPORT_CONSOLE_OIDC_ALGORITHMS",
        value_delimiter = ',',
        default_value = "RS256,ES256,PS256,EdDSA"
    )]
    pub oidc_algorithms: Vec<String>,
    /// The claim holding the user's display name (falls back to `sub`).
    #[arg(
        long,
        env = "PASSPORT_CONSOLE_OIDC_USERNAME_CLAIM",
        default_value = "email"
    )]
    pub oidc_username_claim: String,
    /// The claim holding the user's groups.
    #[arg(
        long,
        env = "PASSPORT_CONSOLE_OIDC_GROUPS_CLAIM",
        default_value = "groups"
    )]
    pub oidc_groups_claim: String,
    /// Clock skew tolerated on token expiry.
    #[arg(long, env = "PASSPORT_CONSOLE_OIDC_LEEWAY", default_value = "30s", value_parser = parse_duration)]
    pub oidc_leeway: std::time::Duration,
    /// Addresses or networks of the auth proxy whose identity headers are believed.
    #[arg(long, env = "PASSPORT_CONSOLE_PROXY", value_delimiter = ',')]
    pub auth_proxy: Vec<ipnet::IpNet>,
    /// The proxy's user header.
    #[arg(
        long,
        env = "PASSPORT_CONSOLE_PROXY_USER_HEADER",
        default_value = "X-Forwarded-User"
    )]
    pub auth_proxy_user_header: String,
    /// The proxy's groups header (comma-separated groups).
    #[arg(
        long,
        env = "PASSPORT_CONSOLE_PROXY_GROUPS_HEADER",
        default_value = "X-Forwarded-Groups"
    )]
    pub auth_proxy_groups_header: String,
    /// Where to send an unauthenticated browser (e.g. the proxy's /oauth2/start).
    #[arg(long, env = "PASSPORT_CONSOLE_SIGN_IN_URL")]
    pub sign_in_url: Option<String>,
    /// Where Logout goes (default: the issuer's end_session_endpoint).
    #[arg(long, env = "PASSPORT_CONSOLE_SIGN_OUT_URL")]
    pub sign_out_url: Option<String>,
    /// GROUP=NS1;NS2 (repeatable): members of GROUP see only these namespaces (`*` for all).
    #[arg(
        long = "group-namespaces",
        env = "PASSPORT_CONSOLE_GROUP_NAMESPACES",
        value_delimiter = ','
    )]
    pub group_namespaces: Vec<String>,
}

/// Flags of `passport gate`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// The Release: NAMESPACE/NAME, or NAME in the kubeconfig's namespace.
    #[arg(long)]
    pub release: String,
    /// Wait while the decision is Hold (or not made yet), up to --timeout.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// How often --wait looks again.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub poll: std::time::Duration,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Flags of `passport simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The candidate GatePolicy (a file of one or more).
    #[arg(long)]
    pub policy: PathBuf,
    /// Recorded passports: files or directories (ReleasePassport documents or Lists).
    #[arg(long)]
    pub from: Vec<PathBuf>,
    /// Also replay the passports in the cluster (kubeconfig).
    #[arg(long)]
    pub cluster: bool,
    /// Keep fields the CRDs do not declare, with a warning, instead of refusing the file.
    #[arg(long)]
    pub lenient: bool,
    /// Only decisions made within this long, e.g. 30d.
    #[arg(long, value_parser = parse_chrono_duration)]
    pub since: Option<chrono::Duration>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Flags of `passport attest`.
#[derive(Debug, clap::Args)]
pub struct AttestArgs {
    /// Manifest files or directories, as for evaluate.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Recorded-evidence files.
    #[arg(long)]
    pub evidence: Vec<PathBuf>,
    /// The Release: NAMESPACE/NAME, or NAME in --namespace.
    #[arg(long)]
    pub release: String,
    /// Decide as of this moment (default: the recording's recordedAt, else now).
    #[arg(long, value_parser = parse_time)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Sign with this ed25519 key (base64 PKCS#8, as `passport keygen` writes).
    #[arg(long, conflicts_with = "key_secret")]
    pub key: Option<PathBuf>,
    /// Sign with the key in this Secret, read through the current kubeconfig:
    /// NAMESPACE/NAME[:KEY] (KEY defaults to passport.key).
    #[arg(long, value_name = "NAMESPACE/NAME[:KEY]")]
    pub key_secret: Option<String>,
    /// Keep fields the CRDs do not declare, with a warning, instead of refusing the file.
    #[arg(long)]
    pub lenient: bool,
    /// Namespace for objects that do not name one.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
}

/// Flags of `passport evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// Manifest files or directories (multi-document YAML or JSON).
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Recorded-evidence files (`kind: EvidenceRecording`); may also sit among the manifests.
    #[arg(long)]
    pub evidence: Vec<PathBuf>,
    /// Decide as of this moment (RFC 3339) instead of now.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Keep fields the CRDs do not declare, with a warning, instead of refusing the file.
    #[arg(long)]
    pub lenient: bool,
    /// Namespace for objects that do not name one.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
}

/// Flags of `passport demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Port to serve on.
    #[arg(long, env = "PASSPORT_DEMO_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, env = "PASSPORT_DEMO_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Use manifests and evidence from these files or directories instead of the bundled examples.
    #[arg(long, num_args = 1..)]
    pub examples: Vec<PathBuf>,
    /// Decide as of this moment (RFC 3339) instead of the recording's `recordedAt`.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Keep fields the CRDs do not declare, with a warning, instead of refusing the file.
    #[arg(long)]
    pub lenient: bool,
    /// Print the decisions and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
    #[command(flatten)]
    pub auth: ConsoleArgs,
}

/// Flags of `passport controller`.
#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Watch only this namespace (shard a cluster across controller deployments).
    #[arg(long, env = "PASSPORT_NAMESPACE")]
    pub namespace: Option<String>,
    /// Only decide Releases matching this label selector, e.g. `team=payments`.
    #[arg(long, env = "PASSPORT_RELEASE_SELECTOR")]
    pub release_selector: Option<String>,
    /// Address for /healthz, /readyz and /metrics.
    #[arg(long, env = "PASSPORT_PROBE_ADDR", default_value = "0.0.0.0:8081")]
    pub probe_addr: std::net::SocketAddr,
    /// Address receiving signed CI deliveries for Webhook connectors (served by the leader).
    #[arg(long, env = "PASSPORT_WEBHOOK_ADDR", default_value = "0.0.0.0:8082")]
    pub webhook_addr: std::net::SocketAddr,
    /// The audience a bearer token must be minted for to ask the HTTP gate
    /// (`kubectl create token SA --audience …`); a token for any other audience is refused.
    #[arg(
        long,
        env = "PASSPORT_GATE_AUDIENCE",
        default_value = "release-passport"
    )]
    pub gate_audience: String,
    /// PEM certificate chain for the webhook and gate listener (with --gate-tls-key): it then
    /// speaks only TLS, and the files are read again when they change (a cert-manager
    /// Certificate's Secret mounted as files). Without it the listener speaks plain HTTP and
    /// the console's Settings says so.
    #[arg(long, env = "PASSPORT_GATE_TLS_CERT", requires = "gate_tls_key")]
    pub gate_tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --gate-tls-cert.
    #[arg(long, env = "PASSPORT_GATE_TLS_KEY", requires = "gate_tls_cert")]
    pub gate_tls_key: Option<std::path::PathBuf>,
    /// Releases reconciled at once. Each holds up to three API requests while it writes, so
    /// this bounds the controller's connections to the API server.
    #[arg(long, env = "PASSPORT_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Elect a leader through a Lease so several replicas can run; only the leader writes.
    #[arg(long, env = "PASSPORT_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "PASSPORT_LEASE_NAME", default_value = "release-passport")]
    pub lease_name: String,
    /// Namespace of the leader Lease (the controller's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// How long a Lease holds without renewal.
    #[arg(long, env = "PASSPORT_LEASE_TTL", default_value = "15s", value_parser = parse_duration)]
    pub lease_ttl: std::time::Duration,
    /// This replica's identity in the Lease (defaults to the pod name, then the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Also serve the read-only console here (every replica, from read-only caches of its own).
    #[arg(long, env = "PASSPORT_CONSOLE_ADDR")]
    pub console_addr: Option<std::net::SocketAddr>,
    /// Fold passports older than this into daily rollups and delete their Releases (0: never).
    #[arg(long, env = "PASSPORT_RETENTION_MAX_AGE", default_value = "180d", value_parser = parse_chrono_duration)]
    pub retention_max_age: chrono::Duration,
    /// Connections the webhook and gate listener keeps open at once; more are closed as they arrive.
    #[arg(long, env = "PASSPORT_WEBHOOK_MAX_CONNECTIONS", default_value_t = 1024)]
    pub webhook_max_connections: usize,
    /// Connections one client address (an IPv6 client's /64) keeps open at once on the webhook
    /// and gate listener; more are closed as they arrive.
    #[arg(
        long,
        env = "PASSPORT_WEBHOOK_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 64
    )]
    pub webhook_max_connections_per_client: usize,
    /// A webhook or gate client must send each request head within this.
    #[arg(long, env = "PASSPORT_WEBHOOK_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub webhook_header_read_timeout: std::time::Duration,
    /// The longest a webhook delivery or gate request may take (408 after).
    #[arg(long, env = "PASSPORT_WEBHOOK_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub webhook_request_timeout: std::time::Duration,
    /// Evidence dated further in the future than this is refused (clocks drift; BRIEF §2).
    #[arg(long, env = "PASSPORT_CLOCK_SKEW", default_value = "2m", value_parser = parse_chrono_duration)]
    pub clock_skew: chrono::Duration,
    /// Keep at most this many passports per service and environment (0: no limit).
    #[arg(long, env = "PASSPORT_RETENTION_KEEP", default_value_t = 100)]
    pub retention_keep: usize,
    /// The console's address as viewers reach it (e.g. `https://passport.example.com`): the
    /// link in every notification and protection-rule answer.
    #[arg(long, env = "PASSPORT_CONSOLE_URL")]
    pub console_url: Option<String>,
    /// A Secret in the controller's namespace holding a GitHub App (`webhookSecret`, `appId`,
    /// `privateKey`; or `token`; optional `apiUrl`): the leader then answers GitHub deployment
    /// protection rules at /github/deployment-protection on the webhook listener.
    #[arg(long, env = "PASSPORT_GITHUB_APP_SECRET")]
    pub github_app_secret: Option<String>,
    #[command(flatten)]
    pub console: ConsoleArgs,
}

/// Why a flag's value is refused (clap prints it after the flag's name).
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    #[error(transparent)]
    Duration(#[from] crate::api::duration::DurationError),
    #[error("{text:?} is a negative duration")]
    OutOfRange {
        text: String,
        #[source]
        source: chrono::OutOfRangeError,
    },
    #[error("{text:?} is not an RFC 3339 time (e.g. 2026-11-25T14:00:00Z): {source}")]
    Time {
        text: String,
        #[source]
        source: chrono::ParseError,
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, ArgError> {
    crate::api::duration::parse_duration(s)?
        .to_std()
        .map_err(|source| ArgError::OutOfRange {
            text: s.to_string(),
            source,
        })
}

fn parse_chrono_duration(s: &str) -> Result<chrono::Duration, ArgError> {
    Ok(crate::api::duration::parse_duration(s)?)
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, ArgError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|source| ArgError::Time {
            text: s.to_string(),
            source,
        })
}

/// The optional AI summary on the truth screen (off unless an endpoint is given).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SummaryArgs {
    /// An OpenAI-compatible chat-completions URL (OpenAI, Ollama, vLLM, llama.cpp) that writes a
    /// short summary of each investigation. Advice only: it never changes a decision.
    #[arg(long, env = "PASSPORT_SUMMARY_ENDPOINT")]
    pub summary_endpoint: Option<String>,
    /// The model the endpoint should use.
    #[arg(
        long,
        env = "PASSPORT_SUMMARY_MODEL",
        default_value = "gpt-4o-mini",
        requires = "summary_endpoint"
    )]
    pub summary_model: String,
    /// A file holding the endpoint's bearer token (mount it from a Secret); never shown.
    #[arg(
        long,
        env = "PASSPORT_SUMMARY_TOKEN_FILE",
        requires = "summary_endpoint"
    )]
    pub summary_token_file: Option<PathBuf>,
    /// How long one summary may take.
    #[arg(long, env = "PASSPORT_SUMMARY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub summary_timeout: std::time::Duration,
}
