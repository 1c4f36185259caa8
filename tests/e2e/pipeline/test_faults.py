#!/usr/bin/env python3
"""test_faults.py - e2e fault tolerance: the pipeline (wshub + supervised mf4-reader, 2 aeb,
2 db-writer; sqlite hub store) processes the same recordings while one process is killed with
SIGKILL at a random moment; the results database must equal a clean run's: the same rows with
the same values, none missing, none extra (compare() in mesh.py).

Faults (each at --rounds random moments, default 3):
  aeb     kill -9 one aeb instance mid-run        (the supervisor restarts it)
  reader  kill -9 the mf4-reader mid-recording    (the supervisor restarts it; the job retries)
  db      kill -9 one db-writer instance mid-run  (the supervisor restarts it)
  hub     kill -9 wshub mid-run, start it again on the same port (sqlite store; its services
          die with it and the new hub starts new ones)
  hubterm (not in the default list) SIGTERM to wshub mid-run: it drains (limits.drain_timeout
          5 s here) and stops its services; then it is started again

The moment is when a random share (uniform in [0.1, 0.7]) of the work of the killed stage is
done: batches read (reader), batches evaluated (aeb), frames stored (db-writer, hub) — each
stage runs well ahead of the next, so the share is taken where the fault strikes); the test fails if the fault came after the work was
done (or, for the reader, after it had read everything): such a run would prove nothing. Usage:
  test_faults.py [--rounds N] [--faults aeb,reader,db,hub] [--seed S] [--frames N]
"""
import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from mesh import Mesh, compare, dump, gen_recordings, log  # noqa: E402

SCENARIOS = ["CCRs-50", "CCRb-6-12m", "CCRs-50-reveal0.6s"]
BATCH = 200


def submit_all(mesh, files, channels):
    return [mesh.submit(f, channels=channels, batch=BATCH) for f in files]


def running(mesh, jobs):
    return any(mesh.tree_status(j) == "running" for j in jobs)


def wait_stored(mesh, n, timeout):
    """Waits until the results database holds at least n frame rows; returns the count."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            con = sqlite3.connect(f"file:{mesh.results}?mode=ro", uri=True, timeout=5)
            try:
                c = con.execute("SELECT count(*) FROM aeb_frames").fetchone()[0]
            finally:
                con.close()
            if c >= n:
                return c
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{n} frames were not stored within {timeout} s")


def wait_batches(mesh, jobs, field, n, timeout):
    """Waits until the trees' aeb queue counts at least n batches in `field` ("jobs": emitted
    by the reader, "ended": evaluated by aeb); returns the frames stored then."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = 0
        for j in jobs:
            r = mesh.ctl("--json", "job", j, check=False)
            if r.returncode == 0:
                q = json.loads(r.stdout)["tree"].get("queues", {})
                got += q.get("aeb", {}).get(field, 0)
        if got >= n:
            return wait_stored(mesh, 0, 5)
        time.sleep(0.03)
    raise AssertionError(f"aeb {field} did not reach {n} batches within {timeout} s")


def reading(mesh, jobs):
    """True if some root (an mf4 job) is still being read."""
    for j in jobs:
        r = mesh.ctl("--json", "job", j, check=False)
        if r.returncode == 0 and json.loads(r.stdout)["job"]["status"] in ("queued", "started"):
            return True
    return False


def run_once(files, channels, fault=None, at=None, rng=None, total=0):
    """One run in a fresh mesh; returns (dump, seconds, note)."""
    mesh = Mesh(f"fault-{fault or 'clean'}")
    note = ""
    try:
        mesh.start()
        t0 = time.time()
        jobs = submit_all(mesh, files, channels)
        if fault:
            # the moment: a share of the batches read (reader), evaluated (aeb) or of the
            # frames stored (db-writer, hub); each stage runs well ahead of the next one
            if fault in ("reader", "aeb"):
                field = "jobs" if fault == "reader" else "ended"
                stored = wait_batches(mesh, jobs, field, int(at * total / BATCH), timeout=120)
            else:
                stored = wait_stored(mesh, int(at * total), timeout=120)
            pids = mesh.pids()
            if not running(mesh, jobs):
                raise AssertionError(f"{fault} fault at {at:.0%} came after the work was done")
            if fault == "reader" and not reading(mesh, jobs):
                raise AssertionError(f"reader fault at {at:.0%}: the reader had read everything")
            at_s = time.time() - t0
            if fault == "hub":
                mesh.kill_hub()
                note = f"killed wshub pid {mesh.hub.pid} at {at_s:.2f} s ({stored} frames stored)"
                mesh.start()
            elif fault == "hubterm":
                rc = mesh.stop()
                note = (f"SIGTERM to wshub pid {mesh.hub.pid} at {at_s:.2f} s ({stored} frames "
                        f"stored), drained, exit {rc}, started again")
                if rc != 0:
                    raise AssertionError(f"wshub exit {rc} after SIGTERM mid-run")
                mesh.start()
            else:
                prefix = {"aeb": "aeb[", "reader": "mf4-reader[", "db": "db-writer["}[fault]
                label = rng.choice(sorted(k for k in pids if k.startswith(prefix)))
                os.kill(pids[label], 9)
                note = f"killed {label} pid {pids[label]} at {at_s:.2f} s ({stored} frames stored)"
                deadline = time.time() + 15
                while mesh.pids().get(label) == pids[label] and time.time() < deadline:
                    time.sleep(0.05)
                if mesh.pids().get(label) == pids[label]:
                    raise AssertionError(f"{label} was not restarted by the supervisor")
                note += f"; restarted as pid {mesh.pids()[label]}"
        st = mesh.wait_trees(jobs, timeout=180)
        dt = time.time() - t0
        bad = {j: s for j, s in st.items() if s != "finished"}
        if bad:
            raise AssertionError(f"trees not finished: {bad}")
        rc = mesh.stop()
        if rc != 0:
            raise AssertionError(f"wshub exit {rc} after SIGTERM")
        if mesh.sanitizer_reports():
            raise AssertionError(f"sanitizer reports: {mesh.sanitizer_reports()[:5]}")
        d = dump(mesh.results)
        shutil.rmtree(mesh.dir, ignore_errors=True)
        return d, dt, note
    except BaseException:
        mesh.stop()
        log(f"mesh dir kept: {mesh.dir}; hub log tail:\n{mesh.log_text()[-3000:]}")
        raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--faults", default="aeb,reader,db,hub")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--frames", type=int, default=40000)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    log(f"seed {seed} (rerun with --seed {seed})")
    tmp = tempfile.mkdtemp(prefix="wsm-e2e-faults-")
    channels = gen_recordings(tmp, SCENARIOS, frames=a.frames)
    files = [os.path.join(tmp, n + ".mf4") for n in SCENARIOS]

    total = a.frames * len(files)
    ref, t_clean, _ = run_once(files, channels)
    n_rows = {t: len(v) for t, v in ref.items()}
    log(f"clean run: {t_clean:.2f} s, rows {n_rows}")
    if n_rows["aeb_frames"] != a.frames * len(files):
        log(f"FAIL: clean run stored {n_rows['aeb_frames']} frames, expected "
            f"{a.frames * len(files)}")
        return 1
    failed = 0
    for fault in a.faults.split(","):
        for r in range(a.rounds):
            # the moment: a share of the frames stored (the reader reads ahead of aeb, so for
            # the reader an early share is still mid-recording)
            at = rng.uniform(0.1, 0.7)
            try:
                got, dt, note = run_once(files, channels, fault, at, rng, total)
                diffs = compare(ref, got)
            except AssertionError as e:
                diffs, dt, note = [str(e)], 0, ""
            if diffs:
                failed += 1
                log(f"FAIL {fault} round {r + 1}: {note}")
                for d in diffs:
                    log("   " + d)
            else:
                log(f"ok   {fault} round {r + 1}: {note}; {dt:.2f} s; database identical")
    shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        log(f"{failed} fault runs differ from the clean run (seed {seed})")
        return 1
    log("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
