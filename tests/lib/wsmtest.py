"""wsmtest.py - what the Python integration drivers (tests/integration/*/*_test.py) share.

A driver runs one case in an Env: a temporary directory for the logs, a hub started on a free
port (its address is read from the `listening on ws://...` line of its stderr), the processes the
case starts, and a cleanup that stops exactly those processes by pid.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get('WSM_SRCDIR', os.path.abspath(os.path.join(os.path.dirname(__file__), '../..')))
BUILD = os.environ.get('WSM_BUILDDIR', os.path.join(SRC, 'build'))
WSHUB = os.path.join(BUILD, 'src', 'hub', 'wshub')


class Failure(Exception):
    pass


def clean_environ(extra=None):
    """os.environ without any WSMESH_* variable (URL, token, client certificate, instance
    name, ...): a developer's own settings must not point a test process elsewhere."""
    e = {k: v for k, v in os.environ.items() if not k.startswith('WSMESH_')}
    if extra:
        e.update(extra)
    return e


class Env:
    """Processes and files of one test case."""

    def __init__(self, prefix, name):
        self.dir = tempfile.mkdtemp(prefix='wsm-%s-%s-' % (prefix, name))
        self.procs = []
        self.url = None

    def log(self, name):
        return open(os.path.join(self.dir, name), 'ab')

    def spawn(self, args, name, env=None, stdout=None):
        out = stdout if stdout is not None else self.log(name + '.out')
        p = subprocess.Popen(args, stdout=out, stderr=self.log(name + '.err'),
                             stdin=subprocess.DEVNULL, env=clean_environ(env))
        p.name = name
        self.procs.append(p)
        return p

    def text(self, name):
        try:
            with open(os.path.join(self.dir, name), 'rb') as f:
                return f.read().decode(errors='replace')
        except FileNotFoundError:
            return ''

    def wait_listening(self, p, name):
        """The URL a hub process p prints in its stderr log name.err (bounded wait)."""
        deadline = time.time() + 15
        while time.time() < deadline:
            for line in self.text(name + '.err').splitlines():
                if 'listening on ' in line:
                    return line.split('listening on ', 1)[1].strip()
            if p.poll() is not None:
                raise Failure('hub exited: ' + self.text(name + '.err')[-2000:])
            time.sleep(0.05)
        raise Failure('hub did not print its address')

    def start_wshub(self, mesh, port=0, name='hub'):
        """Starts the real wshub with mesh (loopback, a sqlite store in the case directory and
        info logging unless mesh says otherwise); sets self.url and returns the process."""
        mesh = json.loads(json.dumps(mesh))
        mesh.setdefault('listen', {'address': '127.0.0.1', 'port': 0})
        mesh.setdefault('store', {'type': 'sqlite', 'path': os.path.join(self.dir, 'store.db')})
        mesh.setdefault('logging', {'level': 'info'})
        cfg = os.path.join(self.dir, 'mesh.json')
        with open(cfg, 'w') as f:
            json.dump(mesh, f)
        p = self.spawn([WSHUB, '--config', cfg, '--port', str(port)], name)
        self.url = self.wait_listening(p, name)
        return p

    def print_stderr_tails(self):
        for p in self.procs:
            tail = self.text(p.name + '.err')[-1500:]
            if tail:
                print('---', p.name, 'stderr (tail)\n' + tail)

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


def main(prog, cases, binaries, make_env):
    """Runs the case named by the one argument: 0 pass, 1 fail (or a binary missing), 2 usage."""
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        print('usage: %s CASE\ncases: %s' % (prog, ' '.join(sorted(cases))))
        return 2
    for path in binaries:
        if not os.path.exists(path):
            print('missing', path)
            return 1
    name = sys.argv[1]
    env = make_env(name)
    ok = False
    try:
        cases[name](env)
        ok = True
        print('ok', name)
        return 0
    except (Failure, subprocess.TimeoutExpired) as e:
        print('FAIL', name + ':', e)
        env.print_stderr_tails()
        return 1
    finally:
        env.cleanup(ok)
