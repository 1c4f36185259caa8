// Helpers of the wshub integration tests: start the real wshub on a free port (--port 0, read
// the printed URL), raw protocol v1 clients over npm `ws`, and a log of every header sent and
// received (JSONL under $WSM_BUILDDIR/protocol-log/, validated against schemas/protocol/ by the
// JS schema test). The common pieces are in tests/lib/meshtest.mjs; what is set here is this
// suite's: the protocol log, config defaults, the config at DIR/config/mesh.json, and a client
// that logs every header and sends text WebSocket messages unless the payload is a Buffer.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as mesh from '../../lib/meshtest.mjs';

export { SRCDIR, BUILDDIR, sleep, encode, decode, cleanEnv } from '../../lib/meshtest.mjs';
export const WSHUB = mesh.exe.hub;

const LOGDIR = path.join(mesh.BUILDDIR, 'protocol-log');
fs.mkdirSync(LOGDIR, { recursive: true });
const logFile = path.join(LOGDIR, `hub-${path.basename(process.argv[1] || 'test', '.mjs')}-${process.pid}.jsonl`);
const logFd = fs.openSync(logFile, 'w');

/** Appends one header to the protocol log. dir: "c2h" | "h2c". */
export function logHeader(dir, header) {
  fs.writeSync(logFd, JSON.stringify({ dir, header }) + '\n');
}

export const tmpDir = (prefix = 'wshub-test-') => mesh.tmpDir(prefix);

/** A config object for tests: one or more queues, memory store unless given. */
export const testConfig = (over = {}) => mesh.hubConfig({}, over);

/**
 * Starts wshub with the config object (written to DIR/config/mesh.json) or a config file path.
 * Resolves {proc, url, port, httpUrl, stderr(), stop(signal, ms), kill9(), dir, ...} once the
 * hub printed "listening on ws://127.0.0.1:PORT/ws". Options: see startHub in meshtest.mjs.
 */
export const startHub = (config, opts = {}) => mesh.startHub(config, { configName: 'config/mesh.json', tmpPrefix: 'wshub-test-', ...opts });

/** A raw protocol client that records every header in the protocol log. */
export class Client extends mesh.Peer {
  static defaults = { ...mesh.Peer.defaults, namePrefix: 'c', log: logHeader, binary: (payload) => Buffer.isBuffer(payload), keepUndecodable: true };

  static connect(url, opts) {
    return this.open(url, opts);
  }

  sendRaw(bytes, { binary = true } = {}) {
    super.sendRaw(bytes, binary);
  }
}

export async function httpGet(url) {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
}

/**
 * Every page of a paged query (children, registry), following next_offset from 0: query is the
 * request without op and offset. Checks each reply is ok, its header fits maxHeader bytes, and
 * the page's offset, size and next_offset agree.
 */
export async function queryPages(c, query, maxHeader) {
  const pages = [];
  let offset = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const m = await c.request({ op: 'query', ...query, offset });
    assert.equal(m.header.op, 'ok', JSON.stringify(m.header));
    const bytes = Buffer.byteLength(JSON.stringify(m.header)) + 1;
    assert.ok(bytes <= maxHeader, `reply header of ${bytes} bytes above max_header_bytes ${maxHeader}`);
    const page = m.header.result;
    assert.equal(page.offset, offset);
    assert.ok(page.jobs.length >= 1 || page.total === 0);
    pages.push(page);
    if (page.next_offset === undefined) return pages;
    assert.equal(page.next_offset, offset + page.jobs.length);
    offset = page.next_offset;
  }
  throw new Error('paging did not end');
}
