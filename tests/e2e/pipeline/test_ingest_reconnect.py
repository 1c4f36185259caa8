#!/usr/bin/env python3
"""test_ingest_reconnect.py - e2e: `meshctl ingest` outlives a hub restart. A 30,000-frame
recording is being ingested (batches of 100) when wshub (sqlite store) is killed with SIGKILL
at a random share of the stored frames and started again on the same port: meshctl reconnects,
keeps waiting, and exits 0 with every frame stored once (coverage gap-free, stored = read).
"""
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from mesh import MESHCTL, Mesh, gen_recordings, log, stop_checked, verdict  # noqa: E402

FRAMES = 30000


def stored(mesh):
    try:
        con = sqlite3.connect(f"file:{mesh.results}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM aeb_frames").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def main():
    tmp = tempfile.mkdtemp(prefix="wsm-e2e-reconnect-")
    gen_recordings(tmp, ["CCRs-40"], frames=FRAMES)
    rec = os.path.join(tmp, "CCRs-40.mf4")
    at = random.Random().uniform(0.1, 0.6)
    mesh = Mesh("reconnect", instances={"aeb": 1, "db-writer": 1})
    failures = []
    ing = None
    try:
        mesh.start()
        ing = subprocess.Popen([MESHCTL, "--url", mesh.url, "--json", "ingest", "--batch", "100",
                                "--reconnect", "60", "--timeout", "150", rec],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while stored(mesh) < at * FRAMES and time.time() < deadline and ing.poll() is None:
            time.sleep(0.01)
        n = stored(mesh)
        if ing.poll() is not None or n >= FRAMES:
            failures.append(f"the ingest ended before the fault ({n} frames stored)")
        mesh.kill_hub()
        log(f"killed wshub at {n} of {FRAMES} frames stored; starting it again")
        mesh.start()
        out, err = ing.communicate(timeout=160)
        doc = json.loads(out) if out.strip() else {}
        r = (doc.get("recordings") or [{}])[0]
        if ing.returncode != 0 or not r.get("ok") or r.get("frames_stored") != FRAMES:
            failures.append(f"meshctl ingest exit {ing.returncode}: {err.strip()} {r}")
        if "reconnected" not in err:
            failures.append(f"meshctl did not report a reconnect: {err.strip()}")
        log(f"meshctl: exit {ing.returncode}; {err.strip()}; stored {r.get('frames_stored')}")
    finally:
        if ing and ing.poll() is None:
            ing.kill()
            ing.wait()
        stop_checked(mesh, failures)
    return verdict(failures, mesh, tmp)


if __name__ == "__main__":
    sys.exit(main())
