"""stages.py - the rq job functions of the rq baseline: the pipeline as it was built on
python-rq before wsmesh (read -> aeb -> db, one queue per stage).

Two granularities, as in the original design and its batched variant:
  * one job per frame per stage: read_frame, aeb_frame, db_frame
  * one job per batch of frames per stage: read_batch, aeb_batch, db_batch
and db_summary for the end of a recording.

Reading: Debian has no MF4 reader for Python, so the reader stage reads a CSV export of the
recording made by `mf4dump --csv` (same physical values libmf4 yields). AEB: aeb_logic.py, a
port of AEB_SPEC §3; its state lives in Redis between jobs (key aeb:state:<recording>), and
consecutive aeb jobs of a recording are chained with depends_on so they run in order. Storage:
SQLite with the schema of docs/results-schema.md and the same keyed upserts as libresults.

A forking rq worker runs every job in a fresh child, so nothing survives between jobs there; a
SimpleWorker runs jobs in its own process, which keeps the open SQLite connection in CONN.
"""

import json
import sqlite3

from rq import get_current_job

import aeb_logic

# SQLite connections per database path, reused by non-forking workers (a cache, not state).
CONN = {}

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS recordings (id TEXT NOT NULL PRIMARY KEY, path TEXT, "
    "sha256 TEXT, frames INTEGER, t_start REAL, t_end REAL, status TEXT, created_at TEXT);"
    "CREATE TABLE IF NOT EXISTS aeb_frames (recording_id TEXT NOT NULL, frame INTEGER NOT NULL, "
    't REAL, ego_v REAL, "range" REAL, rel_v REAL, ttc REAL, state TEXT, fcw INTEGER, '
    "decel REAL, collision INTEGER, PRIMARY KEY (recording_id, frame)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS aeb_events (recording_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    't REAL, kind TEXT NOT NULL, ttc REAL, ego_v REAL, "range" REAL, rel_v REAL, stage TEXT, '
    "impact_speed_kmh REAL, PRIMARY KEY (recording_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS aeb_summary (recording_id TEXT NOT NULL PRIMARY KEY, "
    "frames INTEGER, min_ttc REAL, t_min_ttc REAL, max_stage TEXT, collision INTEGER, "
    "impact_speed_kmh REAL, first_fcw_t REAL, first_brake_t REAL, params TEXT);"
)

FRAME_UPSERT = (
    'INSERT INTO aeb_frames (recording_id, frame, t, ego_v, "range", rel_v, ttc, state, fcw, '
    "decel, collision) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (recording_id, frame) DO "
    'UPDATE SET t = excluded.t, ego_v = excluded.ego_v, "range" = excluded."range", '
    "rel_v = excluded.rel_v, ttc = excluded.ttc, state = excluded.state, fcw = excluded.fcw, "
    "decel = excluded.decel, collision = excluded.collision"
)
EVENT_UPSERT = (
    'INSERT INTO aeb_events (recording_id, seq, t, kind, ttc, ego_v, "range", rel_v, stage, '
    "impact_speed_kmh) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (recording_id, seq) DO UPDATE "
    'SET t = excluded.t, kind = excluded.kind, ttc = excluded.ttc, ego_v = excluded.ego_v, '
    '"range" = excluded."range", rel_v = excluded.rel_v, stage = excluded.stage, '
    "impact_speed_kmh = excluded.impact_speed_kmh"
)
SUMMARY_UPSERT = (
    "INSERT OR REPLACE INTO aeb_summary (recording_id, frames, min_ttc, t_min_ttc, max_stage, "
    "collision, impact_speed_kmh, first_fcw_t, first_brake_t, params) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def db_connect(path):
    """An SQLite connection configured like libresults (WAL, synchronous=normal)."""
    c = CONN.get(path)
    if c is None:
        c = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=NORMAL")
        CONN[path] = c
    return c


def db_init(path):
    """Creates the results tables (called once by the benchmark before the run)."""
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.executescript(SCHEMA)
    c.close()


# ------------------------------------------------------------------ read


def _num(s):
    return float(s) if s else None


def parse_line(line, v_scale):
    """A CSV line of `mf4dump --csv --channels VehSpd,VehAccLong,ObjDist,ObjRelSpd,ObjAccLong`
    (t first, empty = invalid) as a frame tuple in SI units."""
    f = line.rstrip("\n").split(",")
    v = _num(f[1])
    return (
        float(f[0]),
        v * v_scale if v is not None else None,
        _num(f[2]),
        _num(f[3]),
        _num(f[4]),
        _num(f[5]),
    )


def read_frame(csv_path, offset, v_scale):
    """Reader stage, one job per frame: the frame at byte offset `offset` of the export."""
    with open(csv_path, "r") as f:
        f.seek(offset)
        return parse_line(f.readline(), v_scale)


def read_batch(csv_path, offset, n, v_scale):
    """Reader stage, one job per batch: n frames from byte offset `offset`."""
    out = []
    with open(csv_path, "r") as f:
        f.seek(offset)
        for _ in range(n):
            line = f.readline()
            if not line:
                break
            out.append(parse_line(line, v_scale))
    return out


# ------------------------------------------------------------------ aeb


def _load_state(conn, rec):
    raw = conn.get("aeb:state:" + rec)
    return json.loads(raw) if raw else aeb_logic.new_state()


def aeb_frame(rec, frame_idx, frame):
    """AEB stage, one job per frame: returns (frame_idx, row, events)."""
    conn = get_current_job().connection
    s = _load_state(conn, rec)
    row, events = aeb_logic.step(s, frame)
    conn.set("aeb:state:" + rec, json.dumps(s))
    return frame_idx, row, events


def aeb_batch(rec, first, frames):
    """AEB stage, one job per batch: returns (first, rows, events)."""
    conn = get_current_job().connection
    s = _load_state(conn, rec)
    rows, events = [], []
    for fr in frames:
        row, ev = aeb_logic.step(s, fr)
        rows.append(row)
        events.extend(ev)
    conn.set("aeb:state:" + rec, json.dumps(s))
    return first, rows, events


# ------------------------------------------------------------------ db


def _event_tuple(rec, e):
    return (
        rec,
        e["seq"],
        e["t"],
        e["kind"],
        e["ttc"],
        e["ego_v"],
        e["range"],
        e["rel_v"],
        e["stage"],
        e["impact_speed_kmh"],
    )


def db_frame(db_path, rec, frame_idx, row, events):
    """DB stage, one job per frame: one row (and its events) in one transaction."""
    c = db_connect(db_path)
    c.execute("BEGIN IMMEDIATE")
    c.execute(FRAME_UPSERT, (rec, frame_idx) + tuple(row))
    for e in events:
        c.execute(EVENT_UPSERT, _event_tuple(rec, e))
    c.execute("COMMIT")
    return 1


def db_batch(db_path, rec, first, rows, events):
    """DB stage, one job per batch: all rows and events of the batch in one transaction."""
    c = db_connect(db_path)
    c.execute("BEGIN IMMEDIATE")
    c.executemany(FRAME_UPSERT, [(rec, first + i) + tuple(r) for i, r in enumerate(rows)])
    if events:
        c.executemany(EVENT_UPSERT, [_event_tuple(rec, e) for e in events])
    c.execute("COMMIT")
    return len(rows)


def db_summary(db_path, rec):
    """End of a recording: the summary row from the AEB state kept in Redis."""
    s = _load_state(get_current_job().connection, rec)
    c = db_connect(db_path)
    c.execute("BEGIN IMMEDIATE")
    c.execute(SUMMARY_UPSERT, aeb_logic.summary_row(rec, s))
    c.execute("COMMIT")
    return s["frames"]
