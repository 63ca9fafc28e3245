//! The real `passport controller` binary as a replica of a deployment: started on port 0 (the
//! ports it bound are read back from its JSON log), stopped by SIGKILL or SIGTERM, killed when
//! dropped.
// The child is killed and waited for in `Drop`; clippy cannot see that.
#![allow(clippy::zombie_processes)]

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::spawn_bound;

pub struct Controller {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub identity: String,
    pub probe_port: u16,
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port a JSON log line with `message` says was bound (its `addr` field).
fn bound_port(log: &str, message: &str) -> Option<u16> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == message)
        .and_then(|v| {
            v["fields"]["addr"]
                .as_str()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
}

pub const PROBES: &str = "serving /healthz, /readyz and /metrics";
pub const WEBHOOKS: &str = "receiving webhook deliveries";
pub const CONSOLE: &str = "serving the console";

impl Controller {
    /// `passport controller` as `kubeconfig`'s identity, watching `namespace` with its Lease
    /// there, every listener on port 0, plus `extra` flags; returns once it is ready (a standby
    /// is ready too).
    pub fn start(kubeconfig: &Path, namespace: &str, identity: &str, extra: &[&str]) -> Self {
        Self::start_with_env(kubeconfig, namespace, identity, extra, &[])
    }

    /// The same, with more environment (a heap profiler's, in a benchmark).
    pub fn start_with_env(
        kubeconfig: &Path,
        namespace: &str,
        identity: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("controller.log")).unwrap();
        let child = spawn_bound(
            Command::new(env!("CARGO_BIN_EXE_passport"))
                .envs(env.iter().copied())
                .args(["controller", "--log-format", "json"])
                .args(["--namespace", namespace, "--lease-namespace", namespace])
                .args(["--identity", identity])
                .args([
                    "--probe-addr",
                    "127.0.0.1:0",
                    "--webhook-addr",
                    "127.0.0.1:0",
                ])
                .args(extra)
                .env("KUBECONFIG", kubeconfig)
                .env(
                    "RUST_LOG",
                    std::env::var("PASSPORT_TEST_LOG").unwrap_or_else(|_| "info".into()),
                )
                .stdout(Stdio::null())
                .stderr(log),
        )
        .unwrap();
        let mut controller = Controller {
            child: Some(child),
            dir,
            identity: identity.to_string(),
            probe_port: 0,
        };
        controller.probe_port = controller.port(PROBES);
        controller.wait("the controller to be ready", |c| c.get("/readyz").0 == 200);
        controller
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("controller.log")).unwrap_or_default()
    }

    /// The port of the listener whose start the log announces with `message`, once it is bound.
    pub fn port(&self, message: &str) -> u16 {
        let mut port = None;
        self.wait(&format!("the controller to log {message:?}"), |c| {
            port = bound_port(&c.log(), message);
            port.is_some()
        });
        port.unwrap()
    }

    /// GET on the probe listener: (status, body), status 0 while nothing listens.
    pub fn get(&self, path: &str) -> (u16, String) {
        super::demo::try_request(self.probe_port, path, &[])
            .map_or((0, String::new()), |(status, _, body)| (status, body))
    }

    /// Whether this replica holds the Lease (its `passport_leader` gauge).
    pub fn leads(&self) -> bool {
        self.get("/metrics")
            .1
            .lines()
            .any(|l| l == "passport_leader 1")
    }

    pub fn wait(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what}\ncontroller {} log:\n{}",
            self.identity,
            self.log()
        );
    }

    /// The replica's resident memory and its peak so far (VmRSS, VmHWM), in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let pid = self.child.as_ref().expect("the controller is running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGKILL: the replica dies without a word, as on a node failure.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, as the kubelet sends on a rollout; waits for the exit (bounded).
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the controller is running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the controller did not stop on SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
