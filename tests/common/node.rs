//! A real node beside a real control plane: containerd (Debian's, with runc and the CNI plugins),
//! kubelet, kube-scheduler and kube-proxy built from the pinned `k8s.io/kubernetes` module, and
//! CoreDNS as a Deployment, so that Pods run from images built here (no registry is reachable:
//! every image, the sandbox's included, is built locally and imported).
//!
//! The node writes where a real one does: iptables, sysctls, a bridge, mounts, cgroups, and a
//! few folders it does not let us move. [`Node::start`] notes what was there before and dropping
//! the node puts it back; [`leftovers`] says what would remain (the tests assert it is nothing,
//! and `make test` checks again after every run with tests/cluster/node-leftovers.sh).
#![allow(clippy::zombie_processes)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{
    ControlPlane, Options, eventually, issue, log_file, read_log, spawn_bound, tool,
};

/// The bridge Pods are attached to; its address is the node's (the kubelet refuses loopback).
pub const BRIDGE: &str = "rpnode0";
pub const NODE_IP: &str = "10.88.0.1";
const POD_CIDR: &str = "10.88.0.0/16";
pub const NODE_NAME: &str = "rp-node";
pub const DNS_IP: &str = "10.96.0.10";

/// Images the node imports from what build.sh built (static binaries on an empty base).
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
pub const COREDNS_IMAGE: &str = "registry.k8s.io/coredns/coredns:v1.15.0";
pub const OAUTH2_PROXY_IMAGE: &str = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.6";
/// Our image: the chart's and config/manager's name for it, built from the Dockerfile.
pub const PASSPORT_IMAGE: &str = "ghcr.io/release-passport/passport:0.1.0";
/// Debian's busybox-static, for the examples and `helm test` that ask the HTTP gate with wget.
pub const BUSYBOX_IMAGE: &str = "docker.io/library/busybox:1.35";

/// Kernel settings the kubelet, kube-proxy and the bridge change; put back as they were.
const SYSCTLS: &[&str] = &[
    "kernel/panic",
    "kernel/panic_on_oops",
    "vm/overcommit_memory",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
];

/// Folders the kubelet and containerd write outside the ones they are given.
const FIXED_DIRS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/cni",
    "/run/netns",
    "/var/run/netns",
];

/// What the host looked like before the node started.
struct Before {
    sysctls: BTreeMap<&'static str, String>,
    iptables: String,
    ip6tables: String,
    dirs: Vec<&'static str>,
}

fn read_sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc/sys").join(name))
        .ok()
        .map(|v| v.trim().to_string())
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `iptables-save` without its comment lines (they carry the time) and counters.
fn rules(save: &str) -> String {
    let out = run(save, &[]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            // ":CHAIN POLICY [packets:bytes]" — the counters move.
            match l.rfind(" [") {
                Some(i) if l.starts_with(':') => &l[..i],
                _ => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Before {
    fn note() -> Before {
        Before {
            sysctls: SYSCTLS
                .iter()
                .filter_map(|n| Some((*n, read_sysctl(n)?)))
                .collect(),
            iptables: rules("iptables-save"),
            ip6tables: rules("ip6tables-save"),
            dirs: FIXED_DIRS
                .iter()
                .copied()
                .filter(|d| Path::new(d).exists())
                .collect(),
        }
    }
}

/// Whatever a node left on this host: its processes, mounts, cgroups, devices, rules and
/// folders. Empty when the host is as it was.
pub fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for p in processes_of(dir) {
        found.push(format!("process {p}"));
    }
    for m in mounts_under(&mount_prefixes(dir)) {
        found.push(format!("mount {m}"));
    }
    for c in kubepods_cgroups() {
        found.push(format!("cgroup {}", c.display()));
    }
    let links = run_ok("ip", &["-o", "link", "show"]);
    for l in links.lines() {
        if l.contains(BRIDGE) || l.contains(&format!("master {BRIDGE}")) || l.contains("veth") {
            found.push(format!(
                "network device {}",
                l.split(':').nth(1).unwrap_or(l).trim()
            ));
        }
    }
    for (save, table) in [
        ("iptables-save", "iptables"),
        ("ip6tables-save", "ip6tables"),
    ] {
        for l in rules(save).lines() {
            if l.contains("KUBE-") || l.contains("CNI-") {
                found.push(format!("{table} {l}"));
            }
        }
    }
    found
}

/// Where the node's mounts live: its folder, the kubelet's fixed one and the Pods' netns files.
fn mount_prefixes(dir: &Path) -> Vec<String> {
    vec![
        dir.display().to_string(),
        "/var/lib/kubelet".into(),
        "/run/netns/cni-".into(),
        "/var/run/netns/cni-".into(),
    ]
}

/// Mount points under any of `prefixes`, deepest first.
fn mounts_under(prefixes: &[String]) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes spaces and the like as octal: none of ours have them.
        .filter(|p| prefixes.iter().any(|x| p.starts_with(x.as_str())))
        .map(str::to_string)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    points
}

/// Processes whose command line names the node's folder (containerd, its shims, the kubelet…).
fn processes_of(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == std::process::id().to_string() {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&needle) {
            found.push(format!("{name} {}", text.trim()));
        }
    }
    found
}

/// The kubelet's Pod cgroups (cgroupfs driver: `kubepods` under each controller), deepest first.
fn kubepods_cgroups() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                }
            }
        }
        out.push(dir.to_path_buf());
    }
    let mut out = Vec::new();
    if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
        for c in controllers.flatten() {
            let pods = c.path().join("kubepods");
            if pods.is_dir() {
                walk(&pods, &mut out);
            }
        }
    }
    out
}

fn kill_pids_in(cgroup: &Path) {
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
        // SAFETY: kill(2) on a pid read from the node's own cgroup.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

pub struct Node {
    pub plane: ControlPlane,
    dir: tempfile::TempDir,
    before: Before,
    containerd: Mutex<Option<Child>>,
    kubelet: Mutex<Option<Child>>,
    scheduler: Mutex<Option<Child>>,
    proxy: Mutex<Option<Child>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

const CONTAINERD_CONFIG: &str = r#"version = 2
root = "{dir}/containerd/root"
state = "{dir}/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{dir}/containerd.sock"
[ttrpc]
  address = "{dir}/containerd.sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Root here lacks CAP_SYS_RESOURCE: runc cannot lower a sandbox's oom_score_adj below ours.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{dir}/cni"
"#;

const CNI_CONFIG: &str = r#"{
  "cniVersion": "0.4.0",
  "name": "release-passport-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "{bridge}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "{cidr}", "rangeStart": "10.88.0.10", "gateway": "{ip}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "{dir}/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}"#;

const KUBELET_CONFIG: &str = "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: {pki}/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: {pki}/kubelet-serving.crt
tlsPrivateKeyFile: {pki}/kubelet-serving.key
containerRuntimeEndpoint: unix://{dir}/containerd.sock
cgroupDriver: cgroupfs
# This machine runs cgroup v1 (hybrid).
failCgroupV1: false
clusterDNS: [{dns}]
clusterDomain: cluster.local
# CoreDNS answers only cluster names; nothing is forwarded off the machine.
resolvConf: ''
podLogsDir: {dir}/pod-logs
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: '1%', imagefs.available: '1%', nodefs.inodesFree: '1%'}
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
";

const COREDNS: &str = "apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: system:coredns}
rules:
- apiGroups: ['']
  resources: [services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: system:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
        }
        cache 5
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: coredns
        image: {image}
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        ports:
        - {name: dns, containerPort: 1053, protocol: UDP}
        - {name: dns-tcp, containerPort: 1053, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: {dns_ip}
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
";

fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_string(), |t, (k, v)| {
        t.replace(&format!("{{{k}}}"), v)
    })
}

impl Node {
    /// A control plane Pods can reach and a node that runs them, with DNS; ready for Pods.
    pub fn start() -> Node {
        // A node left by a run that was killed would hold the bridge and rules: say so.
        let stale = leftovers(Path::new("/nonexistent"));
        assert!(
            stale.is_empty(),
            "a node from an earlier run is still here (bash tests/cluster/node-leftovers.sh --clean):\n{}",
            stale.join("\n")
        );
        let before = Before::note();
        // The bridge first: its address is the node's and the API server's.
        run_ok("ip", &["link", "add", BRIDGE, "type", "bridge"]);
        run_ok(
            "ip",
            &["addr", "add", &format!("{NODE_IP}/16"), "dev", BRIDGE],
        );
        run_ok("ip", &["link", "set", BRIDGE, "up"]);
        for (name, value) in [
            ("net/ipv4/ip_forward", "1"),
            ("net/bridge/bridge-nf-call-iptables", "1"),
        ] {
            std::fs::write(Path::new("/proc/sys").join(name), value).unwrap();
        }
        let plane = ControlPlane::start(Options {
            host: Some(NODE_IP),
            ..Options::default()
        });
        let dir = tempfile::Builder::new()
            .prefix("node-")
            .tempdir_in(plane.dir())
            .unwrap();
        let node = Node {
            plane,
            dir,
            before,
            containerd: Mutex::new(None),
            kubelet: Mutex::new(None),
            scheduler: Mutex::new(None),
            proxy: Mutex::new(None),
        };
        node.start_containerd();
        node.import_static(&tool("pause"), PAUSE_IMAGE, &[]);
        node.import_static(&tool("coredns"), COREDNS_IMAGE, &[]);
        node.start_kubelet();
        node.start_scheduler();
        node.start_proxy();
        node.wait_ready();
        node.start_dns();
        node
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log(&self, name: &str) -> String {
        read_log(self.dir(), name)
    }

    fn spawn(&self, name: &str, slot: &Mutex<Option<Child>>, cmd: &mut Command) {
        cmd.stdout(log_file(self.dir(), name))
            .stderr(log_file(self.dir(), name));
        let child = spawn_bound(cmd).unwrap_or_else(|e| panic!("{name} did not start: {e}"));
        *slot.lock().unwrap() = Some(child);
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        let socket = self.dir().join("containerd.sock");
        Command::new("ctr")
            .arg("--address")
            .arg(&socket)
            .args(["--namespace", "k8s.io"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("ctr comes with containerd")
    }

    fn start_containerd(&self) {
        let d = self.dir().display().to_string();
        std::fs::create_dir_all(self.dir().join("cni")).unwrap();
        self.write(
            "cni/10-release-passport.conflist",
            &fill(
                CNI_CONFIG,
                &[
                    ("bridge", BRIDGE),
                    ("cidr", POD_CIDR),
                    ("ip", NODE_IP),
                    ("dir", &d),
                ],
            ),
        );
        let config = self.write(
            "containerd.toml",
            &fill(CONTAINERD_CONFIG, &[("dir", &d), ("pause", PAUSE_IMAGE)]),
        );
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(&config);
        self.spawn("containerd", &self.containerd, &mut cmd);
        assert!(
            eventually(|| self.ctr(&["version"]).status.success()),
            "containerd did not answer:\n{}",
            self.log("containerd")
        );
    }

    /// Imports an OCI archive (what tests/cluster/cmd/ociimage writes) into the node's images.
    pub fn import(&self, archive: &Path) {
        let out = self.ctr(&["images", "import", archive.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "ctr images import {}: {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Packs one static binary as `image` and imports it; `options` are ociimage's (`-at`,
    /// `-link`, `-arg`, `-user`).
    pub fn import_static(&self, binary: &Path, image: &str, options: &[&str]) {
        let name = binary.file_name().unwrap().to_string_lossy();
        let archive = self.dir().join(format!("{name}.tar"));
        let mut cmd = Command::new(tool("ociimage"));
        cmd.arg("binary")
            .arg("-bin")
            .arg(std::fs::canonicalize(binary).unwrap())
            .args(["-ref", image, "-o"])
            .arg(&archive)
            .args(options);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.import(&archive);
    }

    /// A client certificate of the test CA and a kubeconfig that presents it.
    fn identity(&self, file: &str, subject: &str) -> PathBuf {
        issue(
            self.plane.dir(),
            file,
            subject,
            "extendedKeyUsage=clientAuth\n",
        );
        self.plane
            .write_kubeconfig(file, &format!("{file}.crt"), &format!("{file}.key"))
    }

    fn start_kubelet(&self) {
        let d = self.dir().display().to_string();
        issue(
            self.plane.dir(),
            "kubelet-serving",
            &format!("/CN=system:node:{NODE_NAME}/O=system:nodes"),
            &format!("subjectAltName=IP:{NODE_IP},DNS:{NODE_NAME}\nextendedKeyUsage=serverAuth\n"),
        );
        let kubeconfig = self.identity(
            "kubelet",
            &format!("/CN=system:node:{NODE_NAME}/O=system:nodes"),
        );
        let config = self.write(
            "kubelet.yaml",
            &fill(
                KUBELET_CONFIG,
                &[
                    ("ip", NODE_IP),
                    ("dir", &d),
                    ("dns", DNS_IP),
                    ("pki", &self.plane.dir().display().to_string()),
                ],
            ),
        );
        let mut cmd = Command::new(tool("kubelet"));
        cmd.arg(format!("--config={}", config.display()))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--root-dir={d}/kubelet"))
            .arg(format!("--hostname-override={NODE_NAME}"))
            .arg(format!("--node-ip={NODE_IP}"))
            .arg("--v=1");
        self.spawn("kubelet", &self.kubelet, &mut cmd);
    }

    fn start_scheduler(&self) {
        let kubeconfig = self.identity("scheduler", "/CN=system:kube-scheduler");
        let mut cmd = Command::new(tool("kube-scheduler"));
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["--leader-elect=false", "--secure-port=0", "--v=1"]);
        self.spawn("kube-scheduler", &self.scheduler, &mut cmd);
    }

    fn start_proxy(&self) {
        let kubeconfig = self.identity("proxy", "/CN=system:kube-proxy");
        let mut cmd = Command::new(tool("kube-proxy"));
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--hostname-override={NODE_NAME}"))
            .arg(format!("--cluster-cidr={POD_CIDR}"))
            .args([
                "--proxy-mode=iptables",
                // Leave the host's conntrack settings and loopback routing alone.
                "--conntrack-max-per-core=0",
                "--conntrack-tcp-timeout-established=0",
                "--conntrack-tcp-timeout-close-wait=0",
                "--iptables-localhost-nodeports=false",
                "--healthz-bind-address=127.0.0.1:10256",
                "--metrics-bind-address=127.0.0.1:10249",
                "--v=1",
            ]);
        self.spawn("kube-proxy", &self.proxy, &mut cmd);
    }

    /// The Node is Ready and carries no taint (the node lifecycle controller lifts not-ready).
    fn wait_ready(&self) {
        let ready = wait_for(Duration::from_secs(120), || {
            let node = self.plane.get_json(&["node", NODE_NAME])?;
            let ready = node["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            let tainted = node["spec"]["taints"]
                .as_array()
                .is_some_and(|t| !t.is_empty());
            (ready && !tainted).then_some(())
        });
        assert!(
            ready.is_some(),
            "the node did not become Ready:\nkubelet:\n{}\ncontainerd:\n{}",
            tail(&self.log("kubelet")),
            tail(&self.log("containerd"))
        );
    }

    fn start_dns(&self) {
        self.plane.apply(&fill(
            COREDNS,
            &[("image", COREDNS_IMAGE), ("dns_ip", DNS_IP)],
        ));
        self.rollout("kube-system", "deployment/coredns");
    }

    /// Waits for a rollout, with the Pods' story in the message when it does not finish.
    pub fn rollout(&self, ns: &str, what: &str) {
        let out = self.plane.kubectl(
            &["rollout", "status", what, "-n", ns, "--timeout=180s"],
            None,
        );
        assert!(
            out.status.success(),
            "{what} in {ns} did not roll out: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.describe_pods(ns)
        );
    }

    /// Kills a container where it runs (SIGKILL through containerd), as the OOM killer or a
    /// crash would: its Pod stays and the kubelet restarts it.
    pub fn kill_container(&self, id: &str) {
        let out = self.ctr(&["tasks", "kill", "--signal", "SIGKILL", id]);
        assert!(
            out.status.success(),
            "ctr tasks kill {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `kubectl describe pods` and the kubelet's last lines, for a failure message.
    pub fn describe_pods(&self, ns: &str) -> String {
        let out = self.plane.kubectl(&["describe", "pods", "-n", ns], None);
        format!(
            "{}\nkubelet:\n{}",
            String::from_utf8_lossy(&out.stdout),
            tail(&self.log("kubelet"))
        )
    }

    /// Stops everything the node started and puts the host back as it was.
    fn stop(&self) {
        for slot in [&self.kubelet, &self.scheduler, &self.proxy] {
            if let Some(mut child) = slot.lock().unwrap().take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // The Pods' processes, then the shims (they outlive containerd), then containerd.
        for cgroup in kubepods_cgroups() {
            kill_pids_in(&cgroup);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in processes_of(self.dir()) {
            if let Some(pid) = p.split(' ').next().and_then(|p| p.parse::<i32>().ok()) {
                // SAFETY: kill(2) on a process whose command line names the node's folder.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if let Some(mut child) = self.containerd.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        while !processes_of(self.dir()).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for point in mounts_under(&mount_prefixes(self.dir())) {
            let _ = run("umount", &["-l", &point]);
        }
        for cgroup in kubepods_cgroups() {
            let _ = std::fs::remove_dir(&cgroup);
        }
        let _ = run("ip", &["link", "delete", BRIDGE]);
        // Whatever veths the Pods' namespaces left go with them; any left are the node's.
        for (save, restore) in [
            ("iptables-save", "iptables"),
            ("ip6tables-save", "ip6tables"),
        ] {
            let wanted = if save == "iptables-save" {
                &self.before.iptables
            } else {
                &self.before.ip6tables
            };
            if rules(save) != *wanted {
                reset_rules(restore, wanted);
            }
        }
        for (name, value) in &self.before.sysctls {
            let _ = std::fs::write(Path::new("/proc/sys").join(name), value);
        }
        for d in FIXED_DIRS {
            if !self.before.dirs.contains(d) {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

/// Puts a rule set back: every table the node touched is emptied and the saved rules restored.
fn reset_rules(family: &str, saved: &str) {
    for table in ["filter", "nat", "mangle", "raw"] {
        let _ = run(family, &["-t", table, "-F"]);
        let _ = run(family, &["-t", table, "-X"]);
        for chain in ["INPUT", "FORWARD", "OUTPUT"] {
            let _ = run(family, &["-t", table, "-P", chain, "ACCEPT"]);
        }
    }
    if !saved.trim().is_empty() {
        let mut child = Command::new(format!("{family}-restore"))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{saved}\n").as_bytes())
            .unwrap();
        let _ = child.wait();
    }
}

/// A container's memory as its cgroup (v1, cgroupfs driver) counts it, in bytes.
#[derive(Debug)]
pub struct Memory {
    pub usage: u64,
    pub peak: u64,
    pub limit: u64,
    pub oom_kills: u64,
}

/// The memory figures of the container with this runtime id (`containerd://` stripped).
pub fn memory_of(container: &str) -> Option<Memory> {
    fn find(dir: &Path, name: &str) -> Option<PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == name {
                return Some(e.path());
            }
            if let Some(found) = find(&e.path(), name) {
                return Some(found);
            }
        }
        None
    }
    let dir = find(Path::new("/sys/fs/cgroup/memory/kubepods"), container)?;
    let read = |file: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let oom = std::fs::read_to_string(dir.join("memory.oom_control")).ok()?;
    Some(Memory {
        usage: read("memory.usage_in_bytes")?,
        peak: read("memory.max_usage_in_bytes")?,
        limit: read("memory.limit_in_bytes")?,
        oom_kills: oom
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
    })
}

/// The last 40 lines of a log.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Polls `check` every 200 ms until it gives a value or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The pods of a namespace matching a label selector, as JSON items.
pub fn pods(plane: &ControlPlane, ns: &str, selector: &str) -> Vec<Value> {
    plane
        .get_json(&["pods", "-n", ns, "-l", selector])
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}
