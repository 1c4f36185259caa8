#!/usr/bin/env python3
"""Prints one closing line for all meson test runs of the given build dirs:
'tests: N passed, N failed' (the last run's log of each build dir counts)."""
import json, os, sys

passed = failed = skipped = 0
for d in sys.argv[1:]:
    log = os.path.join(d, 'meson-logs', 'testlog.json')
    if not os.path.exists(log):
        continue
    with open(log) as f:
        for line in f:
            r = json.loads(line)
            res = r.get('result')
            if res in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif res == 'SKIP':
                skipped += 1
            else:
                failed += 1
print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or passed == 0 else 0)
