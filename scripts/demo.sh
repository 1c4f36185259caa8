#!/usr/bin/env bash
# The README's first command: the main job end to end on a fresh Debian 12 machine.
#   1. installs what it needs (scripts/deps.sh --runtime-only), builds (release, build/release)
#   2. writes the 12 Euro NCAP AEB scenario recordings into var/recordings (scenario-gen)
#   3. starts `wshub --config config/mesh.json`, which starts the mf4-reader, aeb and db-writer
#      services (its supervisor) — hub store var/wsmesh.db, results var/results.db
#   4. ingests the recordings with a progress bar each, prints the summary table
#   5. prints the dashboard URL and keeps everything up until Ctrl-C (--exit: stop when done)
# Safe to re-run: recordings are deterministic and keyed by their sha256, results are upserts.
# Works from any directory. Exit status: meshctl ingest's (0 = every recording stored).
# Usage: scripts/demo.sh [--port N] [--exit] [--no-deps] [--build-dir DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

port=7700
exit_when_done=0
deps=1
build=build/release
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --port=*) port=${1#--port=}; shift ;;
    --exit) exit_when_done=1; shift ;;
    --no-deps) deps=0; shift ;;
    --build-dir) build=${2:?--build-dir needs a value}; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument '$1' (see scripts/demo.sh --help)" >&2; exit 2 ;;
  esac
done
case "$port" in
  ''|*[!0-9]*) echo "demo: --port $port: expected a port number" >&2; exit 2 ;;
esac

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
[ -t 1 ] || say() { printf '== %s\n' "$*"; }

# A port is taken if something accepts a connection on it.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_taken "$port"; then
  echo "demo: port $port on 127.0.0.1 is already in use (another wshub or demo still running?)." >&2
  echo "demo: stop it, or pick another port: scripts/demo.sh --port $((port + 1))" >&2
  exit 1
fi

if [ $deps -eq 1 ]; then
  say "dependencies (scripts/deps.sh --runtime-only)"
  scripts/deps.sh --runtime-only
fi

say "build ($build, release)"
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" src/hub/wshub src/services/mf4-reader/mf4-reader src/services/aeb/aeb \
  src/services/db-writer/db-writer src/tools/meshctl/meshctl \
  src/tools/scenario-gen/scenario-gen >/dev/null
bin=$root/$build

say "recordings (var/recordings: the 12 AEB scenarios of AEB_SPEC, open loop, 100 Hz)"
mkdir -p var/recordings var/demo
"$bin/src/tools/scenario-gen/scenario-gen" --out var/recordings >/dev/null
ls var/recordings/*.mf4 | sed 's|.*/|   |' | paste -sd' ' -

say "mesh (wshub --config config/mesh.json --port $port; log var/demo/wshub.log)"
log=var/demo/wshub.log
: >"$log"
# Each demo run starts with a fresh hub store (queues, jobs, key states); the results database
# var/results.db is kept and re-runs upsert the same rows (tests/e2e/pipeline/test_rerun.py
# checks re-runs on a kept store too). Fresh, because a recording whose key was stopped by a
# failure in an earlier run (key_failed) would stay stopped while the store remembers it.
rm -f var/wsmesh.db var/wsmesh.db-wal var/wsmesh.db-shm
# own session: Ctrl-C reaches this script only, which then stops the hub once (clean drain)
setsid "$bin/src/hub/wshub" --config config/mesh.json \
  --port "$port" >>"$log" 2>&1 &
hub=$!
stop_hub() {
  if kill -0 "$hub" 2>/dev/null; then
    kill -TERM "$hub" 2>/dev/null || true
    wait "$hub" 2>/dev/null || true
  fi
}
trap 'stop_hub' EXIT
trap 'echo; say "stopping"; stop_hub; exit 130' INT TERM

for _ in $(seq 1 100); do
  grep -q "listening on ws://" "$log" && break
  if ! kill -0 "$hub" 2>/dev/null; then
    echo "demo: wshub exited before listening:" >&2
    sed 's/^/  /' "$log" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q "listening on ws://" "$log" || { echo "demo: wshub did not start in 10 s (see $log)" >&2; exit 1; }
url="ws://127.0.0.1:$port/ws"
meshctl() { "$bin/src/tools/meshctl/meshctl" --url "$url" "$@"; }
# wait until the three services have said hello (at most 10 s)
for _ in $(seq 1 100); do
  n=$(meshctl --json workers 2>/dev/null | grep -o '"name":"[a-z0-9-]*"' | sort -u | wc -l) || n=0
  [ "$n" -ge 3 ] && break
  sleep 0.1
done
meshctl workers | sed 's/^/   /'

say "ingest (meshctl ingest var/recordings/*.mf4)"
set +e
meshctl ingest var/recordings/*.mf4
rc=$?
set -e

echo
say "dashboard: http://127.0.0.1:$port/"
echo "   results database: $root/var/results.db (sqlite3 var/results.db 'select * from aeb_summary')"
if [ $exit_when_done -eq 1 ]; then
  stop_hub
  exit $rc
fi
echo "   Ctrl-C stops the hub and its services."
wait "$hub" || true
exit $rc
