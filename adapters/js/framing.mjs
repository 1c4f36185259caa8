// wsmesh protocol v1 framing (docs/protocol.md §2): a protocol message is a one-line JSON header
// ending in "\n" followed by exactly `len` payload bytes; one WebSocket message carries one or more
// of them back to back. Pure functions, no I/O: shared by the client, the dashboard and the tests.

export const JSON_TYPE = 'application/json';
export const COLUMNS_TYPE = 'application/vnd.wsmesh.columns';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** An error with a protocol error code (§7) or an adapter code (DISCONNECTED, CLOSED, ...). */
export class WsmError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'WsmError';
    this.code = code;
    Object.assign(this, extra);
  }
}

/** Turns bytes, a string or an ArrayBuffer view into a Uint8Array (no copy when possible). */
export function toBytes(data) {
  if (data == null) return new Uint8Array(0);
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return enc.encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new WsmError('BAD_FIELD', `payload: expected bytes or a string, got ${typeof data}`);
}

/**
 * Encodes one protocol message. `len` is set from the payload (removed when there is none).
 * Returns a Uint8Array: header line + payload.
 */
export function encodeMessage(header, payload) {
  const body = toBytes(payload);
  const h = { ...header };
  if (body.length > 0) h.len = body.length;
  else delete h.len;
  const line = enc.encode(JSON.stringify(h) + '\n');
  if (body.length === 0) return line;
  const out = new Uint8Array(line.length + body.length);
  out.set(line, 0);
  out.set(body, line.length);
  return out;
}

/** Concatenates encoded messages into one WebSocket message. */
export function concatBytes(parts) {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Decodes every protocol message of one WebSocket message. Returns {messages, error}: the
 * messages decoded before a framing error are kept (§2), `error` is a WsmError or null.
 * Each message is {header, payload: Uint8Array (a view into `data`)}.
 */
export function decodeMessages(data) {
  const bytes = toBytes(data);
  const messages = [];
  let off = 0;
  while (off < bytes.length) {
    const nl = bytes.indexOf(0x0a, off);
    if (nl < 0) return { messages, error: new WsmError('BAD_FRAME', `no newline after the header at byte ${off}`) };
    let header;
    try {
      header = JSON.parse(dec.decode(bytes.subarray(off, nl)));
    } catch (e) {
      return { messages, error: new WsmError('BAD_JSON', `header at byte ${off} is not JSON: ${e.message}`) };
    }
    if (header === null || typeof header !== 'object' || Array.isArray(header)) {
      return { messages, error: new WsmError('BAD_JSON', `header at byte ${off} is not a JSON object`) };
    }
    const len = header.len ?? 0;
    if (!Number.isInteger(len) || len < 0) {
      return { messages, error: new WsmError('BAD_FRAME', `header at byte ${off}: len must be a non-negative integer`) };
    }
    const start = nl + 1;
    if (start + len > bytes.length) {
      return { messages, error: new WsmError('BAD_FRAME', `header at byte ${off}: len ${len} runs past the end of the message (${bytes.length - start} bytes left)`) };
    }
    messages.push({ header, payload: bytes.subarray(start, start + len) });
    off = start + len;
  }
  return { messages, error: null };
}

/** Decodes a JSON payload (UTF-8); throws WsmError BAD_JSON on bad input. */
export function decodeJsonPayload(payload) {
  try {
    return JSON.parse(dec.decode(payload));
  } catch (e) {
    throw new WsmError('BAD_JSON', `payload is not JSON: ${e.message}`);
  }
}

/** True if the bytes are valid UTF-8 (such a message may travel in a text frame). */
export function isUtf8(bytes) {
  try {
    dec.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
