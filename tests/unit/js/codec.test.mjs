// Unit tests of the JS adapter's pure parts (no hub): protocol framing (§2) and the columnar
// encoding (§8) against hand-computed bytes, every error path, and the client's local checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeMessage, decodeMessages, concatBytes, encodeColumns, decodeColumns, columnsToJson, columnsByteLength,
  checkColumnsMeta, Client, WsmError,
} from '../../../adapters/js/wsmesh.mjs';

const te = new TextEncoder();

test('a message is one header line plus len payload bytes; len counts bytes', () => {
  const m = encodeMessage({ op: 'publish', topic: 't', len: 99 }, 'hé');
  const text = new TextDecoder().decode(m);
  assert.equal(text, '{"op":"publish","topic":"t","len":3}\nhé');
  assert.deepEqual([...encodeMessage({ op: 'ping', id: 'a', len: 5 })], [...te.encode('{"op":"ping","id":"a"}\n')]);
});

test('several messages per WebSocket message decode in order with their payloads', () => {
  const bin = Uint8Array.from([0, 0xff, 0x0a, 0x7b]);
  const all = concatBytes([encodeMessage({ op: 'a' }), encodeMessage({ op: 'b' }, bin), encodeMessage({ op: 'c' }, '{"x":1}')]);
  const { messages, error } = decodeMessages(all);
  assert.equal(error, null);
  assert.deepEqual(messages.map((m) => m.header.op), ['a', 'b', 'c']);
  assert.deepEqual([...messages[1].payload], [...bin]);
  assert.equal(new TextDecoder().decode(messages[2].payload), '{"x":1}');
  assert.equal(decodeMessages(new ArrayBuffer(0)).messages.length, 0);
});

test('framing errors keep the messages decoded before them and name the offset', () => {
  const ok = encodeMessage({ op: 'a' });
  const cases = [
    [concatBytes([ok, te.encode('{"op":"b"}')]), 'BAD_FRAME', /no newline after the header at byte 11/],
    [concatBytes([ok, te.encode('{"op":\n')]), 'BAD_JSON', /byte 11 is not JSON/],
    [concatBytes([ok, te.encode('[1,2]\n')]), 'BAD_JSON', /not a JSON object/],
    [concatBytes([ok, te.encode('{"op":"b","len":-1}\n')]), 'BAD_FRAME', /non-negative integer/],
    [concatBytes([ok, te.encode('{"op":"b","len":1.5}\n')]), 'BAD_FRAME', /non-negative integer/],
    [concatBytes([ok, te.encode('{"op":"b","len":10}\nabc')]), 'BAD_FRAME', /len 10 runs past the end of the message \(3 bytes left\)/],
    [concatBytes([ok, Uint8Array.from([0xc3, 0x28, 0x0a])]), 'BAD_JSON', /not JSON/],
  ];
  for (const [bytes, code, re] of cases) {
    const { messages, error } = decodeMessages(bytes);
    assert.deepEqual(messages.map((m) => m.header.op), ['a']);
    assert.ok(error instanceof WsmError);
    assert.equal(error.code, code);
    assert.match(error.message, re);
  }
});

test('columnar layout: validity bitmap and values, each padded to 8 bytes, little-endian', () => {
  const meta = { rows: 3, columns: [{ name: 'a', type: 'i16', nullable: true }, { name: 'f', type: 'f32' }, { name: 'b', type: 'bool' }] };
  const bytes = encodeColumns(meta, { a: [1, null, -2], f: [1, 0.5, -2], b: [true, false, true] });
  assert.equal(columnsByteLength(meta), 8 + 8 + 16 + 8);
  assert.deepEqual([...bytes], [
    0b101, 0, 0, 0, 0, 0, 0, 0, // a: validity bitmap, rows 0 and 2 valid
    1, 0, 0, 0, 0xfe, 0xff, 0, 0, // a: 1, (null), -2 as i16 LE, padded
    0, 0, 0x80, 0x3f, 0, 0, 0, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0, // f: 1.0, 0.5, -2.0 as f32 LE, padded
    1, 0, 1, 0, 0, 0, 0, 0, // b
  ]);
  assert.deepEqual(columnsToJson(meta, bytes), { a: [1, null, -2], f: [1, 0.5, -2], b: [true, false, true] });
});

test('every column type round-trips; enum columns take names and give names back', () => {
  const meta = { rows: 9, columns: [
    { name: 't', type: 'f64' }, { name: 'x', type: 'f32', nullable: true }, { name: 'n', type: 'i64' },
    { name: 'i', type: 'i32' }, { name: 's', type: 'i16' }, { name: 'u', type: 'u8' },
    { name: 'st', type: 'u8', enum: ['NONE', 'FCW', 'PB1', 'PB2', 'FB'] }, { name: 'c', type: 'bool', nullable: true }] };
  const data = {
    t: [0, 0.1, -1e300, 1e-300, 3, 4, 5, 6, 7], x: [null, 1, 2, null, 4, 5, 6, 7, null],
    n: [0, -1, 2 ** 53 - 1, -(2 ** 53) + 1, 4, 5, 6, 7, 8], i: [-(2 ** 31), 2 ** 31 - 1, 0, 1, 2, 3, 4, 5, 6],
    s: [-32768, 32767, 0, 1, 2, 3, 4, 5, 6], u: [0, 255, 1, 2, 3, 4, 5, 6, 7],
    st: ['NONE', 'FCW', 'PB1', 'PB2', 'FB', 0, 1, 2, 3], c: [true, null, false, true, true, true, true, true, null] };
  const bytes = encodeColumns(meta, data);
  assert.equal(bytes.length, columnsByteLength(meta));
  const back = columnsToJson(meta, bytes);
  assert.deepEqual(back, { ...data, st: ['NONE', 'FCW', 'PB1', 'PB2', 'FB', 'NONE', 'FCW', 'PB1', 'PB2'] });
  assert.deepEqual([...encodeColumns(meta, back)], [...bytes]);
  const dec = decodeColumns(meta, bytes);
  assert.ok(dec.columns.n.values instanceof BigInt64Array);
  assert.deepEqual([...dec.columns.x.valid], [0, 1, 1, 0, 1, 1, 1, 1, 0]);
  assert.deepEqual(columnsToJson({ rows: 0, columns: [{ name: 'e', type: 'f64' }] }, new Uint8Array(0)), { e: [] });
});

test('bad column descriptors, data and payloads are refused with the column named', () => {
  const bad = (fn, re) => assert.throws(fn, (e) => e instanceof WsmError && e.code === 'BAD_FIELD' && re.test(e.message));
  bad(() => checkColumnsMeta(null), /expected an object/);
  bad(() => checkColumnsMeta({ rows: -1, columns: [] }), /rows: expected an integer >= 0/);
  bad(() => checkColumnsMeta({ rows: 1, columns: [{ name: 'a', type: 'f16' }] }), /columns\[0\]\.type: "f16"/);
  bad(() => checkColumnsMeta({ rows: 1, columns: [{ name: 'a', type: 'u8' }, { name: 'a', type: 'u8' }] }), /duplicate column "a"/);
  bad(() => checkColumnsMeta({ rows: 1, columns: [{ name: 'a', type: 'f64', enum: ['x'] }] }), /enum: expected an array of strings on an integer column/);
  const meta = { rows: 2, columns: [{ name: 'v', type: 'u8', enum: ['A', 'B'] }] };
  bad(() => encodeColumns(meta, { v: ['A'] }), /column v: expected 2 values, got 1/);
  bad(() => encodeColumns(meta, { v: ['A', 'C'] }), /column v row 1: "C" is not in its enum/);
  bad(() => encodeColumns(meta, { v: ['A', null] }), /row 1: null in a column that is not nullable/);
  bad(() => encodeColumns({ rows: 1, columns: [{ name: 'k', type: 'i16' }] }, { k: [40000] }), /40000 is not a i16/);
  bad(() => encodeColumns({ rows: 1, columns: [{ name: 'k', type: 'i32' }] }, { k: [1.5] }), /1.5 is not a i32/);
  bad(() => encodeColumns({ rows: 1, columns: [{ name: 'k', type: 'f64' }] }, { k: ['1'] }), /expected a number/);
  bad(() => encodeColumns({ rows: 1, columns: [{ name: 'k', type: 'i64' }] }, { k: [0.5] }), /is not an i64/);
  bad(() => decodeColumns(meta, new Uint8Array(7)), /describes 8 bytes, got 7/);
  bad(() => decodeColumns({ rows: 1, columns: [{ name: 'b', type: 'bool' }] }, Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0])), /bool values must be 0 or 1/);
});

test('the client refuses a header above max_header_bytes before sending it', async () => {
  const c = new Client('ws://127.0.0.1:9/ws', { reconnect: false });
  await assert.rejects(c.enqueue('q', { blob: 'x'.repeat(70000) }), (e) => e.code === 'TOO_LARGE' && /max_header_bytes 65536/.test(e.message));
  c.close();
});

test('in node the URL and token default to $WSMESH_URL and $WSMESH_TOKEN', () => {
  const saved = [process.env.WSMESH_URL, process.env.WSMESH_TOKEN];
  process.env.WSMESH_URL = 'ws://10.1.2.3:7711/ws';
  process.env.WSMESH_TOKEN = 'from-env';
  try {
    const c = new Client();
    assert.equal(c.url, 'ws://10.1.2.3:7711/ws');
    assert.equal(c.opts.token, 'from-env');
    assert.equal(new Client('ws://x:1/ws', { token: 'given' }).opts.token, 'given');
  } finally {
    for (const [k, v] of [['WSMESH_URL', saved[0]], ['WSMESH_TOKEN', saved[1]]]) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
