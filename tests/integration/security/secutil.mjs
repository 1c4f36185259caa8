// Helpers of the hub security integration tests (tests/integration/security): start the real
// wshub (ws:// or wss://) on a free port and stop exactly that process, a minimal protocol v1
// client over npm `ws` (with TLS and Origin options), and a throwaway PKI made with the
// openssl command line in the test's temp dir (CA, server certificates, client certificate).
// Nothing here writes to the protocol log of the hub tests: some traffic is deliberately bad.
// The common pieces are in tests/lib/meshtest.mjs; what is set here is this suite's: config
// defaults, temp dirs removed with their hub, and the PKI.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as mesh from '../../lib/meshtest.mjs';

// Peer: the shared client as it is (5 s waits, binary WebSocket messages when there is a payload).
export { SRCDIR, BUILDDIR, exe, sleep, encode, run, cleanEnv, Peer } from '../../lib/meshtest.mjs';

const TMP_PREFIX = 'wsm-secint-';

export const tmpDir = (prefix = TMP_PREFIX) => mesh.tmpDir(prefix);

/** A config object for tests: memory store, loopback, one queue unless given. */
export const baseConfig = (over = {}) => mesh.hubConfig({ queues: { work: { max_length: 1000 } }, logging: { level: 'info' }, limits: { drain_timeout: 1 } }, over);

/** Runs wshub to completion (start refused, --check); returns {status, signal, stderr, stdout}. */
export const runHubSync = (config, opts = {}) => mesh.runHubSync(config, { tmpPrefix: TMP_PREFIX, ...opts });

/**
 * Starts wshub; resolves {proc, port, url, httpUrl, scheme, stderr(), stop(), ...} once it
 * printed "listening on ws(s)://127.0.0.1:PORT/ws". A temp dir made here is removed once the
 * hub has exited. Options: see startHub in meshtest.mjs.
 */
export const startHub = (config, opts = {}) => mesh.startHub(config, { tmpPrefix: TMP_PREFIX, removeOwnDir: true, ...opts });

/** The query rows of every queue, by name (for "nothing changed" checks). */
export async function queueRows(peer) {
  const r = await peer.ok({ op: 'query', what: 'queues' });
  return Object.fromEntries(r.result.map((q) => [q.name, q]));
}

function ossl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A throwaway PKI in dir: a CA, a server certificate for `names` (DNS and IP subjectAltNames,
 * default localhost + 127.0.0.1), optionally more server certificates and a client
 * certificate. Returns file paths.
 */
export function makePki(dir, { servers = { server: ['DNS:localhost', 'IP:127.0.0.1'] }, caName = 'ca', client = false } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const out = {};
  const ca = path.join(dir, `${caName}.pem`);
  const caKey = path.join(dir, `${caName}.key`);
  if (!fs.existsSync(ca)) {
    ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', `/CN=wsmesh test ${caName}`, '-keyout', caKey, '-out', ca,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  }
  out.ca = ca;
  out.caKey = caKey;
  const issue = (name, sans, usage) => {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const crt = path.join(dir, `${name}.pem`);
    const ext = path.join(dir, `${name}.ext`);
    fs.writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n${sans.length ? `subjectAltName=${sans.join(',')}\n` : ''}`);
    ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr], dir);
    ossl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', crt], dir);
    return { cert: crt, key };
  };
  for (const [name, sans] of Object.entries(servers)) out[name] = issue(name, sans, 'serverAuth');
  if (client) out.client = issue('client', [], 'clientAuth');
  return out;
}
