#!/usr/bin/python3
"""rq_bench.py - the rq baseline of the pipeline benchmark: the read -> aeb -> db pipeline as it
was built on python-rq + Redis before wsmesh, measured on a scenario recording.

  rq_bench.py --mf4 FILE --mf4dump EXE | --csv FILE   (the recording, see below)
              --mode frame|batch [--batch 1000] --worker fork|simple [--workers 2]
              [--frames N] [--db PATH] [--compare-db PATH] [--label L] [--keep]

* Starts its own redis-server on a free loopback port (--save '' --appendonly no) and stops it
  (by pid) at the end, whatever happens.
* Starts --workers rq workers, each listening on the queues db, aeb, read (downstream first):
  `fork` = rq's default Worker (a forked work horse per job), `simple` = SimpleWorker (jobs run
  in the worker process).
* The runner (this process) is the original design's: it enqueues the read jobs, scans the
  finished-job registries and feeds each finished job's result to the next stage; aeb jobs of
  a recording are chained with depends_on (the AEB state lives in Redis). --mode frame is one
  job per frame per stage; --mode batch is one job per --batch frames per stage. The end is
  the finished summary job.
* Reading: the reader stage reads a CSV export made by `mf4dump --csv` (Debian has no Python
  MF4 reader); the export is made before the clock starts and its time is reported apart.
* Prints a line for humans on stderr and one JSON line on stdout. With --compare-db (the SQLite
  file written by bench-pipeline-inproc for the same recording) it checks that the Python AEB
  port gave the same events (kind, frame, t, stage, ttc to 1e-9) on the frames it processed.

Exit status: 0 ok, 1 the run or the check failed, 2 usage.
"""

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

CHANNELS = "VehSpd,VehAccLong,ObjDist,ObjRelSpd,ObjAccLong"
RESULT_TTL = 24 * 3600
QUEUES = ("db", "aeb", "read")


def worker_main(url, kind, name):
    """Entry of a worker process (rq_bench.py --worker-main URL KIND NAME)."""
    import redis
    from rq import Queue, SimpleWorker, Worker

    conn = redis.Redis.from_url(url)
    cls = SimpleWorker if kind == "simple" else Worker
    w = cls([Queue(q, connection=conn) for q in QUEUES], connection=conn, name=name)
    w.work(burst=False, logging_level="WARNING", with_scheduler=False)


def cpu_s(pid, children=True):
    """utime + stime (+ cutime + cstime: the forked work horses) of a live process, seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        ticks = int(v[11]) + int(v[12]) + (int(v[13]) + int(v[14]) if children else 0)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def self_cpu_s():
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Redis:
    """A redis-server of our own, stopped by its pid."""

    def __init__(self, tmp):
        self.port = free_port()
        self.pidfile = os.path.join(tmp, "redis.pid")
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "yes", "--pidfile", self.pidfile,
             "--dir", tmp, "--logfile", os.path.join(tmp, "redis.log")],
            check=True,
        )
        self.url = "redis://127.0.0.1:%d/0" % self.port
        import redis

        self.conn = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                if self.conn.ping():
                    break
            except Exception:
                time.sleep(0.02)
        else:
            raise RuntimeError("redis-server did not answer on port %d" % self.port)
        self.pid = None
        for _ in range(100):
            try:
                with open(self.pidfile) as f:
                    self.pid = int(f.read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.02)

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(self.pid, 0)
                    time.sleep(0.02)
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None


def export_csv(mf4dump, mf4, out):
    t0 = time.monotonic()
    with open(out, "w") as f:
        subprocess.run([mf4dump, "--csv", mf4, "--group", "0", "--channels", CHANNELS],
                       stdout=f, check=True)
    return time.monotonic() - t0


def line_offsets(path, limit):
    """Byte offset of every data line (after the header), at most limit lines."""
    offs = []
    with open(path, "rb") as f:
        f.readline()
        pos = f.tell()
        for line in f:
            if limit and len(offs) >= limit:
                break
            offs.append(pos)
            pos += len(line)
    return offs


class Runner:
    """The runner of the original design: scans finished jobs and feeds the next stage."""

    def __init__(self, conn, args, csv, offsets, rec):
        from rq import Queue
        from rq.registry import FailedJobRegistry, FinishedJobRegistry

        self.conn, self.args, self.csv, self.offsets, self.rec = conn, args, csv, offsets, rec
        self.q = {n: Queue(n, connection=conn) for n in QUEUES}
        self.fin = {n: FinishedJobRegistry(n, connection=conn) for n in QUEUES}
        self.failed = [FailedJobRegistry(n, connection=conn) for n in QUEUES]
        self.jobs = 0

    def scan(self, name):
        """Finished jobs of a queue (removed from the registry so each is seen once)."""
        from rq.job import Job

        ids = self.conn.zrange(self.fin[name].key, 0, -1)
        if not ids:
            return []
        ids = [i.decode() for i in ids]
        jobs = [j for j in Job.fetch_many(ids, connection=self.conn) if j is not None]
        self.conn.zrem(self.fin[name].key, *ids)
        return jobs

    def check_failed(self):
        from rq.job import Job

        for reg in self.failed:
            ids = reg.get_job_ids()
            if ids:
                j = Job.fetch(ids[0], connection=self.conn)
                raise RuntimeError("job %s failed:\n%s" % (j.id, j.exc_info))

    def run(self):
        import stages
        from rq import Queue

        a = self.args
        per = 1 if a.mode == "frame" else a.batch
        n = len(self.offsets)
        units = (n + per - 1) // per  # jobs per stage
        window = 2000 if a.mode == "frame" else 64  # read-ahead of the runner, in jobs
        v_scale = 1 / 3.6  # VehSpd is km/h
        next_read, next_aeb, stored = 0, 0, 0
        ready = {}
        idle = 0
        while stored < n:
            progress = False
            if next_read < units and next_read - next_aeb < window:
                m = min(units, next_read + 500)
                batch = []
                for u in range(next_read, m):
                    off = self.offsets[u * per]
                    if a.mode == "frame":
                        fn, fargs = stages.read_frame, (self.csv, off, v_scale)
                    else:
                        cnt = min(per, n - u * per)
                        fn, fargs = stages.read_batch, (self.csv, off, cnt, v_scale)
                    batch.append(Queue.prepare_data(fn, args=fargs, job_id="r%d" % u,
                                                    result_ttl=RESULT_TTL, timeout=600))
                self.q["read"].enqueue_many(batch)
                self.jobs += len(batch)
                next_read = m
                progress = True
            for j in self.scan("read"):
                ready[int(j.id[1:])] = j.return_value()
                progress = True
            while next_aeb in ready:
                u = next_aeb
                if a.mode == "frame":
                    fn, fargs = stages.aeb_frame, (self.rec, u, ready.pop(u))
                else:
                    fn, fargs = stages.aeb_batch, (self.rec, u * per, ready.pop(u))
                self.q["aeb"].enqueue(fn, args=fargs, job_id="a%d" % u,
                                      depends_on="a%d" % (u - 1) if u else None,
                                      result_ttl=RESULT_TTL, job_timeout=600)
                self.jobs += 1
                next_aeb += 1
            for j in self.scan("aeb"):
                first, row, events = j.return_value()
                fn = stages.db_frame if a.mode == "frame" else stages.db_batch
                self.q["db"].enqueue(fn, args=(a.db, self.rec, first, row, events),
                                     job_id="d%s" % j.id[1:], result_ttl=RESULT_TTL,
                                     job_timeout=600)
                self.jobs += 1
                progress = True
            for j in self.scan("db"):
                stored += j.return_value()
                progress = True
            if not progress:
                idle += 1
                if idle % 500 == 0:
                    self.check_failed()
                time.sleep(0.001)
            else:
                idle = 0
        self.q["db"].enqueue(stages.db_summary, args=(a.db, self.rec), job_id="summary",
                             result_ttl=RESULT_TTL)
        self.jobs += 1
        while True:
            if self.scan("db"):
                break
            self.check_failed()
            time.sleep(0.001)
        return stored


def compare_events(db, ref, rec, frames):
    """Compares the events of the first `frames` frames of two result databases."""
    q = ("SELECT seq, kind, t, stage, ttc FROM aeb_events WHERE recording_id = ? AND seq < ? "
         "ORDER BY seq")
    a = sqlite3.connect(db).execute(q, (rec, frames * 5)).fetchall()
    b = sqlite3.connect(ref).execute(q, (rec, frames * 5)).fetchall()
    if len(a) != len(b):
        return False, "%d events here, %d in the reference" % (len(a), len(b))
    for x, y in zip(a, b):
        same = x[:4] == y[:4] and (
            (x[4] is None and y[4] is None)
            or (x[4] is not None and y[4] is not None and abs(x[4] - y[4]) <= 1e-9)
        )
        if not same:
            return False, "event differs: %r vs reference %r" % (x, y)
    return True, "same %d events" % len(a)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--worker-main":
        worker_main(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mf4")
    ap.add_argument("--mf4dump")
    ap.add_argument("--csv")
    ap.add_argument("--mode", choices=("frame", "batch"), required=True)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--worker", choices=("fork", "simple"), default="fork")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--frames", type=int, default=0, help="use only the first N frames")
    ap.add_argument("--db")
    ap.add_argument("--compare-db")
    ap.add_argument("--id", help="recording id (default: the file name without extension)")
    ap.add_argument("--label")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    a = ap.parse_args()
    if not a.csv and not (a.mf4 and a.mf4dump):
        ap.error("give --csv FILE, or --mf4 FILE with --mf4dump EXE")
    src = a.mf4 or a.csv
    rec = a.id or os.path.splitext(os.path.basename(src))[0]
    label = a.label or "rq-%s-%s" % (a.mode, a.worker)
    tmp = tempfile.mkdtemp(prefix="rq-bench-")
    export_s = 0.0
    csv = a.csv
    if not csv:
        csv = os.path.join(tmp, rec + ".csv")
        export_s = export_csv(a.mf4dump, a.mf4, csv)
    offsets = line_offsets(csv, a.frames)
    if not a.db:
        a.db = os.path.join(tmp, "results.db")
    import stages

    stages.db_init(a.db)
    redis = Redis(tmp)
    workers = []
    rc = 1
    try:
        redis.conn.flushdb()
        for i in range(a.workers):
            workers.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker-main", redis.url,
                 a.worker, "w%d-%d" % (os.getpid(), i)], cwd=HERE))
        from rq import Worker

        for _ in range(500):
            if Worker.count(connection=redis.conn) >= a.workers:
                break
            time.sleep(0.02)
        runner = Runner(redis.conn, a, csv, offsets, rec)
        pids = [w.pid for w in workers] + ([redis.pid] if redis.pid else [])
        cpu0 = sum(cpu_s(p) for p in pids) + self_cpu_s()
        t0 = time.monotonic()
        stored = runner.run()
        secs = time.monotonic() - t0
        cpu = {"workers": sum(cpu_s(w.pid) for w in workers),
               "redis": cpu_s(redis.pid) if redis.pid else 0.0, "runner": self_cpu_s()}
        total_cpu = sum(cpu.values()) - cpu0
        rows = sqlite3.connect(a.db).execute(
            "SELECT count(*) FROM aeb_frames WHERE recording_id = ?", (rec,)).fetchone()[0]
        check = None
        ok = rows == len(offsets)
        if a.compare_db:
            same, msg = compare_events(a.db, a.compare_db, rec, len(offsets))
            check = msg
            ok = ok and same
        fps = len(offsets) / secs if secs > 0 else 0.0
        print("%s: %d frames in %.2f s = %.1f frames/s, cpu %.2f s (%d jobs, %d workers; rows %d; "
              "CSV export %.2f s not counted)%s" % (
                  label, len(offsets), secs, fps, total_cpu, runner.jobs, a.workers, rows,
                  export_s, "; aeb check: " + check if check else ""), file=sys.stderr)
        print(json.dumps({
            "bench": "pipeline", "config": label, "recording": rec, "mode": a.mode,
            "worker": a.worker, "workers": a.workers,
            "batch": a.batch if a.mode == "batch" else 1, "frames": len(offsets),
            "seconds": round(secs, 4), "frames_per_s": round(fps, 1), "jobs": runner.jobs,
            "rows": rows, "stored": stored, "csv_export_s": round(export_s, 3),
            "cpu_s": round(total_cpu, 3),
            "cpu_total_s": {k: round(v, 3) for k, v in cpu.items()},
            "frames_per_cpu_s": round(len(offsets) / total_cpu, 1) if total_cpu > 0 else None,
            "aeb_check": check}))
        rc = 0 if ok else 1
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        redis.stop()
        if not a.keep:
            subprocess.run(["rm", "-rf", tmp])
    return rc


if __name__ == "__main__":
    sys.exit(main())
