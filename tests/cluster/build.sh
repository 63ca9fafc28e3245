#!/usr/bin/env bash
# Builds the real cluster the tests stand on from pinned Go modules: the control plane
# (kube-apiserver, kube-controller-manager, etcd, kubectl), the node (kubelet, kube-scheduler,
# kube-proxy), helm, CoreDNS, oauth2-proxy, Flux (source- and kustomize-controller), Argo CD and our
# small tools (kstatus, argocd-health, pause, ociimage, gitserver). Each part is cached by
# itself, outside the clone, in a folder keyed by exactly what it is built from, so a second
# clone on this machine builds nothing:
#   ${PASSPORT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/release-passport}/<part>-<version>-<key>/
# Prints one folder that holds (links to) every binary; says on stderr how long a build took.
set -euo pipefail
# A build that fails inside $(part …) must fail the script, not be cached as complete.
shopt -s inherit_errexit
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
  go build -trimpath -ldflags "-s -w" -o "$1/" ./cmd/kstatus ./cmd/argocd-health ./cmd/ociimage ./cmd/gitserver
  # Packed into images: static, so they need nothing from a base image.
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" ./cmd/pause
}
build_helm() { (cd helm && go build -trimpath -ldflags "-s -w" -o "$1/" helm.sh/helm/v3/cmd/helm); }
build_coredns() { (cd coredns && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" github.com/coredns/coredns); }
# Flux's source- and kustomize-controller, with the CRDs they serve from their own modules.
build_flux() {
  (
    cd flux
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" \
      github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller
    mkdir -p "$1/flux-crds"
    local m
    for m in github.com/fluxcd/source-controller github.com/fluxcd/kustomize-controller; do
      cp "$(go list -m -f '{{.Dir}}' "$m")"/config/crd/bases/*.yaml "$1/flux-crds/"
    done
  )
}
# Argo CD's one multi-call binary, linked under the names that make it the application controller,
# the repo server and the API server, with the CRDs from its module. Its go.mod asks for Go 1.27.
build_argocd() {
  (
    cd argocd
    export GOTOOLCHAIN=go1.27.3
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/argocd" github.com/argoproj/argo-cd/v3/cmd
    local src name
    src=$(go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
    mkdir -p "$1/argocd-crds"
    cp "$src"/manifests/crds/*-crd.yaml "$1/argocd-crds/"
    # The repo server runs these from PATH, as its image has them in /usr/local/bin.
    install -m 0755 "$src"/hack/git-verify-wrapper.sh "$src"/hack/gpg-wrapper.sh "$1/"
    for name in argocd-application-controller argocd-repo-server argocd-server argocd-git-ask-pass; do
      ln -s argocd "$1/$name"
    done
  )
}
build_oauth2_proxy() {
  (cd oauth2-proxy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$1/" github.com/oauth2-proxy/oauth2-proxy/v7)
}

# One part at a time: a failed build stops the script here (in one array assignment only the
# last substitution's status would count).
parts=()
parts+=("$(part kubernetes "$kube_version-$(key go.mod go.sum)" build_kubernetes)")
parts+=("$(part tools "$(key go.mod go.sum $(find cmd -name '*.go' | sort))" build_tools)")
parts+=("$(part helm "$(version_of helm.sh/helm/v3 helm/go.mod)-$(key helm/go.mod helm/go.sum)" build_helm)")
parts+=("$(part coredns "$(version_of github.com/coredns/coredns coredns/go.mod)-$(key coredns/go.mod coredns/go.sum)" build_coredns)")
parts+=("$(part flux "$(version_of github.com/fluxcd/kustomize-controller flux/go.mod)-$(key flux/go.mod flux/go.sum)" build_flux)")
parts+=("$(part argocd "$(version_of github.com/argoproj/argo-cd/v3 argocd/go.mod)-$(key argocd/go.mod argocd/go.sum)" build_argocd)")
parts+=("$(part oauth2-proxy "$(version_of github.com/oauth2-proxy/oauth2-proxy/v7 oauth2-proxy/go.mod)-$(key oauth2-proxy/go.mod oauth2-proxy/go.sum)" build_oauth2_proxy)")

# One folder of links to every part's binaries, named by the parts it joins.
bin="$cache/bin-$(printf '%s\n' "${parts[@]}" | sha256sum | cut -c1-16)"
if [ ! -d "$bin" ]; then
  mkdir -p "$bin.tmp"
  for p in "${parts[@]}"; do ln -sf "$p"/* "$bin.tmp/"; done
  rm -rf "$bin" && mv "$bin.tmp" "$bin"
  find "$cache" -mindepth 1 -maxdepth 1 -name 'bin-*' ! -path "$bin" -exec rm -rf {} +
fi
echo "$bin"
