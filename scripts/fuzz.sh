#!/usr/bin/env bash
# Runs the libFuzzer binaries of a -Dfuzz=true build (CC=clang) for SECONDS each, starting
# from the seed corpus in tests/fuzz/corpus/NAME (plus the dictionary tests/fuzz/NAME.dict if
# there is one). New inputs go to test-artifacts/fuzz/NAME-corpus/ (kept between runs, never
# into the repo unless --merge). Crashes, leaks and sanitizer reports are written to
# test-artifacts/fuzz/NAME-* and make the script fail. One summary line per target:
# seconds, executions, cov/ft from libFuzzer's final stats (docs/fuzzing.md has the table).
#
# Usage: scripts/fuzz.sh [-j N] [--merge] [--no-build] BUILD_DIR SECONDS [TARGET...]
#   BUILD_DIR  configured with CC=clang -Dfuzz=true -Db_sanitize=address,undefined
#   -j N       run N targets at a time (default 1; this machine has 2 cores, shared)
#   --merge    afterwards, merge inputs that add coverage edges into tests/fuzz/corpus/NAME
#              (libFuzzer -merge=1 -use_counters=0: only inputs with new edges, so the repo
#              corpus stays small) and report how many
#   --no-build do not build the fuzz-* binaries first (ninja, only those targets)
#   no TARGET: every fuzz target of BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=1 merge=0 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -j) jobs=$2; shift 2;;
    --merge) merge=1; shift;;
    --no-build) build=0; shift;;
    -h|--help) sed -n '2,16p' "$0"; exit 0;;
    *) break;;
  esac
done
[ $# -ge 2 ] || { sed -n '2,16p' "$0"; exit 2; }
dir=$1 secs=$2; shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  while read -r t; do targets+=("${t#tests/fuzz/fuzz-}"); done < <(
    ninja -C "$dir" -t targets all | sed -n 's,^\(tests/fuzz/fuzz-[a-z0-9_]*\): .*,\1,p' |
      grep -v '/fuzz-replay-' | sort -u)
fi
[ ${#targets[@]} -gt 0 ] || { echo "no fuzz targets in $dir (configure it with -Dfuzz=true)"; exit 2; }
if [ $build -eq 1 ]; then
  ninja -C "$dir" "${targets[@]/#/tests/fuzz/fuzz-}" > /dev/null ||
    { echo "building the fuzz targets in $dir failed"; exit 1; }
fi
art=test-artifacts/fuzz
mkdir -p "$art"

run_one() {
  local t=$1 bin="$dir/tests/fuzz/fuzz-$1" work="$art/$1-corpus" log="$art/$1.log"
  local seeds="tests/fuzz/corpus/$t" dict=() rc=0
  mkdir -p "$work" "$seeds"
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      "${dict[@]}" -artifact_prefix="$art/$t-" -print_final_stats=1 "$work" "$seeds" \
      > "$log" 2>&1 || rc=$?
  local execs cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAILED rc=$rc after ${execs:-?} execs (see $log)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
    return 1
  fi
  if [ $merge -eq 1 ]; then
    local before after
    before=$(ls "$seeds" | wc -l)
    "$bin" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 "$seeds" "$work" \
      > "$log.merge" 2>&1 || { echo "fuzz $t: merge failed (see $log.merge)"; return 1; }
    after=$(ls "$seeds" | wc -l)
    echo "fuzz $t: merged $((after - before)) new inputs into $seeds"
  fi
  echo "fuzz $t: ${secs}s execs=${execs:-?} ${cov:-cov: ?} ok"
}

rc=0
pids=()
for t in "${targets[@]}"; do
  echo "fuzz $t: ${secs}s"
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || rc=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
