import { createLogger } from '@axle/observability';
import { ConflictError, DependencyUnavailableError } from '@axle/protocol';
import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentWorkflowClient, toTemporalError } from './intent-workflow.client';

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

  test('an update call cut short (CANCELLED) is a 503 retried after 1 s: the update may not have run', () => {
    const cancelled = new WorkflowUpdateRPCTimeoutOrCancelledError(
      'Workflow update call timeout or cancelled',
      {
        cause: Object.assign(new Error('1 CANCELLED: Call cancelled'), { code: 1 }),
      },
    );
    const mapped = toTemporalError(cancelled);
    assert.ok(mapped instanceof DependencyUnavailableError);
    assert.equal(mapped.retryAfterSeconds, 1);
  });

  test('a closed workflow is 409 intent_terminal; anything else passes through unchanged', () => {
    const closed = toTemporalError(new Error('workflow execution already completed'));
    assert.ok(closed instanceof ConflictError);
    assert.equal(closed.code, 'intent_terminal');
    const other = grpcFailure(3, 'INVALID_ARGUMENT');
    assert.equal(toTemporalError(other), other);
  });
});

describe('IntentWorkflowClient.startDetached', () => {
  // Lazy: no connection is made until a Temporal call, and these starts make none.
  const newClient = () =>
    new IntentWorkflowClient(
      { address: '127.0.0.1:1', namespace: 'default' },
      createLogger({ level: 'silent', app: 'test' }),
    );

  test('returns before its start ends; shutdown waits for every detached start', async () => {
    const client = newClient();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let finished = false;
    await client.startDetached(async () => {
      await gate;
      finished = true;
    });
    assert.equal(finished, false, 'the caller went on while its start runs');
    const shutdown = client.onModuleDestroy();
    release();
    await shutdown;
    assert.equal(finished, true);
  });

  test('a failing start is logged, not thrown to anyone', async () => {
    const client = newClient();
    await client.startDetached(() => Promise.reject(new Error('temporal said no')));
    await client.startDetached(() => {
      throw new Error('thrown before any await');
    });
    await client.onModuleDestroy();
  });

  test('beyond 256 running starts a caller waits for its own start', async () => {
    const client = newClient();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    for (let i = 0; i < 256; i += 1) await client.startDetached(() => gate);
    let ownDone = false;
    const own = client.startDetached(async () => {
      await gate;
      ownDone = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ownDone, false);
    release();
    await own;
    assert.equal(ownDone, true, 'its call returned only once its start ended');
    await client.onModuleDestroy();
  });
});
