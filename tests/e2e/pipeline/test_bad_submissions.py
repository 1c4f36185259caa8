#!/usr/bin/env python3
"""test_bad_submissions.py - e2e: bad recordings in one `meshctl ingest` run next to good ones.

One run submits: a missing file, a text file renamed .mf4, a truncated MF4 (the first 5000
bytes of a good one), a good recording whose channels.json names a channel that does not
exist, and two good recordings. Checks:
  * meshctl exits 1, names every bad recording with its reason on stderr, and its JSON says
    ok=false with an error carrying the reader's code (FILE_NOT_FOUND, NOT_MDF, CORRUPT,
    CHANNEL_NOT_FOUND) and the offending name;
  * the same reason is what `meshctl job ID` (the hub's query, which the dashboard uses) shows;
  * the good recordings complete: ok=true, every frame stored;
  * the services are still the ones the supervisor started (nothing crashed).
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mesh import Mesh, gen_recordings, log, stop_checked, verdict  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="wsm-e2e-bad-")
    good = os.path.join(tmp, "good")
    channels = gen_recordings(good, ["CCRs-10", "CCRs-20", "CCRs-30"])
    # a recording whose channel map names a channel that does not exist
    badmap = os.path.join(tmp, "badmap")
    os.makedirs(badmap)
    shutil.copy(os.path.join(good, "CCRs-30.mf4"), badmap)
    with open(os.path.join(badmap, "channels.json"), "w") as f:
        json.dump(dict(channels, range="NoSuchChannel"), f)
    text = os.path.join(good, "notes.mf4")
    with open(text, "w") as f:
        f.write("this is a text file, not a recording\n" * 20)
    trunc = os.path.join(good, "truncated.mf4")
    with open(os.path.join(good, "CCRs-20.mf4"), "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[:5000])
    missing = os.path.join(good, "does-not-exist.mf4")
    cases = {
        missing: ("FILE_NOT_FOUND", "does-not-exist.mf4"),
        text: ("NOT_MDF", "notes.mf4"),
        trunc: ("CORRUPT", "truncated"),
        os.path.join(badmap, "CCRs-30.mf4"): ("CHANNEL_NOT_FOUND", "NoSuchChannel"),
    }
    oks = [os.path.join(good, "CCRs-10.mf4"), os.path.join(good, "CCRs-20.mf4")]
    files = [missing, oks[0], text, trunc, os.path.join(badmap, "CCRs-30.mf4"), oks[1]]

    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
            log("FAIL:", msg)

    mesh = Mesh("bad", instances={"aeb": 1, "db-writer": 1})
    try:
        mesh.start()
        pids_before = mesh.pids()
        rc, doc, err = mesh.ingest(files)
        check(rc == 1, f"meshctl ingest exit {rc}, expected 1")
        recs = {r["path"]: r for r in (doc or {}).get("recordings", [])}
        check(doc is not None and doc.get("ok") is False, f"JSON ok should be false: {doc}")
        for path, (code, word) in cases.items():
            r = recs.get(path)
            if not r:
                check(False, f"{path}: not in the ingest output")
                continue
            e = r.get("error") or ""
            check(not r["ok"] and code in e and word in e,
                  f"{os.path.basename(path)}: error '{e}' should carry {code} and '{word}'")
            check(os.path.basename(path) in err and code in err,
                  f"{os.path.basename(path)}: reason missing on stderr: {err}")
            job = json.loads(mesh.ctl("--json", "job", r["job_id"]).stdout)
            je = job["job"].get("error") or {}
            check(job["tree"]["status"] == "failed" and je.get("type") == code and
                  word in je.get("message", ""),
                  f"{os.path.basename(path)}: query job shows {job['tree']['status']} {je}")
            log(f"{os.path.basename(path)}: {e}")
        for path in oks:
            r = recs.get(path, {})
            check(r.get("ok") and r.get("frames_stored") == r.get("frames_read") and
                  (r.get("frames_read") or 0) > 0,
                  f"{os.path.basename(path)}: good recording did not complete: {r}")
        check(mesh.pids() == pids_before,
              f"services were restarted: {pids_before} -> {mesh.pids()}")
    finally:
        stop_checked(mesh, failures)
    return verdict(failures, mesh, tmp)


if __name__ == "__main__":
    sys.exit(main())
