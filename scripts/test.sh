#!/usr/bin/env bash
# The test command of the README: installs what is needed, builds, and runs every suite.
#   1. release build: unit, integration, fuzz-corpus replays, e2e and browser tests
#   2. AddressSanitizer + UBSan build: unit, integration and fuzz-corpus replays
#   3. valgrind over the unit tests (release build)
#   4. clang + libFuzzer build of every fuzz target, each run briefly from its seed corpus
# Usage: scripts/test.sh [--quick]   (--quick: release build suites only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/deps.sh
mkdir -p test-artifacts

setup() { # dir, extra meson args...
  local dir=$1; shift
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
  meson compile -C "$dir"
}

status=0
run() { # label, command...
  local label=$1; shift
  echo "=== $label"
  if ! "$@"; then echo "=== $label: FAILED"; status=1; fi
}

setup build/release --buildtype=release
run "release: all suites" meson test -C build/release --print-errorlogs --num-processes 2

if [ $quick -eq 0 ]; then
  setup build/asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run "asan+ubsan: unit, integration, fuzz replays" \
    meson test -C build/asan --print-errorlogs --num-processes 2 --suite unit --suite integration --suite fuzz
  unset ASAN_OPTIONS UBSAN_OPTIONS

  run "valgrind: unit" meson test -C build/release --print-errorlogs --no-rebuild --suite unit \
    --wrapper 'valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite'

  CC=clang setup build/fuzz --buildtype=debug -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
  run "libFuzzer: short runs of every target" scripts/fuzz.sh build/fuzz 20
fi

python3 scripts/test-summary.py build/release build/asan
exit $status
