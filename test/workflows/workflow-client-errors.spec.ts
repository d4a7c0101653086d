// How the gateway's workflow client reports Temporal's own refusals, against the harness's server:
// a transient one must be a 503 with Retry-After (the caller retries its idempotent write), not a 500.
import { createLogger } from '@axle/observability';
import { DependencyUnavailableError } from '@axle/protocol';
import { IntentWorkflowClient } from '@axle/intents';
import { requireEnv, startWorkflowWorker, until, type WorkflowWorker } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { crashSignal } from './fixtures/crashing-update.workflow';

describe('IntentWorkflowClient against Temporal', () => {
  const taskQueue = `client-errors-${randomUUID()}`;
  let worker: WorkflowWorker;
  let client: IntentWorkflowClient;

  before(async () => {
    worker = await startWorkflowWorker(require.resolve('./fixtures/crashing-update.workflow'), taskQueue, {});
    client = new IntentWorkflowClient(
      { address: requireEnv('TEMPORAL_ADDRESS'), namespace: 'default' },
      createLogger({ level: 'silent', app: 'test' }),
    );
  });

  after(async () => {
    await client.onModuleDestroy();
    await worker.stop();
  });

  test('an update refused while the workflow task fails (WorkflowNotReady) is a 503 retried after 1 s', async () => {
    const handle = await worker.env.client.workflow.start('crashingWorkflow', {
      taskQueue,
      workflowId: `crashing-${randomUUID()}`,
    });
    try {
      await handle.signal(crashSignal);
      // From the third failed attempt on, the server refuses updates at once (before, it holds them).
      await until('a workflow task failing for the third time', async () => {
        const attempt = (await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0;
        return attempt >= 3 ? attempt : undefined;
      });
      await assert.rejects(
        client.resume(handle.workflowId, {
          kind: 'agent',
          action: 'complete',
          actor: 'agent://default/default/a',
          body: {},
        }),
        (err: unknown) => {
          assert.ok(err instanceof DependencyUnavailableError, `got ${String(err)}`);
          assert.equal(err.dependency, 'temporal');
          assert.equal(err.retryAfterSeconds, 1);
          return true;
        },
      );
    } finally {
      await handle.terminate('test over');
    }
  });
});
