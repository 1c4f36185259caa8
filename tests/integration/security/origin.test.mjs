// Hub security integration: the browser Origin allow-list (http.allowed_origins) on the
// WebSocket upgrade. Default: the hub's own origin(s) on the bound port (http://127.0.0.1:PORT,
// http://localhost:PORT); a request without Origin (not a browser) is always allowed; any other
// Origin is answered HTTP 403 before the upgrade, logged and counted. A configured list
// replaces the default; "*" allows every origin.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHub, baseConfig, Peer } from './secutil.mjs';

const hubs = [];
after(async () => {
  for (const h of hubs) {
    const r = await h.stop();
    assert.equal(r.code, 0, h.stderr());
  }
});

async function tryOrigin(hub, origin) {
  try {
    const p = await Peer.open(hub.url, { hello: false, wsOptions: origin === undefined ? {} : { origin } });
    const m = await p.request({ op: 'ping' });
    p.close();
    return m.header.op === 'pong' ? 'open' : JSON.stringify(m.header);
  } catch (e) {
    return String(e.message);
  }
}

async function metric(hub, name) {
  const t = await (await fetch(`${hub.httpUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(t);
  return m ? Number(m[1]) : NaN;
}

test('default: same origin and no Origin allowed; any other Origin refused with 403', async () => {
  const hub = await startHub(baseConfig());
  hubs.push(hub);
  const own = `http://127.0.0.1:${hub.port}`;
  assert.equal(await tryOrigin(hub, undefined), 'open');
  assert.equal(await tryOrigin(hub, own), 'open');
  assert.equal(await tryOrigin(hub, `HTTP://LOCALHOST:${hub.port}/`), 'open');
  const rejected0 = await metric(hub, 'wsmesh_connections_rejected_total');
  for (const bad of ['http://evil.example', `http://evil.example:${hub.port}`, `http://127.0.0.1:${hub.port + 1}`,
    `https://127.0.0.1:${hub.port}`, 'null', `http://127.0.0.1:${hub.port}.evil.example`, 'file://']) {
    assert.equal(await tryOrigin(hub, bad), 'HTTP 403', bad);
  }
  assert.equal(await metric(hub, 'wsmesh_connections_rejected_total'), rejected0 + 7);
  assert.match(hub.stderr(), /WebSocket upgrade from 127\.0\.0\.1 refused \(403\): Origin 'http:\/\/evil\.example' is not allowed/);
  // a refused browser origin changed nothing for the others
  const p = await Peer.open(hub.url);
  assert.equal((await p.request({ op: 'ping' })).header.op, 'pong');
  p.close();
});

test('http.allowed_origins replaces the default; "*" allows every origin', async () => {
  const hub = await startHub(baseConfig({ http: { allowed_origins: ['https://dash.example.com', 'http://10.0.0.5:8080'] } }));
  hubs.push(hub);
  assert.equal(await tryOrigin(hub, 'https://dash.example.com'), 'open');
  assert.equal(await tryOrigin(hub, 'https://dash.example.com:443'), 'open');
  assert.equal(await tryOrigin(hub, 'http://10.0.0.5:8080'), 'open');
  assert.equal(await tryOrigin(hub, undefined), 'open');
  assert.equal(await tryOrigin(hub, 'http://dash.example.com'), 'HTTP 403');
  assert.equal(await tryOrigin(hub, `http://127.0.0.1:${hub.port}`), 'HTTP 403');
  const any = await startHub(baseConfig({ http: { allowed_origins: ['*'] } }));
  hubs.push(any);
  assert.equal(await tryOrigin(any, 'http://evil.example'), 'open');
});
