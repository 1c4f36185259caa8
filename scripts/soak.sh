#!/usr/bin/env bash
# Soak test of the pipeline's fault tolerance: runs tests/e2e/pipeline/test_faults.py with many
# rounds — each of the faults (kill -9 of an aeb instance, of the mf4-reader mid-recording, of a
# db-writer instance, of wshub with its sqlite store; plus a SIGTERM drain + restart of wshub)
# at N random moments (default 10), every run's results database compared with a clean run's
# (same rows, same values).
# Usage: scripts/soak.sh [--rounds N] [--faults aeb,reader,db,hub,hubterm] [--seed S] [--frames N]
#                        [--build-dir DIR]       (default build dir: build/release)
# Needs a built tree (scripts/test.sh or scripts/demo.sh builds build/release). Takes about
# 6.5 s per run on a 2-core machine (hubterm ~10 s): 10 rounds x 5 faults ~ 7 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/release
args=()
rounds=10
faults=aeb,reader,db,hub,hubterm
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$(cd "${2:?--build-dir needs a value}" && pwd); shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --faults) faults=${2:?--faults needs a value}; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ! -x "$build/src/hub/wshub" ]; then
  echo "soak: $build/src/hub/wshub not built (run scripts/test.sh --quick or meson compile -C $build)" >&2
  exit 2
fi
export WSM_SRCDIR=$root WSM_BUILDDIR=$build
exec python3 "$root/tests/e2e/pipeline/test_faults.py" --rounds "$rounds" --faults "$faults" "${args[@]}"
