#!/usr/bin/env bash
# Builds the real cluster the tests stand on from pinned Go modules: the control plane
# (kube-apiserver, kube-controller-manager, etcd, kubectl), the node (kubelet, kube-scheduler,
# kube-proxy), helm, CoreDNS, oauth2-proxy and our small tools (kstatus, argocd-health, pause,
# ociimage). Each part is cached by itself, outside the clone, in a folder keyed by exactly what
# it is built from, so a second clone on this machine builds nothing:
#   ${PASSPORT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/release-passport}/<part>-<version>-<key>/
# Prints one folder that holds (links to) every binary; says on stderr how long a build took.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
cache=${PASSPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/release-passport}
mkdir -p "$cache"

command -v go >/dev/null || { echo "build.sh: go is required (it ships with this machine's image)" >&2; exit 1; }

# key FILE... — a short hash of what a part is built from (this script included).
key() { cat "$@" "$here/build.sh" | sha256sum | cut -c1-16; }
version_of() { awk -v m="$1" '$1 == m { print $2; exit }' "$2"; }

# Go's build cache for these modules is ~5 GB: a private one, removed once the binaries exist.
# PASSPORT_KEEP_GOCACHE=1 keeps the usual one, for work on cmd/.
if [ "${PASSPORT_KEEP_GOCACHE:-0}" != 1 ]; then
  export GOCACHE="$cache/gocache"
  trap 'rm -rf "$cache/gocache"' EXIT
fi

# part NAME KEY BUILD-FUNCTION — builds into $cache/NAME-KEY unless it is there; prints the folder.
part() {
  local name=$1 k=$2 build=$3 out="$cache/$1-$2"
  if [ ! -f "$out/.complete" ]; then
    local start; start=$(date +%s)
    echo "building $name into $out ..." >&2
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    "$build" "$out.tmp"
    touch "$out.tmp/.complete"
    rm -rf "$out" && mv "$out.tmp" "$out"
    # Older builds of this part are of no further use.
    find "$cache" -mindepth 1 -maxdepth 1 -name "$name-*" ! -path "$out" -exec rm -rf {} +
    echo "built $name in $(( $(date +%s) - start ))s" >&2
  fi
  echo "$out"
}

kube_version=$(version_of k8s.io/kubernetes go.mod)
build_kubernetes() {
  # The version the servers and kubectl report: helm and kubectl compare it with what they expect.
  local minor=${kube_version#v1.}; minor=${minor%%.*}
  local ldflags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  go build -trimpath -ldflags "$ldflags" -o "$1/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy ./cmd/etcd
}
build_tools() {
  # Our own Go code is formatted and vetted with what it is built from (the key covers it).
  local unformatted; unformatted=$(gofmt -l cmd)
  [ -z "$unformatted" ] || { echo "build.sh: gofmt would change: $unformatted" >&2; exit 1; }
  go vet ./cmd/...
  go build -trimpath -ldflags "-s -w" -o "$1/" ./cmd/kstatus ./cmd/argocd-health ./cmd/ociimage
  # Packed into images: static, so they need nothing from a base image.
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" ./cmd/pause
}
build_helm() { (cd helm && go build -trimpath -ldflags "-s -w" -o "$1/" helm.sh/helm/v3/cmd/helm); }
build_coredns() { (cd coredns && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" github.com/coredns/coredns); }
build_oauth2_proxy() {
  (cd oauth2-proxy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" github.com/oauth2-proxy/oauth2-proxy/v7)
}

parts=(
  "$(part kubernetes "$kube_version-$(key go.mod go.sum)" build_kubernetes)"
  "$(part tools "$(key go.mod go.sum $(find cmd -name '*.go' | sort))" build_tools)"
  "$(part helm "$(version_of helm.sh/helm/v3 helm/go.mod)-$(key helm/go.mod helm/go.sum)" build_helm)"
  "$(part coredns "$(version_of github.com/coredns/coredns coredns/go.mod)-$(key coredns/go.mod coredns/go.sum)" build_coredns)"
  "$(part oauth2-proxy "$(version_of github.com/oauth2-proxy/oauth2-proxy/v7 oauth2-proxy/go.mod)-$(key oauth2-proxy/go.mod oauth2-proxy/go.sum)" build_oauth2_proxy)"
)

# One folder of links to every part's binaries, named by the parts it joins.
bin="$cache/bin-$(printf '%s\n' "${parts[@]}" | sha256sum | cut -c1-16)"
if [ ! -d "$bin" ]; then
  mkdir -p "$bin.tmp"
  for p in "${parts[@]}"; do ln -sf "$p"/* "$bin.tmp/"; done
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  find "$cache" -mindepth 1 -maxdepth 1 -name 'bin-*' ! -path "$bin" -exec rm -rf {} +
fi
echo "$bin"
