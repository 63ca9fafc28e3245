#!/usr/bin/env bash
# Builds the real control plane the cluster tests stand on — kube-apiserver, kube-controller-manager,
# kubectl, etcd, helm and our two health tools — from the Go modules pinned in tests/cluster/go.mod
# and tests/cluster/helm/go.mod, into a git-ignored folder keyed by what it is built from.
# Prints that folder's path on stdout; says on stderr how long a build took. Nothing is built twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

kube_version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' go.mod)
key=$(cat go.mod go.sum helm/go.mod helm/go.sum build.sh $(find cmd -name '*.go' | sort) | sha256sum | cut -c1-16)
out="$here/.bin/$kube_version-$key"
tools=(kube-apiserver kube-controller-manager kubectl etcd helm kstatus argocd-health)

complete=1
for t in "${tools[@]}"; do [ -x "$out/$t" ] || complete=0; done
if [ "$complete" = 1 ]; then echo "$out"; exit 0; fi

command -v go >/dev/null || { echo "build.sh: go is required (it ships with this machine's image)" >&2; exit 1; }
start=$(date +%s)
mkdir -p "$out.tmp"
# The version the servers and kubectl report: helm and kubectl compare it with what they expect.
minor=${kube_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
echo "building the control plane ($kube_version) into $out ..." >&2
# Go's build cache for these modules is ~5 GB: a private one, removed once the binaries exist
# (CI's disk is of unknown size). PASSPORT_KEEP_GOCACHE=1 keeps the usual one, for work on cmd/.
if [ "${PASSPORT_KEEP_GOCACHE:-0}" != 1 ]; then
  export GOCACHE="$here/.bin/gocache"
  trap 'rm -rf "$here/.bin/gocache"' EXIT
fi
# Our own Go code is formatted and vetted with what it is built from (the key covers it).
unformatted=$(gofmt -l cmd)
[ -z "$unformatted" ] || { echo "build.sh: gofmt would change: $unformatted" >&2; exit 1; }
go vet ./cmd/...
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl ./cmd/etcd ./cmd/kstatus ./cmd/argocd-health
(cd helm && go build -trimpath -ldflags "-s -w" -o "$out.tmp/" helm.sh/helm/v3/cmd/helm)
rm -rf "$out" && mv "$out.tmp" "$out"
# Older builds are of no further use.
find "$here/.bin" -mindepth 1 -maxdepth 1 ! -path "$out" ! -path "$here/.bin/gocache" -exec rm -rf {} +
echo "built the control plane in $(( $(date +%s) - start ))s" >&2
echo "$out"
