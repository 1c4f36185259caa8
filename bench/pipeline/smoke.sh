#!/usr/bin/env bash
# smoke.sh SCENARIO_GEN BENCH_PIPELINE_INPROC - e2e smoke test of the pipeline benchmark: writes
# a 5,000-frame scenario recording, runs the in-process baseline on it into a fresh SQLite file
# and checks (with the sqlite3 CLI, independently of the program) that aeb_frames holds exactly
# one row per frame, that events and the summary were written, and that the JSON line is there.
set -euo pipefail
gen=${1:?usage: smoke.sh SCENARIO_GEN BENCH_PIPELINE_INPROC}
inproc=${2:?usage: smoke.sh SCENARIO_GEN BENCH_PIPELINE_INPROC}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
frames=5000
"$gen" --out "$tmp" --frames $frames CCRs-50 >/dev/null
out=$("$inproc" --mf4 "$tmp/CCRs-50.mf4" --db "sqlite:$tmp/results.db" --batch 1000 2>"$tmp/err") || {
    cat "$tmp/err" >&2
    exit 1
}
echo "$out"
rows=$(sqlite3 "$tmp/results.db" "SELECT count(*) FROM aeb_frames WHERE recording_id='CCRs-50'")
span=$(sqlite3 "$tmp/results.db" "SELECT max(frame) - min(frame) + 1 FROM aeb_frames")
events=$(sqlite3 "$tmp/results.db" "SELECT count(*) FROM aeb_events")
summ=$(sqlite3 "$tmp/results.db" "SELECT frames FROM aeb_summary WHERE recording_id='CCRs-50'")
fail=0
[ "$rows" = "$frames" ] || { echo "FAIL: $rows rows stored, expected $frames" >&2; fail=1; }
[ "$span" = "$frames" ] || { echo "FAIL: frame span $span, expected $frames" >&2; fail=1; }
[ "$events" -gt 0 ] || { echo "FAIL: no events stored" >&2; fail=1; }
[ "$summ" = "$frames" ] || { echo "FAIL: summary frames '$summ', expected $frames" >&2; fail=1; }
case "$out" in
*"\"rows\":$frames,"*) ;;
*) echo "FAIL: JSON line does not report rows $frames: $out" >&2; fail=1 ;;
esac
[ $fail = 0 ] && echo "ok: $rows rows, $events events"
exit $fail
