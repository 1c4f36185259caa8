#!/usr/bin/env bash
# run.sh [--quick] [--build DIR] [--scratch DIR] [--only PARTS] [--batch N] [--json-out FILE]
#
# The pipeline benchmark (bench/README.md): the mesh against the same code in one process and
# against the rq design, on scenario recordings generated into a scratch directory. Builds what
# it needs in the build directory (default: $WSM_BUILDDIR, else ./build; created with meson
# setup if missing), then runs bench/pipeline/driver.py. --quick finishes in about 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${WSM_BUILDDIR:-$root/build}
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --build=*) build=${1#--build=}; shift ;;
    *) args+=("$1"); shift ;;
    esac
done
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" >/dev/null
want="bench/pipeline/bench-pipeline-inproc src/tools/scenario-gen/scenario-gen
src/tools/mf4dump/mf4dump src/hub/wshub src/tools/meshctl/meshctl
src/services/mf4-reader/mf4-reader src/services/aeb/aeb src/services/db-writer/db-writer"
known=$(ninja -C "$build" -t targets all 2>/dev/null | cut -d: -f1)
targets=()
for t in $want; do
    grep -qx "$t" <<<"$known" && targets+=("$t")
done
if ! out=$(ninja -C "$build" "${targets[@]}" 2>&1); then
    echo "$out" >&2
    echo "run.sh: build failed in $build" >&2
    exit 1
fi
exec /usr/bin/python3 "$here/driver.py" --build "$build" "${args[@]}"
