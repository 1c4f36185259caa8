// "Schemas stay true" (issue 2): every protocol header that the integration tests recorded under
// $WSM_BUILDDIR/protocol-log/*.jsonl, and config/mesh.json, must validate against schemas/ with a
// real JSON Schema validator (ajv). Runs after the hub and adapter tests (meson priority, not
// parallel). A log line is either the header object itself, or {"dir", "header": {...}|"..."}
// (dir "send"/"c2h" for client to hub). A client header that breaks the schemas passes only if
// the hub refused it as malformed too (error BAD_FIELD, UNKNOWN_OP, ... answering its id), or if
// its line says "malformed": true (a deliberately bad input without an id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import Ajv07 from 'ajv';
import { loadProtocolSchemas, checkHeader } from './schemas.mjs';

const srcdir = process.env.WSM_SRCDIR ?? path.resolve(import.meta.dirname, '../../..');
const builddir = process.env.WSM_BUILDDIR;
const v = loadProtocolSchemas(srcdir);

test('the schemas accept documented headers and reject broken ones', () => {
  const fx = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, 'schema-fixtures.json'), 'utf8'));
  for (const h of fx.valid) assert.deepEqual(checkHeader(v, h), [], JSON.stringify(h));
  for (const h of fx.invalid) assert.notDeepEqual(checkHeader(v, h), [], `accepted: ${JSON.stringify(h)}`);
});

function headerOf(rec) {
  if (rec && typeof rec === 'object' && typeof rec.op === 'string') return rec;
  if (rec && typeof rec.header === 'string') return JSON.parse(rec.header);
  if (rec && typeof rec.header === 'object') return rec.header;
  throw new Error('neither a header nor {"header": ...}');
}

// Error codes with which the hub rejects a header as malformed (§7).
const REJECTS = new Set(['BAD_JSON', 'BAD_FRAME', 'UNKNOWN_OP', 'BAD_FIELD', 'UNSUPPORTED_VERSION']);

function readLog(file) {
  const out = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${path.basename(file)}:${i + 1}`;
    let rec;
    try { rec = JSON.parse(line); } catch (e) { out.push({ where, error: `not JSON: ${e.message}` }); return; }
    try {
      out.push({ where, header: headerOf(rec), dir: rec.dir, malformed: rec.malformed === true, line });
    } catch (e) {
      out.push({ where, error: e.message });
    }
  });
  return out;
}

const isSend = (d) => d === 'send' || d === 'c2h';

/**
 * The hub's answer to a client header: the next hub->client header with ref = its id; for an
 * id that is not a string (no usable ref), the next hub->client error without ref.
 */
function replyTo(entries, i) {
  const id = entries[i].header.id;
  if (id === undefined) return null;
  for (let k = i + 1; k < entries.length; k++) {
    const e = entries[k];
    if (!e.header || isSend(e.dir)) continue;
    if (typeof id !== 'string') return e.header.op === 'error' && e.header.ref === undefined ? e.header : null;
    if (e.header.ref === id) return e.header;
  }
  return null;
}

test('every header recorded in protocol-log/ validates (and the hub rejects what the schemas reject)', () => {
  assert.ok(builddir, 'WSM_BUILDDIR is not set (run through meson test)');
  const dir = path.join(builddir, 'protocol-log');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort() : [];
  assert.ok(files.length > 0, `${dir} has no *.jsonl: the hub/adapter integration tests must run first and record their headers`);
  const failures = [];
  const seen = new Map();
  let n = 0;
  let agreed = 0;
  const looser = [];
  for (const f of files) {
    const entries = readLog(path.join(dir, f));
    entries.forEach((e, i) => {
      if (e.error) return failures.push(`${e.where}: ${e.error}`);
      if (e.malformed) return undefined;
      n++;
      seen.set(e.header.op, (seen.get(e.header.op) ?? 0) + 1);
      const errs = checkHeader(v, e.header);
      if (!errs.length) {
        const reply = isSend(e.dir) && e.header.id !== undefined ? replyTo(entries, i) : null;
        if (reply?.op === 'error' && REJECTS.has(reply.code)) looser.push(`${e.where}: ${reply.code} ${reply.message}  ${e.line.slice(0, 200)}`);
        return undefined;
      }
      // A deliberately bad client header is fine if the hub refused it as malformed too.
      const reply = isSend(e.dir) ? replyTo(entries, i) : null;
      if (reply?.op === 'error' && REJECTS.has(reply.code)) {
        agreed++;
        return undefined;
      }
      const why = reply ? ` (hub answered ${reply.op}${reply.code ? ' ' + reply.code : ''})` : '';
      for (const err of errs) failures.push(`${e.where}: op ${e.header.op}${why}: ${err}  ${e.line.slice(0, 300)}`);
      return undefined;
    });
  }
  console.log(`validated ${n} headers from ${files.length} files (${agreed} malformed ones refused by both hub and schemas); ` +
    `ops seen: ${[...seen].map(([k, c]) => `${k}=${c}`).join(' ')}`);
  // Not failures (the hub also checks what a schema cannot, e.g. topic name syntax), but worth a look:
  if (looser.length) console.log(`${looser.length} headers valid by the schemas were refused by the hub:\n  ${looser.slice(0, 20).join('\n  ')}`);
  const unseen = v.ops.filter((o) => !seen.has(o));
  if (unseen.length) console.log(`ops never recorded: ${unseen.join(' ')}`);
  assert.ok(n > 0, `${dir}: the log files hold no headers`);
  assert.deepEqual(failures.slice(0, 40), [], `${failures.length} headers do not match schemas/protocol`);
});

function meshValidator() {
  const file = path.join(srcdir, 'schemas', 'mesh.schema.json');
  assert.ok(fs.existsSync(file), `${file} is missing`);
  const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
  const Ajv = String(schema.$schema ?? '').includes('2020-12') ? Ajv2020 : Ajv07;
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

test('schemas/mesh.schema.json rejects unknown keys and wrong types (it is not vacuous)', () => {
  const validate = meshValidator();
  const good = JSON.parse(fs.readFileSync(path.join(srcdir, 'config/mesh.json'), 'utf8'));
  assert.equal(validate({ ...good, bogus: 1 }), false, 'an unknown top-level key must be an error');
  const q = Object.keys(good.queues)[0];
  const bad = structuredClone(good);
  bad.queues[q].max_length = 'big';
  assert.equal(validate(bad), false, `queues.${q}.max_length "big" must be an error`);
});

const exampleConfigs = fs.existsSync(path.join(srcdir, 'config/examples'))
  ? fs.readdirSync(path.join(srcdir, 'config/examples')).filter((f) => f.endsWith('.json')).map((f) => `config/examples/${f}`) : [];
for (const cfg of ['config/mesh.json', ...exampleConfigs, 'tests/integration/js/mesh-test.json', 'tests/e2e/dashboard/mesh-dashboard.json']) {
  test(`${cfg} validates against schemas/mesh.schema.json`, () => {
    const validate = meshValidator();
    const data = JSON.parse(fs.readFileSync(path.join(srcdir, cfg), 'utf8'));
    const ok = validate(data);
    assert.ok(ok, JSON.stringify(validate.errors, null, 1));
  });
}
