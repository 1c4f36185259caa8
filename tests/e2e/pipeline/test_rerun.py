#!/usr/bin/env python3
"""test_rerun.py - e2e: re-running an ingest is safe (the demo's promise). The same three
recordings are ingested twice in a row into one mesh (wshub + supervised services), then once
more after a clean hub restart (sqlite store): every run must succeed and leave exactly the
same rows and values in the results database (keyed upserts, recording id = sha256).
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mesh import Mesh, compare, dump, gen_recordings, log, stop_checked, verdict  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="wsm-e2e-rerun-")
    gen_recordings(tmp, ["CCRs-20", "CCRb-2-12m", "CCRs-50-reveal1.0s"])
    files = sorted(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".mf4"))
    mesh = Mesh("rerun", instances={"aeb": 1, "db-writer": 1})
    failures = []
    ref = None
    try:
        for run in range(3):
            if run == 2:
                rc = mesh.stop()
                if rc != 0:
                    failures.append(f"wshub exit {rc} after SIGTERM")
            if run in (0, 2):
                mesh.start()
            rc, doc, err = mesh.ingest(files)
            if rc != 0:
                failures.append(f"run {run + 1}: meshctl ingest exit {rc}: {err.strip()}")
                log(f"FAIL run {run + 1}: {err.strip()}")
                continue
            d = dump(mesh.results)
            if ref is None:
                ref = d
            diffs = compare(ref, d)
            failures += [f"run {run + 1}: {x}" for x in diffs]
            log(f"run {run + 1}: ok={doc['ok']}, {len(d['aeb_frames'])} frame rows, "
                f"{'identical' if not diffs else 'DIFFERENT'}")
    finally:
        stop_checked(mesh, failures)
    return verdict(failures, mesh, tmp)


if __name__ == "__main__":
    sys.exit(main())
