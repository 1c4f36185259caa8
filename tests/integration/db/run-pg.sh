#!/usr/bin/env bash
# run-pg.sh TEST_EXE [ARGS...] - runs a libresults test program against a real, throwaway
# PostgreSQL server: starts one with scripts/pg-test-cluster.sh, passes its URL in
# RES_TEST_PG_URL, and stops it again however the test ends. Fails (never skips) when the
# server cannot be started.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${WSM_SRCDIR:-$(cd "$here/../../.." && pwd)}
# the server must not inherit test-only malloc settings (meson sets MALLOC_PERTURB_)
url=$(env -u MALLOC_PERTURB_ "$root/scripts/pg-test-cluster.sh" start) || {
    echo "run-pg: could not start PostgreSQL (is the postgresql package installed? see scripts/deps.sh)" >&2
    exit 1
}
cleanup() { "$root/scripts/pg-test-cluster.sh" stop "$url" || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "run-pg: PostgreSQL at $url"
RES_TEST_PG_URL=$url "$@"
