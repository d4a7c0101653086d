// The intent workflow on the harness's Temporal server with stub activities (the workflow's logic is
// under test here; the activities are tested against real stores elsewhere). With
// RECORD_HISTORIES=1 the runs are exported to test/histories/ for the replay test.
import { WORKFLOWS_PATH } from '@axle/orchestration';
import { compileScenario } from '@axle/scenarios';
import {
  canTransition,
  deliveredEvent,
  deliversDirectly,
  FAILURE_TYPES,
  type HttpDeliveryInput,
  type HttpDeliveryResult,
  type IntentActivities,
  type IntentPlan,
  type IntentStatus,
  type NotificationInput,
  type NotifyHumanTaskInput,
  type IntentWorkflowState,
  policyApprovalUpdate,
  policyUpdate,
  type RecordEventInput,
  resolveUpdate,
  resumeUpdate,
  scenarioBundleSchema,
  stateQuery,
  SYSTEM_ACTOR,
  TASK_QUEUES,
  transferUpdate,
  type WaitingReason,
  WORKFLOW_TYPES,
  workflowStepKey,
} from '@axle/protocol';
import { recordHistory, startWorkflowWorker, type WorkflowWorker } from '@axle/testing';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type StubPlan = Partial<IntentPlan>;

/**
 * Plays the database's and the endpoints' part: records what the workflow asked for, dedupes by key,
 * checks transitions like the repository does, and answers http deliveries from a script.
 */
function stubActivities() {
  const calls: RecordEventInput[] = [];
  const plans = new Map<string, StubPlan>();
  const httpScript = new Map<string, HttpDeliveryResult[]>();
  const httpCalls: HttpDeliveryInput[] = [];
  const status = new Map<string, IntentStatus>();
  const waiting = new Map<string, string | null>();
  const seqByKey = new Map<string, number>();
  const approvalsOpened: string[] = [];
  const humanNotices: NotifyHumanTaskInput[] = [];
  /** Intents whose first plan load stores the delivery, then fails as if its answer were lost. */
  const lostLoads = new Set<string>();
  const activities: IntentActivities = {
    async loadPlan({ intentId, orgId, deliverDirectly }) {
      const plan: IntentPlan = {
        status: status.get(intentId) ?? 'SUBMITTED',
        recordedSteps: calls.filter((c) => c.intentId === intentId).length,
        toAgent: 'agent://acme/default/worker',
        handler: 'agent://acme/default/worker',
        replyTo: null,
        binding: { mode: 'stream', callbackUrl: null },
        humanTask: null,
        deadlineAt: null,
        remindAfterSeconds: null,
        remindIntervalSeconds: null,
        maxReminders: null,
        remindCount: 0,
        escalateTo: null,
        maxDeliveryAttempts: 3,
        deliveryAttempt: 0,
        retry: { backoffMs: 20, backoffMaxMs: 100 },
        ...plans.get(intentId),
      };
      if (!deliverDirectly || !deliversDirectly(plan)) return plan;
      const delivered = await activities.recordEvent({
        ...deliveredEvent(plan, plan.deliveryAttempt),
        intentId,
        orgId,
        dedupeKey: workflowStepKey((plan.recordedSteps ?? 0) + 1),
      });
      if (lostLoads.delete(intentId)) throw new Error('the plan load stored the delivery, then failed');
      return { ...plan, delivered };
    },
    resolveBinding({ address }) {
      return Promise.resolve(
        address.endsWith('/hook')
          ? { mode: 'http', callbackUrl: 'http://127.0.0.1:9/hook' }
          : { mode: 'stream', callbackUrl: null },
      );
    },
    recordEvent(input) {
      const key = `${input.intentId}:${input.dedupeKey}`;
      const stored = calls.find((c) => c.intentId === input.intentId && c.dedupeKey === input.dedupeKey);
      if (stored && (stored.eventType !== input.eventType || stored.actor !== input.actor)) {
        const steps = calls.filter((c) => c.intentId === input.intentId).length;
        const ledger = {
          status: status.get(input.intentId) ?? 'SUBMITTED',
          waiting: waiting.get(input.intentId),
        };
        return Promise.resolve({
          seq: seqByKey.get(key)!,
          status: ledger.status,
          stepTaken: {
            lastStep: steps,
            status: ledger.status,
            waitingReason: (ledger.waiting ?? null) as WaitingReason | null,
            pendingWith: null,
            handler: null,
          },
        });
      }
      if (!seqByKey.has(key)) {
        const from = status.get(input.intentId) ?? 'SUBMITTED';
        if (
          input.status &&
          input.status !== from &&
          !canTransition(from, input.status, waiting.get(input.intentId))
        )
          throw ApplicationFailure.nonRetryable(`${from} → ${input.status}`, FAILURE_TYPES.invalidTransition);
        calls.push(input);
        seqByKey.set(key, calls.filter((c) => c.intentId === input.intentId).length + 2);
        if (input.status) {
          status.set(input.intentId, input.status);
          waiting.set(input.intentId, input.waitingReason ?? null);
        }
      }
      return Promise.resolve({ seq: seqByKey.get(key)!, status: status.get(input.intentId) ?? 'SUBMITTED' });
    },
    async recordEvents(inputs) {
      const results = [];
      for (const one of inputs) {
        const result = await activities.recordEvent(one);
        results.push(result);
        if (result.stepTaken) break;
      }
      return results;
    },
    deliverHttp(input) {
      httpCalls.push(input);
      const next = httpScript.get(input.intentId)?.shift();
      return Promise.resolve(next ?? { ok: true, httpStatus: 200 });
    },
    openHumanTask({ intentId }) {
      return Promise.resolve({ threadId: `thread-${intentId}` });
    },
    closeHumanTasks() {
      return Promise.resolve({ closed: 0 });
    },
    notifyHumanTask(input) {
      humanNotices.push(input);
      return Promise.resolve({ emailed: 1 });
    },
    openPolicyApproval({ intentId }) {
      approvalsOpened.push(intentId);
      return Promise.resolve({ threadId: `approval-${intentId}` });
    },
    deliverCompletion({ intentId }) {
      const reply = plans.get(intentId)?.replyTo;
      return Promise.resolve(
        reply
          ? { delivered: true, reply_to: reply, thread_id: intentId, message_id: 'm1' }
          : { delivered: false, reason: 'reply_to_not_set' },
      );
    },
    changePolicy(input) {
      return Promise.resolve({
        applied: true,
        policyGeneration: 1,
        deadlineAt: input.deadlineAt === undefined ? null : input.deadlineAt,
      });
    },
  };
  const notifications: NotificationInput[] = [];
  const sendNotification = (input: NotificationInput) => {
    notifications.push(input);
    return Promise.resolve({ delivered: true, detail: 'stub' });
  };
  return {
    activities,
    calls,
    plans,
    httpScript,
    httpCalls,
    approvalsOpened,
    humanNotices,
    lostLoads,
    notifications,
    sendNotification,
  };
}

describe('intentWorkflow', () => {
  let env: TestWorkflowEnvironment;
  let worker: WorkflowWorker;
  const stub = stubActivities();

  before(async () => {
    worker = await startWorkflowWorker(WORKFLOWS_PATH, TASK_QUEUES.intents + '-wf-test', {
      ...stub.activities,
      sendNotification: stub.sendNotification,
    });
    env = worker.env;
  });

  after(() => worker.stop());

  async function start(
    plan: StubPlan = {},
    toAgent = 'agent://acme/default/worker',
    intentId = randomUUID(),
  ) {
    stub.plans.set(intentId, plan);
    const handle = await env.client.workflow.start(WORKFLOW_TYPES.intent, {
      workflowId: intentId,
      taskQueue: TASK_QUEUES.intents + '-wf-test',
      args: [{ intentId, orgId: randomUUID(), toAgent, intentType: 'ops.deploy.v1', traceId: null }],
    });
    return { intentId, handle };
  }

  /** Records the finished run as a replay history when RECORD_HISTORIES asks for `name`. */
  async function exportHistory(handle: Awaited<ReturnType<typeof start>>['handle'], name: string) {
    await handle.result();
    recordHistory(handle.workflowId, name);
  }

  test('delivers to the agent stream, then completes on resume', async () => {
    const { intentId, handle } = await start();
    const result = await handle.executeUpdate(resumeUpdate, {
      args: [
        {
          kind: 'agent',
          action: 'complete',
          actor: 'agent://acme/default/worker',
          body: { result: { ok: 1 } },
        },
      ],
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
    assert.deepEqual(result.completion, { delivered: false, reason: 'reply_to_not_set' });
    assert.deepEqual(new Set(mine.map((c) => c.dedupeKey)).size, 3, 'every step has its own dedupe key');
    // Bookkeeping runs as local activities (markers), never as scheduled activity tasks; the plan
    // load records the delivery, and in progress and completed go in one call.
    const history = await handle.fetchHistory();
    const scheduled = history.events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
    const markers = history.events?.filter((e) => e.markerRecordedEventAttributes) ?? [];
    assert.deepEqual(scheduled, []);
    assert.equal(markers.length, 3, 'the patch marker, the plan load and one call for 2 events');
    await exportHistory(handle, 'intent-complete');
  });

  test('fails on a fail resume and records the error', async () => {
    const { intentId, handle } = await start();
    const result = await handle.executeUpdate(resumeUpdate, {
      args: [{ kind: 'agent', action: 'fail', actor: 'a', body: { error: { message: 'checker failed' } } }],
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
    await handle.executeUpdate(resumeUpdate, {
      args: [{ kind: 'agent', action: 'complete', actor: 'a', body: {} }],
    });
    await assert.rejects(
      handle.executeUpdate(resumeUpdate, {
        args: [{ kind: 'agent', action: 'complete', actor: 'a', body: {} }],
      }),
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
    await handle.executeUpdate(resumeUpdate, {
      args: [{ kind: 'agent', action: 'complete', actor: 'a', body: {} }],
    });
  });

  function eventsOf(intentId: string) {
    return stub.calls.filter((c) => c.intentId === intentId);
  }

  test('resolve CANCELED ends the intent and delivers the completion to reply_to', async () => {
    const { intentId, handle } = await start({ replyTo: 'agent://acme/default/caller' });
    for (let i = 0; i < 50 && (await handle.query(stateQuery)).status !== 'DELIVERED'; i++)
      await new Promise((r) => setTimeout(r, 50));
    const result = await handle.executeUpdate(resolveUpdate, {
      args: [{ status: 'CANCELED', actor: 'agent://acme/default/caller', reason: 'operator' }],
    });
    assert.equal(result.status, 'CANCELED');
    assert.equal(result.completion.delivered, true);
    assert.equal(result.completion.thread_id, intentId);
    assert.deepEqual(
      eventsOf(intentId).map((c) => c.eventType),
      ['intent.delivered', 'intent.canceled'],
    );
    await exportHistory(handle, 'intent-resolve-cancel');
  });

  test('a deadline records intent.timeout then TIMED_OUT', async () => {
    const { intentId, handle } = await start({ deadlineAt: Date.now() + 1_500 });
    const final = (await handle.result()) as IntentWorkflowState;
    assert.equal(final.status, 'TIMED_OUT');
    assert.deepEqual(
      eventsOf(intentId).map((c) => [c.eventType, c.status ?? null]),
      [
        ['intent.delivered', 'DELIVERED'],
        ['intent.timeout', null],
        ['intent.timed_out', 'TIMED_OUT'],
      ],
    );
    await exportHistory(handle, 'intent-deadline');
  });

  test('a step a lost workflow task stored is adopted: the next event follows it or is dropped', async () => {
    // A lost task's event on the run's next step (its worker died after the local activity
    // committed), then the run's own work in another order: a resume, a deadline.
    const lostAt = (intentId: string, event: Omit<RecordEventInput, 'intentId' | 'orgId' | 'dedupeKey'>) =>
      stub.activities.recordEvent({
        ...event,
        intentId,
        orgId: randomUUID(),
        dedupeKey: workflowStepKey(eventsOf(intentId).length + 1),
      });
    const started = await Promise.all(
      [{}, { deadlineAt: Date.now() + 2_000 }].map(async (plan) => {
        const run = await start(plan);
        await run.handle.executeUpdate(resumeUpdate, {
          args: [{ kind: 'agent', action: 'in_progress', actor: 'agent://acme/default/worker', body: {} }],
        });
        return run;
      }),
    );
    const [resumed, timed] = started as [(typeof started)[0], (typeof started)[0]];
    await lostAt(resumed.intentId, { eventType: 'intent.reminder', actor: SYSTEM_ACTOR, remindCount: 1 });
    await lostAt(timed.intentId, { eventType: 'intent.completed', status: 'COMPLETED', actor: 'agent://x' });

    const done = await resumed.handle.executeUpdate(resumeUpdate, {
      args: [
        {
          kind: 'agent',
          action: 'complete',
          actor: 'agent://acme/default/worker',
          body: { result: { ok: 1 } },
        },
      ],
    });
    assert.equal(done.status, 'COMPLETED');
    assert.deepEqual(
      eventsOf(resumed.intentId).map((c) => c.eventType),
      ['intent.delivered', 'intent.in_progress', 'intent.reminder', 'intent.completed'],
    );
    assert.equal(((await resumed.handle.result()) as IntentWorkflowState).status, 'COMPLETED');

    // The deadline's events are dropped: the ledger is terminal, and the run ends with it.
    assert.equal(((await timed.handle.result()) as IntentWorkflowState).status, 'COMPLETED');
    assert.deepEqual(
      eventsOf(timed.intentId).map((c) => c.eventType),
      ['intent.delivered', 'intent.in_progress', 'intent.completed'],
    );
    await exportHistory(resumed.handle, 'intent-step-taken-resume');
    await exportHistory(timed.handle, 'intent-step-taken-deadline');
  });

  test('reminders up to max_reminders, then escalation transfers to escalate_to', async () => {
    const { intentId, handle } = await start({
      remindAfterSeconds: 1,
      remindIntervalSeconds: 1,
      maxReminders: 2,
      escalateTo: 'agent://acme/default/oncall',
    });
    let state = await handle.query(stateQuery);
    for (let i = 0; i < 100 && state.handler !== 'agent://acme/default/oncall'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await handle.query(stateQuery);
    }
    assert.equal(state.handler, 'agent://acme/default/oncall');
    await handle.executeUpdate(resolveUpdate, {
      args: [{ status: 'COMPLETED', actor: 'a', result: { ok: true } }],
    });
    await handle.result();
    const mine = eventsOf(intentId);
    assert.deepEqual(
      mine.map((c) => c.eventType),
      [
        'intent.delivered',
        'intent.reminder',
        'intent.reminder',
        'intent.escalated',
        'intent.transfer',
        'intent.in_progress',
        'intent.completed',
      ],
    );
    assert.deepEqual(
      mine.filter((c) => c.eventType === 'intent.reminder').map((c) => c.remindCount),
      [1, 2],
    );
    const transfer = mine.find((c) => c.eventType === 'intent.transfer')!;
    assert.equal(transfer.handler, 'agent://acme/default/oncall');
    assert.equal(transfer.deliverTo, 'agent://acme/default/oncall');
    await exportHistory(handle, 'intent-remind-escalate');
  });

  test('a human task waits for a task_result; a rejected outcome ends FAILED', async () => {
    const task = { title: 'Approve deploy', assignees: ['ops@example.com'] };
    const approved = await start({ humanTask: task });
    let state = await approved.handle.query(stateQuery);
    for (let i = 0; i < 50 && state.waitingReason !== 'WAITING_FOR_HUMAN'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await approved.handle.query(stateQuery);
    }
    assert.equal(state.status, 'WAITING');
    assert.deepEqual(state.pendingWith, { type: 'human', ref: 'ops@example.com', name: 'Approve deploy' });
    const ok = await approved.handle.executeUpdate(resumeUpdate, {
      args: [{ kind: 'task_result', actor: 'a', taskResult: { outcome: 'approved', comment: 'go' } }],
    });
    assert.equal(ok.status, 'COMPLETED');
    assert.deepEqual(
      eventsOf(approved.intentId).map((c) => c.eventType),
      ['intent.delivered', 'intent.human_task_assigned', 'intent.in_progress', 'intent.completed'],
    );
    await exportHistory(approved.handle, 'intent-human-task');

    const rejected = await start({ humanTask: task });
    const no = await rejected.handle.executeUpdate(resumeUpdate, {
      args: [{ kind: 'task_result', actor: 'a', taskResult: { outcome: 'rejected' } }],
    });
    assert.equal(no.status, 'FAILED');
  });

  test('a plan load retried after it stored the delivery still opens the human task, once delivered', async () => {
    const intentId = randomUUID();
    stub.lostLoads.add(intentId);
    const { handle } = await start(
      { humanTask: { title: 'Check', assignees: ['ops@example.com'] } },
      undefined,
      intentId,
    );
    let state = await handle.query(stateQuery);
    for (let i = 0; i < 50 && state.waitingReason !== 'WAITING_FOR_HUMAN'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await handle.query(stateQuery);
    }
    assert.equal(state.waitingReason, 'WAITING_FOR_HUMAN');
    assert.equal(stub.lostLoads.has(intentId), false, 'the first load failed after storing');
    assert.deepEqual(
      eventsOf(intentId).map((c) => [c.eventType, c.dedupeKey]),
      [
        ['intent.delivered', 'step-1'],
        ['intent.human_task_assigned', 'step-2'],
      ],
    );
    await handle.executeUpdate(resolveUpdate, { args: [{ status: 'CANCELED', actor: 'a' }] });
  });

  test('a resume flavour that does not fit the state is refused and changes nothing', async () => {
    const { intentId, handle } = await start();
    await assert.rejects(
      handle.executeUpdate(resumeUpdate, {
        args: [{ kind: 'task_result', actor: 'a', taskResult: { outcome: 'approved' } }],
      }),
      WorkflowUpdateFailedError,
    );
    await assert.rejects(
      handle.executeUpdate(resumeUpdate, { args: [{ kind: 'approve', actor: 'a' }] }),
      WorkflowUpdateFailedError,
    );
    assert.deepEqual(
      eventsOf(intentId).map((c) => c.eventType),
      ['intent.delivered'],
    );
    await handle.executeUpdate(resolveUpdate, { args: [{ status: 'CANCELED', actor: 'a', reason: 'done' }] });
  });

  test('http delivery retries with backoff until a 2xx; an open circuit does not use up attempts', async () => {
    const { intentId, handle } = await start({
      binding: { mode: 'http', callbackUrl: 'http://127.0.0.1:9/x' },
    });
    stub.httpScript.set(intentId, [
      { ok: false, error: 'HTTP 500', counted: true },
      { ok: false, error: 'circuit open', counted: false, retryAfterMs: 30 },
      { ok: false, error: 'HTTP 503', counted: true },
      { ok: true, httpStatus: 200 },
    ]);
    let state = await handle.query(stateQuery);
    for (let i = 0; i < 100 && state.status !== 'DELIVERED'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      state = await handle.query(stateQuery);
    }
    assert.equal(state.status, 'DELIVERED');
    assert.deepEqual(
      stub.httpCalls.filter((c) => c.intentId === intentId).map((c) => c.attempt),
      [1, 2, 2, 3],
    );
    assert.equal(eventsOf(intentId)[0]!.deliveryAttempt, 3);
    await handle.executeUpdate(resolveUpdate, { args: [{ status: 'CANCELED', actor: 'a', reason: 'done' }] });
    await exportHistory(handle, 'intent-http-retry');
  });

  test('a scenario runs agent, human approval, delay and notification steps; each advance is a transfer', async () => {
    const bundle = scenarioBundleSchema.parse({
      scenario_id: 'ops.release',
      agents: [{ role: 'builder', address: 'agent://acme/default/worker' }],
      humans: [{ role: 'approver', contact: 'ops@acme.example' }],
      workflow: {
        steps: [
          { step_id: 'build', assigned_to: 'builder' },
          { step_id: 'approve', runtime_type: 'human_approval', assigned_to: 'approver' },
          { step_id: 'pause', runtime_type: 'delay', runtime_config: { seconds: 1 } },
          {
            step_id: 'tell',
            runtime_type: 'notification',
            runtime_config: { channel: 'webhook', url: 'http://127.0.0.1:9/notify' },
          },
        ],
      },
      intent: { type: 'ops.release.v1' },
    });
    const compiled = compileScenario(bundle, {
      orgSlug: 'acme',
      workspaceSlug: 'default',
      submitter: 'agent://acme/default/boss',
    });
    assert.deepEqual(compiled.errors, []);
    const { intentId, handle } = await start({ scenario: { ...compiled.plan!, compileId: 'compile-1' } });
    const waitFor = async (pred: (s: IntentWorkflowState) => boolean) => {
      for (let i = 0; i < 100; i++) {
        if (pred(await handle.query(stateQuery))) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail('the workflow did not get there');
    };
    await waitFor((s) => s.status === 'DELIVERED');
    await handle.executeUpdate(resumeUpdate, {
      args: [
        {
          kind: 'agent',
          action: 'complete',
          actor: 'agent://acme/default/worker',
          body: { result: { n: 1 } },
        },
      ],
    });
    await waitFor((s) => s.waitingReason === 'WAITING_FOR_HUMAN');
    await handle.executeUpdate(resumeUpdate, {
      args: [{ kind: 'task_result', actor: 'human:ops@acme.example', taskResult: { outcome: 'approved' } }],
    });
    const final = (await handle.result()) as IntentWorkflowState;
    assert.equal(final.status, 'COMPLETED');
    const mine = stub.calls.filter((c) => c.intentId === intentId);
    assert.deepEqual(
      mine.map((c) => [c.eventType, c.details?.step_id ?? null]),
      [
        ['intent.delivered', 'build'],
        ['intent.in_progress', 'build'],
        ['intent.transfer', 'approve'],
        ['intent.human_task_assigned', 'approve'],
        ['intent.in_progress', 'approve'],
        ['intent.transfer', 'pause'],
        ['intent.waiting', 'pause'],
        ['intent.in_progress', 'pause'],
        ['intent.transfer', 'tell'],
        ['intent.completed', null],
      ],
    );
    assert.deepEqual(mine.at(-1)!.result, {
      scenario_id: 'ops.release',
      steps: {
        build: { n: 1 },
        approve: { task_result: { outcome: 'approved' } },
        pause: { waited_seconds: 1 },
        tell: { queued: true, channel: 'webhook' },
      },
      last_step: 'tell',
    });
    for (let i = 0; i < 100 && !stub.notifications.some((n) => n.intentId === intentId); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      stub.notifications.some((n) => n.intentId === intentId),
      'the notification workflow ran',
    );
    await exportHistory(handle, 'intent-scenario');
  });

  test('http delivery that keeps failing ends FAILED with intent.delivery_failed', async () => {
    const { intentId, handle } = await start({
      binding: { mode: 'http', callbackUrl: 'http://127.0.0.1:9/x' },
      maxDeliveryAttempts: 2,
    });
    stub.httpScript.set(intentId, [
      { ok: false, error: 'HTTP 500', counted: true },
      { ok: false, error: 'HTTP 500', counted: true },
    ]);
    const final = (await handle.result()) as IntentWorkflowState;
    assert.equal(final.status, 'FAILED');
    const events = eventsOf(intentId);
    assert.deepEqual(
      events.map((c) => c.eventType),
      ['intent.delivery_failed'],
    );
    assert.equal(events[0]!.details?.delivery_attempt, 2);
    await exportHistory(handle, 'intent-http-exhausted');
  });

  test('transfer hands the intent to a new handler without a status change', async () => {
    const { intentId, handle } = await start();
    const moved = await handle.executeUpdate(transferUpdate, {
      args: [
        { toAgent: 'agent://acme/default/second', actor: 'a', reason: 'shift change', cause: 'transfer' },
      ],
    });
    assert.equal(moved.handler, 'agent://acme/default/second');
    await assert.rejects(
      handle.executeUpdate(transferUpdate, {
        args: [{ toAgent: 'agent://acme/default/second', actor: 'a', cause: 'transfer' }],
      }),
      WorkflowUpdateFailedError,
    );
    const state = await handle.query(stateQuery);
    assert.equal(state.status, 'DELIVERED');
    await handle.executeUpdate(resolveUpdate, { args: [{ status: 'CANCELED', actor: 'a', reason: 'done' }] });
    const transfer = eventsOf(intentId).find((c) => c.eventType === 'intent.transfer')!;
    assert.equal(transfer.status, undefined);
    assert.equal(transfer.deliverTo, 'agent://acme/default/second');
    await exportHistory(handle, 'intent-transfer');
  });

  test('a controls change that sets a deadline re-arms the timer', async () => {
    const { intentId, handle } = await start();
    const changed = await handle.executeUpdate(policyUpdate, {
      args: [{ actor: 'a', controls: { timeout_seconds: 1 }, deadlineAt: Date.now() + 1_000 }],
    });
    assert.equal(changed.applied, true);
    const final = (await handle.result()) as IntentWorkflowState;
    assert.equal(final.status, 'TIMED_OUT');
    assert.equal(eventsOf(intentId).at(-1)!.eventType, 'intent.timed_out');
    await exportHistory(handle, 'intent-policy-deadline');
  });

  describe('policy approval gate', () => {
    const approval = {
      approver: 'agent://acme/default/lead',
      rule: { entry_id: 'e1', kind: 'agent_send', sender_pattern: 'agent://partner/*', decision: 'escalate' },
    };

    async function gated(plan: StubPlan = {}) {
      const started = await start({ approval, ...plan });
      let state = await started.handle.query(stateQuery);
      for (let i = 0; i < 100 && state.waitingReason !== 'WAITING_FOR_APPROVAL'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        state = await started.handle.query(stateQuery);
      }
      assert.equal(state.status, 'WAITING');
      assert.equal(state.waitingReason, 'WAITING_FOR_APPROVAL');
      return { ...started, state };
    }

    test('an escalated intent waits for approval, then is delivered and completes', async () => {
      const { intentId, handle, state } = await gated({ replyTo: 'agent://acme/default/caller' });
      assert.deepEqual(state.pendingWith, {
        type: 'human',
        ref: 'agent://acme/default/lead',
        name: 'policy approval',
      });
      assert.deepEqual(stub.approvalsOpened.filter((i) => i === intentId).length, 1);
      const waiting = eventsOf(intentId)[0]!;
      assert.equal(waiting.eventType, 'intent.waiting');
      assert.equal(waiting.deliverTo, undefined, 'nothing reaches the handler before approval');
      assert.equal(waiting.details?.approval_id, `approval-${intentId}`);
      assert.deepEqual(waiting.details?.rule, approval.rule);

      const approved = await handle.executeUpdate(policyApprovalUpdate, {
        args: [{ decision: 'approved', actor: 'agent://acme/default/lead', comment: 'partner is known' }],
      });
      assert.equal(approved.status, 'DELIVERED');
      const delivered = eventsOf(intentId)[1]!;
      assert.equal(approved.seq, 4);
      assert.equal(delivered.eventType, 'intent.delivered');
      assert.equal(delivered.deliverTo, 'agent://acme/default/worker');
      assert.deepEqual(delivered.details?.approval, {
        decision: 'approved',
        approver: 'agent://acme/default/lead',
        comment: 'partner is known',
        approval_id: `approval-${intentId}`,
      });
      // A second decision finds nothing pending.
      await assert.rejects(
        handle.executeUpdate(policyApprovalUpdate, { args: [{ decision: 'rejected', actor: 'x' }] }),
        WorkflowUpdateFailedError,
      );
      await handle.executeUpdate(resumeUpdate, {
        args: [
          { kind: 'agent', action: 'complete', actor: 'agent://acme/default/worker', body: { result: {} } },
        ],
      });
      assert.equal(((await handle.result()) as IntentWorkflowState).status, 'COMPLETED');
      assert.deepEqual(
        eventsOf(intentId).map((c) => [c.eventType, c.status ?? null, c.waitingReason ?? null]),
        [
          ['intent.waiting', 'WAITING', 'WAITING_FOR_APPROVAL'],
          ['intent.delivered', 'DELIVERED', null],
          ['intent.in_progress', 'IN_PROGRESS', null],
          ['intent.completed', 'COMPLETED', null],
        ],
      );
      await exportHistory(handle, 'intent-policy-approve');
    });

    test('a rejected approval ends FAILED with policy_denied and the approver comment', async () => {
      const { intentId, handle } = await gated();
      const rejected = await handle.executeUpdate(policyApprovalUpdate, {
        args: [{ decision: 'rejected', actor: 'agent://acme/default/lead', comment: 'not this vendor' }],
      });
      assert.equal(rejected.status, 'FAILED');
      assert.equal(((await handle.result()) as IntentWorkflowState).status, 'FAILED');
      const mine = eventsOf(intentId);
      assert.deepEqual(
        mine.map((c) => c.eventType),
        ['intent.waiting', 'intent.failed'],
      );
      const failed = mine[1]!;
      const error = failed.error as { code: string; message: string; details: Record<string, unknown> };
      assert.equal(error.code, 'policy_denied');
      assert.match(error.message, /not this vendor/);
      assert.equal(error.details.comment, 'not this vendor');
      assert.equal(failed.actor, 'agent://acme/default/lead');
      assert.ok(
        mine.every((c) => c.deliverTo === undefined),
        'the handler never got it',
      );
      await exportHistory(handle, 'intent-policy-reject');
    });

    test('resume and transfer wait for the approval (409); cancel works while waiting', async () => {
      const { intentId, handle } = await gated();
      for (const update of [
        () =>
          handle.executeUpdate(resumeUpdate, {
            args: [{ kind: 'agent', action: 'complete', actor: 'a', body: {} }],
          }),
        () => handle.executeUpdate(resumeUpdate, { args: [{ kind: 'approve', actor: 'a' }] }),
        () =>
          handle.executeUpdate(transferUpdate, {
            args: [{ toAgent: 'agent://acme/default/second', actor: 'a', cause: 'transfer' }],
          }),
      ])
        await assert.rejects(update(), (err: unknown) => {
          assert.ok(err instanceof WorkflowUpdateFailedError);
          assert.ok(err.cause instanceof ApplicationFailure);
          assert.deepEqual(err.cause.details, ['approval_pending']);
          return true;
        });
      const canceled = await handle.executeUpdate(resolveUpdate, {
        args: [{ status: 'CANCELED', actor: 'a', reason: 'not needed' }],
      });
      assert.equal(canceled.status, 'CANCELED');
      assert.equal(((await handle.result()) as IntentWorkflowState).status, 'CANCELED');
      assert.deepEqual(
        eventsOf(intentId).map((c) => c.eventType),
        ['intent.waiting', 'intent.canceled'],
      );
    });

    test('the deadline still times out an intent waiting for approval', async () => {
      const { intentId, handle } = await gated({ deadlineAt: Date.now() + 1_500 });
      const final = (await handle.result()) as IntentWorkflowState;
      assert.equal(final.status, 'TIMED_OUT');
      assert.deepEqual(
        eventsOf(intentId).map((c) => c.eventType),
        ['intent.waiting', 'intent.timeout', 'intent.timed_out'],
      );
      await assert.rejects(
        handle.executeUpdate(policyApprovalUpdate, { args: [{ decision: 'approved', actor: 'x' }] }),
      );
    });

    test('an intent without escalation has no approval to decide', async () => {
      const { intentId, handle } = await start();
      await assert.rejects(
        handle.executeUpdate(policyApprovalUpdate, { args: [{ decision: 'approved', actor: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof WorkflowUpdateFailedError);
          assert.deepEqual((err.cause as ApplicationFailure).details, ['approval_not_pending']);
          return true;
        },
      );
      assert.ok(!stub.approvalsOpened.includes(intentId));
      await handle.executeUpdate(resolveUpdate, {
        args: [{ status: 'CANCELED', actor: 'a', reason: 'done' }],
      });
    });
  });
});
