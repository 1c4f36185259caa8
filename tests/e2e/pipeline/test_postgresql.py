#!/usr/bin/env python3
"""test_postgresql.py - e2e through config/mesh-postgresql.json: wshub with WSMESH_DB_URL set to
a throwaway PostgreSQL 15 cluster (scripts/pg-test-cluster.sh, 127.0.0.1, free port) starts
2 aeb and 2 db-writer instances writing to PostgreSQL; the 12 scenario recordings are ingested
with meshctl, whose summary comes from the db-writer's db.query answers (PostgreSQL). Checks:
every recording ok with stored = read frames (coverage: gap-free), summary values equal to the
same recordings stored in SQLite by the default config (same service, other backend), and
collision/impact/min TTC within AEB_SPEC table 6.3's tolerances. Fails (never skips) when the
cluster cannot be started.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from mesh import SRC, Mesh, gen_recordings, log  # noqa: E402
from test_scenarios import SPEED_TOL, TABLE_6_3, TTC_TOL  # noqa: E402


def ingest_summaries(mesh, files):
    rc, doc, err = mesh.ingest(files)
    if rc != 0 or not doc:
        raise AssertionError(f"meshctl ingest exit {rc}: {err}")
    return {os.path.basename(r["file"])[:-4]: r for r in doc["recordings"]}


def main():
    pg = os.path.join(SRC, "scripts", "pg-test-cluster.sh")
    r = subprocess.run([pg, "start"], capture_output=True, text=True, timeout=120)
    url = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
    if not url.startswith("postgresql://"):
        log(f"FAIL: cannot start a PostgreSQL cluster: {r.stderr}")
        return 1
    failures = []
    tmp = tempfile.mkdtemp(prefix="wsm-e2e-pg-")
    meshes = []
    try:
        gen_recordings(tmp)
        files = sorted(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".mf4"))
        res = {}
        for name, cfg, env in (("pg", "mesh-postgresql.json", {"WSMESH_DB_URL": url}),
                               ("sqlite", "mesh.json", None)):
            m = Mesh(f"pg-{name}", config=cfg, env=env)
            meshes.append(m)
            m.start()
            res[name] = ingest_summaries(m, files)
            rc = m.stop()
            if rc != 0 or m.sanitizer_reports():
                failures.append(f"{name}: wshub exit {rc} {m.sanitizer_reports()[:3]}")
        if "postgresql database" not in meshes[0].log_text():
            failures.append("the db-writer of mesh-postgresql.json did not use PostgreSQL")
        for n, exp in TABLE_6_3.items():
            a, b = res["pg"].get(n), res["sqlite"].get(n)
            if not a or not a["ok"] or a["frames_stored"] != a["frames_read"]:
                failures.append(f"{n}: PostgreSQL run {a}")
                continue
            if a["summary"] != b["summary"] or a["frames_stored"] != b["frames_stored"]:
                failures.append(f"{n}: PostgreSQL {a['summary']} != SQLite {b['summary']}")
            s = a["summary"]
            if not (s["collision"] and abs(s["impact_speed_kmh"] - exp[0]) <= SPEED_TOL and
                    abs(s["min_ttc"] - exp[1]) <= TTC_TOL and s["max_stage"] == "FB"):
                failures.append(f"{n}: summary {s} vs table 6.3 {exp}")
            log(f"{n}: {a['frames_stored']} frames in PostgreSQL, summary = SQLite's")
    except AssertionError as e:
        failures.append(str(e))
    finally:
        for m in meshes:
            m.stop()
        subprocess.run([pg, "stop", url], capture_output=True, timeout=60)
    for f in failures:
        log("FAIL:", f)
    if failures:
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    for m in meshes:
        shutil.rmtree(m.dir, ignore_errors=True)
    log("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
