// Hub security integration: TLS (listen.tls, lws + OpenSSL). A throwaway PKI is made with the
// openssl command line in the test's temp dir: a CA, a server certificate for localhost and
// 127.0.0.1, one for another name, a client certificate, and a second (unknown) CA. Asserts:
// the C adapter (examples/hello-service) and meshctl work over wss:// with --ca-file; the JS
// adapter in node works over wss with the CA from NODE_EXTRA_CA_CERTS; the dashboard works
// over https in Debian's chromium (trusting exactly the server's public key with
// --ignore-certificate-errors-spki-list, no blanket --ignore-certificate-errors); plain ws://
// and http:// to the wss-only listener get no answer; no CA, an unknown CA and a wrong hostname
// are refused by meshctl and the C adapter with clear errors; listen.tls.ca requires a client
// certificate; a key that does not match its certificate is a config error (exit 1); the whole
// pipeline (mf4-reader -> aeb -> db-writer, started by the supervisor) runs over wss with one
// least-privilege token per service.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { startHub, runHubSync, baseConfig, Peer, makePki, run, tmpDir, exe, sleep, SRCDIR, cleanEnv } from './secutil.mjs';

const TOK = { admin: 'tls-admin-token-1a2b3c', viewer: 'tls-viewer-token-4d5e6f', worker: 'tls-worker-token-7a8b9c' };
let dir;
let pki;
let other;
let hub; // wss, server certificate for localhost/127.0.0.1
let wrongHub; // wss, certificate for wrong.example only
const started = [];

before(async () => {
  dir = tmpDir('wsm-tls-');
  pki = makePki(path.join(dir, 'pki'), { servers: { server: ['DNS:localhost', 'IP:127.0.0.1'], wrong: ['DNS:wrong.example'] }, client: true });
  other = makePki(path.join(dir, 'other'), { caName: 'other-ca', servers: {}, client: true });
  const tokens = [
    { name: 'ops', token: TOK.admin, role: 'admin' },
    { name: 'dashboard', token: TOK.viewer, role: 'viewer' },
    { name: 'svc', token: TOK.worker, role: 'worker' },
  ];
  hub = await startHub(baseConfig({
    listen: { address: '127.0.0.1', port: 0, tls: { cert: pki.server.cert, key: pki.server.key } },
    queues: { hello: {}, work: {} },
    http: { web_root: path.join(SRCDIR, 'web') },
    tokens,
  }));
  started.push(hub);
  wrongHub = await startHub(baseConfig({
    listen: { address: '127.0.0.1', port: 0, tls: { cert: pki.wrong.cert, key: pki.wrong.key } },
    tokens,
  }));
  started.push(wrongHub);
});
after(async () => {
  for (const h of started) {
    const r = await h.stop();
    assert.equal(r.code, 0, h.stderr());
  }
  fs.rmSync(dir, { recursive: true, force: true }); // the throwaway keys
});

function get(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, opts, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

test('wss with the CA works (WebSocket and https); plain ws:// and http:// to the wss listener are refused', async () => {
  assert.equal(hub.scheme, 'wss');
  const ca = fs.readFileSync(pki.ca);
  const p = await Peer.open(hub.url, { token: TOK.admin, wsOptions: { ca } });
  assert.equal(p.welcome.role, 'admin');
  assert.equal((await p.request({ op: 'ping' })).header.op, 'pong');
  p.close();
  const h = await get(`${hub.httpUrl}/healthz`, { ca });
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.body).status, 'ok');
  // without the CA node refuses the hub's certificate
  await assert.rejects(Peer.open(hub.url, { token: TOK.admin }), /self-signed certificate in certificate chain|unable to (get|verify)/);
  // plain text to the TLS port: no WebSocket, no HTTP answer
  await assert.rejects(Peer.open(`ws://127.0.0.1:${hub.port}/ws`, { token: TOK.admin }), /socket hang up|ECONNRESET|Parse Error|HTTP 400/);
  await assert.rejects(get(`http://127.0.0.1:${hub.port}/healthz`), /socket hang up|ECONNRESET|Parse Error/);
  const m = await run(exe.meshctl, ['--url', `ws://127.0.0.1:${hub.port}/ws`, '--token', TOK.admin, '--connect-timeout', '3', 'info']);
  assert.equal(m.code, 3, m.stderr);
  assert.match(m.stderr, /meshctl: cannot connect to ws:\/\/127\.0\.0\.1:\d+/);
  // the hub is still serving
  const q = await Peer.open(hub.url, { token: TOK.viewer, wsOptions: { ca } });
  q.close();
});

test('C adapter (hello-service) and meshctl over wss with --ca-file; the JS adapter with NODE_EXTRA_CA_CERTS', async () => {
  const svc = (await import('node:child_process')).spawn(exe.hello, ['--url', hub.url, '--ca-file', pki.ca, '--token', TOK.worker, '--name', 'hello-tls'], { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  let svcErr = '';
  svc.stderr.on('data', (d) => (svcErr += d));
  try {
    const m = await run(exe.meshctl, ['--url', hub.url, '--ca-file', pki.ca, '--token', TOK.admin, '--json', 'submit', 'hello', '{"name":"tls"}', '--wait', '--wait-timeout', '15']);
    assert.equal(m.code, 0, `${m.stdout}\n${m.stderr}\n${svcErr}`);
    assert.match(m.stdout, /hello, tls/);
    const w = await run(exe.meshctl, ['--url', hub.url, '--ca-file', pki.ca, '--token', TOK.admin, '--json', 'workers']);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /hello-tls/);
    // the JS adapter in a separate node process: the CA comes from NODE_EXTRA_CA_CERTS
    const script = `
      import { Client } from ${JSON.stringify(path.join(SRCDIR, 'adapters/js/wsmesh.mjs'))};
      const c = new Client(process.argv[1], { token: process.env.T, name: 'js-tls', reconnect: false });
      const w = await c.connect();
      const r = await c.call('hello', { name: 'js' }, { wait_timeout: 15 });
      console.log(JSON.stringify({ role: w.role, result: r }));
      c.close();`;
    const js = await run(process.execPath, ['--input-type=module', '-e', script, hub.url], { env: { NODE_EXTRA_CA_CERTS: pki.ca, T: TOK.worker } });
    assert.equal(js.code, 0, js.stderr);
    assert.match(js.stdout, /"role":"worker"/);
    assert.match(js.stdout, /hello, js/);
    // ... and without the CA it cannot connect
    const nojs = await run(process.execPath, ['--input-type=module', '-e', script, hub.url], { env: { NODE_EXTRA_CA_CERTS: '', T: TOK.worker }, timeoutMs: 15000 });
    assert.notEqual(nojs.code, 0);
    assert.match(nojs.stderr, /certificate|self-signed/i);
  } finally {
    svc.kill('SIGTERM');
    await new Promise((r) => svc.on('exit', r));
  }
});

test('refused with clear errors: no CA, an unknown CA, a wrong hostname (meshctl and the C adapter)', async () => {
  const unverified = /TLS certificate verification failed: (self-signed certificate in certificate chain|unable to get local issuer certificate)/;
  const localhostWrong = `wss://localhost:${wrongHub.port}/ws`;
  const cases = [
    [hub.url, [], unverified, 3],
    [hub.url, ['--ca-file', other.ca], unverified, 3],
    [wrongHub.url, ['--ca-file', pki.ca], /TLS certificate verification failed: IP address mismatch/, 3],
    [localhostWrong, ['--ca-file', pki.ca], /TLS certificate verification failed: [Hh]ostname mismatch/, 3],
    // an unreadable CA file is a usage error (exit 2)
    [hub.url, ['--ca-file', path.join(dir, 'missing.pem')], /missing\.pem: cannot load CA certificates/, 2],
  ];
  for (const [url, extra, re, code] of cases) {
    const m = await run(exe.meshctl, ['--url', url, ...extra, '--token', TOK.admin, '--connect-timeout', '5', 'info']);
    assert.equal(m.code, code, `${extra}: ${m.stderr}`);
    assert.match(m.stderr, re);
    assert.doesNotMatch(m.stdout, /QUEUE/);
    // the C service library logs the same reason (a service keeps retrying: it is stopped
    // after 2.5 s) and never gets a session
    const s = await run(exe.hello, ['--url', url, ...extra, '--token', TOK.worker, '--name', 'must-not-connect'], { timeoutMs: 2500 });
    assert.ok(s.signal === 'SIGKILL' || s.code !== 0, `hello-service ${extra}: ${s.code} ${s.stderr}`);
    assert.match(s.stderr, re);
  }
  for (const h of [hub, wrongHub]) assert.doesNotMatch(h.stderr(), /hello from 'must-not-connect'/);
});

test('listen.tls.ca: only clients with a certificate from that CA get in', async () => {
  const h = await startHub(baseConfig({
    listen: { address: '127.0.0.1', port: 0, tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca } },
  }));
  started.push(h);
  const ca = fs.readFileSync(pki.ca);
  const refused = /certificate|alert|socket hang up|ECONNRESET|closed/i;
  // without a client certificate (TLS 1.3: the server's alert arrives after the handshake)
  await assert.rejects(Peer.open(h.url, { wsOptions: { ca } }), refused);
  // a client certificate from another CA
  await assert.rejects(Peer.open(h.url, { wsOptions: { ca, cert: fs.readFileSync(other.client.cert), key: fs.readFileSync(other.client.key) } }), refused);
  const p = await Peer.open(h.url, { wsOptions: { ca, cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key) } });
  assert.equal((await p.request({ op: 'ping' })).header.op, 'pong');
  p.close();
  // meshctl has no client certificate option: refused too
  const m = await run(exe.meshctl, ['--url', h.url, '--ca-file', pki.ca, '--connect-timeout', '5', 'info']);
  assert.notEqual(m.code, 0, m.stdout);
  assert.match(h.stderr(), /client certificate refused: not signed by listen\.tls\.ca/);
});

test('a key that does not match the certificate, or a file that is not PEM: exit 1 naming the file', () => {
  let r = runHubSync(baseConfig({ listen: { address: '127.0.0.1', port: 0, tls: { cert: pki.server.cert, key: pki.wrong.key } } }));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /listen\.tls\.key: .*wrong\.key: not a usable PEM private key \(.*key values mismatch\)/);
  const junk = path.join(dir, 'junk.pem');
  fs.writeFileSync(junk, 'not a certificate\n');
  r = runHubSync(baseConfig({ listen: { address: '127.0.0.1', port: 0, tls: { cert: junk, key: pki.server.key } } }));
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /listen\.tls\.cert: .*junk\.pem: not a usable PEM certificate/);
  assert.doesNotMatch(r.stderr, /listening/);
});

test('dashboard over https in chromium: viewer is read-only, admin gets the admin view', { timeout: 60000 }, async (t) => {
  assert.ok(fs.existsSync('/usr/bin/chromium'), '/usr/bin/chromium not installed (scripts/deps.sh installs it)');
  const { chromium } = await import('playwright-core');
  // trust exactly this server key (SPKI SHA-256), nothing else
  const spki = execFileSync('sh', ['-c', `openssl x509 -pubkey -noout -in '${pki.server.cert}' | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`]).toString().trim();
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1200, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--ignore-certificate-errors-spki-list=${spki}`],
  });
  try {
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    for (const [tok, want, admin] of [[TOK.viewer, /read-only \(viewer\)/, 'false'], [TOK.admin, /admin/, 'true']]) {
      await page.goto(`${hub.httpUrl}/#token=${tok}`);
      await page.reload(); // a fresh session with the token now in sessionStorage
      await page.waitForFunction(() => document.getElementById('role')?.dataset.admin !== undefined, null, { timeout: 20000 });
      const role = page.locator('#role');
      assert.match(await role.textContent(), want);
      assert.equal(await role.getAttribute('data-admin'), admin);
      assert.equal(new URL(page.url()).protocol, 'https:');
    }
    assert.deepEqual(errors, []);
    // the browser really went through TLS to this hub: the hub saw dashboard hellos
    await sleep(200);
    assert.match(hub.stderr(), /hello from 'dashboard' \(dashboard\), role viewer/);
    assert.match(hub.stderr(), /hello from 'dashboard' \(dashboard\), role admin/);
  } finally {
    await ctx.close();
  }
});

test('the whole pipeline over wss: mf4-reader -> aeb -> db-writer started by the supervisor, each with its own least-privilege token', { timeout: 120000 }, async (t) => {
  for (const k of ['reader', 'aeb', 'db', 'scenario']) assert.ok(fs.existsSync(exe[k]), `${exe[k]} not built`);
  const work = tmpDir('wsm-tls-pipe-');
  const out = execFileSync(exe.scenario, ['--out', work, 'CCRs-50'], { encoding: 'utf8', timeout: 60000, env: cleanEnv() });
  const m = /([^\s]+\.mf4)\s+(\d+) frames/.exec(out);
  assert.ok(m, out);
  const rec = { name: path.basename(m[1], '.mf4'), path: m[1], frames: Number(m[2]) };
  const channels = JSON.parse(fs.readFileSync(path.join(work, 'channels.json'), 'utf8'));
  const S = { reader: 'pipe-reader-token-aa11', aeb: 'pipe-aeb-token-bb22', db: 'pipe-db-token-cc33', admin: 'pipe-admin-token-dd44' };
  const svc = (name, exec, tokVar, args = []) => ({
    name, exec, restart: 'never', args: ['--ca-file', '${WSM_TEST_CA}', '--log-level', 'warn', ...args], env: { WSMESH_TOKEN: `\${${tokVar}}` },
  });
  const h = await startHub(baseConfig({
    listen: { address: '127.0.0.1', port: 0, tls: { cert: pki.server.cert, key: pki.server.key } },
    queues: {
      mf4: { defaults: { timeout: 120 } },
      aeb: { max_length: 64, defaults: { timeout: 60, retry: { max: 2, intervals: [0] } } },
      db: { max_length: 256, defaults: { timeout: 60, retry: { max: 2, intervals: [0] } } },
      'db.query': { defaults: { timeout: 30 } },
    },
    routes: { 'mf4:frames': 'aeb', 'mf4:meta': 'db', 'mf4:result': 'db', 'aeb:frames': 'db', 'aeb:events': 'db' },
    tokens: [
      { name: 'ops', token_env: 'WSM_TOK_ADMIN', role: 'admin' },
      { name: 'reader', token_env: 'WSM_TOK_READER', role: 'mf4-reader', acl: { consume: ['mf4'], produce: ['aeb', 'db'] } },
      { name: 'aeb', token_env: 'WSM_TOK_AEB', role: 'aeb', acl: { consume: ['aeb'], produce: ['db'] } },
      { name: 'db-writer', token_env: 'WSM_TOK_DB', role: 'db-writer', acl: { consume: ['db', 'db.query'] } },
    ],
    services: [
      svc('db-writer', 'db-writer', 'WSM_TOK_DB', ['--db', `sqlite:${path.join(work, 'results.db')}`]),
      svc('aeb', 'aeb', 'WSM_TOK_AEB'),
      svc('mf4-reader', 'mf4-reader', 'WSM_TOK_READER'),
    ],
  }), {
    env: { WSM_TEST_CA: pki.ca, WSM_TOK_ADMIN: S.admin, WSM_TOK_READER: S.reader, WSM_TOK_AEB: S.aeb, WSM_TOK_DB: S.db, WSMESH_BIN_DIR: '' },
  });
  started.push(h);
  const ca = fs.readFileSync(pki.ca);
  const admin = await Peer.open(h.url, { token: S.admin, wsOptions: { ca } });
  try {
    const { job_id } = await admin.ok({ op: 'enqueue', queue: 'mf4', args: { path: rec.path, channels, recording_id: rec.name } });
    const w = await admin.ok({ op: 'wait', job_id, tree: true, timeout: 90 }, { timeoutMs: 95000 });
    assert.equal(w.job.tree_status, 'finished', `${JSON.stringify(w.job)}\n${h.stderr().slice(-3000)}`);
    // the results service answers over wss too: every frame stored
    const q = await admin.ok({ op: 'enqueue', queue: 'db.query', args: { q: 'recording', recording_id: rec.name } });
    const r = await admin.ok({ op: 'wait', job_id: q.job_id, timeout: 30 }, { timeoutMs: 35000 });
    assert.equal(r.job.status, 'finished', JSON.stringify(r.job));
    assert.match(JSON.stringify(r.job.result), new RegExp(`"${rec.name}"`));
    const frames = new Set();
    for (let first = 0; ; ) { // the answer is paged
      const rows = await admin.ok({ op: 'enqueue', queue: 'db.query', args: { q: 'rows', recording_id: rec.name, first_frame: first, max_rows: 100000 } });
      const rr = await admin.ok({ op: 'wait', job_id: rows.job_id, timeout: 30 }, { timeoutMs: 35000 });
      const f = rr.job.result.frame ?? [];
      if (!f.length) break;
      for (const x of f) frames.add(x);
      first = f[f.length - 1] + 1;
    }
    assert.equal(frames.size, rec.frames);
    // each service came in over TLS with its own role, and no token is in the log
    for (const role of ['mf4-reader', 'aeb', 'db-writer']) assert.match(h.stderr(), new RegExp(`role ${role}, token`));
    for (const s of Object.values(S)) assert.ok(!h.stderr().includes(s));
    assert.doesNotMatch(h.stderr(), /FORBIDDEN|not allowed/);
  } finally {
    admin.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
