#!/usr/bin/env bash
# Runs every libFuzzer binary of a -Dfuzz=true build for SECONDS each, starting from its seed
# corpus in tests/fuzz/corpus/NAME (new inputs go to a scratch dir, not into the repo).
# Crashes are written to test-artifacts/fuzz/ and make the script fail.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 secs=$2; shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$dir"/tests/fuzz/fuzz-*; do
    b=$(basename "$f"); case "$b" in fuzz-replay-*) continue;; esac
    [ -x "$f" ] && targets+=("${b#fuzz-}")
  done
fi
mkdir -p test-artifacts/fuzz
rc=0
for t in "${targets[@]}"; do
  scratch=$(mktemp -d)
  echo "fuzz $t: ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$dir/tests/fuzz/fuzz-$t" -max_total_time="$secs" \
        -artifact_prefix="test-artifacts/fuzz/$t-" -print_final_stats=1 \
        "$scratch" "tests/fuzz/corpus/$t" > "test-artifacts/fuzz/$t.log" 2>&1; then
    echo "fuzz $t: FAILED (see test-artifacts/fuzz/$t.log)"; tail -30 "test-artifacts/fuzz/$t.log"; rc=1
  else
    grep -E 'stat::number_of_executed_units|Done' "test-artifacts/fuzz/$t.log" | tail -2
  fi
  rm -rf "$scratch"
done
exit $rc
