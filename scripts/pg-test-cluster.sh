#!/usr/bin/env bash
# pg-test-cluster.sh - starts and stops a throwaway PostgreSQL 15 cluster for tests and benchmarks.
#
#   scripts/pg-test-cluster.sh start          initdb + pg_ctl start on a free port; prints the URL
#                                            postgresql://postgres@127.0.0.1:PORT/postgres
#   scripts/pg-test-cluster.sh stop PORT|URL  stops that cluster and deletes its directory
#
# The cluster lives in ${PG_TEST_DIR:-/tmp}/wsm-pg-PORT (data dir, socket dir, log), listens only on
# 127.0.0.1 with trust authentication, and runs as user postgres (via runuser) when called as root,
# else as the calling user. Binaries: $PG_BINDIR or /usr/lib/postgresql/15/bin. Exits non-zero with
# a message (and the server log) when the server cannot be started; it never pretends success.
set -euo pipefail

bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
# not $TMPDIR: the cluster owner (postgres) must be able to reach the directory
base=$(cd "${PG_TEST_DIR:-/tmp}" && pwd)
cd / # the cluster owner may not be allowed into the caller's directory

die() { echo "pg-test-cluster: $*" >&2; exit 1; }

as_pg() { # runs a command as the cluster owner
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_once() {
    local port dir
    port=$(free_port)
    dir="$base/wsm-pg-$port"
    rm -rf "$dir"
    mkdir -m 700 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "user postgres does not exist (install postgresql)"
        chown postgres: "$dir"
    fi
    if ! as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        die "initdb failed"
    fi
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 50
logging_collector = off
CONF
    if ! as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        cat "$dir/server.log" >&2 || true
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$dir"
        return 1
    fi
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
}

cmd=${1:-}
case "$cmd" in
start)
    [ -x "$bindir/initdb" ] || die "$bindir/initdb not found: install postgresql (scripts/deps.sh)"
    for attempt in 1 2 3; do
        if start_once; then exit 0; fi
        echo "pg-test-cluster: start attempt $attempt failed, retrying on another port" >&2
    done
    die "could not start PostgreSQL"
    ;;
stop)
    arg=${2:-}
    [ -n "$arg" ] || die "usage: $0 stop PORT|URL"
    port=${arg##*:}
    port=${port%%/*}
    [[ "$port" =~ ^[0-9]+$ ]] || die "cannot find a port in '$arg'"
    dir="$base/wsm-pg-$port"
    [ -d "$dir/data" ] || die "no cluster in $dir"
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ||
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
*)
    die "usage: $0 start | stop PORT|URL"
    ;;
esac
