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
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'lib'))
import wsmtest  # noqa: E402
from wsmtest import BUILD, SRC, Failure  # noqa: E402

DATA = os.path.join(SRC, 'tests', 'data', 'mf4')
BIN = {
    'wshub': wsmtest.WSHUB,
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


class Env(wsmtest.Env):
    def __init__(self, name):
        super().__init__('mf4r', name)

    def start_hub(self):
        self.start_wshub(MESH)

    def reader(self, name):
        return self.spawn([BIN['reader'], '--url', self.url, '--concurrency', '2'], name)


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
    return wsmtest.main('mf4r_test.py', CASES, BIN.values(), Env)


if __name__ == '__main__':
    sys.exit(main())
