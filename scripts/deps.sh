#!/usr/bin/env bash
# Installs what wsmesh needs on Debian 12: build tools and libraries (apt), and the npm
# packages of the browser and protocol tests (tests/package.json). Safe to re-run.
# Usage: scripts/deps.sh [--runtime-only]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  build-essential meson ninja-build pkg-config clang-format
  libwebsockets-dev libwebsockets-evlib-uv libuv1-dev      # hub: lws on a libuv loop
  libevent-dev libwslay-dev                                # adapter: libevent + wslay
  libcjson-dev libsqlite3-dev sqlite3 libpq-dev zlib1g-dev libssl-dev openssl
)
# node + npm: the CI machine has node 20 and npm 11 already; Debian's packages would conflict
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
if [ "${1:-}" != "--runtime-only" ]; then
  pkgs+=(
    clang libclang-rt-14-dev valgrind                       # fuzzing, sanitizers, valgrind
    postgresql                                              # PostgreSQL results backend tests
    chromium                                                # dashboard browser tests
    redis-server python3-rq procps psmisc                   # rq baseline benchmark, process tools
  )
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node is only needed by tests and the dashboard vendoring; node 20 is on the CI machine,
# Debian's nodejs (18) also works.
if [ -f tests/package.json ] && command -v npm >/dev/null; then
  if [ ! -d tests/node_modules ] || [ tests/package.json -nt tests/node_modules/.stamp ]; then
    (cd tests && npm install --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi
if [ -x scripts/vendor-web.sh ]; then
  scripts/vendor-web.sh
fi
