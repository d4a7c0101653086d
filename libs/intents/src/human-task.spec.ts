import { HUMAN_TASK_OUTCOMES, HUMAN_TASK_TYPES, ValidationFailedError } from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertValidTaskSpec, compileFormSchema, taskResultErrors } from './human-task';

const paths = (task: Record<string, unknown>, result: { outcome: string } & Record<string, unknown>) =>
  taskResultErrors(task, result).map((e) => e.path);

describe('human task results', () => {
  test('every task type has default outcomes, and its approve/reject outcomes are among them', () => {
    assert.equal(Object.keys(HUMAN_TASK_OUTCOMES).length, HUMAN_TASK_TYPES.length);
    for (const type of HUMAN_TASK_TYPES) {
      const rule = HUMAN_TASK_OUTCOMES[type];
      assert.ok(rule.outcomes.includes(rule.approve), type);
      assert.ok(rule.outcomes.includes(rule.reject), type);
      assert.deepEqual(paths({ task_type: type }, { outcome: 'surely-not' }), ['task_result.outcome'], type);
    }
  });

  test('allowed_outcomes replaces the defaults; no task_type means approval', () => {
    assert.deepEqual(paths({ allowed_outcomes: ['go'] }, { outcome: 'go' }), []);
    assert.deepEqual(paths({ allowed_outcomes: ['go'] }, { outcome: 'approved' }), ['task_result.outcome']);
    assert.deepEqual(paths({}, { outcome: 'approved' }), []);
    assert.deepEqual(paths({}, { outcome: 'completed' }), ['task_result.outcome']);
  });

  test('comment, evidence and the data a delegation needs', () => {
    assert.deepEqual(paths({ required_comment: true }, { outcome: 'approved', comment: ' ' }), [
      'task_result.comment',
    ]);
    assert.deepEqual(paths({}, { outcome: 'approved', comment: 5 }), ['task_result.comment']);
    assert.deepEqual(paths({ evidence_required: true }, { outcome: 'approved', evidence: 'x' }), []);
    assert.deepEqual(
      paths({ evidence_required: true }, { outcome: 'approved', data: { evidence: 'x' } }),
      [],
    );
    assert.deepEqual(paths({ evidence_required: true }, { outcome: 'approved' }), [
      'task_result.data.evidence',
    ]);
    assert.deepEqual(paths({ task_type: 'attach_file' }, { outcome: 'declined' }), []);
    assert.deepEqual(paths({ task_type: 'delegation' }, { outcome: 'assigned' }), [
      'task_result.data.delegate_to',
    ]);
    assert.deepEqual(paths({ task_type: 'delegation' }, { outcome: 'declined' }), []);
  });

  test('form_schema: 2020-12 keywords and formats, paths per failing field, compiled once', () => {
    const schema = {
      type: 'object',
      properties: { a: { $ref: '#/$defs/mail' }, t: { type: 'array', prefixItems: [{ type: 'integer' }] } },
      required: ['a'],
      unevaluatedProperties: false,
      $defs: { mail: { type: 'string', format: 'email' } },
    };
    const task = { form_schema: schema };
    assert.deepEqual(paths(task, { outcome: 'approved', data: { a: 'x@example.com', t: [1] } }), []);
    assert.deepEqual(paths(task, { outcome: 'approved', data: { a: 'nope', t: ['1'], z: 1 } }).sort(), [
      'task_result.data.a',
      'task_result.data.t.0',
      'task_result.data.z',
    ]);
    assert.deepEqual(paths(task, { outcome: 'approved', comment: 'c' }), ['task_result.a']);
    assert.equal(compileFormSchema({ ...schema }), compileFormSchema(schema));
    assert.doesNotThrow(() => assertValidTaskSpec(task));
    assert.throws(
      () => assertValidTaskSpec({ form_schema: { type: 'nonsense' } }),
      (err: unknown) => err instanceof ValidationFailedError && err.code === 'invalid_form_schema',
    );
    // Two different schemas with the same $id do not clash.
    assert.doesNotThrow(() => compileFormSchema({ $id: 'https://x.example/s', type: 'string' }));
    assert.doesNotThrow(() => compileFormSchema({ $id: 'https://x.example/s', type: 'number' }));
  });
});
