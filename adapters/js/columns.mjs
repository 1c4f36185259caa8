// Binary columnar encoding application/vnd.wsmesh.columns (docs/protocol.md §8) and its JSON twin.
// payload_meta = {rows, columns: [{name, type, unit?, nullable?, enum?}]}; per column: if nullable
// a validity bitmap of ceil(rows/8) bytes (LSB first) padded to 8 bytes, then `rows`
// little-endian values padded to 8 bytes. Pure functions, no I/O.

import { WsmError, toBytes } from './framing.mjs';

const TYPES = {
  f64: { size: 8, get: (dv, o) => dv.getFloat64(o, true), set: (dv, o, v) => dv.setFloat64(o, v, true), Arr: Float64Array },
  f32: { size: 4, get: (dv, o) => dv.getFloat32(o, true), set: (dv, o, v) => dv.setFloat32(o, v, true), Arr: Float32Array },
  i64: { size: 8, get: (dv, o) => dv.getBigInt64(o, true), set: (dv, o, v) => dv.setBigInt64(o, BigInt(v), true), Arr: BigInt64Array },
  i32: { size: 4, get: (dv, o) => dv.getInt32(o, true), set: (dv, o, v) => dv.setInt32(o, v, true), Arr: Int32Array },
  i16: { size: 2, get: (dv, o) => dv.getInt16(o, true), set: (dv, o, v) => dv.setInt16(o, v, true), Arr: Int16Array },
  u8: { size: 1, get: (dv, o) => dv.getUint8(o), set: (dv, o, v) => dv.setUint8(o, v), Arr: Uint8Array },
  bool: { size: 1, get: (dv, o) => dv.getUint8(o), set: (dv, o, v) => dv.setUint8(o, v ? 1 : 0), Arr: Uint8Array },
};
const INT_RANGE = { i32: [-(2 ** 31), 2 ** 31 - 1], i16: [-32768, 32767], u8: [0, 255] };

const pad8 = (n) => (n + 7) & ~7;

/** Checks payload_meta; returns it, or throws WsmError BAD_FIELD naming the problem. */
export function checkColumnsMeta(meta) {
  const bad = (m) => { throw new WsmError('BAD_FIELD', `payload_meta${m}`); };
  if (!meta || typeof meta !== 'object') bad(': expected an object {rows, columns}');
  if (!Number.isInteger(meta.rows) || meta.rows < 0) bad('.rows: expected an integer >= 0');
  if (!Array.isArray(meta.columns)) bad('.columns: expected an array');
  const names = new Set();
  meta.columns.forEach((c, i) => {
    if (!c || typeof c.name !== 'string' || !c.name) bad(`.columns[${i}].name: expected a non-empty string`);
    if (names.has(c.name)) bad(`.columns[${i}].name: duplicate column "${c.name}"`);
    names.add(c.name);
    if (!TYPES[c.type]) bad(`.columns[${i}].type: "${c.type}" is not one of ${Object.keys(TYPES).join(', ')}`);
    if (c.enum !== undefined && (!Array.isArray(c.enum) || !['i64', 'i32', 'i16', 'u8'].includes(c.type))) {
      bad(`.columns[${i}].enum: expected an array of strings on an integer column`);
    }
  });
  return meta;
}

/** Byte size of the payload that `meta` describes. */
export function columnsByteLength(meta) {
  checkColumnsMeta(meta);
  let n = 0;
  for (const c of meta.columns) {
    if (c.nullable) n += pad8(Math.ceil(meta.rows / 8));
    n += pad8(meta.rows * TYPES[c.type].size);
  }
  return n;
}

function encodeValue(c, v, row) {
  if (c.enum && typeof v === 'string') {
    const k = c.enum.indexOf(v);
    if (k < 0) throw new WsmError('BAD_FIELD', `column ${c.name} row ${row}: "${v}" is not in its enum`);
    return k;
  }
  if (c.type === 'bool') return v ? 1 : 0;
  if (c.type === 'i64') {
    if (typeof v === 'bigint' || Number.isSafeInteger(v)) return v;
    throw new WsmError('BAD_FIELD', `column ${c.name} row ${row}: ${JSON.stringify(v)} is not an i64`);
  }
  if (typeof v !== 'number') {
    throw new WsmError('BAD_FIELD', `column ${c.name} row ${row}: expected a number, got ${JSON.stringify(v)}`);
  }
  const r = INT_RANGE[c.type];
  if (r && (!Number.isInteger(v) || v < r[0] || v > r[1])) {
    throw new WsmError('BAD_FIELD', `column ${c.name} row ${row}: ${v} is not a ${c.type}`);
  }
  return v;
}

/**
 * Encodes column data ({name: array or typed array; null = invalid in nullable columns; enum
 * columns take strings or indexes}) as described by `meta`. Returns a Uint8Array.
 */
export function encodeColumns(meta, data) {
  const size = columnsByteLength(meta);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const c of meta.columns) {
    const vals = data[c.name];
    if (!vals || vals.length !== meta.rows) {
      throw new WsmError('BAD_FIELD', `column ${c.name}: expected ${meta.rows} values, got ${vals ? vals.length : 'none'}`);
    }
    const t = TYPES[c.type];
    let bitmap = -1;
    if (c.nullable) {
      bitmap = off;
      off += pad8(Math.ceil(meta.rows / 8));
    }
    for (let i = 0; i < meta.rows; i++) {
      const v = vals[i];
      if (v === null || v === undefined) {
        if (!c.nullable) throw new WsmError('BAD_FIELD', `column ${c.name} row ${i}: null in a column that is not nullable`);
        continue;
      }
      if (bitmap >= 0) out[bitmap + (i >> 3)] |= 1 << (i & 7);
      t.set(dv, off + i * t.size, encodeValue(c, v, i));
    }
    off += pad8(meta.rows * t.size);
  }
  return out;
}

/**
 * Decodes a columnar payload. Returns {rows, columns: {name: {values: TypedArray, valid:
 * Uint8Array|null (1 = valid), def}}}. Throws WsmError BAD_FIELD if the length does not match.
 */
export function decodeColumns(meta, payload) {
  const bytes = toBytes(payload);
  const size = columnsByteLength(meta);
  if (bytes.length !== size) {
    throw new WsmError('BAD_FIELD', `columnar payload: payload_meta describes ${size} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const columns = {};
  let off = 0;
  for (const c of meta.columns) {
    const t = TYPES[c.type];
    let valid = null;
    if (c.nullable) {
      valid = new Uint8Array(meta.rows);
      for (let i = 0; i < meta.rows; i++) valid[i] = (bytes[off + (i >> 3)] >> (i & 7)) & 1;
      off += pad8(Math.ceil(meta.rows / 8));
    }
    const values = new t.Arr(meta.rows);
    for (let i = 0; i < meta.rows; i++) values[i] = t.get(dv, off + i * t.size);
    if (c.type === 'bool' && values.some((v) => v > 1)) {
      throw new WsmError('BAD_FIELD', `column ${c.name}: bool values must be 0 or 1`);
    }
    off += pad8(meta.rows * t.size);
    columns[c.name] = { values, valid, def: c };
  }
  return { rows: meta.rows, columns };
}

/** The JSON form of a batch (§8): {name: [values, null for invalid, enum strings, booleans]}. */
export function columnsToJson(meta, payload) {
  const { rows, columns } = decodeColumns(meta, payload);
  const out = {};
  for (const [name, { values, valid, def }] of Object.entries(columns)) {
    const arr = new Array(rows);
    for (let i = 0; i < rows; i++) {
      if (valid && !valid[i]) arr[i] = null;
      else if (def.enum) arr[i] = def.enum[Number(values[i])] ?? Number(values[i]);
      else if (def.type === 'bool') arr[i] = values[i] === 1;
      else if (def.type === 'i64') arr[i] = Number(values[i]);
      else arr[i] = values[i];
    }
    out[name] = arr;
  }
  return out;
}
