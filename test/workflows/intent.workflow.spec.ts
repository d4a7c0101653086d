// The intent workflow on the harness's Temporal server with stub activities (the workflow's logic is
// under test here; the activities are tested against real stores elsewhere). With
// RECORD_HISTORIES=1 the runs are exported to test/histories/ for the replay test.
import { WORKFLOWS_PATH } from '@axle/orchestration';
import {
  type IntentActivities,
  type IntentStatus,
  type IntentWorkflowState,
  type RecordEventInput,
  resumeUpdate,
  stateQuery,
  TASK_QUEUES,
  WORKFLOW_TYPES,
} from '@axle/protocol';
import { requireEnv } from '@axle/testing';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

/** Records what the workflow asked for and plays the database's part, including dedupe by key. */
function stubActivities() {
  const calls: RecordEventInput[] = [];
  const status = new Map<string, IntentStatus>();
  const seqByKey = new Map<string, number>();
  const activities: IntentActivities = {
    recordEvent(input) {
      const key = `${input.intentId}:${input.dedupeKey}`;
      if (!seqByKey.has(key)) {
        calls.push(input);
        seqByKey.set(key, calls.filter((c) => c.intentId === input.intentId).length + 2);
        if (input.status) status.set(input.intentId, input.status);
      }
      return Promise.resolve({ seq: seqByKey.get(key)!, status: status.get(input.intentId) ?? 'SUBMITTED' });
    },
  };
  return { activities, calls };
}

describe('intentWorkflow', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const stub = stubActivities();

  before(async () => {
    Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: requireEnv('TEMPORAL_ADDRESS'),
      namespace: 'default',
    });
    worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue: TASK_QUEUES.intents + '-wf-test',
      workflowsPath: WORKFLOWS_PATH,
      activities: stub.activities,
    });
    running = worker.run();
  });

  after(async () => {
    worker.shutdown();
    await running;
    await env.teardown();
  });

  async function start(toAgent = 'agent://acme/default/worker') {
    const intentId = randomUUID();
    const handle = await env.client.workflow.start(WORKFLOW_TYPES.intent, {
      workflowId: intentId,
      taskQueue: TASK_QUEUES.intents + '-wf-test',
      args: [{ intentId, orgId: randomUUID(), toAgent, intentType: 'ops.deploy.v1', traceId: null }],
    });
    return { intentId, handle };
  }

  /** Exports the run in the JSON form `temporal workflow show --output json` gives, which replay reads. */
  async function exportHistory(handle: Awaited<ReturnType<typeof start>>['handle'], name: string) {
    if (process.env.RECORD_HISTORIES !== '1') return;
    await handle.result();
    const json = execFileSync(join('.tools', 'py', 'bin', 'temporal'), [
      'workflow',
      'show',
      '--workflow-id',
      handle.workflowId,
      '--address',
      requireEnv('TEMPORAL_ADDRESS'),
      '--output',
      'json',
    ]);
    writeFileSync(join('test', 'histories', `${name}.json`), json);
  }

  test('delivers to the agent stream, then completes on resume', async () => {
    const { intentId, handle } = await start();
    const result = await handle.executeUpdate(resumeUpdate, {
      args: [{ action: 'complete', actor: 'agent://acme/default/worker', body: { result: { ok: 1 } } }],
    });
    assert.equal(result.status, 'COMPLETED');
    const final = (await handle.result()) as IntentWorkflowState;
    assert.equal(final.status, 'COMPLETED');
    const mine = stub.calls.filter((c) => c.intentId === intentId);
    assert.deepEqual(
      mine.map((c) => c.eventType),
      ['intent.delivered', 'intent.in_progress', 'intent.completed'],
    );
    assert.equal(mine[0]!.deliverTo, 'agent://acme/default/worker');
    assert.deepEqual(mine[2]!.result, { ok: 1 });
    assert.deepEqual(new Set(mine.map((c) => c.dedupeKey)).size, 3, 'every step has its own dedupe key');
    await exportHistory(handle, 'intent-complete');
  });

  test('fails on a fail resume and records the error', async () => {
    const { intentId, handle } = await start();
    const result = await handle.executeUpdate(resumeUpdate, {
      args: [{ action: 'fail', actor: 'a', body: { error: { message: 'checker failed' } } }],
    });
    assert.equal(result.status, 'FAILED');
    assert.equal(((await handle.result()) as IntentWorkflowState).status, 'FAILED');
    const mine = stub.calls.filter((c) => c.intentId === intentId);
    assert.deepEqual(
      mine.map((c) => c.eventType),
      ['intent.delivered', 'intent.failed'],
    );
    await exportHistory(handle, 'intent-fail');
  });

  test('a second resume after the terminal one is rejected by the validator', async () => {
    const { handle } = await start();
    await handle.executeUpdate(resumeUpdate, { args: [{ action: 'complete', actor: 'a', body: {} }] });
    await assert.rejects(
      handle.executeUpdate(resumeUpdate, { args: [{ action: 'complete', actor: 'a', body: {} }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError || /completed/i.test(String(err)),
    );
  });

  test('the state query reports the status while waiting', async () => {
    const { handle } = await start();
    let state = await handle.query(stateQuery);
    for (let i = 0; i < 50 && state.status !== 'DELIVERED'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await handle.query(stateQuery);
    }
    assert.equal(state.status, 'DELIVERED');
    assert.deepEqual(state.pendingWith, { type: 'agent', ref: 'agent://acme/default/worker', name: null });
    await handle.executeUpdate(resumeUpdate, { args: [{ action: 'complete', actor: 'a', body: {} }] });
  });
});
