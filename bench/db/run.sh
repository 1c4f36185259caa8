#!/usr/bin/env bash
# run.sh BENCH_EXE [ARGS...] - runs bench-db against SQLite and a throwaway PostgreSQL server
# (scripts/pg-test-cluster.sh), which it stops again however the benchmark ends.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
exe=${1:?usage: run.sh BENCH_EXE [ARGS...]}
shift
url=$("$root/scripts/pg-test-cluster.sh" start) || { echo "run.sh: PostgreSQL did not start" >&2; exit 1; }
trap '"$root/scripts/pg-test-cluster.sh" stop "$url" || true' EXIT
trap 'exit 130' INT TERM
"$exe" --pg "$url" "$@"
