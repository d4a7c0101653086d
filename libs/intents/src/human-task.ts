// A human task_result is checked against the task's HumanTaskSpec (reference §1.4, SPEC §6) before
// anything changes: a result that breaks the spec is a 422 `invalid_task_result` with one entry per
// failing field path. Pure: no I/O, so every decision path (resume, inbox, approvals, magic link)
// runs exactly this code through ResumeIntentUseCase.
import { type FieldError, humanTaskOutcomes, humanTaskRule, ValidationFailedError } from '@axle/protocol';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { createHash } from 'node:crypto';

export type TaskResult = { outcome: string } & Record<string, unknown>;

const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: true });
addFormats(ajv);

/** Compiled form_schema validators by the schema's hash: a schema is compiled once per process. */
const compiled = new Map<string, ValidateFunction>();
const COMPILED_MAX = 1000;

/** Stable JSON (keys sorted) so equal schemas share one compiled validator. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** The compiled validator of a form_schema; throws with Ajv's message when it is no valid schema. */
export function compileFormSchema(schema: Record<string, unknown>): ValidateFunction {
  const key = createHash('sha256').update(canonical(schema)).digest('hex');
  const known = compiled.get(key);
  if (known) return known;
  // A schema's own $id would clash with a second compile of an equal schema; the cache prevents that,
  // and a different schema with the same $id is compiled without it being registered globally.
  const validate = ajv.compile(schema.$id !== undefined ? { ...schema, $id: undefined } : schema);
  if (compiled.size >= COMPILED_MAX) compiled.clear();
  compiled.set(key, validate);
  return validate;
}

/**
 * Checks a human_task spec at intent create (or scenario apply): its form_schema must compile as
 * JSON Schema 2020-12. 422 with the path `<prefix>.form_schema` otherwise.
 */
export function assertValidTaskSpec(task: Record<string, unknown>, prefix = 'human_task'): void {
  const schema = task.form_schema;
  if (schema === undefined || schema === null) return;
  try {
    if (typeof schema !== 'object' || Array.isArray(schema)) throw new Error('must be an object');
    compileFormSchema(schema as Record<string, unknown>);
  } catch (err) {
    const path = `${prefix}.form_schema`;
    throw new ValidationFailedError(
      [
        {
          path,
          loc: ['body', ...path.split('.')],
          message: `not a valid JSON Schema 2020-12: ${err instanceof Error ? err.message : String(err)}`,
          type: 'invalid_schema',
        },
      ],
      'invalid_form_schema',
    );
  }
}

/**
 * What form_schema validates: `task_result.data` when the result has a `data` field, otherwise the
 * task_result itself without `outcome` and `comment` (the CLI sends data fields at the top level,
 * reference §1.4 flavour 3).
 */
export function formInstance(result: TaskResult): { instance: unknown; base: string } {
  if (result.data !== undefined) return { instance: result.data, base: 'task_result.data' };
  const { outcome: _outcome, comment: _comment, ...rest } = result;
  return { instance: rest, base: 'task_result' };
}

/** Every way `result` breaks `task` (empty when it is acceptable). */
export function taskResultErrors(task: Record<string, unknown>, result: TaskResult): FieldError[] {
  const errors: FieldError[] = [];
  const field = (path: string, message: string, type: string) =>
    errors.push({ path, loc: ['body', ...path.split('.')], message, type });
  const outcomes = humanTaskOutcomes(task);
  if (!outcomes.includes(result.outcome))
    field('task_result.outcome', `must be one of ${outcomes.join(', ')}`, 'enum');
  const comment = result.comment;
  if (comment !== undefined && typeof comment !== 'string')
    field('task_result.comment', 'must be a string', 'invalid_type');
  else if (task.required_comment === true && (typeof comment !== 'string' || comment.trim() === ''))
    field('task_result.comment', 'a comment is required for this task', 'missing');
  const data =
    result.data && typeof result.data === 'object' && !Array.isArray(result.data)
      ? (result.data as Record<string, unknown>)
      : {};
  const rule = humanTaskRule(task);
  const evidence = data.evidence ?? result.evidence;
  const needsEvidence = task.evidence_required === true || rule.evidenceFor === result.outcome;
  if (needsEvidence && (evidence === undefined || evidence === null || evidence === ''))
    field('task_result.data.evidence', 'evidence is required for this task', 'missing');
  const required = rule.requiredData;
  if (required && required.outcome === result.outcome) {
    const value = data[required.field];
    if (typeof value !== 'string' || value.trim() === '')
      field(
        `task_result.data.${required.field}`,
        `required when the outcome is ${required.outcome}`,
        'missing',
      );
  }
  const schema = task.form_schema;
  if (schema && typeof schema === 'object' && !Array.isArray(schema)) {
    const { instance, base } = formInstance(result);
    let validate: ValidateFunction | null = null;
    try {
      validate = compileFormSchema(schema as Record<string, unknown>);
    } catch {
      field('task_result', 'the task form_schema is not a valid JSON Schema', 'invalid_schema');
    }
    if (validate && !validate(instance))
      for (const e of validate.errors ?? []) {
        const path = schemaErrorPath(base, e);
        field(path, e.message ?? 'is invalid', e.keyword);
      }
  }
  return dedupe(errors);
}

/** Throws the 422 `invalid_task_result` when the result breaks the spec. */
export function assertTaskResult(task: Record<string, unknown>, result: TaskResult): void {
  const errors = taskResultErrors(task, result);
  if (errors.length > 0) throw new ValidationFailedError(errors, 'invalid_task_result');
}

/** `/a/0/b` under `task_result.data`, plus the missing/unexpected property for required etc. */
function schemaErrorPath(base: string, e: ErrorObject): string {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as Record<string, unknown>;
  const extra =
    typeof params.missingProperty === 'string'
      ? params.missingProperty
      : typeof params.unevaluatedProperty === 'string'
        ? params.unevaluatedProperty
        : typeof params.additionalProperty === 'string'
          ? params.additionalProperty
          : null;
  if (extra !== null) parts.push(extra);
  return [base, ...parts].join('.');
}

/** One entry per failing path: the first message wins. */
function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => (seen.has(e.path) ? false : (seen.add(e.path), true)));
}
