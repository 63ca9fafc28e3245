#!/usr/bin/env bash
# Says what a test node (tests/common/node.rs) left on this host — processes, mounts, Pod
# cgroups, its bridge and veths, KUBE-/CNI- iptables rules — and exits 1 if anything.
# With --clean it first takes down whatever is there (a run that was killed cannot clean up).
# `make test` runs it after every test run, passed or failed.
set -uo pipefail
bridge=rpnode0
mountre='containerd|kubelet|/run/netns/cni-'

if [ "${1:-}" = --clean ]; then
  for c in /sys/fs/cgroup/*/kubepods; do
    [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
  done
  pkill -9 -f '^[^ ]*containerd-shim' 2>/dev/null
  for p in kubelet kube-proxy kube-scheduler containerd; do pkill -9 -x "$p" 2>/dev/null; done
  sleep 1
  awk '{print $5}' /proc/self/mountinfo | grep -E "$mountre" | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  for c in /sys/fs/cgroup/*/kubepods; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  ip link delete "$bridge" 2>/dev/null
  for save in iptables ip6tables; do
    for t in filter nat mangle raw; do
      # Read whole first: under pipefail, grep -q leaving early makes the save die of SIGPIPE
      # and the pipeline "fail", which skipped the flush of a killed run's rules.
      rules=$("$save-save" -t "$t" 2>/dev/null)
      grep -qE 'KUBE-|CNI-' <<<"$rules" || continue
      "$save" -t "$t" -F; "$save" -t "$t" -X
    done
  done
fi

left=0
say() { echo "node-leftovers: $*" >&2; left=1; }
# By command name (ps truncates it to 15 characters: containerd-shim), passing over zombies: a
# killed shim is reparented to init, which reaps it in its own time, and a zombie holds nothing.
live() { ps -eo stat=,comm= | awk -v name="$1" '$1 !~ /^Z/ && $2 == name { found = 1 } END { exit !found }'; }
for p in kubelet kube-proxy kube-scheduler containerd containerd-shim; do
  live "$p" && say "process $p still runs"
done
n=$(awk '{print $5}' /proc/self/mountinfo | grep -cE "$mountre")
[ "$n" = 0 ] || say "$n containerd/kubelet mounts remain"
for c in /sys/fs/cgroup/*/kubepods; do [ -d "$c" ] && say "cgroup $c remains"; done
ip -o link show | grep -qE "$bridge|veth" && say "network devices remain: $(ip -o link show | grep -E "$bridge|veth" | cut -d: -f2 | tr '\n' ' ')"
for save in iptables-save ip6tables-save; do
  n=$("$save" 2>/dev/null | grep -cE 'KUBE-|CNI-')
  [ "$n" = 0 ] || say "$n $save lines name KUBE-/CNI- chains"
done
exit $left
