// Tool input validation with Ajv (JSON Schema 2020-12): one 422 entry per failing path, under
// `input` (docs/exec.md "Tools").
import { type FieldError, ValidationFailedError } from '@axle/protocol';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { createHash } from 'node:crypto';
import { type JsonSchema } from './catalog';

const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: false });
addFormats(ajv);

const COMPILED_MAX = 500;
const compiled = new Map<string, ValidateFunction | null>();

/**
 * The compiled validator of a tool's schema, or null when it does not compile (a third party's
 * schema Ajv cannot read: then only "an object" is checked). `$schema` and `$id` are dropped so an
 * MCP server's draft-07 schema compiles as 2020-12 and equal `$id`s do not clash.
 */
function validatorOf(schema: JsonSchema): ValidateFunction | null {
  const key = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
  if (compiled.has(key)) return compiled.get(key) ?? null;
  let validate: ValidateFunction | null;
  try {
    const { $schema: _s, $id: _i, ...rest } = schema;
    validate = ajv.compile(rest);
  } catch {
    validate = null;
  }
  if (compiled.size >= COMPILED_MAX) compiled.clear();
  compiled.set(key, validate);
  return validate;
}

/** Throws 422 with one entry per failing path of `input` (loc `['body','input',…]`). */
export function validateToolInput(schema: JsonSchema, input: unknown): void {
  const validate = validatorOf(schema);
  if (!validate || validate(input)) return;
  const seen = new Set<string>();
  const fields: FieldError[] = [];
  for (const error of validate.errors ?? []) {
    const field = toField(error);
    const key = `${field.path}\0${field.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fields.push(field);
  }
  throw new ValidationFailedError(fields);
}

function toField(error: ErrorObject): FieldError {
  const segments: (string | number)[] = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (error.keyword === 'required' && params.missingProperty) segments.push(params.missingProperty);
  if (error.keyword === 'additionalProperties' && params.additionalProperty)
    segments.push(params.additionalProperty);
  return {
    path: ['input', ...segments].join('.'),
    loc: ['body', 'input', ...segments],
    message: error.message ?? 'is invalid',
    type: error.keyword,
  };
}
