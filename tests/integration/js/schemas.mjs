// Loads schemas/protocol/*.json into ajv (draft 2020-12) and returns validators for protocol
// headers: `envelope` (dispatches on op, unknown fields allowed as §2 says) and `strict(op)` (the
// op's schema with unevaluatedProperties:false, so a field the documents do not name is reported).
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';

export function loadProtocolSchemas(srcdir) {
  const dir = path.join(srcdir, 'schemas', 'protocol');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const schemas = files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, strictTypes: false });
  const strictAjv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, strictTypes: false });
  const ops = [];
  for (const s of schemas) {
    ajv.addSchema(s);
    const op = s.properties?.op?.const;
    if (op) {
      ops.push(op);
      strictAjv.addSchema({ ...s, unevaluatedProperties: false });
    } else {
      strictAjv.addSchema(s);
    }
  }
  const base = schemas[0].$id.replace(/[^/]*$/, '');
  const envelope = ajv.getSchema(base + 'envelope.json');
  if (!envelope) throw new Error(`${dir}: envelope.json missing`);
  const strict = (op) => strictAjv.getSchema(base + op + '.json');
  const columns = ajv.getSchema(base + 'columns.json');
  return { ajv, envelope, strict, columns, ops, files };
}

/** Validates one header; returns [] or a list of error sentences. */
export function checkHeader(v, header) {
  if (!v.envelope(header)) return v.envelope.errors.map(fmt);
  const s = v.strict(header.op);
  if (!s(header)) return s.errors.map(fmt);
  return [];
}

function fmt(e) {
  const where = e.instancePath || '(header)';
  const extra = e.params?.unevaluatedProperty ? ` "${e.params.unevaluatedProperty}"` : '';
  return `${where} ${e.message}${extra} [${e.schemaPath}]`;
}
