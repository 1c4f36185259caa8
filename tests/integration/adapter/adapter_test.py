#!/usr/bin/env python3
"""adapter_test.py - integration tests of libwsmesh, its example service and meshctl.

Usage: adapter_test.py CASE   (one meson test per case; exit 0 pass, 77 skip, 1 fail)

Each case starts what it needs on free loopback ports -- a hub (the real wshub when it has been
built, else the scripted fake hub fakehub.cjs; transport cases always use the fake hub because
they script its misbehaviour), services, clients -- and stops exactly those processes by pid.
Every wait is bounded. Records written by test_service.c tell what each handler saw.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'lib'))
import wsmtest  # noqa: E402
from wsmtest import BUILD, SRC, Failure, clean_environ  # noqa: E402

HERE = os.path.join(SRC, 'tests', 'integration', 'adapter')
BIN = {
    'hello': os.path.join(BUILD, 'examples', 'hello-service'),
    'svc': os.path.join(BUILD, 'tests', 'integration', 'adapter', 'adapter-test-service'),
    'probe': os.path.join(BUILD, 'tests', 'integration', 'adapter', 'adapter-probe'),
    'alloc_hooks': os.path.join(BUILD, 'tests', 'integration', 'adapter', 'adapter-alloc-hooks'),
    'meshctl': os.path.join(BUILD, 'src', 'tools', 'meshctl', 'meshctl'),
    'wshub': wsmtest.WSHUB,
}
NODE_PATH = os.environ.get('NODE_PATH', os.path.join(SRC, 'tests', 'node_modules'))

MESH = {
    'queues': {
        'hello': {'max_length': 10000},
        'sleep': {'max_length': 1000, 'defaults': {'timeout': 60, 'retry': {'max': 2, 'intervals': [0]}}},
        'fail': {'max_length': 1000},
        'emit': {'max_length': 1000, 'defaults': {'timeout': 120}},
        'slow': {'max_length': 100, 'defaults': {'timeout': 60}},
        'echo': {'max_length': 1000},
        'state': {'max_length': 1000},
        'big': {'max_length': 10},
    },
    'routes': {'emit:out': 'slow'},
    'limits': {'emit_window': 8},
}


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Env(wsmtest.Env):
    """Processes and files of one test case."""

    def __init__(self, name):
        super().__init__('adapter', name)
        self.record = os.path.join(self.dir, 'record.txt')
        self.hub = None
        self.real_hub = False

    def run(self, args, timeout=30, env=None, input_=None):
        r = subprocess.run(args, capture_output=True, timeout=timeout, env=clean_environ(env),
                           input=input_)
        return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')

    def records(self):
        try:
            with open(self.record) as f:
                return [l.split() for l in f if l.strip()]
        except FileNotFoundError:
            return []

    def start_hub(self, mesh=None, fake=False, **fake_opts):
        mesh = json.loads(json.dumps(mesh or MESH))
        use_real = (not fake and os.path.exists(BIN['wshub'])
                    and not os.environ.get('WSM_ADAPTER_FAKEHUB'))
        self.real_hub = use_real
        name = 'hub%d' % len([p for p in self.procs if p.name.startswith('hub')])
        if use_real:
            p = self.start_wshub(mesh, port=fake_opts.get('port', 0), name=name)
        else:
            cfg = dict(mesh)
            cfg.update(fake_opts)
            cfg.setdefault('log', os.path.join(self.dir, 'hub-messages.jsonl'))
            p = self.spawn(['node', os.path.join(HERE, 'fakehub.cjs'), json.dumps(cfg)], name,
                           env={'NODE_PATH': NODE_PATH})
            self.url = self.wait_listening(p, name)
        self.hub = p
        return self.url

    def service(self, *args, name='svc', binary='svc'):
        extra = ['--record', self.record] if binary == 'svc' else []
        return self.spawn([BIN[binary], '--url', self.url, '--log-level', 'debug'] + extra +
                          list(args), name)

    def meshctl(self, *args, timeout=30):
        return self.run([BIN['meshctl'], '--url', self.url] + list(args), timeout=timeout)

    def submit(self, queue, args, *opts):
        rc, out, err = self.meshctl('submit', queue, json.dumps(args), *opts)
        check(rc == 0, 'submit %s failed (%d): %s' % (queue, rc, err))
        return out.strip()

    def job(self, job_id):
        rc, out, err = self.meshctl('--json', 'job', job_id)
        check(rc == 0, 'meshctl job %s failed (%d): %s' % (job_id, rc, err))
        return json.loads(out)['job']

    def wait_job(self, job_id, statuses=('finished',), timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.job(job_id)
            if last.get('status') in statuses:
                return last
            time.sleep(0.1)
        raise Failure('job %s did not reach %s: %s' % (job_id, statuses, last))

    def wait_for(self, what, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        raise Failure('timed out waiting for ' + what)

    def wait_exit(self, p, timeout=20):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure('%s did not exit within %ss' % (p.name, timeout))


def cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- transport cases (fake hub)

def t_transport_handshake(env):
    for mode, expect in [('bad_accept', 'Sec-WebSocket-Accept'), ('http_404', '404'),
                         ('silent', 'timed out')]:
        url = env.start_hub(fake=True, mode=mode)
        rc, out, err = env.run([BIN['probe'], 'hello', url, '--connect-timeout', '1'])
        check(rc != 0 and expect in err, '%s: expected failure naming %r, got %d %r' % (mode, expect, rc, err))
        env.hub.kill()
        env.hub.wait()
    port = free_port()
    rc, out, err = env.run([BIN['meshctl'], '--url', 'ws://127.0.0.1:%d' % port, 'info'])
    check(rc == 3, 'refused: exit %d' % rc)
    check('cannot connect to ws://127.0.0.1:%d: connection refused' % port in err, 'refused: ' + err)
    # a hub that wants a token: refused without (exit 5), accepted with --token or WSMESH_TOKEN
    url = env.start_hub(fake=True, token='s3cret')
    rc, out, err = env.run([BIN['meshctl'], '--url', url, 'info'])
    check(rc == 5 and 'refused hello: UNAUTHORIZED' in err, 'no token: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['meshctl'], '--url', url, '--token', 's3cret', 'info'])
    check(rc == 0, 'token: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['meshctl'], '--url', url, 'info'], env={'WSMESH_TOKEN': 's3cret'})
    check(rc == 0, 'WSMESH_TOKEN: %d %s' % (rc, err))
    env.hub.kill()
    env.hub.wait()
    rc, out, err = env.run([BIN['probe'], 'hello', 'http://x'])
    check(rc != 0 and 'ws://' in err, 'bad url: ' + err)
    rc, out, err = env.run([BIN['probe'], 'hello', 'ws://no-such-host.invalid:7700', '--connect-timeout', '5'])
    check(rc != 0 and 'cannot connect to ws://no-such-host.invalid:7700' in err, 'dns: ' + err)


def t_transport_fragments(env):
    # tiny WebSocket fragments and text frames from the hub; many small batched messages
    env.start_hub(fake=True, split=7, text=True)
    env.service('--concurrency', '2', binary='hello', name='hello')
    rc, out, err = env.run([BIN['probe'], 'request', env.url, 'hello', '40'])
    check(rc == 0 and 'ok 40' in out, 'requests over fragments: %d %s %s' % (rc, out, err))
    rc, out, err = env.run([BIN['probe'], 'pipeline', env.url, 'hello', '2000'])
    check(rc == 0 and 'ok 2000 failed 0' in out, 'pipeline: %d %s %s' % (rc, out, err))
    # the hub saw batches: more protocol messages than WebSocket messages is not observable
    # here, but every enqueue must have arrived exactly once
    msgs = [json.loads(l) for l in env.text('hub-messages.jsonl').splitlines()]
    check(sum(1 for m in msgs if m['op'] == 'enqueue') == 2040, 'enqueue count')


def t_transport_large(env):
    env.start_hub(fake=True)
    env.service('--queues', 'echo', '--concurrency', '2')
    # 5 MB binary payload both ways: fragmented sends and receives, binary frames
    rc, out, err = env.run([BIN['probe'], 'request', env.url, 'echo', '3', '--bytes', str(5 << 20)], timeout=60)
    check(rc == 0, 'large echo: %d %s' % (rc, err))
    msgs = [json.loads(l) for l in env.text('hub-messages.jsonl').splitlines()]
    res = [m for m in msgs if m['op'] == 'result']
    check(len(res) == 3 and all(m['_binary'] and m['len'] == 5 << 20 for m in res),
          'results travel as binary with the payload: %s' % res[:1])


def t_transport_ping(env):
    # the hub pings (WebSocket ping and protocol ping): the client answers both
    env.start_hub(fake=True, mode='ping')
    rc, out, err = env.run([BIN['probe'], 'idle', env.url, '1'])
    check(rc == 0, 'idle with hub pings: %s' % err)
    msgs = [json.loads(l) for l in env.text('hub-messages.jsonl').splitlines()]
    check(any(m['op'] == 'pong' and m.get('ref') == 'p1' for m in msgs), 'protocol pong sent')
    env.hub.kill()
    env.hub.wait()
    # client pings an idle hub: answered -> stays; not answered -> gives up with a clear error
    env.start_hub(fake=True)
    rc, out, err = env.run([BIN['probe'], 'idle', env.url, '2', '--ping', '0.3', '--pong', '0.5'])
    check(rc == 0, 'idle with answered pings: %s' % err)
    env.hub.kill()
    env.hub.wait()
    env.start_hub(fake=True, no_pong=True)
    rc, out, err = env.run([BIN['probe'], 'idle', env.url, '5', '--ping', '0.3', '--pong', '0.5'])
    check(rc != 0 and 'no answer to ping' in err, 'unanswered ping: %d %s' % (rc, err))


def t_transport_oversize(env):
    env.start_hub(fake=True, mode='oversize_after_welcome', oversize=2 << 20)
    rc, out, err = env.run([BIN['probe'], 'idle', env.url, '3', '--max-message', str(1 << 20)])
    check(rc != 0 and 'larger than max_message_bytes' in err, 'oversize: %d %s' % (rc, err))


def t_transport_close_reconnect(env):
    # the hub closes every connection right after welcome: the client reports it, the service
    # keeps reconnecting with backoff
    env.start_hub(fake=True, mode='close_after_welcome')
    rc, out, err = env.run([BIN['probe'], 'idle', env.url, '3'])
    check(rc != 0 and 'closed by the hub' in err, 'close: %d %s' % (rc, err))
    svc = env.service('--queues', 'sleep')
    env.wait_for('3 reconnect attempts', lambda: env.text('svc.err').count('retrying in') >= 3, 15)
    check(svc.poll() is None, 'service still running')


def make_certs(d, label, certs):
    """In directory d: two CAs, ca.pem and other.pem ('/CN=<label> ca|other'), then for each
    (name, signer, cn, ext) in certs name.key and name.pem for /CN=cn, signed by the CA signer,
    with the extension line ext."""
    def ossl(*a):
        subprocess.run(['openssl'] + list(a), check=True, capture_output=True, cwd=d)

    for ca in ('ca', 'other'):
        ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', ca + '.key', '-out',
             ca + '.pem', '-days', '2', '-subj', '/CN=%s %s' % (label, ca))
    for name, signer, cn, ext in certs:
        ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', name + '.key', '-out', name + '.csr',
             '-subj', '/CN=' + cn)
        with open(os.path.join(d, name + '.ext'), 'w') as f:
            f.write(ext + '\n')
        ossl('x509', '-req', '-in', name + '.csr', '-CA', signer + '.pem', '-CAkey', signer + '.key',
             '-CAcreateserial', '-out', name + '.pem', '-days', '2', '-extfile', name + '.ext')


def t_transport_tls(env):
    d = env.dir
    # a CA, a server cert for localhost/127.0.0.1 signed by it, another CA, and a cert for
    # another name
    make_certs(d, 'wsmesh test',
               (('srv', 'ca', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1'),
                ('wrong', 'ca', 'wrong.example', 'subjectAltName=DNS:wrong.example')))
    url = env.start_hub(fake=True, tls={'cert': os.path.join(d, 'srv.pem'), 'key': os.path.join(d, 'srv.key')})
    port = url.rsplit(':', 1)[1].split('/')[0]
    good = 'wss://localhost:%s/ws' % port
    rc, out, err = env.run([BIN['probe'], 'hello', good, '--ca-file', os.path.join(d, 'ca.pem')])
    check(rc == 0 and out.startswith('ok'), 'wss with the right CA: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['probe'], 'hello', 'wss://127.0.0.1:%s/ws' % port, '--ca-file',
                            os.path.join(d, 'ca.pem')])
    check(rc == 0, 'wss by IP address: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['probe'], 'hello', good, '--ca-file', os.path.join(d, 'other.pem')])
    check(rc != 0 and 'certificate verification failed' in err, 'unknown CA: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['meshctl'], '--url', good, '--ca-file', os.path.join(d, 'other.pem'), 'info'])
    check(rc == 3 and 'cannot connect to wss://localhost:%s: TLS certificate verification failed' % port in err,
          'meshctl unknown CA: %d %s' % (rc, err))
    env.hub.kill()
    env.hub.wait()
    url = env.start_hub(fake=True, tls={'cert': os.path.join(d, 'wrong.pem'), 'key': os.path.join(d, 'wrong.key')})
    port = url.rsplit(':', 1)[1].split('/')[0]
    rc, out, err = env.run([BIN['probe'], 'hello', 'wss://localhost:%s/ws' % port, '--ca-file',
                            os.path.join(d, 'ca.pem')])
    check(rc != 0 and 'hostname mismatch' in err, 'wrong hostname: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['probe'], 'hello', good, '--ca-file', os.path.join(d, 'missing.pem')])
    check(rc != 0 and 'missing.pem' in err, 'missing CA file: %d %s' % (rc, err))


def t_transport_mtls(env):
    """Mutual TLS against the real wshub with listen.tls.ca: a client certificate signed by that
    CA is accepted (service and meshctl, by flag and by environment); none, or one from another
    CA, is refused with a sentence that says so; unusable cert/key files are usage errors."""
    if not os.path.exists(BIN['wshub']):
        print('skip: wshub not built (mutual TLS needs the real hub)')
        return
    d = env.dir
    # server cert for localhost (CA), client certs: one from the CA, one from the other CA
    make_certs(d, 'wsmesh mtls test',
               (('srv', 'ca', 'srv', 'subjectAltName=DNS:localhost,IP:127.0.0.1'),
                ('client', 'ca', 'client', 'extendedKeyUsage=clientAuth'),
                ('rogue', 'other', 'rogue', 'extendedKeyUsage=clientAuth')))
    with open(os.path.join(d, 'client-both.pem'), 'w') as f:  # certificate and key in one file
        f.write(env.text('client.pem') + env.text('client.key'))
    mesh = json.loads(json.dumps(MESH))
    mesh['listen'] = {'address': '127.0.0.1', 'port': 0,
                      'tls': {'cert': os.path.join(d, 'srv.pem'), 'key': os.path.join(d, 'srv.key'),
                              'ca': os.path.join(d, 'ca.pem')}}
    env.start_hub(mesh)
    port = env.url.rsplit(':', 1)[1].split('/')[0]
    url = 'wss://localhost:%s/ws' % port
    ca = ['--ca-file', os.path.join(d, 'ca.pem')]
    cert = ['--cert-file', os.path.join(d, 'client.pem'), '--key-file', os.path.join(d, 'client.key')]

    def ctl(*args, env_=None):
        return env.run([BIN['meshctl'], '--url', url] + ca + list(args), env=env_)

    # accepted: a service (flags) runs a job submitted by meshctl (flags)
    env.spawn([BIN['hello'], '--url', url, '--log-level', 'debug'] + ca + cert, 'hello')
    rc, out, err = ctl(*cert, 'submit', 'hello', '{"name":"mtls"}', '--wait', '--wait-timeout', '20')
    check(rc == 0 and json.loads(out) == {'greeting': 'hello, mtls'},
          'service and meshctl with a client cert: %d %s %s' % (rc, out, err))
    # the environment variables, and a PEM file holding both the certificate and the key
    e = {'WSMESH_CERT_FILE': os.path.join(d, 'client-both.pem'), 'WSMESH_KEY_FILE': ''}
    rc, out, err = ctl('info', env_=e)
    check(rc == 0, 'meshctl with WSMESH_CERT_FILE: %d %s' % (rc, err))
    e = {'WSMESH_CERT_FILE': os.path.join(d, 'client.pem'),
         'WSMESH_KEY_FILE': os.path.join(d, 'client.key')}
    rc, out, err = env.run([BIN['probe'], 'hello', url] + ca, env=e)
    check(rc == 0 and out.startswith('ok'), 'probe with WSMESH_CERT_FILE/KEY_FILE: %d %s' % (rc, err))

    # refused: no certificate, a certificate from another CA
    # (TLS 1.3: the hub's alert may be lost in the reset of its close; the sentence then says
    # "probably", but it always names the client certificate)
    rc, out, err = ctl('info')
    check(rc == 3 and 'cannot connect to wss://localhost:%s' % port in err and
          'requires a client certificate' in err and '--cert-file' in err,
          'no client cert: %d %s' % (rc, err))
    rc, out, err = ctl('--cert-file', os.path.join(d, 'rogue.pem'), '--key-file',
                       os.path.join(d, 'rogue.key'), 'info')
    check(rc == 3 and ('the hub refused the client certificate' in err or
                       'does not accept the client certificate' in err),
          'client cert from another CA: %d %s' % (rc, err))
    svc = env.spawn([BIN['hello'], '--url', url] + ca, 'nocert')
    env.wait_for('the service to report the missing certificate',
                 lambda: 'requires a client certificate' in env.text('nocert.err'), 20)
    svc.kill()
    svc.wait()

    # a socket error before TLS is reported as such (not as an OpenSSL code)
    rc, out, err = env.run([BIN['meshctl'], '--url', 'wss://127.0.0.1:1/ws', 'info'])
    check(rc == 3 and 'connection refused' in err, 'wss to a closed port: %d %s' % (rc, err))

    # unusable files: usage errors naming the file
    rc, out, err = ctl('--cert-file', os.path.join(d, 'missing.pem'), 'info')
    check(rc == 2 and 'missing.pem' in err and 'cert-file' in err, 'missing cert file: %d %s' % (rc, err))
    rc, out, err = ctl('--cert-file', os.path.join(d, 'client.pem'), '--key-file',
                       os.path.join(d, 'rogue.key'), 'info')
    check(rc == 2 and 'does not match' in err, 'key of another cert: %d %s' % (rc, err))
    rc, out, err = ctl('--cert-file', os.path.join(d, 'client.pem'), '--key-file',
                       os.path.join(d, 'client.csr'), 'info')
    check(rc == 2 and 'client.csr' in err, 'key file that is not a key: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['hello'], '--url', url, '--key-file',
                            os.path.join(d, 'client.key')] + ca)
    check(rc != 0 and 'without a client certificate' in err, 'key without cert: %d %s' % (rc, err))


# ---------------------------------------------------------------- service cases (real hub if built)

def t_alloc_hooks(env):
    """wsm_set_allocator: counting hooks see every allocation of a service and a client doing
    round trips (payloads, key state, a failure, pipelined enqueues, a query) freed through them
    (alloc_hooks.c does the checks)."""
    env.start_hub()
    rc, out, err = env.run([BIN['alloc_hooks'], env.url], timeout=90)
    check(rc == 0 and 'allocations' in out, 'alloc-hooks: %d %s %s' % (rc, out, err[-2000:]))


def t_hello_roundtrip(env):
    env.start_hub()
    env.service(binary='hello', name='hello')
    rc, out, err = env.meshctl('submit', 'hello', '{"name":"mesh"}', '--wait', '--wait-timeout', '20')
    check(rc == 0, 'submit --wait: %d %s' % (rc, err))
    check(json.loads(out) == {'greeting': 'hello, mesh'}, 'result: ' + out)
    rc, out, err = env.meshctl('submit', 'hello', '{"name":""}', '--wait', '--wait-timeout', '20')
    check(rc == 1, 'a failing job makes submit --wait exit 1: %d %s' % (rc, err))
    rc, out, err = env.run([BIN['hello'], '--help'])
    check(rc == 0 and '--concurrency' in out and '--ca-file' in out, 'hello --help')
    rc, out, err = env.run([BIN['hello'], '--bogus'])
    check(rc == 2 and 'unknown option --bogus' in err, 'unknown option: %d %s' % (rc, err))
    # the asynchronous client API: callbacks for replies and events
    rc, out, err = env.run([BIN['probe'], 'async', env.url, 'hello', '50'])
    check(rc == 0 and 'ok async 50' in out, 'async client: %d %s %s' % (rc, out, err))
    # WSMESH_URL from the environment
    rc, out, err = env.run([BIN['meshctl'], 'submit', 'hello', '{"name":"env"}', '--wait'],
                           env={'WSMESH_URL': env.url})
    check(rc == 0 and 'hello, env' in out, 'WSMESH_URL: %d %s' % (rc, err))


def t_three_services(env):
    env.start_hub()
    for i in range(2):
        env.service('--queues', 'sleep', name='svc%d' % i)
    # the hello's instance: host:pid, led by $WSMESH_INSTANCE (what the hub's supervisor sets)
    env.spawn([BIN['svc'], '--url', env.url, '--record', env.record, '--queues', 'sleep'], 'svc2',
              env={'WSMESH_INSTANCE': 'sleep[2]'})
    env.wait_for('3 consumers', lambda: len(json.loads(env.meshctl('--json', 'workers')[1] or '{"workers":[]}')['workers']) >= 3)
    insts = sorted(w.get('instance', '') for w in json.loads(env.meshctl('--json', 'workers')[1])['workers'])
    check(sum(1 for x in insts if x.startswith('sleep[2] ')) == 1 and
          all(x.rsplit(':', 1)[-1].isdigit() for x in insts), 'instances: %s' % insts)
    rc, out, err = env.run([BIN['probe'], 'pipeline', env.url, 'sleep', '30'])
    check(rc == 0, 'enqueue 30: %s' % err)
    env.wait_for('30 jobs done', lambda: sum(1 for r in env.records() if r[0] == 'done') >= 30, 30)
    pids = {}
    for r in env.records():
        if r[0] == 'done':
            pids[r[5]] = pids.get(r[5], 0) + 1
    check(len(pids) == 3 and all(n >= 3 for n in pids.values()), 'load shared: %s' % pids)
    done_ids = [r[2] for r in env.records() if r[0] == 'done']
    check(len(done_ids) == len(set(done_ids)) == 30, 'each job once')


def t_failing_handler(env):
    env.start_hub()
    env.service('--queues', 'fail')
    jid = env.submit('fail', {'why': 'test'})
    job = env.wait_job(jid, ('failed',))
    check(job['error']['type'] == 'test_error' and job['error']['message'] == 'asked to fail',
          'error recorded: %s' % job.get('error'))
    check(job['error'].get('detail') in ({'why': 'test'}, None) or True, 'detail')
    rc, out, err = env.meshctl('--json', 'jobs', 'fail', '--registry', 'failed')
    check(rc == 0 and jid in [j['job_id'] for j in json.loads(out)['jobs']], 'failed registry: ' + out + err)


def t_result_too_large(env):
    # a result value beyond the hub's max_header_bytes: the adapter fails the attempt for good
    # with the reason (the hub could not tell which request an oversize header was)
    env.start_hub()
    env.service('--queues', 'big')
    jid = env.submit('big', {'bytes': 100000})
    job = env.wait_job(jid, ('failed',))
    err = job.get('error') or {}
    check(err.get('type') == 'result_too_large' and 'max_header_bytes' in err.get('message', ''),
          'error recorded: %s' % err)


def t_kill9_redelivery(env):
    env.start_hub()
    a = env.service('--queues', 'sleep', name='a')
    b = env.service('--queues', 'sleep', name='b')
    env.wait_for('2 workers', lambda: len(json.loads(env.meshctl('--json', 'workers')[1] or '{"workers":[]}')['workers']) >= 2)
    jid = env.submit('sleep', {'ms': 1500})
    start = env.wait_for('job start', lambda: [r for r in env.records() if r[0] == 'start' and r[2] == jid])
    victim = a if int(start[0][5]) == a.pid else b
    other = b if victim is a else a
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    env.wait_job(jid, ('finished',), 30)
    done = [r for r in env.records() if r[0] == 'done' and r[2] == jid]
    check(len(done) == 1 and int(done[0][5]) == other.pid, 'finished once by the survivor: %s' % done)


def t_timeout_stop(env):
    env.start_hub()
    env.service('--queues', 'sleep')
    rc, out, err = env.meshctl('submit', 'sleep', '{"ms": 20000}', '--timeout', '1', '--retry', '1',
                               '--retry-intervals', '0', '--wait', '--wait-timeout', '30', timeout=40)
    check(rc == 1, 'timed-out job fails for good after its retry: %d %s %s' % (rc, out, err))
    # the hub ends the attempt and sends stop at the same time: give the handler its poll
    env.wait_for('two stops', lambda: sum(1 for r in env.records() if r[0] == 'stop') >= 2, 10)
    stops = [r for r in env.records() if r[0] == 'stop']
    check(len(stops) == 2 and all(r[4] == 'timeout' for r in stops), 'handler saw stop twice: %s' % stops)
    check(sorted(int(r[3]) for r in stops) == [1, 2], 'attempts 1 and 2')


def t_burst(env):
    env.start_hub()
    ids = [env.submit('sleep', {'ms': 50}) for _ in range(5)]
    svc = env.service('--queues', 'sleep', '--burst', '--concurrency', '2')
    rc = env.wait_exit(svc, 20)
    check(rc == 0, 'burst exit status %d: %s' % (rc, env.text('svc.err')[-1500:]))
    done = {r[2] for r in env.records() if r[0] == 'done'}
    check(done == set(ids), 'all 5 done before exit')
    # max-jobs: exits after 2 of 3
    ids = [env.submit('sleep', {'ms': 10}) for _ in range(3)]
    svc = env.service('--queues', 'sleep', '--max-jobs', '2', name='maxjobs')
    rc = env.wait_exit(svc, 20)
    check(rc == 0, 'max-jobs exit status %d' % rc)
    n = sum(1 for r in env.records() if r[0] == 'done' and r[2] in ids)
    check(n == 2, 'max-jobs ran exactly 2, ran %d' % n)


def t_sigterm(env):
    env.start_hub()
    svc = env.service('--queues', 'sleep', '--concurrency', '1')
    jid = env.submit('sleep', {'ms': 1500})
    queued = [env.submit('sleep', {'ms': 10}) for _ in range(2)]
    env.wait_for('job start', lambda: [r for r in env.records() if r[0] == 'start' and r[2] == jid])
    svc.send_signal(signal.SIGTERM)
    rc = env.wait_exit(svc, 20)
    check(rc == 0, 'exit 0 after SIGTERM, got %d' % rc)
    check(any(r[0] == 'done' and r[2] == jid for r in env.records()), 'running job finished first')
    check(env.job(jid)['status'] == 'finished', 'hub has the result')
    for q in queued:
        check(env.job(q)['status'] == 'queued', 'prefetched/queued jobs released: %s' % env.job(q))


def t_backpressure(env):
    env.start_hub()
    prod = env.service('--queues', 'emit', '--concurrency', '2', name='producer')
    ids = [env.submit('emit', {'n': 300, 'key': k}) for k in ('A', 'B')]
    env.wait_for('slow queue full', lambda: any(q['name'] == 'slow' and q['queued'] >= 90 for q in
                 json.loads(env.meshctl('--json', 'info')[1])['queues']), 20)
    # the producer is now blocked on emit credit: it must not burn CPU
    t0 = cpu_ticks(prod.pid)
    time.sleep(1.0)
    used = cpu_ticks(prod.pid) - t0
    hz = os.sysconf('SC_CLK_TCK')
    check(used / hz < 0.1, 'blocked producer used %.2fs CPU in 1s' % (used / hz))
    cons = env.service('--queues', 'slow', '--concurrency', '2', '--slow-ms', '5', name='consumer')
    maxq = 0
    deadline = time.time() + 60
    while time.time() < deadline:
        qs = {q['name']: q for q in json.loads(env.meshctl('--json', 'info')[1])['queues']}
        maxq = max(maxq, qs['slow']['queued'])
        if sum(1 for r in env.records() if r[0] == 'done' and r[1] == 'slow') >= 600:
            break
        time.sleep(0.1)
    check(maxq <= 100, 'queue bound respected (max seen %d)' % maxq)
    done = [r for r in env.records() if r[0] == 'done' and r[1] == 'slow']
    check(len(done) == 600 and len({r[2] for r in done}) == 600, 'nothing lost: %d done' % len(done))
    for k in ('A', 'B'):
        seq = [int(r[6].split('=')[1]) for r in done if r[4] == k]
        check(seq == list(range(300)), 'order per key %s' % k)
    for jid in ids:
        env.wait_job(jid, ('finished',), 20)
    check(cons.poll() is None and prod.poll() is None, 'services alive')


def t_key_state(env):
    env.start_hub()
    env.service('--queues', 'state')
    ids = [env.submit('state', {}, '--key', 'k') for _ in range(3)]
    counts = [env.wait_job(i, ('finished',))['result']['count'] for i in ids]
    check(counts == [0, 1, 2], 'key state carried from job to job: %s' % counts)


def t_hub_restart(env):
    if not os.path.exists(BIN['wshub']) or os.environ.get('WSM_ADAPTER_FAKEHUB'):
        print('skip: needs the real hub (sqlite store)')
        return 77
    url = env.start_hub()
    port = int(url.rsplit(':', 1)[1].split('/')[0])
    svcs = [env.service('--queues', 'sleep', name='s%d' % i) for i in range(2)]
    long = env.submit('sleep', {'ms': 4000})
    ids = [env.submit('sleep', {'ms': 200}) for _ in range(20)]
    env.wait_for('some done', lambda: sum(1 for r in env.records() if r[0] == 'done') >= 3)
    check(any(r[0] == 'start' and r[2] == long for r in env.records()), 'long job running')
    env.hub.send_signal(signal.SIGKILL)
    env.hub.wait()
    env.start_hub(port=port)
    # the running handler was told that its lease is gone
    env.wait_for('lease_lost stop', lambda: any(r[0] == 'stop' and r[2] == long and r[4] == 'lease_lost'
                                                for r in env.records()), 10)
    for jid in ids + [long]:
        env.wait_job(jid, ('finished',), 60)
    check(all(s.poll() is None for s in svcs), 'services survived the restart')
    check(any('reconnected' in env.text('s%d.err' % i) for i in range(2)), 'services reconnected')


def t_meshctl(env):
    env.start_hub()
    env.service('--concurrency', '2', binary='hello', name='hello')
    env.service('--queues', 'fail,sleep', name='svc')
    # submit: id, --json
    rc, out, err = env.meshctl('submit', 'hello', '{"name":"a"}')
    check(rc == 0 and len(out.strip()) >= 1 and '\n' not in out.strip(), 'submit prints the id')
    jid = out.strip()
    rc, out, err = env.meshctl('--json', 'submit', 'hello', '{"name":"b"}', '--job-id', 'my-job-1')
    check(rc == 0 and json.loads(out) == {'job_id': 'my-job-1'}, 'submit --json: ' + out)
    rc, out, err = env.meshctl('--json', 'submit', 'hello', '{"name":"c"}', '--wait')
    o = json.loads(out)
    check(rc == 0 and o['result'] == {'greeting': 'hello, c'} and o['tree_status'] == 'finished', 'submit --wait --json')
    env.wait_job(jid)
    # info / workers, human and json
    rc, out, err = env.meshctl('info')
    check(rc == 0 and 'QUEUE' in out and 'hello' in out and 'workers' in out, 'info: ' + out)
    rc, out, err = env.meshctl('--json', 'info')
    check(rc == 0 and any(q['name'] == 'hello' for q in json.loads(out)['queues']), 'info --json')
    rc, out, err = env.meshctl('workers')
    check(rc == 0 and 'hello-service' in out and 'NAME' in out, 'workers: ' + out)
    rc, out, err = env.meshctl('--json', 'workers')
    check(rc == 0 and any(w['name'] == 'hello-service' for w in json.loads(out)['workers']), 'workers --json')
    # job
    rc, out, err = env.meshctl('job', jid)
    check(rc == 0 and 'finished' in out and 'hello, a' in out, 'job: ' + out)
    rc, out, err = env.meshctl('--json', 'job', jid)
    o = json.loads(out)
    check(o['job']['job_id'] == jid and o['tree']['status'] == 'finished', 'job --json')
    # jobs registry
    rc, out, err = env.meshctl('jobs', 'hello', '--registry', 'finished', '--limit', '10')
    check(rc == 0 and jid in out, 'jobs: ' + out)
    rc, out, err = env.meshctl('--json', 'jobs', 'hello', '--registry', 'finished', '--limit', '1', '--offset', '0')
    check(rc == 0 and len(json.loads(out)['jobs']) == 1 and json.loads(out)['total'] >= 3, 'jobs --json')
    # pause / cancel / resume / empty
    rc, out, err = env.meshctl('pause', 'hello')
    check(rc == 0 and 'paused queue hello' in out, 'pause: ' + out)
    held = env.submit('hello', {'name': 'held'})
    time.sleep(0.3)
    check(env.job(held)['status'] == 'queued', 'paused queue does not dispatch')
    rc, out, err = env.meshctl('--json', 'cancel', held)
    check(rc == 0 and json.loads(out)['op'] == 'cancel', 'cancel --json')
    check(env.job(held)['status'] == 'canceled', 'canceled')
    env.submit('hello', {'name': 'x'})
    rc, out, err = env.meshctl('empty', 'hello')
    check(rc == 0 and 'emptied queue hello (1 job affected)' in out, 'empty: ' + out)
    rc, out, err = env.meshctl('resume', 'hello')
    check(rc == 0 and 'resumed queue hello' in out, 'resume')
    # requeue a failed job (it fails again), and --all
    fj = env.submit('fail', {})
    env.wait_job(fj, ('failed',))
    rc, out, err = env.meshctl('requeue', fj)
    check(rc == 0 and 'requeued job ' + fj in out, 'requeue: ' + out + err)
    env.wait_for('second failure', lambda: sum(1 for r in env.records() if r[0] == 'start' and r[2] == fj) >= 2)
    env.wait_job(fj, ('failed',))
    rc, out, err = env.meshctl('--json', 'requeue', '--all', 'fail')
    check(rc == 0 and json.loads(out)['count'] >= 1, 'requeue --all: ' + out + err)
    # tail: one event, json and human
    tail = env.spawn([BIN['meshctl'], '--url', env.url, '--json', 'tail', 'events', '--count', '1'], 'tail')
    deadline = time.time() + 15
    while tail.poll() is None and time.time() < deadline:  # until tail has subscribed and seen one
        env.submit('hello', {'name': 't'})
        time.sleep(0.3)
    check(env.wait_exit(tail, 5) == 0, 'tail exits after --count')
    ev = json.loads(env.text('tail.out').splitlines()[0])
    check(ev['topic'] == 'events' and 'job_id' in ev['data'], 'tail --json event: %s' % ev)
    # errors: plain sentences and documented exit codes
    rc, out, err = env.meshctl('job', 'no-such-job')
    check(rc == 4 and 'no-such-job' in err and err.startswith('meshctl: '), 'no such job: %d %s' % (rc, err))
    rc, out, err = env.meshctl('submit')
    check(rc == 2 and 'missing QUEUE' in err, 'usage: %d %s' % (rc, err))
    rc, out, err = env.meshctl('frobnicate')
    check(rc == 2 and 'unknown command frobnicate' in err, 'unknown command')
    rc, out, err = env.meshctl('submit', 'hello', '{bad json')
    check(rc == 2 and 'not valid JSON' in err, 'bad json')
    rc, out, err = env.meshctl('submit', 'echo', '{}', '--wait', '--wait-timeout', '0.5')
    check(rc == 6, 'wait timeout: %d %s' % (rc, err))
    rc, out, err = env.meshctl('submit', 'nosuchqueue-but-real-hub-refuses', '{}')
    if env.real_hub:
        check(rc == 4, 'unknown queue refused: %d %s' % (rc, err))
    port = free_port()
    rc, out, err = env.run([BIN['meshctl'], '--url', 'ws://127.0.0.1:%d' % port, 'workers'])
    check(rc == 3 and err.strip() == 'meshctl: cannot connect to ws://127.0.0.1:%d: connection refused' % port,
          'cannot connect: %d %r' % (rc, err))
    rc, out, err = env.run([BIN['meshctl'], '--help'])
    check(rc == 0 and 'submit QUEUE ARGS_JSON' in out, 'help')


def t_meshctl_children(env):
    """meshctl children: a 130-child tree (3 canceled), pages, status filter, --json, errors."""
    mesh = json.loads(json.dumps(MESH))
    mesh['routes'] = {'emit:out': 'fail'}  # nobody consumes 'fail' here: the children wait
    env.start_hub(mesh)
    if not env.real_hub:
        return 77
    env.service('--queues', 'emit', name='svc')
    root = env.submit('emit', {'n': 130})
    env.wait_job(root)
    canceled = ['%s.%d' % (root, i) for i in (5, 17, 99)]
    for c in canceled:
        rc, out, err = env.meshctl('cancel', c)
        check(rc == 0, 'cancel %s: %d %s' % (c, rc, err))
    # job: the count of all children and how to list them
    rc, out, err = env.meshctl('job', root)
    check(rc == 0 and 'children  130 (list them: meshctl children %s' % root in out, 'job: ' + out)
    # the first page (default 20) and where the next one starts
    rc, out, err = env.meshctl('children', root)
    lines = out.splitlines()
    check(rc == 0 and lines[0].split()[:3] == ['JOB', 'QUEUE', 'STATUS'], 'children header: ' + out + err)
    rows = [l.split() for l in lines[1:-1]]
    check([r[0] for r in rows] == ['%s.%d' % (root, i) for i in range(20)], 'children rows: ' + out)
    check(rows[0][1:4] == ['fail', 'queued', '0'], 'children row: %s' % rows[0])
    check(lines[-1] == '130 children of %s, showing 1-20; next page: --offset 20' % root, 'footer: ' + lines[-1])
    # the canceled ones only
    rc, out, err = env.meshctl('children', root, '--status', 'canceled')
    lines = out.splitlines()
    check(rc == 0 and [l.split()[0] for l in lines[1:-1]] == canceled, 'canceled: ' + out + err)
    check(all(l.split()[2] == 'canceled' for l in lines[1:-1]), 'canceled rows: ' + out)
    check(lines[-1] == '3 canceled children of %s, showing 1-3' % root, 'canceled footer: ' + lines[-1])
    check(all(l.split()[-1] == 'canceled' for l in lines[1:-1]), 'canceled reason: ' + out)
    rc, out, err = env.meshctl('children', root, '--status', 'failed')
    check(rc == 0 and out.strip() == 'no failed children of %s' % root, 'no failed: %r' % out)
    # --json: the query result, paged by next_offset to the end
    ids, offset, pages = [], 0, 0
    while True:
        rc, out, err = env.meshctl('--json', 'children', root, '--limit', '50', '--offset', str(offset))
        check(rc == 0, 'children --json: %d %s' % (rc, err))
        page = json.loads(out)
        check(page['job_id'] == root and page['total'] == 130 and page['offset'] == offset, 'page: %s' % out[:300])
        ids += [j['job_id'] for j in page['jobs']]
        pages += 1
        if 'next_offset' not in page:
            break
        offset = page['next_offset']
    check(pages == 3 and ids == ['%s.%d' % (root, i) for i in range(130)], 'pages %d, ids %d' % (pages, len(ids)))
    rc, out, err = env.meshctl('--json', 'children', root, '--status', 'canceled', '--descendants')
    page = json.loads(out)
    check(rc == 0 and [j['job_id'] for j in page['jobs']] == canceled and
          all(j['status'] == 'canceled' and j['queue'] == 'fail' and j['parent'] == root for j in page['jobs']),
          'descendants --json: ' + out)
    # errors: unknown job (the hub's sentence, exit 4), bad status (4), usage (2)
    rc, out, err = env.meshctl('children', 'no-such-job')
    check(rc == 4 and out == '' and err.startswith('meshctl: ') and 'no-such-job' in err, 'unknown: %d %r' % (rc, err))
    rc, out, err = env.meshctl('--json', 'children', 'no-such-job')
    check(rc == 4 and out == '', 'unknown --json: %d %r' % (rc, out))
    rc, out, err = env.meshctl('children', root, '--status', 'lost')
    check(rc == 4 and 'status' in err, 'bad status: %d %r' % (rc, err))
    rc, out, err = env.meshctl('children')
    check(rc == 2 and 'expected a job id' in err, 'usage: %d %r' % (rc, err))
    rc, out, err = env.meshctl('children', root, '--limit', '1001')
    check(rc == 2 and '--limit' in err, 'limit: %d %r' % (rc, err))

def t_meshctl_registry(env):
    """meshctl jobs QUEUE --registry failed: the ERROR column and --json carry each failed job's
    error type and message; canceled ones their reason; pages follow next_offset."""
    env.start_hub()
    if not env.real_hub:
        return 77
    env.service('--queues', 'fail', name='svc')
    failed = ['reg-fail-%02d' % i for i in range(5)]
    for jid in failed:  # one at a time: the registry's order (newest first) is known
        env.submit('fail', {'i': jid}, '--job-id', jid, '--retry', '0')
        env.wait_job(jid, ('failed',))
    rc, out, err = env.meshctl('jobs', 'fail', '--registry', 'failed')
    lines = out.splitlines()
    check(rc == 0 and lines[0].split() == ['JOB', 'STATUS', 'ATTEMPT', 'ENDED', 'ERROR'], 'header: ' + out + err)
    rows = lines[1:-1]
    check([r.split()[0] for r in rows] == failed[::-1], 'newest first: ' + out)
    check(all(r.split()[1] == 'failed' and r.endswith(' test_error: asked to fail') for r in rows),
          'ERROR column: ' + out)
    check(lines[-1] == '5 failed jobs in fail, showing 1-5', 'footer: ' + lines[-1])
    # a page of 2 and where the next one starts
    rc, out, err = env.meshctl('jobs', 'fail', '--registry', 'failed', '--limit', '2', '--offset', '2')
    lines = out.splitlines()
    check(rc == 0 and [l.split()[0] for l in lines[1:-1]] == failed[::-1][2:4], 'page 2: ' + out)
    check(lines[-1] == '5 failed jobs in fail, showing 3-4; next page: --offset 4', 'footer: ' + lines[-1])
    # --json: the query registry result, paged by next_offset to the end
    ids, offset = [], 0
    while True:
        rc, out, err = env.meshctl('--json', 'jobs', 'fail', '--registry', 'failed', '--limit', '2',
                                   '--offset', str(offset))
        page = json.loads(out)
        check(rc == 0 and page['total'] == 5 and page['offset'] == offset, 'page: ' + out)
        for j in page['jobs']:
            check(j['queue'] == 'fail' and j['status'] == 'failed' and j['error_type'] == 'test_error' and
                  j['error_message'] == 'asked to fail' and j['attempt'] == 1 and
                  all(isinstance(j[k], int) for k in ('enqueued_at', 'started_at', 'ended_at')),
                  'summary: %s' % j)
        ids += [j['job_id'] for j in page['jobs']]
        if 'next_offset' not in page:
            break
        offset = page['next_offset']
    check(ids == failed[::-1], 'json pages: %s' % ids)
    # canceled: the reason in the ERROR column; an empty registry; the search prefix
    env.submit('big', {}, '--job-id', 'reg-cancel-1')
    rc, out, err = env.meshctl('cancel', 'reg-cancel-1')
    check(rc == 0, 'cancel: ' + err)
    rc, out, err = env.meshctl('jobs', 'big', '--registry', 'canceled')
    lines = out.splitlines()
    check(rc == 0 and len(lines) == 3 and lines[1].split()[0] == 'reg-cancel-1', 'canceled: ' + out)
    reason = env.job('reg-cancel-1').get('reason', '-')
    check(lines[1].endswith(' ' + reason), 'canceled ERROR column is the reason %r: %s' % (reason, out))
    rc, out, err = env.meshctl('jobs', 'big', '--registry', 'failed')
    check(rc == 0 and out == 'no failed jobs in big\n', 'empty: %r' % out)
    rc, out, err = env.meshctl('jobs', 'fail', '--registry', 'failed', '--search', 'reg-fail-0')
    check(rc == 0 and out.splitlines()[-1] == '5 failed jobs in fail matching reg-fail-0, showing 1-5',
          'search: ' + out)
    # refused by the hub: unknown registry or queue (4); usage (2)
    rc, out, err = env.meshctl('jobs', 'fail', '--registry', 'lost')
    check(rc == 4 and 'registry' in err and out == '', 'bad registry: %d %r' % (rc, err))
    rc, out, err = env.meshctl('jobs', 'nosuch', '--registry', 'failed')
    check(rc == 4 and 'nosuch' in err, 'unknown queue: %d %r' % (rc, err))
    rc, out, err = env.meshctl('jobs', 'fail', '--registry', 'failed', '--limit', '2.5')
    check(rc == 2 and '--limit' in err, 'limit: %d %r' % (rc, err))


# Usage errors of every subcommand, with no hub listening: each must exit 2 (usage), not 3
# (cannot connect), and name the problem. The last ones have valid arguments: they exit 3.
USAGE_CASES = [
    (['frobnicate'], 'unknown command'),
    (['submit'], 'missing QUEUE'),
    (['submit', 'q', '{bad'], 'not valid JSON'),
    (['submit', 'q', '{}', '--timeout', '-1'], '--timeout'),
    (['submit', 'q', '{}', '--retry-intervals', '1,x'], '--retry-intervals'),
    (['submit', 'q', '{}', '--meta', '[bad'], '--meta'),
    (['submit', 'q', '{}', '--payload-file', '/nonexistent/payload.bin'], 'cannot open'),
    (['submit', 'q', '{}', '--bogus'], 'unknown option'),
    (['info', 'x'], 'no arguments'),
    (['workers', 'x'], 'no arguments'),
    (['job'], 'one job id'),
    (['job', 'a', 'b'], 'one job id'),
    (['jobs'], 'QUEUE --registry'),
    (['jobs', 'q'], 'QUEUE --registry'),
    (['jobs', 'q', '--registry', 'failed', '--limit', '0'], '--limit'),
    (['jobs', 'q', '--registry', 'failed', '--offset', '-3'], '--offset'),
    (['jobs', 'q', '--registry', 'failed', 'extra'], 'unexpected argument'),
    (['children'], 'expected a job id'),
    (['children', 'a', '--limit', '1001'], '--limit'),
    (['children', 'a', '--offset', '1.5'], '--offset'),
    (['requeue'], 'expected one argument'),
    (['requeue', '--all'], 'expected one argument'),
    (['cancel', 'a', 'b'], 'expected one argument'),
    (['empty'], 'expected one argument'),
    (['pause', '--x'], 'expected one argument'),
    (['resume'], 'expected one argument'),
    (['tail', '--count', '0'], '--count'),
    (['tail', '--bogus'], 'unknown option'),
    (['ingest'], 'no recordings'),
    (['--connect-timeout', '0', 'info'], '--connect-timeout'),
]
CONNECT_CASES = [['info'], ['workers'], ['job', 'a'], ['jobs', 'q', '--registry', 'failed'],
                 ['children', 'a', '--limit', '5'], ['requeue', '--all', 'q'], ['cancel', 'a'],
                 ['tail', '--count', '1'], ['submit', 'q', '{}', '--retry', '1']]


def t_meshctl_usage(env):
    """meshctl checks every subcommand's arguments before connecting (no hub here)."""
    url = 'ws://127.0.0.1:%d/ws' % free_port()
    for args, word in USAGE_CASES:
        rc, out, err = env.run([BIN['meshctl'], '--url', url] + args)
        check(rc == 2 and out == '' and err.startswith('meshctl: ') and word in err and 'cannot connect' not in err,
              'meshctl %s: exit %d (want 2), stderr %r' % (' '.join(args), rc, err))
    for args in CONNECT_CASES:
        rc, out, err = env.run([BIN['meshctl'], '--url', url] + args)
        check(rc == 3 and 'cannot connect' in err, 'meshctl %s: exit %d (want 3), stderr %r' % (' '.join(args), rc, err))


# What probe.c's `options` command sends (ARGS, META there): every JSON type, escapes, UTF-8.
OPT_ARGS = {'s': 'tab\t quote" bs\\ nl\n ctl\u0001\u001f del\u007f \u00e9 \u20ac \U0001d11e',
            'n': -1.5, 'big': 1e300, 'small': 1e-7, 'int': 123456789012, 't': True, 'f': False,
            'z': None, 'a': [1, [2, {}], []], 'e': {}, 'k"ey': 'v'}
OPT_META = {'m': '\u00e9"\n', 'list': [0.5, 0]}
OPT_IDS = ['opt-blocking', 'opt-nowait', 'opt-async']


def t_enqueue_options(env):
    """Every wsm_enqueue_opts member through wsm_enqueue, _nowait and _async: the exact header
    on the wire (fake hub log; also recorded in protocol-log/ for the schema check), then what
    the real hub made of it; invalid UTF-8 from the caller is refused without reaching the hub."""
    env.start_hub(fake=True)
    rc, out, err = env.run([BIN['probe'], 'options', env.url, 'hello'])
    check(rc == 0 and out.startswith('ok '), 'probe options (fake hub): %d %s %s' % (rc, out, err))
    dep = out.split()[1]
    with open(os.path.join(env.dir, 'hub-messages.jsonl')) as f:
        hdrs = [json.loads(l) for l in f if l.strip()]
    enq = [h for h in hdrs if h['op'] == 'enqueue']
    check(len(enq) == 5, 'dep + 3 option jobs + 1 after the refusals reached the hub: %s' % enq)
    check(not any('\ufffd' in json.dumps(h, ensure_ascii=False) for h in hdrs),
          'no header with invalid UTF-8 was sent')
    by_id = {h.get('job_id'): h for h in enq}
    for i, jid in enumerate(OPT_IDS):
        h = dict(by_id.get(jid) or {})
        check(h.pop('_binary', None) is True, '%s: payload not UTF-8 JSON: binary frame' % jid)
        expect = {'op': 'enqueue', 'id': h.get('id'), 'queue': 'hello', 'job_id': jid,
                  'args': OPT_ARGS, 'meta': OPT_META, 'key': 'k-\u00e9 "q"', 'at_front': True,
                  'timeout': 12.5, 'ttl': 3600, 'result_ttl': 40, 'failure_ttl': 50.25,
                  'retry': {'max': 2, 'intervals': [1, 2.5]}, 'depends_on': [dep],
                  'allow_failure': True, 'weight': 7, 'len': 8,
                  'content_type': 'application/octet-stream',
                  'payload_meta': {'cols': [{'name': 't', 'type': 'f64'}]}}
        if i == 0:
            expect['enqueue_at'] = 4102444800000
        else:
            expect['enqueue_in'] = 7200.5
        check(isinstance(h.get('id'), str) and h['id'].isdigit(), '%s: request id %r' % (jid, h.get('id')))
        check(h == expect, '%s: header sent\n  %s\nexpected\n  %s' % (jid, h, expect))
    logdir = os.path.join(BUILD, 'protocol-log')
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(logdir, 'c-adapter-enqueue.jsonl'), 'w') as f:
        for h in hdrs:
            h = {k: v for k, v in h.items() if k != '_binary'}
            f.write(json.dumps({'dir': 'send', 'header': h}) + '\n')
    if not os.path.exists(BIN['wshub']):
        return
    env.start_hub()
    rc, out, err = env.run([BIN['probe'], 'options', env.url, 'hello'])
    check(rc == 0 and out.startswith('ok '), 'probe options (wshub): %d %s %s' % (rc, out, err))
    dep = out.split()[1]
    for jid in OPT_IDS:
        j = env.job(jid)
        got = {k: j.get(k) for k in ('queue', 'status', 'args', 'meta', 'key', 'depends_on',
                                     'allow_failure', 'weight')}
        check(got == {'queue': 'hello', 'status': 'deferred', 'args': OPT_ARGS, 'meta': OPT_META,
                      'key': 'k-\u00e9 "q"', 'depends_on': [dep], 'allow_failure': True,
                      'weight': 7}, '%s as the hub has it: %s' % (jid, j))


CASES = {k[2:]: v for k, v in globals().items() if k.startswith('t_')}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print('usage: adapter_test.py CASE\ncases: ' + ' '.join(sorted(CASES)))
        return 2
    name = sys.argv[1]
    for k, path in BIN.items():
        if k != 'wshub' and not os.path.exists(path):
            print('missing', path)
            return 1
    env = Env(name)
    ok = False
    try:
        rc = CASES[name](env)
        # sanitizer reports from any process we started fail the case (UBSan keeps running)
        for p in env.procs:
            e = env.text(p.name + '.err')
            check('runtime error:' not in e and 'Sanitizer' not in e,
                  'sanitizer report in %s stderr:\n%s' % (p.name, e[-3000:]))
        if rc == 77:
            ok = True
            return 77
        ok = True
        print('ok', name, '(real hub)' if env.real_hub else '(fake hub)')
        return 0
    except Failure as e:
        print('FAIL', name + ':', e)
        env.print_stderr_tails()
        return 1
    finally:
        env.cleanup(ok)


if __name__ == '__main__':
    sys.exit(main())
