# Release Passport — build, test and generate.
# `make test` is the one command that decides green (CI runs it through .ci/run).

CARGO ?= cargo
# A clean clone gains nothing from incremental caches, and they were a fifth of the disk it used.
CARGO_INCREMENTAL ?= 0
export CARGO_INCREMENTAL
CRD_DIRS := crds config/crd/bases charts/release-passport/crds

.PHONY: test lint unit fuzz deps crds demo bench screenshots

## Everything CI runs: formatting, lints, every test tier on one debug build, then each fuzz
## target for 30 s from its committed corpus (an instrumented nightly build of its own).
test: deps lint unit fuzz

## Installs what the tests need when it is missing. A fresh machine of this kind has cargo,
## rustfmt, clippy, go, python3 with pip, node and npm, and openssl. The cluster tiers stand on a
## real control plane (kube-apiserver, etcd, kube-controller-manager, kubectl, helm and our
## kstatus and Argo CD health runners) and, for the node tier, kubelet, kube-scheduler,
## kube-proxy, CoreDNS and oauth2-proxy, which tests/cluster/build.sh builds from pinned Go modules
## (gofmt and go vet on our Go code first) into a per-user cache keyed by what each is built from;
## the tests start them and stop them themselves. The GitOps tier runs Flux's source- and
## kustomize-controller and Argo CD, built there too, with Debian's git (served over HTTP on
## loopback) and redis. The node runs Debian's containerd, runc, CNI
## plugins, iptables and conntrack; its Pods that ask the HTTP gate run Debian's busybox-static. The metrics tier parses /metrics with PyPI prometheus_client; the statistics tier checks
## the Mann-Whitney U test against PyPI scipy; the connector tier uses Debian's
## prometheus (its tests start their own servers on loopback); the console's browser tier
## Debian's chromium and (with its OIDC tier) the npm packages in tests/console
## (playwright-core, oidc-provider); the peers tier the npm packages of the receivers' own
## libraries (cloudevents, adaptivecards, @octokit/webhooks-methods, -schemas and -examples). The fuzz targets need cargo-fuzz (crates.io) and the nightly
## toolchain that rustup ships on this machine's image.
deps:
	@command -v go >/dev/null || { echo "go is required (it ships with this machine's image)"; exit 1; }
	@command -v openssl >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null; }
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are required (they ship with this machine's image)"; exit 1; }
	@python3 -c "import prometheus_client" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "prometheus_client==0.26.0"
	@python3 -c "import scipy" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check "scipy==1.17.1"
	@command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null && command -v influxd >/dev/null && command -v victoria-metrics >/dev/null && command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager influxdb victoria-metrics chromium >/dev/null; }
	@command -v redis-server >/dev/null && command -v git >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server git >/dev/null; }
	@command -v containerd >/dev/null && command -v runc >/dev/null && [ -x /usr/lib/cni/bridge ] && command -v iptables >/dev/null && command -v conntrack >/dev/null && [ -x /bin/busybox ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins iptables conntrack busybox-static >/dev/null; }
	@cd tests/console && node -e 'const fs = require("fs"); process.exit(Object.keys(JSON.parse(fs.readFileSync("package.json")).dependencies).every((d) => fs.existsSync("node_modules/" + d)) ? 0 : 1)' || npm ci --no-audit --no-fund --loglevel=error
	@bash tests/cluster/build.sh >/dev/null
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --quiet --locked cargo-fuzz --version 0.13.2

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## The tests find the cluster that build.sh built (it prints the folder; nothing is rebuilt). The
## node tier must leave nothing behind, passed or failed: node-leftovers.sh says what it left
## (and fails the run), then takes it down so the machine is clean for the next run.
unit:
	@rc=0; PASSPORT_CLUSTER_BIN=$$(bash tests/cluster/build.sh) $(CARGO) test --no-fail-fast || rc=1; \
	bash tests/cluster/node-leftovers.sh || { rc=1; bash tests/cluster/node-leftovers.sh --clean; }; \
	exit $$rc

## The fuzz targets (tests/fuzz/README.md): `bash tests/fuzz/run.sh SECONDS` for longer.
fuzz:
	bash tests/fuzz/run.sh 30

## Regenerates the CRDs from the Rust types into every place that carries them.
crds:
	$(CARGO) build --bin passport
	for d in $(CRD_DIRS); do ./target/debug/passport crd --out-dir $$d; done

demo:
	$(CARGO) run --release -- demo

## Refreshes docs/images from the browser tier: every page of the demo at 1280 px (NAME.png) and
## 390 px (NAME-phone.png), as Chromium drew them.
SCREENSHOTS := overview releases truth-screen gate policy-builder radar metrics integrations reports settings
screenshots:
	$(CARGO) test --test integration -- console_e2e::every_page_in_a_real_browser
	for p in $(SCREENSHOTS); do \
	  cp target/console-screenshots/$$p-desktop.png docs/images/$$p.png; \
	  cp target/console-screenshots/$$p-mobile.png docs/images/$$p-phone.png; \
	done

bench:
	$(CARGO) bench --bench engine
	$(CARGO) bench --bench controller
	$(CARGO) bench --bench connectors
	$(CARGO) bench --bench console
	$(CARGO) bench --bench metrics
	$(CARGO) bench --bench notify
