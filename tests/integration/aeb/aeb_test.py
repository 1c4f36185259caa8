#!/usr/bin/env python3
"""aeb_test.py - the aeb service through the real wshub (issue 5, "Tests").

Usage: aeb_test.py CASE   (exit 0 pass, 1 fail)

  alternate  two aeb instances share a recording split into 200 batches; the first exits after
             7 jobs (--max-jobs), so the key state must move between processes: the collected
             per-frame outputs, events and summary equal one uninterrupted in-process run,
             byte for byte (binary encoding, then JSON).
  kill9      the same while one instance is killed with SIGKILL mid-recording.
  bad_unit   a batch with an unknown speed unit fails for good with the unit named.
  cli        --help, bad --params and unknown options; a service with --params runs and stops.

Every case starts its own hub on a free port and stops exactly the processes it started.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'lib'))
import wsmtest  # noqa: E402
from wsmtest import BUILD, Failure  # noqa: E402

BIN = {
    'wshub': wsmtest.WSHUB,
    'aeb': os.path.join(BUILD, 'src', 'services', 'aeb', 'aeb'),
    'driver': os.path.join(BUILD, 'tests', 'integration', 'aeb', 'aeb-driver'),
}
MESH = {
    'listen': {'address': '127.0.0.1', 'port': 0},
    'queues': {
        'aeb': {'max_length': 10000, 'defaults': {'timeout': 60, 'retry': {'max': 5, 'intervals': [0]}}},
        'sink': {'max_length': 100000},
    },
    'routes': {'aeb:frames': 'sink', 'aeb:events': 'sink'},
    'logging': {'level': 'info'},
}


class Env(wsmtest.Env):
    def __init__(self, name):
        super().__init__('aeb', name)

    def start_hub(self):
        self.start_wshub(MESH)

    def aeb(self, name, *args):
        return self.spawn([BIN['aeb'], '--url', self.url, '--concurrency', '1'] + list(args), name)


def run_driver(env, *args, timeout=180):
    r = subprocess.run([BIN['driver'], '--url', env.url] + list(args), capture_output=True,
                       timeout=timeout)
    out, err = r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')
    if r.returncode != 0:
        raise Failure('driver failed (%d): %s %s' % (r.returncode, out[-1500:], err[-3000:]))
    print(out.strip().splitlines()[-1])


def case_alternate(env):
    env.start_hub()
    for enc in ('binary', 'json'):
        a = env.aeb('aeb-a-' + enc, '--max-jobs', '7')
        b = env.aeb('aeb-b-' + enc)
        run_driver(env, '--batches', '200', '--rows', '10', '--encoding', enc)
        a.wait(timeout=30)  # it handled its 7 jobs and left
        if a.returncode != 0:
            raise Failure('instance a exited %s' % a.returncode)
        b.send_signal(signal.SIGTERM)
        b.wait(timeout=30)


def case_kill9(env):
    env.start_hub()
    a = env.aeb('aeb-a')
    b = env.aeb('aeb-b')
    outf = os.path.join(env.dir, 'driver.out')
    d = env.spawn([BIN['driver'], '--url', env.url, '--batches', '300', '--rows', '10',
                   '--progress'], 'driver', stdout=open(outf, 'wb'))
    deadline = time.time() + 60
    killed = False
    while time.time() < deadline and d.poll() is None:
        lines = env.text('driver.out').split()
        if not killed and lines.count('sunk') >= 150:
            a.send_signal(signal.SIGKILL)  # mid-recording, possibly holding the current batch
            killed = True
        time.sleep(0.01)
    if d.poll() is None:
        d.wait(timeout=180)
    if not killed:
        raise Failure('the driver finished before the kill point: ' + env.text('driver.out')[-300:])
    if d.returncode != 0:
        raise Failure('driver failed: ' + env.text('driver.err')[-3000:])
    print(env.text('driver.out').strip().splitlines()[-1])
    if b.poll() is not None:
        raise Failure('instance b died')


def case_bad_unit(env):
    env.start_hub()
    env.aeb('aeb-a')
    run_driver(env, '--bad-unit', '--batches', '1')


def case_cli(env):
    """--help, bad --params and unknown options exit with clear messages, no hub needed."""
    def run(*args):
        r = subprocess.run([BIN['aeb']] + list(args), capture_output=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).decode(errors='replace')
    rc, out = run('--help')
    if rc != 0 or '--params' not in out:
        raise Failure('--help: %d %s' % (rc, out))
    rc, out = run('--params', '{"nope": 1}')
    if rc != 2 or 'nope' not in out:
        raise Failure('bad --params: %d %s' % (rc, out))
    rc, out = run('--params', '{"a_fb": -1}')
    if rc != 2 or 'a_fb' not in out:
        raise Failure('negative a_fb: %d %s' % (rc, out))
    rc, out = run('--params', '{')
    if rc != 2 or 'JSON' not in out:
        raise Failure('unparsable --params: %d %s' % (rc, out))
    rc, out = run('--frobnicate')
    if rc != 2 or 'frobnicate' not in out:
        raise Failure('unknown option: %d %s' % (rc, out))
    # a service with good parameters runs and stops on SIGTERM
    env.start_hub()
    p = env.aeb('aeb-p', '--params', '{"headway_offset": 3.7, "time_margin": 0.08}')
    time.sleep(0.5)
    if p.poll() is not None:
        raise Failure('aeb with --params exited: ' + env.text('aeb-p.err'))
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=30) != 0:
        raise Failure('aeb did not stop cleanly on SIGTERM: %s' % p.returncode)


CASES = {'alternate': case_alternate, 'kill9': case_kill9, 'bad_unit': case_bad_unit,
         'cli': case_cli}


def main():
    return wsmtest.main('aeb_test.py', CASES, BIN.values(), Env)


if __name__ == '__main__':
    sys.exit(main())
