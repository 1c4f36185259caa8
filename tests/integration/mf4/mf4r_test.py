#!/usr/bin/env python3
"""mf4r_test.py - the mf4-reader service through the real wshub (issue 4, mf4-reader service).

Usage: mf4r_test.py CASE   (exit 0 pass, 1 fail)

  frames    real sample files read by an mf4-reader instance: every batch that reaches the
            `sink` queue (route mf4:frames) equals, byte for byte, an in-process run of the same
            job, and so does the result (JSON and binary encodings, a DZ file, two groups
            zero-order held, resampling).
  failures  missing file, not an MDF file, unknown channel (the message lists the available
            names), truncated file: each job fails for good with its error type.
  cli       --help and unknown options; the service stops cleanly on SIGTERM.

Every case starts its own hub on a free port and stops exactly the processes it started.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get('WSM_SRCDIR', os.path.abspath(os.path.join(os.path.dirname(__file__), '../../..')))
BUILD = os.environ.get('WSM_BUILDDIR', os.path.join(SRC, 'build'))
DATA = os.path.join(SRC, 'tests', 'data', 'mf4')
BIN = {
    'wshub': os.path.join(BUILD, 'src', 'hub', 'wshub'),
    'reader': os.path.join(BUILD, 'src', 'services', 'mf4-reader', 'mf4-reader'),
    'driver': os.path.join(BUILD, 'tests', 'integration', 'mf4', 'mf4r-driver'),
}
MESH = {
    'listen': {'address': '127.0.0.1', 'port': 0},
    'queues': {
        'mf4': {'max_length': 100, 'defaults': {'timeout': 60, 'retry': {'max': 2, 'intervals': [0]}}},
        'sink': {'max_length': 100000},
    },
    'routes': {'mf4:frames': 'sink'},
    'logging': {'level': 'info'},
}


class Failure(Exception):
    pass


class Env:
    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix='wsm-mf4r-%s-' % name)
        self.procs = []
        self.url = None

    def spawn(self, args, name):
        e = dict(os.environ)
        e.pop('WSMESH_URL', None)
        e.pop('WSMESH_TOKEN', None)
        p = subprocess.Popen(args, stdout=open(os.path.join(self.dir, name + '.out'), 'ab'),
                             stderr=open(os.path.join(self.dir, name + '.err'), 'ab'),
                             stdin=subprocess.DEVNULL, env=e)
        p.name = name
        self.procs.append(p)
        return p

    def text(self, name):
        try:
            with open(os.path.join(self.dir, name), 'rb') as f:
                return f.read().decode(errors='replace')
        except FileNotFoundError:
            return ''

    def start_hub(self):
        mesh = dict(MESH)
        mesh['store'] = {'type': 'sqlite', 'path': os.path.join(self.dir, 'store.db')}
        cfg = os.path.join(self.dir, 'mesh.json')
        with open(cfg, 'w') as f:
            json.dump(mesh, f)
        p = self.spawn([BIN['wshub'], '--config', cfg, '--port', '0'], 'hub')
        deadline = time.time() + 15
        while time.time() < deadline:
            for line in self.text('hub.err').splitlines():
                if 'listening on ' in line:
                    self.url = line.split('listening on ', 1)[1].strip()
                    return
            if p.poll() is not None:
                raise Failure('hub exited: ' + self.text('hub.err')[-2000:])
            time.sleep(0.05)
        raise Failure('hub did not print its address')

    def reader(self, name):
        return self.spawn([BIN['reader'], '--url', self.url, '--concurrency', '2'], name)

    def cleanup(self, ok):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        if ok and not os.environ.get('WSM_KEEP'):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print('files kept in', self.dir)


def drive(env, args, *extra):
    r = subprocess.run([BIN['driver'], '--url', env.url, '--args', json.dumps(args)] + list(extra),
                       capture_output=True, timeout=180)
    out, err = r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')
    if r.returncode != 0:
        raise Failure('driver failed (%d) for %s: %s %s' % (r.returncode, json.dumps(args), out[-1500:], err[-3000:]))
    print(out.strip().splitlines()[-1] if out.strip() else '(no output)')


def case_frames(env):
    env.start_hub()
    env.reader('reader-a')
    canape = os.path.join(DATA, 'Vector_CANape.MF4')
    drive(env, {'path': canape, 'channels': {'speed': 'channel1', 'counter': 'dwordCounter'},
                'batch': 100})
    drive(env, {'path': 'file://' + canape, 'recording_id': 'canape-bin', 'encoding': 'binary',
                'channels': {'x': 'channel2'}, 'batch': 64})
    drive(env, {'path': canape, 'resample_hz': 50, 'channels': {'tri': 'Triangle', 'c3': 'channel3'}})
    drive(env, {'path': os.path.join(DATA, 'Vector_DataList_TransposeDeflate.mf4'),
                'encoding': 'binary', 'batch': 1000})
    drive(env, {'path': os.path.join(DATA, 'css_canedge_fw010402_unfinalized_can_lin.MF4'),
                'channels': {'can_id': 'CAN_DataFrame.ID', 'dlc': 'CAN_DataFrame.DLC'},
                'batch': 500})


def case_failures(env):
    env.start_hub()
    env.reader('reader-a')
    canape = os.path.join(DATA, 'Vector_CANape.MF4')
    drive(env, {'path': '/nonexistent/rec.mf4'}, '--expect-fail', 'FILE_NOT_FOUND',
          '--expect-text', '/nonexistent/rec.mf4')
    drive(env, {'path': os.path.join(DATA, 'SOURCES.md')}, '--expect-fail', 'NOT_MDF')
    drive(env, {'path': canape, 'channels': {'v': 'VehicleSpeed'}}, '--expect-fail',
          'CHANNEL_NOT_FOUND', '--expect-text', 'dwordCounter')
    cut = os.path.join(env.dir, 'cut.mf4')
    with open(canape, 'rb') as f, open(cut, 'wb') as o:
        o.write(f.read()[:20000])
    drive(env, {'path': cut}, '--expect-fail', 'CORRUPT')
    drive(env, {'path': canape, 'batch': 0}, '--expect-fail', 'BAD_FIELD', '--expect-text', 'batch')


def case_cli(env):
    r = subprocess.run([BIN['reader'], '--help'], capture_output=True, timeout=30)
    if r.returncode != 0 or b'--queue' not in r.stdout + r.stderr:
        raise Failure('--help: %d %s' % (r.returncode, r.stdout + r.stderr))
    r = subprocess.run([BIN['reader'], '--frobnicate'], capture_output=True, timeout=30)
    if r.returncode != 2 or b'frobnicate' not in r.stdout + r.stderr:
        raise Failure('unknown option: %d %s' % (r.returncode, r.stdout + r.stderr))
    env.start_hub()
    p = env.reader('reader-a')
    time.sleep(0.5)
    if p.poll() is not None:
        raise Failure('mf4-reader exited: ' + env.text('reader-a.err'))
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=30) != 0:
        raise Failure('mf4-reader did not stop cleanly on SIGTERM: %s' % p.returncode)


CASES = {'frames': case_frames, 'failures': case_failures, 'cli': case_cli}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print('usage: mf4r_test.py CASE\ncases: ' + ' '.join(sorted(CASES)))
        return 2
    for path in BIN.values():
        if not os.path.exists(path):
            print('missing', path)
            return 1
    name = sys.argv[1]
    env = Env(name)
    ok = False
    try:
        CASES[name](env)
        ok = True
        print('ok', name)
        return 0
    except (Failure, subprocess.TimeoutExpired) as e:
        print('FAIL', name + ':', e)
        for p in env.procs:
            tail = env.text(p.name + '.err')[-1500:]
            if tail:
                print('---', p.name, 'stderr (tail)\n' + tail)
        return 1
    finally:
        env.cleanup(ok)


if __name__ == '__main__':
    sys.exit(main())
