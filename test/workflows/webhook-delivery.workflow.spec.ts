// The webhook delivery workflow on the harness's Temporal server with a stub activity that plays
// the receiver and the database. With RECORD_HISTORIES set (docs/development.md) its runs are
// exported to test/histories/ for the replay test.
import { WORKFLOWS_PATH } from '@axle/orchestration';
import {
  WEBHOOK_WORKFLOW,
  type WebhookActivities,
  type WebhookAttemptInput,
  type WebhookAttemptResult,
  type WebhookDeliveryWorkflowInput,
  type WebhookDeliveryWorkflowResult,
} from '@axle/protocol';
import { recordHistory, startWorkflowWorker, type WorkflowWorker } from '@axle/testing';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const TASK_QUEUE = `${WEBHOOK_WORKFLOW.taskQueue}-webhook-wf-test`;

/** Per delivery: the outcomes the receiver produces, attempt by attempt (the last one repeats). */
function stubActivities() {
  const calls: WebhookAttemptInput[] = [];
  const plans = new Map<string, WebhookAttemptResult['outcome'][]>();
  const activities: WebhookActivities = {
    attemptWebhookDelivery(input) {
      calls.push(input);
      const plan = plans.get(input.deliveryId) ?? ['delivered'];
      let outcome = plan[Math.min(input.attempt, plan.length) - 1]!;
      // As the real activity does: a failed final attempt dead-letters the delivery.
      if (outcome === 'retry' && input.final) outcome = 'dead_lettered';
      const failed = outcome === 'retry' || outcome === 'dead_lettered';
      return Promise.resolve({
        outcome,
        statusCode: failed ? 500 : 200,
        error: failed ? 'HTTP 500' : null,
      });
    },
  };
  return { activities, calls, plans };
}

describe('webhookDeliveryWorkflow', () => {
  let env: TestWorkflowEnvironment;
  let worker: WorkflowWorker;
  const stub = stubActivities();

  before(async () => {
    worker = await startWorkflowWorker(WORKFLOWS_PATH, TASK_QUEUE, stub.activities);
    env = worker.env;
  });

  after(() => worker.stop());

  async function run(plan: WebhookAttemptResult['outcome'][], maxAttempts = 4, name?: string) {
    const deliveryId = randomUUID();
    stub.plans.set(deliveryId, plan);
    const input: WebhookDeliveryWorkflowInput = {
      deliveryId,
      orgId: randomUUID(),
      eventId: randomUUID(),
      subscriptionId: randomUUID(),
      retry: { maxAttempts, backoffMs: 10, backoffMaxMs: 40 },
      traceId: null,
    };
    const handle = await env.client.workflow.start(WEBHOOK_WORKFLOW.type, {
      workflowId: WEBHOOK_WORKFLOW.workflowId(deliveryId),
      taskQueue: TASK_QUEUE,
      args: [input],
    });
    const result = (await handle.result()) as WebhookDeliveryWorkflowResult;
    if (name) recordHistory(handle.workflowId, name);
    return { result, calls: stub.calls.filter((c) => c.deliveryId === deliveryId) };
  }

  test('delivered on the first attempt: one call, not final unless the limit is 1', async () => {
    const { result, calls } = await run(['delivered']);
    assert.deepEqual(result, { outcome: 'delivered', attempts: 1 });
    assert.deepEqual(
      calls.map((c) => [c.attempt, c.final]),
      [[1, false]],
    );
    const single = await run(['delivered'], 1);
    assert.deepEqual(
      single.calls.map((c) => [c.attempt, c.final]),
      [[1, true]],
    );
  });

  test('retries after failures and stops at the first success', async () => {
    const { result, calls } = await run(['retry', 'retry', 'delivered'], 4, 'webhook-delivery-retried');
    assert.deepEqual(result, { outcome: 'delivered', attempts: 3 });
    assert.deepEqual(
      calls.map((c) => c.attempt),
      [1, 2, 3],
    );
    assert.ok(calls.every((c) => !c.final));
  });

  test('the last allowed attempt is final and its failure dead-letters the delivery', async () => {
    const { result, calls } = await run(['retry'], 3, 'webhook-delivery-dead-lettered');
    assert.deepEqual(result, { outcome: 'dead_lettered', attempts: 3 });
    assert.deepEqual(
      calls.map((c) => [c.attempt, c.final]),
      [
        [1, false],
        [2, false],
        [3, true],
      ],
    );
  });

  test('a superseded round stops without further attempts', async () => {
    const { result, calls } = await run(['retry', 'superseded', 'delivered']);
    assert.deepEqual(result, { outcome: 'superseded', attempts: 2 });
    assert.equal(calls.length, 2);
  });
});
