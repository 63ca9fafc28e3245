#!/usr/bin/env bash
# Runs every fuzz target for a bounded time from its committed corpus (tests/fuzz/README.md).
# `make test` calls it with the default 30 s per target; a long campaign passes more, e.g.
#   bash tests/fuzz/run.sh 3600        # an hour per target
#   bash tests/fuzz/run.sh 0 10000000  # until 10 million executions per target
# A crash fails the run and leaves its input in tests/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
runs=${2:-0}
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "the fuzz targets need the nightly toolchain (rustup's nightly ships with this machine's image)" >&2
  exit 1
fi
targets=(manifest recording webhook policy console_query protection)
# One instrumented build of every target. Coverage and debug assertions (an overflow is a
# crash), no AddressSanitizer: the project has no unsafe code, and ASan doubled the build and
# halved the executions. FUZZ_SANITIZER=address turns it on.
sanitizer=${FUZZ_SANITIZER:-none}
# The build lives in the per-user cache, outside the clone: its ~300 dependencies are pinned by
# Cargo.lock and were most of a clone's fuzz time (13 min of 15), so a second clone rebuilds only
# this crate. Each clone's own build of the crate stays there too; delete the folder to reclaim it.
target_dir=${PASSPORT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/release-passport}/fuzz-target
build_log=$(mktemp)
if ! cargo +nightly fuzz build --fuzz-dir . -a -s "$sanitizer" --target-dir "$target_dir" >"$build_log" 2>&1; then
  tail -40 "$build_log" >&2
  exit 1
fi
rm -f "$build_log"
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  mkdir -p "corpus/$t" "artifacts/$t"
  # New inputs go to the scratch corpus: the committed one is only read.
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
  [ "$runs" -gt 0 ] && args+=(-runs="$runs")
  echo "fuzz $t: ${seconds}s from $(ls "corpus/$t" | wc -l) corpus inputs"
  before=$(ls "artifacts/$t" | wc -l)
  if ! cargo +nightly fuzz run --fuzz-dir . -a -s "$sanitizer" --target-dir "$target_dir" "$t" "$work" "corpus/$t" -- "${args[@]}" \
      >"$work.log" 2>&1; then
    tail -40 "$work.log" >&2
    if [ "$(ls "artifacts/$t" | wc -l)" -gt "$before" ]; then
      echo "fuzz $t found a crash; its input is in tests/fuzz/artifacts/$t/" >&2
    else
      echo "fuzz $t did not run (see above)" >&2
    fi
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work.log" | sed "s/^/  $t /"
  rm -rf "$work" "$work.log"
done
