"""mesh.py - the end-to-end harness: a real wshub started from a mesh.json derived from the
shipped config/mesh.json (same queues, retries and routes), whose supervisor starts the real
mf4-reader, aeb and db-writer services; plus meshctl and sqlite3 helpers.

Invariants:
  * everything listens on 127.0.0.1, on a port the kernel chose (--port 0) the first time;
    a restarted hub reuses that port;
  * every process is started here and stopped here by pid: the hub (SIGTERM, SIGKILL after a
    bound) and every service pid the supervisor logged ("NAME[i] started: pid N"), so nothing
    outlives a test even if the hub was killed;
  * every wait is bounded.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

SRC = os.environ.get("WSM_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ.get("WSM_BUILDDIR") or os.path.join(SRC, "build", "release")


def exe(rel):
    p = os.path.join(BUILD, rel)
    if not os.access(p, os.X_OK):
        raise SystemExit(f"missing executable {p} (build it first)")
    return p


WSHUB = exe("src/hub/wshub")
MESHCTL = exe("src/tools/meshctl/meshctl")
SCENARIO_GEN = exe("src/tools/scenario-gen/scenario-gen")
SERVICES = {
    "mf4-reader": exe("src/services/mf4-reader/mf4-reader"),
    "aeb": exe("src/services/aeb/aeb"),
    "db-writer": exe("src/services/db-writer/db-writer"),
}

STARTED_RE = re.compile(r"supervisor: (\S+)\[(\d+)\] started: pid (\d+)")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Mesh:
    """A hub with supervised services in its own temporary directory, from a copy of
    config/<config> (the db-writer's --db points at self.results for mesh.json; other configs
    keep their args, e.g. ${WSMESH_DB_URL} from env)."""

    def __init__(self, name, instances=None, store="sqlite", tmp=None, config="mesh.json",
                 env=None):
        self.name = name
        self.dir = tmp or tempfile.mkdtemp(prefix=f"wsm-e2e-{name}-")
        self.instances = {"mf4-reader": 1, "aeb": 2, "db-writer": 2}
        self.instances.update(instances or {})
        self.results = os.path.join(self.dir, "results.db")
        self.env = dict(os.environ, **(env or {}))
        self.cfg = os.path.join(self.dir, "mesh.json")
        self.log_path = os.path.join(self.dir, "wshub.log")
        self.hub = None
        self.port = 0
        self.seen_pids = set()
        self.generations = 0
        with open(os.path.join(SRC, "config", config)) as f:
            cfg = json.load(f)
        cfg.pop("$schema", None)
        cfg["listen"] = {"address": "127.0.0.1", "port": 0}
        cfg["store"] = ({"type": "sqlite", "path": os.path.join(self.dir, "hub.db")}
                        if store == "sqlite" else {"type": "memory"})
        cfg["http"] = {"web_root": os.path.join(SRC, "web")}
        cfg["limits"]["drain_timeout"] = 5
        cfg["logging"] = {"level": "info"}
        svcs = []
        for s in cfg.get("services", []):
            s = dict(s)
            s["exec"] = SERVICES[s["name"]]
            s["instances"] = self.instances.get(s["name"], 1)
            if s["name"] == "db-writer" and config == "mesh.json":
                s["args"] = ["--db", "sqlite:" + self.results]
            svcs.append(s)
        if sorted(x["name"] for x in svcs) != sorted(SERVICES):
            raise SystemExit("config/mesh.json does not declare the three pipeline services")
        cfg["services"] = svcs
        with open(self.cfg, "w") as f:
            json.dump(cfg, f, indent=1)

    # ---------------------------------------------------------------- hub
    def start(self, timeout=15):
        self.generations += 1
        logf = open(self.log_path, "a")
        logf.write(f"=== generation {self.generations}\n")
        logf.flush()
        self._log_offset = os.path.getsize(self.log_path)
        self.hub = subprocess.Popen([WSHUB, "--config", self.cfg, "--port", str(self.port)],
                                    stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env)
        logf.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.log_text(since_start=True)
            m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)/ws", text)
            if m:
                self.port = int(m.group(1))
                break
            if self.hub.poll() is not None:
                raise AssertionError(f"wshub exited {self.hub.returncode}:\n{text}")
            time.sleep(0.05)
        else:
            raise AssertionError("wshub did not listen in time")
        self.wait_workers(sum(self.instances.values()), timeout=deadline - time.time() + 10)
        return self

    def log_text(self, since_start=False):
        with open(self.log_path, errors="replace") as f:
            if since_start:
                f.seek(self._log_offset)
            return f.read()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def pids(self):
        """{label: pid} of the latest process of every instance of the current hub."""
        out = {}
        for m in STARTED_RE.finditer(self.log_text(since_start=True)):
            out[f"{m.group(1)}[{m.group(2)}]"] = int(m.group(3))
        self.seen_pids.update(out.values())
        return out

    def wait_workers(self, n, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.ctl("--json", "workers", check=False)
            if r.returncode == 0:
                try:
                    ws = json.loads(r.stdout)
                    ws = ws.get("workers", ws) if isinstance(ws, dict) else ws
                    if len([w for w in ws if w.get("kind", "worker") == "worker" and
                            w.get("name") in SERVICES]) >= n:
                        self.pids()
                        return
                except (ValueError, AttributeError):
                    pass
            time.sleep(0.1)
        raise AssertionError(f"{n} services did not connect in {timeout:.0f} s:\n"
                             + self.log_text(since_start=True)[-3000:])

    def kill_hub(self):
        self.pids()
        self.hub.kill()
        self.hub.wait(10)
        # the services die with it (pdeathsig); make sure before the next generation starts
        self._reap_services(timeout=5)

    def stop(self):
        """SIGTERM the hub (clean drain; the supervisor stops the services), then check that
        every service pid is gone. Returns the hub's exit code."""
        rc = None
        if self.hub and self.hub.poll() is None:
            self.pids()
            self.hub.send_signal(signal.SIGTERM)
            try:
                rc = self.hub.wait(20)
            except subprocess.TimeoutExpired:
                self.hub.kill()
                rc = self.hub.wait(5)
        elif self.hub:
            rc = self.hub.returncode
        self._reap_services(timeout=5)
        return rc

    def sanitizer_reports(self):
        """Lines of sanitizer reports (ASan, LSan, UBSan) in the log of every generation."""
        pat = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer")
        return [ln for ln in self.log_text().splitlines() if pat.search(ln)]

    def _reap_services(self, timeout):
        deadline = time.time() + timeout
        for pid in list(self.seen_pids):
            while time.time() < deadline and alive(pid):
                time.sleep(0.05)
            if alive(pid):
                log(f"service pid {pid} outlived its hub: SIGKILL")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # ---------------------------------------------------------------- meshctl
    def ctl(self, *args, check=True, timeout=120):
        r = subprocess.run([MESHCTL, "--url", self.url, *args], capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"meshctl {' '.join(args)} -> {r.returncode}\n{r.stderr}")
        return r

    def ingest(self, files, *opts, timeout=240):
        """meshctl --json ingest; returns (exit code, parsed JSON, stderr)."""
        r = self.ctl("--json", "ingest", "--timeout", str(timeout - 10), *opts, *files,
                     check=False, timeout=timeout)
        doc = None
        if r.stdout.strip():
            doc = json.loads(r.stdout)
        return r.returncode, doc, r.stderr

    def submit(self, path, channels=None, batch=None):
        args = {"path": path, "encoding": "binary"}
        if channels:
            args["channels"] = channels
        if batch:
            args["batch"] = batch
        r = self.ctl("--json", "submit", "mf4", json.dumps(args))
        return json.loads(r.stdout)["job_id"]

    def tree_status(self, job_id):
        r = self.ctl("--json", "job", job_id, check=False)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)["tree"]["status"]

    def wait_trees(self, job_ids, timeout=180):
        deadline = time.time() + timeout
        pending = set(job_ids)
        st = {}
        while pending and time.time() < deadline:
            for j in list(pending):
                s = self.tree_status(j)
                if s and s != "running":
                    st[j] = s
                    pending.discard(j)
            time.sleep(0.2)
        if pending:
            raise AssertionError(f"trees still running after {timeout} s: {sorted(pending)}")
        return st


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gen_recordings(out, names=None, frames=None):
    os.makedirs(out, exist_ok=True)
    cmd = [SCENARIO_GEN, "--out", out]
    if frames:
        cmd += ["--frames", str(frames)]
    subprocess.run(cmd + list(names or []), check=True, capture_output=True, timeout=120)
    with open(os.path.join(out, "channels.json")) as f:
        return json.load(f)


# ---------------------------------------------------------------- results database
TABLES = {
    "recordings": "SELECT id, path, sha256, frames, t_start, t_end, status FROM recordings",
    "aeb_frames": 'SELECT recording_id, frame, t, ego_v, "range", rel_v, ttc, state, fcw, decel, '
                  'collision FROM aeb_frames',
    "aeb_events": 'SELECT recording_id, seq, t, kind, ttc, ego_v, "range", rel_v, stage, '
                  'impact_speed_kmh FROM aeb_events',
    "aeb_summary": "SELECT recording_id, frames, min_ttc, t_min_ttc, max_stage, collision, "
                   "impact_speed_kmh, first_fcw_t, first_brake_t, params FROM aeb_summary",
}


def dump(db_path):
    """{table: sorted list of rows} of the results database (read-only)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return {t: sorted(con.execute(q).fetchall(), key=repr) for t, q in TABLES.items()}
    finally:
        con.close()


def compare(ref, got):
    """List of differences between two dumps (empty = identical)."""
    diffs = []
    for t in TABLES:
        a, b = ref[t], got[t]
        if a == b:
            continue
        sa, sb = set(a), set(b)
        diffs.append(f"{t}: {len(a)} rows in the clean run, {len(b)} here; "
                     f"{len(sa - sb)} missing (e.g. {sorted(sa - sb, key=repr)[:2]}), "
                     f"{len(sb - sa)} extra (e.g. {sorted(sb - sa, key=repr)[:2]}), "
                     f"duplicates {len(b) - len(sb)}")
    return diffs


def stop_checked(mesh, failures):
    """Stops the mesh (SIGTERM drain) and adds a failure when the hub did not exit 0 or its log
    holds sanitizer reports. Returns the hub's exit code."""
    rc = mesh.stop()
    if rc != 0:
        failures.append(f"wshub exit {rc} after SIGTERM")
    if mesh.sanitizer_reports():
        failures.append(f"sanitizer reports: {mesh.sanitizer_reports()[:5]}")
    return rc


def verdict(failures, mesh, *dirs):
    """A test's exit status: 1 with every failure logged and the directories kept for a look,
    or 0 after removing dirs and the mesh's directory."""
    if failures:
        for f in failures:
            log("FAIL:", f)
        log(f"{len(failures)} failures; mesh dir kept: {mesh.dir}")
        return 1
    for d in (*dirs, mesh.dir):
        shutil.rmtree(d, ignore_errors=True)
    log("ok")
    return 0
