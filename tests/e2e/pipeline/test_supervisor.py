#!/usr/bin/env python3
"""test_supervisor.py - wshub's supervisor (src/hub/supervisor.c) with small /bin/sh services:

  * every instance starts with WSMESH_URL = this hub (the real port with --port 0),
    WSMESH_SERVICE, WSMESH_INSTANCE and its env (${VAR} / ${VAR:-default} expanded), in the
    config's base dir; its stdout and stderr lines are prefixed with `name[i]`;
  * restart policies: on-failure restarts a failing service with doubling delays (0.25, 0.5,
    1 s ...) and leaves a clean exit alone; always restarts after exit 0; never does not restart;
  * SIGTERM on the hub stops every child; one that ignores SIGTERM gets SIGKILL after
    limits.drain_timeout; the hub exits 0 and no child survives;
  * kill -9 of the hub takes its children with it (pdeathsig);
  * a service whose program does not exist, or whose ${VAR} is unset: exit 3 naming it.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from mesh import WSHUB, alive, log  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        log("FAIL:", msg)


def config(d, services, drain=1):
    cfg = {
        "listen": {"address": "127.0.0.1", "port": 0},
        "queues": {"work": {"max_length": 10}},
        "store": {"type": "memory"},
        "limits": {"drain_timeout": drain},
        "logging": {"level": "info"},
        "services": services,
    }
    os.makedirs(os.path.join(d, "config"), exist_ok=True)
    p = os.path.join(d, "config", "mesh.json")
    with open(p, "w") as f:
        json.dump(cfg, f)
    return p


def start(cfg, env=None):
    start.n = getattr(start, "n", 0) + 1
    logp = f"{cfg}.{start.n}.log"
    lf = open(logp, "w")
    p = subprocess.Popen([WSHUB, "--config", cfg, "--port", "0"], stdout=lf,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=dict(os.environ, **(env or {})))
    lf.close()
    return p, logp


def text(logp):
    with open(logp, errors="replace") as f:
        return f.read()


def wait_for(logp, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, text(logp))
        if m:
            return m
        time.sleep(0.05)
    return None


def pids(logp):
    return [int(x) for x in re.findall(r"started: pid (\d+)", text(logp))]


def stop(p, timeout=15):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait(5)


def reap(all_pids):
    left = [x for x in all_pids if alive(x)]
    for x in left:
        os.kill(x, signal.SIGKILL)
    return left


def main():
    d = tempfile.mkdtemp(prefix="wsm-e2e-supervisor-")
    sh = "/bin/sh"
    cfg = config(d, [
        {"name": "echo", "exec": sh, "instances": 2, "restart": "never",
         "args": ["-c", 'echo "url=$WSMESH_URL svc=$WSMESH_SERVICE inst=$WSMESH_INSTANCE '
                  'x=$X y=$Y cwd=$(pwd)"; echo "to stderr" >&2; sleep 30'],
         "env": {"X": "${SUP_TEST_X}", "Y": "${SUP_TEST_UNSET:-fallback}"}},
        {"name": "crash", "exec": sh, "restart": "on-failure", "args": ["-c", "exit 3"]},
        {"name": "clean", "exec": sh, "restart": "on-failure", "args": ["-c", "exit 0"]},
        {"name": "again", "exec": sh, "restart": "always", "args": ["-c", "sleep 0.2"]},
        {"name": "once", "exec": sh, "restart": "never", "args": ["-c", "exit 5"]},
        {"name": "stubborn", "exec": sh, "restart": "always",
         "args": ["-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"]},
    ])
    p, logp = start(cfg, {"SUP_TEST_X": "from-env"})
    seen = set()
    try:
        m = wait_for(logp, r"listening on ws://127\.0\.0\.1:(\d+)/ws")
        check(m, "hub did not listen")
        port = m.group(1) if m else "?"
        for i in range(2):
            line = wait_for(logp, rf"echo\[{i}\] url=(\S+) svc=(\S+) inst=(\S+) x=(\S+) y=(\S+) "
                                  r"cwd=(\S+)")
            check(line is not None, f"echo[{i}] did not print its environment")
            if line:
                check(line.groups() == (f"ws://127.0.0.1:{port}/ws", "echo", f"echo[{i}]",
                                        "from-env", "fallback", os.path.realpath(d)),
                      f"echo[{i}] environment: {line.groups()}")
            check(wait_for(logp, rf"echo\[{i}\] to stderr"), f"echo[{i}] stderr not prefixed")
        check(wait_for(logp, r"stubborn\[0\] ready"), "stubborn did not start")
        # on-failure: restarts with doubling delays
        check(wait_for(logp, r"crash\[0\]: restart #4 in 2\.00 s", timeout=8),
              "crash: no 4th restart with a 2 s delay")
        delays = [float(x) for x in re.findall(r"crash\[0\]: restart #\d+ in ([\d.]+) s",
                                               text(logp))]
        check(delays[:4] == [0.25, 0.5, 1.0, 2.0], f"crash backoff delays {delays}")
        t = text(logp)
        check("clean[0]: not restarted (restart: on-failure)" in t and
              "clean[0]: restart" not in t, "clean exit with on-failure was restarted")
        check("once[0]: not restarted (restart: never)" in t and "once[0]: restart" not in t,
              "restart never was restarted")
        check(re.search(r"once\[0\] \(pid \d+\) exited with status 5", t),
              "exit status not logged")
        check(len(re.findall(r"again\[0\]: restart #", t)) >= 2,
              "restart always did not restart after exit 0")
        seen.update(pids(logp))
        t0 = time.time()
        rc = stop(p)
        dt = time.time() - t0
        t = text(logp)
        seen.update(pids(logp))
        check(rc == 0, f"wshub exit {rc} after SIGTERM")
        check(re.search(r"stubborn\[0\] \(pid \d+\) still running after 1\.0 s: SIGKILL", t),
              "stubborn did not get SIGKILL after drain_timeout")
        check(dt < 8, f"shutdown took {dt:.1f} s")
        left = reap(seen)
        check(not left, f"children outlived the hub: {left}")

        # kill -9 of the hub: the children die with it
        p, logp = start(cfg, {"SUP_TEST_X": "x"})
        check(wait_for(logp, r"stubborn\[0\] ready") and wait_for(logp, r"echo\[1\] url="),
              "second hub: services did not start")
        kids = pids(logp)
        seen.update(kids)
        p.kill()
        p.wait(5)
        deadline = time.time() + 5
        while time.time() < deadline and any(alive(x) for x in kids):
            time.sleep(0.05)
        left = reap(kids)
        check(not left, f"children outlived a killed hub: {left}")

        # startup errors
        for svc, want in (
                ({"name": "nope", "exec": "no-such-program-xyz"},
                 "services[0] (nope): program 'no-such-program-xyz' not found"),
                ({"name": "envless", "exec": sh, "args": ["${SUP_TEST_NEVER_SET}"]},
                 "environment variable SUP_TEST_NEVER_SET is not set")):
            c2 = config(os.path.join(d, svc["name"]), [svc])
            p, logp = start(c2)
            rc = p.wait(10)
            check(rc == 3 and want in text(logp) and "listening on" not in text(logp),
                  f"{svc['name']}: exit {rc}, log {text(logp)}")
        # the port is taken: no service is started, clean exit 3
        import socket
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        c3 = config(os.path.join(d, "taken"), [{"name": "never", "exec": sh,
                                               "args": ["-c", "echo started"]}])
        logp = c3 + ".log"
        with open(logp, "w") as lf:
            rc = subprocess.run([WSHUB, "--config", c3, "--port", str(taken)], stdout=lf,
                                stderr=subprocess.STDOUT, timeout=10).returncode
        sock.close()
        check(rc == 3 and "never[0]" not in text(logp) and "cannot listen" in text(logp) and
              not re.search(r"Sanitizer|runtime error", text(logp)),
              f"port taken: exit {rc}, log {text(logp)}")
    finally:
        if p.poll() is None:
            stop(p)
        reap(seen)
    if failures:
        log(f"{len(failures)} failures; logs in {d}")
        return 1
    shutil.rmtree(d, ignore_errors=True)
    log("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
