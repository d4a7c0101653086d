import { ConflictError, DependencyUnavailableError } from '@axle/protocol';
import { ServiceError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toTemporalError } from './intent-workflow.client';

/** A gRPC failure as the Temporal client reports it: a ServiceError whose cause has the status code. */
const grpcFailure = (code: number, name: string) =>
  new ServiceError('Workflow Update failed', {
    cause: Object.assign(new Error(`${code} ${name}: details`), { code }),
  });

describe('toTemporalError', () => {
  test('an unreachable or slow server is a 503 (dependency_unavailable) with the default Retry-After', () => {
    for (const [code, name] of [
      [14, 'UNAVAILABLE'],
      [4, 'DEADLINE_EXCEEDED'],
    ] as const) {
      const mapped = toTemporalError(grpcFailure(code, name));
      assert.ok(mapped instanceof DependencyUnavailableError, name);
      assert.equal(mapped.retryAfterSeconds, 5);
    }
  });

  test('RESOURCE_EXHAUSTED (rate limit, too many updates in flight) is a 503 retried after 1 s, not a 500', () => {
    const mapped = toTemporalError(grpcFailure(8, 'RESOURCE_EXHAUSTED'));
    assert.ok(mapped instanceof DependencyUnavailableError);
    assert.equal(mapped.retryAfterSeconds, 1);
    assert.equal(mapped.dependency, 'temporal');
  });

  test('a closed workflow is 409 intent_terminal; anything else passes through unchanged', () => {
    const closed = toTemporalError(new Error('workflow execution already completed'));
    assert.ok(closed instanceof ConflictError);
    assert.equal(closed.code, 'intent_terminal');
    const other = grpcFailure(3, 'INVALID_ARGUMENT');
    assert.equal(toTemporalError(other), other);
  });
});
