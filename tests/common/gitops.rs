//! Real GitOps controllers beside a real control plane, as users run them: a Git repository
//! served over smart HTTP on loopback (Debian git's own `git http-backend`, behind
//! tests/cluster/cmd/gitserver), Flux's source-controller and kustomize-controller, and Argo CD's
//! repo server, application controller and API server with Debian's redis — each built by
//! tests/cluster/build.sh from its published Go module at the version docs/gitops.md names.
//! Every process is started with `PR_SET_PDEATHSIG` and killed when its owner is dropped.
// Children are killed and waited for in `Drop` or die with the test binary; clippy cannot see that.
#![allow(clippy::zombie_processes)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{ControlPlane, log_file, quiet_port, read_log, spawn_bound, tool};

/// Processes that end with their owner, each with the name its log goes by.
#[derive(Default)]
struct Processes(Vec<(String, Child)>);

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Processes {
    /// The name of one that has exited, if any has.
    fn exited(&mut self) -> Option<String> {
        self.0
            .iter_mut()
            .find_map(|(name, child)| child.try_wait().ok().flatten().map(|_| name.clone()))
    }
}

/// Starts servers that must be told their ports before they start (they advertise them to one
/// another) on quiet ports, below the kernel's ephemeral range, where no port-0 listener of
/// another test can take one between our pick and their bind; should one exit finding its port
/// taken anyway, they all start again on others. `ready` says when they all serve.
fn on_quiet_ports<const N: usize>(
    dir: &Path,
    start: impl Fn([u16; N]) -> Processes,
    ready: impl Fn([u16; N]) -> bool,
) -> ([u16; N], Processes) {
    for attempt in 0..8 {
        let ports = std::array::from_fn(|_| quiet_port(attempt));
        let mut processes = start(ports);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(name) = processes.exited() {
                let log = read_log(dir, &name);
                if log.to_lowercase().contains("address already in use") {
                    break;
                }
                panic!("{name} exited:\n{log}");
            }
            if ready(ports) {
                return (ports, processes);
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = (processes.0.iter())
                    .map(|(name, _)| format!("{name}:\n{}", read_log(dir, name)))
                    .collect();
                panic!("not serving in 120 s:\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    panic!("{dir:?}: no free quiet ports after 8 tries");
}

/// Whether something accepts connections on a loopback port.
fn serves(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Applies the CRDs build.sh put in `folder` and waits until the API server serves `names`
/// (`kubectl wait` refuses a CRD that has no status yet, as one just created has not).
fn install_crds(plane: &ControlPlane, folder: &str, crds: &[&str]) {
    // The bin folder links to it; kubectl reads a linked folder as a file.
    let folder = std::fs::canonicalize(tool(folder)).unwrap();
    plane.kubectl_ok(
        &["apply", "--server-side", "-f", folder.to_str().unwrap()],
        None,
    );
    plane.wait("the CRDs to be established", || {
        plane
            .kubectl(
                &[
                    &[
                        "wait",
                        "--for=condition=Established",
                        "--timeout=10s",
                        "crd",
                    ],
                    crds,
                ]
                .concat(),
                None,
            )
            .status
            .success()
    });
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Release Bot",
            "-c",
            "user.email=bot@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One Git repository (`main` branch) served read-only over smart HTTP on loopback.
pub struct GitRepo {
    dir: tempfile::TempDir,
    name: String,
    base: String,
    _server: Processes,
}

impl GitRepo {
    /// An empty repository `NAME.git`, served.
    pub fn serve(name: &str) -> GitRepo {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main", "work"]);
        git(
            d,
            &["init", "-q", "--bare", "-b", "main", &format!("{name}.git")],
        );
        let mut server = spawn_bound(
            Command::new(tool("gitserver"))
                .args(["-root", d.to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(log_file(d, "gitserver")),
        )
        .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("gitserver said {line:?}: {}", read_log(d, "gitserver")))
            .trim()
            .to_string();
        GitRepo {
            dir,
            name: name.to_string(),
            base,
            _server: Processes(vec![("gitserver".into(), server)]),
        }
    }

    /// The URL a GitRepository or an Argo CD Application clones.
    pub fn url(&self) -> String {
        format!("{}/{}.git", self.base, self.name)
    }

    /// Writes `files` (path, content) into the work tree, commits them and pushes to the served
    /// repository; returns the commit's sha.
    pub fn commit(&self, message: &str, files: &[(&str, &str)]) -> String {
        let work = self.dir.path().join("work");
        for (path, content) in files {
            let file = work.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, content).unwrap();
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", message]);
        let bare = self.dir.path().join(format!("{}.git", self.name));
        git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
        git(&work, &["rev-parse", "HEAD"])
    }
}

/// Flux's source-controller and kustomize-controller, running against `plane` as an install in
/// `flux-system` does (every namespace watched), with the CRDs of the same modules.
pub struct Flux {
    dir: tempfile::TempDir,
    _processes: Processes,
}

impl Flux {
    pub fn start(plane: &ControlPlane) -> Flux {
        install_crds(
            plane,
            "flux-crds",
            &[
                "kustomizations.kustomize.toolkit.fluxcd.io",
                "gitrepositories.source.toolkit.fluxcd.io",
            ],
        );
        plane.namespace("flux-system");
        let dir = tempfile::tempdir().unwrap();
        let start = |name: &str, args: &[String]| {
            let child = spawn_bound(
                Command::new(tool(name))
                    .args(args)
                    .args([
                        "--enable-leader-election=false",
                        "--metrics-addr=127.0.0.1:0",
                        "--health-addr=127.0.0.1:0",
                    ])
                    .env("KUBECONFIG", plane.kubeconfig())
                    .env("RUNTIME_NAMESPACE", "flux-system")
                    .stdout(log_file(dir.path(), name))
                    .stderr(log_file(dir.path(), name)),
            )
            .unwrap();
            (name.to_string(), child)
        };
        let artifacts = dir.path().join("artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        // What source-controller's artifact server serves once it is up, and nobody else would.
        let marker = dir.path().display().to_string();
        std::fs::write(artifacts.join("harness-marker"), &marker).unwrap();
        let (_, processes) = on_quiet_ports(
            dir.path(),
            |[storage]| {
                let source = start(
                    "source-controller",
                    &[
                        format!("--storage-path={}", artifacts.display()),
                        format!("--storage-addr=127.0.0.1:{storage}"),
                        format!("--storage-adv-addr=127.0.0.1:{storage}"),
                    ],
                );
                // A dependency that is not Ready yet is looked at again after this (30 s by
                // default).
                let kustomize = start(
                    "kustomize-controller",
                    &["--requeue-dependency=2s".to_string()],
                );
                Processes(vec![source, kustomize])
            },
            |[storage]| {
                super::demo::try_send(storage, "GET", "/harness-marker", &[], "")
                    .is_some_and(|(status, _, body)| status == 200 && body == marker)
            },
        );
        Flux {
            dir,
            _processes: processes,
        }
    }

    /// What a controller (`source-controller`, `kustomize-controller`) has logged so far.
    pub fn log(&self, name: &str) -> String {
        read_log(self.dir.path(), name)
    }
}

/// The admin password of the test's Argo CD (it never leaves the loopback install).
pub const ARGOCD_ADMIN_PASSWORD: &str = "release-passport-test";

/// Argo CD as its own local-development Procfile runs it (`ARGOCD_FAKE_IN_CLUSTER`: the in-cluster
/// destination is the kubeconfig's cluster): the repo server, the application controller and the
/// API server (plain HTTP) against `plane`, with Debian's redis; `argocd` in namespace `argocd`
/// with the settings a Helm or manifest install makes, an account `passport` that may only read
/// (role:readonly) and the default AppProject.
pub struct ArgoCd {
    dir: tempfile::TempDir,
    pub api_port: u16,
    _processes: Processes,
}

/// The `argocd` CLI with its configuration and home in `dir`; what it printed.
fn argocd_cli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(tool("argocd"))
        .args(args)
        .arg("--config")
        .arg(dir.join("cli.config"))
        .env("HOME", dir.join("home"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "argocd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What an Argo CD install makes (argocd-cm, argocd-rbac-cm, argocd-secret with the admin's
/// password hash, the default AppProject), plus an account `passport` that may only read.
fn settings(hash: &str) -> String {
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels: {{app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}}
data:
  accounts.passport: apiKey
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: argocd
  labels: {{app.kubernetes.io/name: argocd-rbac-cm, app.kubernetes.io/part-of: argocd}}
data:
  policy.csv: 'g, passport, role:readonly'
---
apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: argocd
  labels: {{app.kubernetes.io/name: argocd-secret, app.kubernetes.io/part-of: argocd}}
stringData:
  admin.password: '{hash}'
  admin.passwordMtime: '2026-01-01T00:00:00Z'
  server.secretkey: 'a-key-for-the-loopback-test-install-only'
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {{name: default, namespace: argocd}}
spec:
  sourceRepos: ['*']
  destinations: [{{server: '*', namespace: '*'}}]
  clusterResourceWhitelist: [{{group: '*', kind: '*'}}]
"
    )
}

impl ArgoCd {
    pub fn start(plane: &ControlPlane) -> ArgoCd {
        Self::start_configured(plane, &|| {})
    }

    /// The same, with `configure` run once the install's settings exist and before any component
    /// starts, as an administrator sets argocd-cm up before Argo CD first reads it. (Seen here: a
    /// health customization merged while the application controller was starting reached the
    /// Application's health but not the resource tree's nodes, which then had no health at all.)
    pub fn start_configured(plane: &ControlPlane, configure: &dyn Fn()) -> ArgoCd {
        install_crds(
            plane,
            "argocd-crds",
            &["applications.argoproj.io", "appprojects.argoproj.io"],
        );
        plane.namespace("argocd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let hash = argocd_cli(
            &d,
            &["account", "bcrypt", "--password", ARGOCD_ADMIN_PASSWORD],
        );
        plane.apply(&settings(&hash));
        configure();
        for sub in ["tls", "ssh", "gpg/keys", "gpg/source", "home"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Argo CD's helper scripts beside its binary, then git and the rest of the system's.
        let path = format!(
            "{}:{}",
            tool("argocd").parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let start = |name: &str, args: Vec<String>| {
            let child = spawn_bound(
                Command::new(tool(name))
                    .args(args)
                    .env("KUBECONFIG", plane.kubeconfig())
                    .env("PATH", &path)
                    .env("ARGOCD_FAKE_IN_CLUSTER", "true")
                    .env("ARGOCD_TLS_DATA_PATH", d.join("tls"))
                    .env("ARGOCD_SSH_DATA_PATH", d.join("ssh"))
                    .env("ARGOCD_GNUPGHOME", d.join("gpg/keys"))
                    .env("ARGOCD_GPG_DATA_PATH", d.join("gpg/source"))
                    .env("ARGOCD_GPG_ENABLED", "false")
                    .env("HOME", d.join("home"))
                    .stdout(log_file(&d, name))
                    .stderr(log_file(&d, name)),
            )
            .unwrap();
            (name.to_string(), child)
        };
        let components = |[
            redis,
            repo,
            repo_metrics,
            controller_metrics,
            api,
            api_metrics,
        ]: [u16; 6]| {
            let redis_addr = format!("127.0.0.1:{redis}");
            let redis = spawn_bound(
                Command::new("redis-server")
                    .args(["--bind", "127.0.0.1", "--port", &redis.to_string()])
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(log_file(&d, "redis"))
                    .stderr(log_file(&d, "redis")),
            )
            .expect("Debian's redis-server is installed (make deps)");
            let common = |more: &[String]| {
                let mut args = vec![
                    "--namespace".to_string(),
                    "argocd".to_string(),
                    format!("--redis={redis_addr}"),
                ];
                args.extend_from_slice(more);
                args
            };
            let repo_server = start(
                "argocd-repo-server",
                vec![
                    format!("--redis={redis_addr}"),
                    format!("--port={repo}"),
                    format!("--metrics-port={repo_metrics}"),
                    "--address=127.0.0.1".into(),
                    "--metrics-address=127.0.0.1".into(),
                    "--disable-tls".into(),
                    // Its default names a Secret's mount, which plain text refuses to be given.
                    "--client-ca-path=".into(),
                ],
            );
            let repo_addr = format!("127.0.0.1:{repo}");
            let controller = start(
                "argocd-application-controller",
                common(&[
                    format!("--repo-server={repo_addr}"),
                    "--repo-server-plaintext".into(),
                    format!("--metrics-port={controller_metrics}"),
                    // How often an Application is compared with Git without a change to prompt it.
                    "--app-resync=10".into(),
                ]),
            );
            let server = start(
                "argocd-server",
                common(&[
                    format!("--repo-server={repo_addr}"),
                    "--repo-server-plaintext".into(),
                    format!("--port={api}"),
                    format!("--metrics-port={api_metrics}"),
                    "--address=127.0.0.1".into(),
                    "--metrics-address=127.0.0.1".into(),
                    "--insecure".into(),
                ]),
            );
            Processes(vec![
                ("redis".into(), redis),
                repo_server,
                controller,
                server,
            ])
        };
        // Every port is someone's listener and the API server answers its health check.
        let serving = |ports: [u16; 6]| {
            ports.into_iter().all(serves)
                && super::demo::try_send(ports[4], "GET", "/healthz", &[], "")
                    .is_some_and(|(status, _, _)| status == 200)
        };
        let (ports, processes) = on_quiet_ports(&d, components, serving);
        ArgoCd {
            dir,
            api_port: ports[4],
            _processes: processes,
        }
    }

    /// What a component (`argocd-server`, `argocd-repo-server`, `argocd-application-controller`,
    /// `redis`) has logged so far.
    pub fn log(&self, name: &str) -> String {
        read_log(self.dir.path(), name)
    }

    /// A token for the read-only account `passport`, made as an administrator makes one: the
    /// `argocd` CLI logs in as admin and runs `argocd account generate-token`.
    pub fn readonly_token(&self) -> String {
        let run = |args: &[&str]| argocd_cli(self.dir.path(), args);
        let server = format!("127.0.0.1:{}", self.api_port);
        run(&[
            "login",
            &server,
            "--plaintext",
            "--username",
            "admin",
            "--password",
            ARGOCD_ADMIN_PASSWORD,
        ]);
        run(&["account", "generate-token", "--account", "passport"])
    }
}

/// Waits until `check` comes true, for up to two minutes: a GitOps controller works on its own
/// clock (a fetch, a requeue, a refresh), slower than ours on a loaded machine. Fails naming
/// `what`, with `context()`: what the controllers logged and served, to say why.
pub fn patiently(what: &str, check: &dyn Fn() -> bool, context: &dyn Fn() -> String) {
    let came = super::node::wait_for(std::time::Duration::from_secs(120), || {
        check().then_some(())
    });
    assert!(
        came.is_some(),
        "timed out waiting for {what}\n{}",
        context()
    );
}

/// The decision on the passport `ns/name`, empty while there is none.
pub fn decision(plane: &ControlPlane, ns: &str, name: &str) -> String {
    plane
        .get_json(&["rp", "-n", ns, name])
        .and_then(|p| p["status"]["decision"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// An Argo CD Application `checkout` syncing `apps/checkout` of `repo` into `ns`, automatically.
pub fn application_manifest(repo: &GitRepo, ns: &str, sync_policy: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: checkout, namespace: argocd}}
spec:
  project: default
  source: {{repoURL: '{}', path: apps/checkout, targetRevision: main}}
  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}
  syncPolicy: {sync_policy}
",
        repo.url()
    )
}

/// A `verify` release of `commit` whose scope is the GitOps application `app` (a `gitopsApps`
/// entry): once its passport allows it — `gitops-synced` passed on our connector's reading of what
/// the GitOps controller wrote — the evidence item it passed on.
pub fn synced_evidence(plane: &ControlPlane, commit: &str, app: &str) -> Value {
    plane.apply(&format!(
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {{name: checkout-synced, namespace: shop}}
spec:
  service: checkout
  version: 2.3.1
  environment: verify
  revision: {{commit: {commit}}}
  scope: {{gitopsApps: [{app}]}}
"
    ));
    let passport = super::node::wait_for(std::time::Duration::from_secs(120), || {
        let p = plane.get_json(&["rp", "-n", "shop", "checkout-synced"])?;
        (p["status"]["decision"] == "Allow").then_some(p)
    });
    let passport = passport.unwrap_or_else(|| {
        panic!(
            "the connector did not find {app} synced at {commit}: {:?}",
            plane.get_json(&["rp", "-n", "shop", "checkout-synced"])
        )
    });
    let item = passport["status"]["evidence"][0].clone();
    assert_eq!(item["source"], "gitops-sync", "{passport}");
    assert_eq!(item["status"], "Complete", "{passport}");
    item
}
