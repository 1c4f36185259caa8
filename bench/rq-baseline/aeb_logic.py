"""aeb_logic.py - the AEB decision logic of AEB_SPEC §3 in Python, for the rq baseline.

A line-by-line port of libaeb's aeb_step (src/aeb/aeb.c): the per-frame quantities of §3.2,
the state machine of §3.3 (at most one transition per frame, braking latched until standstill,
rule 6 for non-finite inputs), the events of §2.3 and the summary accumulators. The state is a
plain dict (JSON-serialisable, so rq jobs can keep it in Redis between frames). The rq
benchmark checks that this port gives the same events as libaeb on a scenario recording.

A frame is a tuple (t, ego_v, ego_a, range, rel_v, lead_a) in SI units; None = absent.
"""

import math

NONE, FCW, PB1, PB2, FB = 0, 1, 2, 3, 4
STAGE_NAMES = ("NONE", "FCW", "PB1", "PB2", "FB")
# event kinds in libaeb's order (the db key is frame * 5 + this index)
EV_FCW_ONSET, EV_BRAKE_ONSET, EV_STAGE_CHANGE, EV_COLLISION, EV_RELEASE = range(5)
EVENT_NAMES = ("fcw_onset", "brake_onset", "stage_change", "collision", "aeb_release")

PARAMS = {
    "t_react": 1.2,
    "a_driver": 4.0,
    "a_pb1": 3.8,
    "a_pb2": 5.3,
    "a_fb": 9.8,
    "time_margin": 0.0,
    "fcw_release_factor": 1.2,
    "stop_v": 0.1,
    "headway_offset": 0.0,
    "relv_min": 0.01,
    "relv_max": 100.0,
}


def new_state():
    """The state of a new recording (stage NONE, empty summary)."""
    return {
        "stage": NONE,
        "collision": False,
        "frames": 0,
        "last_t": None,
        "input_errors": 0,
        "t_not_increasing": 0,
        "max_stage": NONE,
        "min_ttc": None,
        "min_ttc_t": None,
        "counts": [0, 0, 0, 0, 0],
        "first_fcw_t": None,
        "first_brake_t": None,
        "first_collision_t": None,
        "first_impact_speed": None,
    }


def _finite(x):
    return x is not None and math.isfinite(x)


def step(s, frame, p=PARAMS):
    """Evaluates one frame, updating s. Returns (row, events): row is the stored result
    (t, ego_v, range, rel_v, ttc, state name, fcw 0/1, decel, collision 0/1) with None for
    NULL, events a list of dicts with the fields of the aeb_events table (seq included)."""
    t, ego_v, ego_a, rng, rel_v, lead_a = frame
    input_error = False
    if not _finite(t):
        input_error, t = True, None
    if not _finite(ego_v):
        input_error, ego_v = True, None
    has_range, has_rel_v = rng is not None, rel_v is not None
    mio = has_range and has_rel_v
    if has_range != has_rel_v:
        input_error = True
    if (has_range and not math.isfinite(rng)) or (has_rel_v and not math.isfinite(rel_v)):
        input_error = True
    if (ego_a is not None and not math.isfinite(ego_a)) or (
        lead_a is not None and not math.isfinite(lead_a)
    ):
        input_error = True
    if input_error:
        mio = False

    if t is not None:
        if s["last_t"] is not None and not (t > s["last_t"]):
            s["t_not_increasing"] += 1
        s["last_t"] = t

    if not mio:
        rng = rel_v = None
    headway = rng - p["headway_offset"] if mio else None
    closing = mio and rel_v < 0
    ttc = None
    if closing and headway > 0:
        ttc = headway / min(max(abs(rel_v), p["relv_min"]), p["relv_max"])
    if ego_v is None:
        t_fcw = t_pb1 = t_pb2 = t_fb = None
        stop = False
    else:
        t_fcw = p["t_react"] + ego_v / p["a_driver"]
        t_pb1 = ego_v / p["a_pb1"] + p["time_margin"]
        t_pb2 = ego_v / p["a_pb2"] + p["time_margin"]
        t_fb = ego_v / p["a_fb"] + p["time_margin"]
        stop = ego_v <= p["stop_v"]

    def threat(limit):
        return ttc is not None and limit is not None and ttc < limit

    frm = s["stage"]
    to = frm
    if frm == NONE:
        if threat(t_fcw):
            to = FCW
    elif frm == FCW:
        if threat(t_pb1):
            to = PB1
        elif not closing or (
            ttc is not None and t_fcw is not None and ttc >= p["fcw_release_factor"] * t_fcw
        ):
            to = NONE
    elif frm == PB1:
        if threat(t_pb2):
            to = PB2
        elif stop:
            to = NONE
    elif frm == PB2:
        if threat(t_fb):
            to = FB
        elif stop:
            to = NONE
    elif frm == FB:
        if stop:
            to = NONE
    collision = bool(mio and headway <= 0)
    decel = {PB1: p["a_pb1"], PB2: p["a_pb2"], FB: p["a_fb"]}.get(to, 0.0)

    k = s["frames"]
    events = []

    def ev(kind, **kw):
        e = {
            "seq": k * 5 + kind,
            "t": t,
            "kind": EVENT_NAMES[kind],
            "ttc": None,
            "ego_v": None,
            "range": None,
            "rel_v": None,
            "stage": None,
            "impact_speed_kmh": None,
        }
        e.update(kw)
        events.append(e)
        return e

    if to != frm:
        ev(EV_STAGE_CHANGE, stage=STAGE_NAMES[to], ttc=ttc)
    if frm == NONE and to != NONE:
        ev(EV_FCW_ONSET, ttc=ttc, range=rng, ego_v=ego_v, rel_v=rel_v)
    if frm < PB1 and to >= PB1:
        ev(EV_BRAKE_ONSET, stage=STAGE_NAMES[to], ttc=ttc, range=rng, ego_v=ego_v)
    if frm >= PB1 and to == NONE:
        ev(EV_RELEASE, range=rng)
    if collision and not s["collision"]:
        ev(EV_COLLISION, impact_speed_kmh=-rel_v * 3.6, ego_v=ego_v)

    for e in events:
        kind = EVENT_NAMES.index(e["kind"])
        s["counts"][kind] += 1
        if kind == EV_FCW_ONSET and s["first_fcw_t"] is None:
            s["first_fcw_t"] = t
        elif kind == EV_BRAKE_ONSET and s["first_brake_t"] is None:
            s["first_brake_t"] = t
        elif kind == EV_COLLISION and s["first_collision_t"] is None:
            s["first_collision_t"] = t
            s["first_impact_speed"] = -rel_v
    if ttc is not None and (s["min_ttc"] is None or ttc < s["min_ttc"]):
        s["min_ttc"], s["min_ttc_t"] = ttc, t
    if to > s["max_stage"]:
        s["max_stage"] = to
    if input_error:
        s["input_errors"] += 1
    s["stage"] = to
    s["collision"] = collision
    s["frames"] = k + 1
    row = (t, ego_v, rng, rel_v, ttc, STAGE_NAMES[to], int(to != NONE), decel, int(collision))
    return row, events


def summary_row(rec, s):
    """The aeb_summary row of a finished recording (columns of the table, params as JSON)."""
    import json

    imp = s["first_impact_speed"]
    params = dict(PARAMS, service_version="rq-baseline aeb_logic.py")
    return (
        rec,
        s["frames"],
        s["min_ttc"],
        s["min_ttc_t"],
        STAGE_NAMES[s["max_stage"]],
        1 if s["first_collision_t"] is not None else 0,
        imp * 3.6 if imp is not None else None,
        s["first_fcw_t"],
        s["first_brake_t"],
        json.dumps(params),
    )
