// "Schemas stay true" (issue 2): every protocol header that the integration tests recorded under
// $WSM_BUILDDIR/protocol-log/*.jsonl, and config/mesh.json, must validate against schemas/ with a
// real JSON Schema validator (ajv). Runs after the hub and adapter tests (meson priority, not
// parallel). A log line is either the header object itself, or {"header": {...}|"...", ...};
// a line with "malformed": true (a deliberately bad input of a robustness test) is skipped.
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

test('every header recorded in protocol-log/ validates', () => {
  assert.ok(builddir, 'WSM_BUILDDIR is not set (run through meson test)');
  const dir = path.join(builddir, 'protocol-log');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort() : [];
  assert.ok(files.length > 0, `${dir} has no *.jsonl: the hub/adapter integration tests must run first and record their headers`);
  const failures = [];
  const seen = new Map();
  let n = 0;
  for (const f of files) {
    const lines = fs.readFileSync(path.join(dir, f), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let rec;
      try { rec = JSON.parse(line); } catch (e) { failures.push(`${f}:${i + 1}: not JSON: ${e.message}`); return; }
      if (rec?.malformed === true) return;
      let h;
      try { h = headerOf(rec); } catch (e) { failures.push(`${f}:${i + 1}: ${e.message}`); return; }
      n++;
      seen.set(h.op, (seen.get(h.op) ?? 0) + 1);
      for (const err of checkHeader(v, h)) failures.push(`${f}:${i + 1}: op ${h.op}: ${err}  ${line.slice(0, 300)}`);
    });
  }
  console.log(`validated ${n} headers from ${files.length} files; ops seen: ` +
    [...seen].map(([k, c]) => `${k}=${c}`).join(' '));
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

for (const cfg of ['config/mesh.json', 'tests/integration/js/mesh-test.json']) {
  test(`${cfg} validates against schemas/mesh.schema.json`, () => {
    const validate = meshValidator();
    const data = JSON.parse(fs.readFileSync(path.join(srcdir, cfg), 'utf8'));
    const ok = validate(data);
    assert.ok(ok, JSON.stringify(validate.errors, null, 1));
  });
}
