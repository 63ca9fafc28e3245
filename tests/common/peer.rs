//! The real peers the connector tests ask (Debian's Prometheus, Alertmanager, InfluxDB and
//! VictoriaMetrics): a process with its folder and log, killed when dropped; and the decision
//! the hub's evidence makes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use release_passport::api::Release;
use release_passport::api::passport::ReleasePassportStatus;
use release_passport::engine::needs::Needs;
use release_passport::engine::{self, CompiledPolicy, Input};
use release_passport::evidence::{EvidenceSource, gather};

use super::node::wait_for;

/// A peer process: its port, its folder, its log.
pub struct Peer {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut command: Command, log: &Path, what: &str) -> Child {
    command
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} did not start ({e}): `make deps` installs it"))
}

impl Peer {
    /// Starts `command` (told to listen on port 0) in `dir`, its stderr logged; the port is
    /// what `listening` reads from a line of the log.
    pub fn on_port_zero(
        dir: tempfile::TempDir,
        command: Command,
        listening: impl Fn(&str) -> Option<u16>,
    ) -> Peer {
        let log = dir.path().join("peer.log");
        let what = format!("{:?}", command.get_program());
        let mut peer = Peer {
            child: spawn(command, &log, &what),
            port: 0,
            dir,
            log,
        };
        let port = wait_for(Duration::from_secs(60), || {
            std::fs::read_to_string(&peer.log)
                .unwrap_or_default()
                .lines()
                .find_map(&listening)
        });
        peer.port = port.unwrap_or_else(|| panic!("{what} did not listen:\n{}", peer.log()));
        peer
    }

    /// Starts `command(port)` in `dir` on a quiet port (below the ephemeral range), again on
    /// another if it found its port taken, until `ready(port)`.
    pub fn on_quiet_port(
        dir: tempfile::TempDir,
        command: impl Fn(u16) -> Command,
        ready: impl Fn(u16) -> bool,
    ) -> Peer {
        let log = dir.path().join("peer.log");
        for attempt in 0..8 {
            let port = super::cluster::quiet_port(attempt);
            let command = command(port);
            let what = format!("{:?}", command.get_program());
            let mut child = spawn(command, &log, &what);
            let up = wait_for(Duration::from_secs(60), || {
                if child.try_wait().ok().flatten().is_some() {
                    return Some(false);
                }
                ready(port).then_some(true)
            });
            if up == Some(true) {
                return Peer {
                    child,
                    port,
                    dir,
                    log,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                text.to_lowercase().contains("address already in use"),
                "{what} did not come up:\n{text}"
            );
        }
        panic!("no free quiet port after 8 tries");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether `path` answers 200.
    pub fn answers(port: u16, path: &str) -> bool {
        super::demo::try_send(port, "GET", path, &[], "")
            .is_some_and(|(status, _, _)| status == 200)
    }
}

/// What the engine decides for `release` from the evidence `sources` hold at `now`.
pub fn decided(
    sources: &[Box<dyn EvidenceSource>],
    policies: &[Arc<CompiledPolicy>],
    (release, needs): (&Release, &Needs),
    now: DateTime<Utc>,
) -> ReleasePassportStatus {
    let evidence = gather(sources, release, needs, now);
    engine::evaluate(&Input {
        release,
        policies,
        approvals: &[],
        waivers: &[],
        evidence: &evidence,
        previous: None,
        previous_release: None,
        now,
        clock_skew: engine::provenance::DEFAULT_CLOCK_SKEW,
    })
    .status
}

/// A Release of `name` in `shop` whose `scope.metricLabels` are `service: SERVICE` (none when
/// `service` is empty).
pub fn scoped_release(name: &str, service: &str) -> Release {
    let mut r: Release = super::yaml(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: {name}, namespace: shop}}
spec: {{service: {name}, version: '1', environment: production}}
"
    ));
    if !service.is_empty() {
        r.spec
            .scope
            .metric_labels
            .insert("service".into(), service.into());
    }
    r
}

/// Releases, the policies that decide them and the Connectors that answer them, wired as the
/// controller wires them: one store of Connectors, one plan, one hub as the evidence source.
pub struct Wired {
    pub policies: Vec<Arc<CompiledPolicy>>,
    pub releases: Vec<(Release, Needs)>,
    pub hub: Arc<release_passport::connectors::hub::Hub>,
    pub plan: std::collections::BTreeMap<
        release_passport::api::ObjectKey,
        std::collections::BTreeSet<release_passport::connectors::query::Query>,
    >,
    sources: Vec<Box<dyn EvidenceSource>>,
}

impl Wired {
    /// `rules`: the YAML list of the one policy's rules (`prod` in `shop`), indented by two.
    pub fn new(
        connectors: &[release_passport::api::Connector],
        rules: &str,
        releases: Vec<Release>,
    ) -> Wired {
        use release_passport::connectors::hub::{self, Hub, HubSource};
        let policy = super::policy("prod", &format!("  rules:\n{rules}"));
        let policies = vec![Arc::new(engine::compile(&policy))];
        let releases: Vec<(Release, Needs)> = releases
            .into_iter()
            .map(|r| {
                let n = engine::needs::needs(&r, &policies, None);
                (r, n)
            })
            .collect();
        let store = super::store_of(connectors);
        let plan = hub::plan(&store.state(), &releases);
        let hub = Arc::new(Hub::new().unwrap());
        let sources: Vec<Box<dyn EvidenceSource>> = vec![Box::new(HubSource {
            hub: Arc::clone(&hub),
            connectors: store,
            passports: None,
        })];
        Wired {
            policies,
            releases,
            hub,
            plan,
            sources,
        }
    }

    /// Refreshes `connector` with what the releases ask of it; it must come out Healthy.
    pub async fn refresh(&self, connector: &release_passport::api::Connector, now: DateTime<Utc>) {
        use release_passport::api::Keyed;
        super::refresh_healthy(&self.hub, connector, &self.plan[&connector.key()], now).await;
    }

    /// The i-th release's passport status at `now`.
    pub fn decide(&self, i: usize, now: DateTime<Utc>) -> ReleasePassportStatus {
        let (release, needs) = &self.releases[i];
        decided(&self.sources, &self.policies, (release, needs), now)
    }
}
