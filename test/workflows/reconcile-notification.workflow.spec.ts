// The reconciler and the scenario notification workflows on the harness's Temporal server with stub
// activities. With RECORD_HISTORIES set (docs/development.md) their runs are exported to
// test/histories/ for the replay test, like the intent and webhook workflows'.
import { WORKFLOWS_PATH } from '@axle/orchestration';
import { type NotificationInput, type NotificationResult, WORKFLOW_TYPES } from '@axle/protocol';
import { recordHistory, startWorkflowWorker, type WorkflowWorker } from '@axle/testing';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const TASK_QUEUE = 'axle-small-workflows-test';

describe('reconcile and notification workflows', () => {
  let worker: WorkflowWorker;
  const sent: NotificationInput[] = [];
  let stranded = 0;

  before(async () => {
    worker = await startWorkflowWorker(WORKFLOWS_PATH, TASK_QUEUE, {
      startStrandedIntents: () => Promise.resolve({ started: stranded }),
      sendNotification: (input: NotificationInput): Promise<NotificationResult> => {
        sent.push(input);
        if (input.url?.includes('refused'))
          throw ApplicationFailure.nonRetryable('the webhook answered HTTP 410', 'NotificationRefused');
        return Promise.resolve({ delivered: true, detail: `sent to ${input.to.join(', ')}` });
      },
    });
  });

  after(() => worker.stop());

  async function run<T>(workflowType: string, args: unknown[], history: string): Promise<T> {
    const handle = await worker.env.client.workflow.start(workflowType, {
      workflowId: `${history}-${randomUUID()}`,
      taskQueue: TASK_QUEUE,
      args,
    });
    const result = (await handle.result()) as T;
    recordHistory(handle.workflowId, history);
    return result;
  }

  test('the reconciler reports how many stranded intents it started', async () => {
    stranded = 3;
    assert.deepEqual(await run(WORKFLOW_TYPES.reconcile, [], 'reconcile'), { started: 3 });
  });

  function notification(overrides: Partial<NotificationInput> = {}): NotificationInput {
    return {
      intentId: randomUUID(),
      orgId: randomUUID(),
      stepId: 'notify',
      channel: 'email',
      to: ['ops@example.com'],
      url: null,
      subject: 'deploy',
      message: 'api-gateway 3.2.1 is out',
      ...overrides,
    };
  }

  test('a notification is sent once; a refused one ends undelivered with the reason, not failed', async () => {
    const email = notification();
    assert.deepEqual(await run(WORKFLOW_TYPES.notification, [email], 'notification-sent'), {
      delivered: true,
      detail: 'sent to ops@example.com',
    });
    assert.equal(sent.filter((s) => s.intentId === email.intentId).length, 1);

    const hook = notification({ channel: 'webhook', to: [], url: 'http://127.0.0.1:9/refused' });
    assert.deepEqual(await run(WORKFLOW_TYPES.notification, [hook], 'notification-refused'), {
      delivered: false,
      detail: 'Activity task failed',
    });
  });
});
