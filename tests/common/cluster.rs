//! A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager
//! built from their Go modules by tests/cluster/build.sh, with kubectl and helm beside them.
//!
//! Most tests share one control plane ([`ControlPlane::shared`]) and each works in a namespace of
//! its own; a test that restarts or overloads the API server starts a private one
//! ([`ControlPlane::start`]), stopped when it is dropped. Every server process is started with
//! `PR_SET_PDEATHSIG`, so none outlives the test binary, however it ends.
// Children are killed and waited for in `Drop` or die with the test binary; clippy cannot see that.
#![allow(clippy::zombie_processes)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The folder that holds the control-plane binaries: `$PASSPORT_CLUSTER_BIN` (set by
/// `make test`), else what tests/cluster/build.sh builds or finds in its cache.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("PASSPORT_CLUSTER_BIN") {
            return PathBuf::from(dir);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs tests/cluster/build.sh");
        assert!(out.status.success(), "tests/cluster/build.sh failed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// One of the control plane's tools: kubectl, helm, kstatus, argocd-health…
pub fn tool(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Whether `check` comes true within a minute (polled every 100 ms).
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Options for a private control plane.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Extra kube-apiserver flags, e.g. `--max-requests-inflight=5`.
    pub apiserver_args: Vec<String>,
    /// The address the API server binds and advertises, for a plane that Pods reach (the node
    /// tier's bridge address); loopback when `None`.
    pub host: Option<&'static str>,
}

pub struct ControlPlane {
    dir: tempfile::TempDir,
    options: Options,
    pub etcd_port: u16,
    pub api_port: u16,
    etcd: Mutex<Option<Child>>,
    apiserver: Mutex<Option<Child>>,
    controller_manager: Mutex<Option<Child>>,
    users: Mutex<BTreeMap<String, PathBuf>>,
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for slot in [&self.controller_manager, &self.apiserver, &self.etcd] {
            if let Some(mut child) = slot.lock().unwrap().take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The log a server of the harness writes, `DIR/NAME.log`, opened for appending.
pub fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .unwrap()
}

/// What a server of the harness has logged so far.
pub fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// Starts `cmd` so that it is killed when the thread that started it ends.
pub fn spawn_bound(cmd: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being exec'd.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// A port for a server that cannot be told to bind port 0 (etcd, kube-apiserver), from below
/// the kernel's ephemeral range so that no port-0 listener of another test takes it; a start
/// that finds it taken anyway is retried on another.
pub fn quiet_port(attempt: u32) -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 104_729
        + attempt * 15_485_863;
    20_000 + (seed % 12_000) as u16
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl makes the control plane's certificates");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req` arguments for a new P-256 key, unencrypted, written to `file`.
fn new_key(file: &str) -> [&str; 7] {
    [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        file,
    ]
}

/// A key and a certificate signed by the test CA in `dir`.
pub(super) fn issue(dir: &Path, name: &str, subject: &str, extensions: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), extensions).unwrap();
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            &["req"][..],
            &new_key(&key),
            &["-out", &csr, "-subj", subject],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &ext,
        ],
    );
}

const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
# Every request of a ServiceAccount (the controller's, reads included: what it was refused shows).
- level: Metadata
  userGroups: [system:serviceaccounts]
# Every write by anyone.
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
";

impl ControlPlane {
    /// The control plane every test shares, started on first use. Its processes belong to a
    /// thread that lives as long as the test binary, so they end with it.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<ControlPlane> = OnceLock::new();
        SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("control-plane".into())
                .spawn(move || {
                    let plane = ControlPlane::start(Options::default());
                    plane.install();
                    tx.send(plane).unwrap();
                    loop {
                        std::thread::park();
                    }
                })
                .unwrap();
            rx.recv()
                .expect("the shared control plane did not start (see the panic above)")
        })
    }

    /// A control plane of this test's own, stopped when dropped.
    pub fn start(options: Options) -> ControlPlane {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl(
            d,
            &[
                &["req", "-x509"][..],
                &new_key("ca.key"),
                &[
                    "-out",
                    "ca.crt",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=release-passport-test-ca",
                ],
            ]
            .concat(),
        );
        issue(
            d,
            "apiserver",
            "/CN=kube-apiserver",
            &format!(
                "subjectAltName=IP:127.0.0.1,IP:{},IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n",
                options.host.unwrap_or("127.0.0.1")
            ),
        );
        issue(
            d,
            "admin",
            "/CN=admin/O=system:masters",
            "extendedKeyUsage=clientAuth\n",
        );
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-out",
                "sa.key",
            ],
        );
        openssl(d, &["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
        std::fs::write(d.join("audit-policy.yaml"), AUDIT_POLICY).unwrap();

        let mut plane = ControlPlane {
            dir,
            options,
            etcd_port: 0,
            api_port: 0,
            etcd: Mutex::new(None),
            apiserver: Mutex::new(None),
            controller_manager: Mutex::new(None),
            users: Mutex::new(BTreeMap::new()),
        };
        plane.start_etcd();
        plane.start_apiserver();
        plane.write_kubeconfig("admin", "admin.crt", "admin.key");
        plane.start_controller_manager();
        plane
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The address the API server listens on.
    pub fn host(&self) -> &'static str {
        self.options.host.unwrap_or("127.0.0.1")
    }

    fn log_file(&self, name: &str) -> std::fs::File {
        log_file(self.dir(), name)
    }

    pub fn log(&self, name: &str) -> String {
        read_log(self.dir(), name)
    }

    /// The end of a server's log, for a failure message.
    fn log_tail(&self, name: &str) -> String {
        let log = self.log(name);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts a server on a quiet port, retrying on another one if it was taken; returns the port.
    fn start_server(
        &self,
        name: &str,
        slot: &Mutex<Option<Child>>,
        command: impl Fn(u16) -> Command,
        ready: impl Fn(u16) -> bool,
    ) -> u16 {
        for attempt in 0..8 {
            let port = quiet_port(attempt);
            let mut cmd = command(port);
            cmd.stdout(self.log_file(name)).stderr(self.log_file(name));
            let mut child = spawn_bound(&mut cmd).unwrap_or_else(|e| {
                panic!("{name} did not start ({e}): run tests/cluster/build.sh")
            });
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if ready(port) {
                    *slot.lock().unwrap() = Some(child);
                    return port;
                }
                if let Some(status) = child.try_wait().unwrap() {
                    let log = self.log(name);
                    if log.contains("address already in use") {
                        break;
                    }
                    panic!("{name} exited ({status}):\n{}", self.log_tail(name));
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} was not ready in 90 s:\n{}",
                    self.log_tail(name)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("{name}: no free quiet port after 8 tries");
    }

    fn start_etcd(&mut self) {
        let data = self.dir().join("etcd-data");
        let port = self.start_server(
            "etcd",
            &self.etcd,
            |port| {
                let mut cmd = Command::new(tool("etcd"));
                cmd.arg("--data-dir")
                    .arg(&data)
                    .arg(format!("--listen-client-urls=http://127.0.0.1:{port}"))
                    .arg(format!("--advertise-client-urls=http://127.0.0.1:{port}"))
                    // A unix socket for peers: no second TCP port to collide on.
                    .arg(format!(
                        "--listen-peer-urls=unix://{}",
                        self.dir().join("etcd-peer.sock").display()
                    ))
                    .arg("--log-level=warn")
                    // A test's data need not survive a power cut; fsync under a busy disk
                    // (a parallel build) timed requests out.
                    .arg("--unsafe-no-fsync")
                    .arg("--quota-backend-bytes=4294967296");
                cmd
            },
            |port| {
                super::demo::try_request(port, "/health", &[])
                    .is_some_and(|(status, _, body)| status == 200 && body.contains("true"))
            },
        );
        self.etcd_port = port;
    }

    /// Starts (or restarts, on the same etcd and port) kube-apiserver.
    pub fn start_apiserver(&mut self) {
        let d = self.dir().to_path_buf();
        let etcd = self.etcd_port;
        let fixed = self.api_port;
        let args = self.options.apiserver_args.clone();
        let host = self.host();
        let command = |port: u16| {
            let mut cmd = Command::new(tool("kube-apiserver"));
            let file = |name: &str| d.join(name).display().to_string();
            cmd.args([
                format!("--etcd-servers=http://127.0.0.1:{etcd}"),
                format!("--bind-address={host}"),
                format!("--advertise-address={host}"),
                // The default reconciler refuses a loopback advertise address; elsewhere it keeps
                // the `kubernetes` Service pointing here, which is how Pods find the server.
                format!(
                    "--endpoint-reconciler-type={}",
                    if host == "127.0.0.1" { "none" } else { "lease" }
                ),
                // kubectl logs and exec: the server's client certificate for the kubelet.
                format!("--kubelet-client-certificate={}", file("admin.crt")),
                format!("--kubelet-client-key={}", file("admin.key")),
                // A node's name need not resolve: reach its kubelet at its address.
                "--kubelet-preferred-address-types=InternalIP".into(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", file("certs")),
                format!("--tls-cert-file={}", file("apiserver.crt")),
                format!("--tls-private-key-file={}", file("apiserver.key")),
                format!("--client-ca-file={}", file("ca.crt")),
                "--authorization-mode=RBAC,Node".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", file("sa.pub")),
                format!("--service-account-signing-key-file={}", file("sa.key")),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                format!("--audit-policy-file={}", file("audit-policy.yaml")),
                format!("--audit-log-path={}", file("audit.log")),
                "--audit-log-format=json".into(),
                "--audit-log-mode=blocking".into(),
                "--profiling=false".into(),
                "--v=1".into(),
            ]);
            cmd.args(&args);
            cmd
        };
        let ready = |port: u16| {
            let Ok(mut stream) = TcpStream::connect((host, port)) else {
                return false;
            };
            let _ = stream.write_all(b"");
            drop(stream);
            // Ready means /readyz says ok to an authenticated client.
            self.admin_readyz(port)
        };
        let port = if fixed == 0 {
            self.start_server("kube-apiserver", &self.apiserver, command, ready)
        } else {
            let mut cmd = command(fixed);
            cmd.stdout(self.log_file("kube-apiserver"))
                .stderr(self.log_file("kube-apiserver"));
            let child = spawn_bound(&mut cmd).unwrap();
            *self.apiserver.lock().unwrap() = Some(child);
            self.wait("kube-apiserver to be ready again", || ready(fixed));
            fixed
        };
        self.api_port = port;
    }

    /// Stops kube-apiserver (SIGKILL); etcd and the data stay.
    pub fn stop_apiserver(&self) {
        if let Some(mut child) = self.apiserver.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn admin_readyz(&self, port: u16) -> bool {
        let d = self.dir();
        Command::new(tool("kubectl"))
            .arg(format!("--server=https://{}:{port}", self.host()))
            .arg(format!(
                "--certificate-authority={}",
                d.join("ca.crt").display()
            ))
            .arg(format!(
                "--client-certificate={}",
                d.join("admin.crt").display()
            ))
            .arg(format!("--client-key={}", d.join("admin.key").display()))
            .args(["get", "--raw", "/readyz", "--request-timeout=2s"])
            .output()
            .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"ok"))
    }

    fn start_controller_manager(&self) {
        let d = self.dir();
        let mut cmd = Command::new(tool("kube-controller-manager"));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            // A plane with a node runs what Pods need too: Deployments, Jobs, Services, the
            // node lifecycle (which lifts the not-ready taint).
            .arg(if self.options.host.is_some() {
                "--controllers=*"
            } else {
                "--controllers=garbagecollector,namespace,serviceaccount,serviceaccount-token"
            })
            .arg(format!(
                "--cluster-signing-cert-file={}",
                d.join("ca.crt").display()
            ))
            .arg(format!(
                "--cluster-signing-key-file={}",
                d.join("ca.key").display()
            ))
            .arg(format!(
                "--service-account-private-key-file={}",
                d.join("sa.key").display()
            ))
            .arg(format!("--root-ca-file={}", d.join("ca.crt").display()))
            .args([
                "--leader-elect=false",
                "--secure-port=0",
                "--use-service-account-credentials=false",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ])
            .stdout(self.log_file("kube-controller-manager"))
            .stderr(self.log_file("kube-controller-manager"));
        *self.controller_manager.lock().unwrap() = Some(spawn_bound(&mut cmd).unwrap());
    }

    fn kubeconfig_text(&self, user: &str, credentials: &str) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://{}:{}
    certificate-authority: {}
contexts:
- name: test
  context: {{cluster: test, user: {user}}}
current-context: test
users:
- name: {user}
  user:
{credentials}",
            self.host(),
            self.api_port,
            self.dir().join("ca.crt").display()
        )
    }

    pub(super) fn write_kubeconfig(&self, user: &str, cert: &str, key: &str) -> PathBuf {
        let path = self.dir().join(format!("{user}.kubeconfig"));
        let credentials = format!(
            "    client-certificate: {}\n    client-key: {}\n",
            self.dir().join(cert).display(),
            self.dir().join(key).display()
        );
        std::fs::write(&path, self.kubeconfig_text(user, &credentials)).unwrap();
        path
    }

    /// The cluster administrator's kubeconfig (system:masters).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir().join("admin.kubeconfig")
    }

    /// A kubeconfig for a person: a client certificate with `user` as its name and `groups` as
    /// its organisations, as an OIDC or certificate login would present them.
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> PathBuf {
        let key = format!("{user}:{}", groups.join(","));
        let mut users = self.users.lock().unwrap();
        if let Some(path) = users.get(&key) {
            return path.clone();
        }
        let file = format!("user-{}", users.len());
        let subject = std::iter::once(format!("/CN={user}"))
            .chain(groups.iter().map(|g| format!("/O={g}")))
            .collect::<String>();
        issue(self.dir(), &file, &subject, "extendedKeyUsage=clientAuth\n");
        let path = self.write_kubeconfig(&file, &format!("{file}.crt"), &format!("{file}.key"));
        users.insert(key, path.clone());
        path
    }

    /// `user` approves release `name` with kubectl (the shipped admission policy checks that the
    /// approver is the requesting user).
    pub fn approve(&self, ns: &str, release: &str, user: &str) {
        self.approver(ns, user, &[]);
        let out = self.kubectl(
            &[&format!("--as={user}"), "apply", "-f", "-"],
            Some(&format!(
                "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: {release}-{user}, namespace: {ns}}}\nspec: {{releaseRef: {{name: {release}}}, decision: Approve, approver: {user}}}\n"
            )),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `user` rejects release `name` with kubectl, saying why.
    pub fn reject(&self, ns: &str, release: &str, user: &str, comment: &str) {
        self.approver(ns, user, &[]);
        self.kubectl_ok(
            &[&format!("--as={user}"), "apply", "-f", "-"],
            Some(&format!(
                "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {{name: {release}-{user}, namespace: {ns}}}\nspec: {{releaseRef: {{name: {release}}}, decision: Reject, approver: {user}, comment: '{comment}'}}\n"
            )),
        );
    }

    /// A person who may approve, reject and waive in this namespace (and read what they act on).
    pub fn approver(&self, ns: &str, user: &str, groups: &[&str]) -> PathBuf {
        self.apply(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: approver, namespace: {ns}}}
rules:
- apiGroups: [releasepassport.io]
  resources: [releases, releasepassports, gatepolicies, approvals, waivers]
  verbs: [get, list, watch]
- apiGroups: [releasepassport.io]
  resources: [approvals, waivers]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: approver-{user}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: approver}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}]
"
        ));
        self.user_kubeconfig(user, groups)
    }

    /// A kubeconfig that presents a bearer token (e.g. a ServiceAccount's, from TokenRequest).
    pub fn token_kubeconfig(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir().join(format!("token-{name}.kubeconfig"));
        std::fs::write(
            &path,
            self.kubeconfig_text(name, &format!("    token: {token}\n")),
        )
        .unwrap();
        path
    }

    /// kubectl as the administrator.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.kubectl_as(&self.kubeconfig(), args, stdin)
    }

    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(tool("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir().join("kubectl-cache"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl comes with the control plane build");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// kubectl that must succeed; returns its stdout.
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.kubectl(args, stdin);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `kubectl apply` (with the server's strict field validation) of YAML that must be accepted.
    pub fn apply(&self, yaml: &str) {
        self.kubectl_ok(&["apply", "-f", "-"], Some(yaml));
    }

    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl(&all, None);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// A namespace of the caller's own, created fresh.
    pub fn namespace(&self, name: &str) -> String {
        let _ = self.kubectl(&["delete", "namespace", name, "--wait=true"], None);
        self.kubectl_ok(&["create", "namespace", name], None);
        // Pods need the namespace's default ServiceAccount (kube-controller-manager makes it).
        self.wait("the namespace's default ServiceAccount", || {
            self.kubectl(&["get", "serviceaccount", "default", "-n", name], None)
                .status
                .success()
        });
        name.to_string()
    }

    pub fn wait(&self, what: &str, check: impl FnMut() -> bool) {
        assert!(eventually(check), "timed out waiting for {what}");
    }

    /// Compacts etcd's history up to now (physically), as etcd's periodic compaction does, so
    /// a watch that resumes from an older resourceVersion is told `410 Gone`.
    pub fn compact_etcd(&self) -> u64 {
        // etcd's JSON gateway: the current revision, then compaction up to it.
        let (_, _, body) = super::demo::try_send(
            self.etcd_port,
            "POST",
            "/v3/kv/range",
            &[("Content-Type", "application/json")],
            r#"{"key":"AA=="}"#,
        )
        .expect("etcd answers");
        let range: Value = serde_json::from_str(&body).unwrap();
        let revision: u64 = range["header"]["revision"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let (status, _, body) = super::demo::try_send(
            self.etcd_port,
            "POST",
            "/v3/kv/compaction",
            &[("Content-Type", "application/json")],
            &format!(r#"{{"revision":"{revision}","physical":true}}"#),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        revision
    }

    /// The install manifests (`kubectl apply -k config/default`), as a user installs them.
    pub fn install(&self) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        self.kubectl_ok(
            &["apply", "-k", root.join("config/default").to_str().unwrap()],
            None,
        );
        self.kubectl_ok(
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd",
                "--all",
            ],
            None,
        );
    }

    /// A token for a ServiceAccount, minted by the real server (TokenRequest).
    pub fn token(&self, namespace: &str, service_account: &str, audience: Option<&str>) -> String {
        let mut args = vec![
            "create",
            "token",
            service_account,
            "-n",
            namespace,
            "--duration=2h",
        ];
        let flag;
        if let Some(a) = audience {
            flag = format!("--audience={a}");
            args.push(&flag);
        }
        self.kubectl_ok(&args, None).trim().to_string()
    }

    /// The shipped RBAC (config/rbac) installed a second time as `kubectl apply -k` does for
    /// another copy of the operator: in `namespace`, with cluster-scoped names suffixed by it and
    /// the ClusterRoleBinding's subject pointed at that copy's ServiceAccount (the rules are
    /// the shipped ones, unchanged).
    /// Returns a kubeconfig holding a token of that ServiceAccount.
    pub fn controller_identity(&self, namespace: &str) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let overlay = self.dir().join(format!("rbac-{namespace}"));
        std::fs::create_dir_all(&overlay).unwrap();
        // kustomize takes resources by relative path only.
        let up = "../".repeat(overlay.components().count() - 1);
        let rbac = format!("{up}{}", root.join("config/rbac").display()).replace("//", "/");
        std::fs::write(
            overlay.join("kustomization.yaml"),
            format!(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {namespace}\nnameSuffix: -{namespace}\nresources:\n- {rbac}\npatches:\n- target: {{kind: ClusterRoleBinding}}\n  patch: '[{{\"op\": \"replace\", \"path\": \"/subjects/0\", \"value\": {{\"kind\": \"ServiceAccount\", \"name\": \"release-passport-controller-{namespace}\", \"namespace\": \"{namespace}\"}}}}]'\n"
            ),
        )
        .unwrap();
        self.kubectl_ok(&["apply", "-k", overlay.to_str().unwrap()], None);
        let token = self.token(
            namespace,
            &format!("release-passport-controller-{namespace}"),
            None,
        );
        self.token_kubeconfig(&format!("controller-{namespace}"), &token)
    }

    /// Every write the API server recorded (audit events at the ResponseComplete stage).
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}
