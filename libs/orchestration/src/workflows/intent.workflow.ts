// The durable lifecycle of one intent (SPEC §3, §5). Deterministic: state changes only through
// activities, whose results come back from history on replay; every timer is a Temporal timer, so
// deadlines, reminders, escalation and delivery backoff survive restarts of every Axle process.
// Workflow id = intent id.
import {
  canTransition,
  type CompletionDelivery,
  type ExecStepActivities,
  type ExecStepJob,
  FAILURE_TYPES,
  type IntentActivities,
  type IntentPlan,
  type IntentWorkflowInput,
  type IntentWorkflowState,
  type LedgerState,
  type NotificationInput,
  type NotifyHumanTaskInput,
  policyUpdate,
  type PolicyUpdateInput,
  type PolicyUpdateResult,
  isTerminal,
  type PendingWith,
  policyApprovalUpdate,
  type PolicyApprovalPlan,
  type PolicyApprovalUpdateInput,
  type PolicyApprovalUpdateResult,
  type RecordEventResult,
  resolveUpdate,
  type ScenarioPlan,
  type ScenarioStepPlan,
  type ResolveUpdateInput,
  type ResolveUpdateResult,
  resumeUpdate,
  type ResumeUpdateInput,
  type ResumeUpdateResult,
  stateQuery,
  SYSTEM_ACTOR,
  transferUpdate,
  type TransferUpdateInput,
  type TransferUpdateResult,
  deliveredEvent,
  type WorkflowEvent,
  WORKFLOW_TYPES,
  workflowStepKey,
} from '@axle/protocol/workflow';
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  currentUpdateInfo,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  type RetryPolicy,
  setHandler,
  startChild,
} from '@temporalio/workflow';

const BOOKKEEPING_RETRY: RetryPolicy = {
  initialInterval: '500 ms',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  nonRetryableErrorTypes: [FAILURE_TYPES.invalidTransition, FAILURE_TYPES.intentNotFound],
};

const activities = proxyActivities<IntentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: BOOKKEEPING_RETRY,
});

/**
 * Recording an event and loading the plan as local activities: short database calls, idempotent
 * (one dedupe key per step), so running them inside the workflow task saves a server round trip
 * and a workflow task per event (issue #8 benchmarks). Workflows that started before this ran them
 * as scheduled activities and keep doing so on replay (see `ledger`).
 */
const localBookkeeping = proxyLocalActivities<
  Pick<IntentActivities, 'recordEvent' | 'recordEvents' | 'loadPlan'>
>({
  startToCloseTimeout: '30 seconds',
  retry: BOOKKEEPING_RETRY,
});
const LOCAL_BOOKKEEPING_PATCH = 'local-bookkeeping';
/**
 * Fewer local activities per intent (issue #8 benchmarks): the plan load records a direct delivery
 * itself, and events recorded back to back (in progress then completed, timeout then timed out) go
 * in one call. Each local activity is a round trip to the activity side and a workflow activation.
 */
const BATCHED_BOOKKEEPING_PATCH = 'batched-bookkeeping';

/** Emails to people: a few quick tries, then the flow goes on without them (never blocks it). */
const notices = proxyActivities<Pick<IntentActivities, 'notifyHumanTask'>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
});

/** Starting and cancelling an exec_job step's job: quick calls, retried on infrastructure errors. */
const execSteps = proxyActivities<Pick<ExecStepActivities, 'startExecJob' | 'cancelExecJob'>>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
  },
});

/**
 * Waiting for the job: a long activity that heartbeats, so a worker that dies is noticed within the
 * heartbeat timeout and another worker picks the wait up (the job itself runs on a runner).
 */
const jobWaits = proxyActivities<Pick<ExecStepActivities, 'awaitExecJob'>>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Outcomes of a human task that end the intent FAILED rather than COMPLETED. */
const NEGATIVE_OUTCOMES = new Set(['rejected', 'declined', 'failed', 'denied']);

export async function intentWorkflow(input: IntentWorkflowInput): Promise<IntentWorkflowState> {
  // Handlers are registered before the first await so no query or update finds them missing; the
  // plan load is the first item of the exclusive queue, so every update runs after it.
  const state: IntentWorkflowState = {
    status: 'SUBMITTED',
    waitingReason: null,
    pendingWith: { type: 'agent', ref: input.toAgent, name: null },
    handler: input.toAgent,
    remindCount: 0,
    deadlineAt: null,
    completion: null,
  };
  let plan = undefined as unknown as IntentPlan;
  let step = 0;
  let deliveryAttempt = 0;
  let deliveryDone = false;
  let timersChanged = false;
  /** An http delivery to start from the main loop (after a transfer), so no handler waits on backoff. */
  const pending: { http: { address: string; callbackUrl: string } | null } = { http: null };
  /**
   * The approval gate of an intent a send/receive policy escalated (SPEC §2 "Policies"): opened
   * before delivery, closed by the approver's decision. Never opened for other intents.
   */
  const gate: {
    open: boolean;
    threadId: string | null;
    decision: PolicyApprovalUpdateInput | null;
    deliveredSeq: number | null;
  } = { open: false, threadId: null, decision: null, deliveredSeq: null };

  // One state change at a time: updates and timers queue here, so events keep lifecycle order.
  let tail: Promise<unknown> = Promise.resolve();
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Decided once, at the plan load (the first thing every run does), so one run never mixes them.
   * Batching implies local bookkeeping, so a new run records one patch marker, not two (each is
   * also a search attribute update on the server).
   */
  let local: boolean | undefined;
  let batched = false;
  function ledger(): Pick<IntentActivities, 'recordEvent' | 'loadPlan'> {
    if (local === undefined) {
      batched = patched(BATCHED_BOOKKEEPING_PATCH);
      local = batched || patched(LOCAL_BOOKKEEPING_PATCH);
    }
    return local ? localBookkeeping : activities;
  }

  /**
   * Records events in order and returns the last one's result. Each is checked against the
   * lifecycle first; with batched bookkeeping they go in one local activity, else one call each.
   */
  async function record(...events: WorkflowEvent[]): Promise<RecordEventResult> {
    let last: RecordEventResult | undefined;
    let next = 0;
    while (next < events.length) {
      const batch = batched ? events.slice(next) : [events[next]!];
      let inputs: ReturnType<typeof stepInputs>;
      try {
        if (last?.stepTaken) assertOpen();
        inputs = stepInputs(batch);
      } catch (err) {
        // After adopting the ledger, outside an update nobody waits for an answer: its state stands.
        if (last?.stepTaken && !currentUpdateInfo()) return last;
        throw err;
      }
      const results =
        inputs.length === 1
          ? [await ledger().recordEvent(inputs[0]!)]
          : await localBookkeeping.recordEvents(inputs);
      for (const result of results) {
        last = result;
        if (result.stepTaken) {
          await adoptLedger(result.stepTaken);
          break;
        }
        applyRecorded(events[next]!, result);
        next += 1;
      }
    }
    return last!;
  }

  /**
   * A lost workflow task's event holds the step (RecordEventResult.stepTaken): the run takes the
   * ledger's state and step count, so its own events follow that one, checked against it.
   */
  async function adoptLedger(ledgerState: LedgerState): Promise<void> {
    step = ledgerState.lastStep;
    state.status = ledgerState.status;
    state.waitingReason = ledgerState.waitingReason;
    state.pendingWith = ledgerState.pendingWith;
    if (ledgerState.handler) state.handler = ledgerState.handler;
    if (isTerminal(state.status)) await finish();
  }

  /** The events' activity inputs, each on the next step, refused if the lifecycle does not allow it. */
  function stepInputs(events: WorkflowEvent[]) {
    let status = state.status;
    let waitingReason = state.waitingReason;
    let next = step;
    const inputs = events.map((event) => {
      const to = event.status ?? status;
      if (to !== status && !canTransition(status, to, waitingReason))
        refuse(`intent is ${status}; ${to} is not allowed`);
      if (event.status !== undefined) waitingReason = event.waitingReason ?? null;
      status = to;
      next += 1;
      return {
        ...event,
        ...(plan?.scenario ? { currentStep: stepWait.currentStep } : {}),
        intentId: input.intentId,
        orgId: input.orgId,
        dedupeKey: workflowStepKey(next),
      };
    });
    step = next;
    return inputs;
  }

  function applyRecorded(event: WorkflowEvent, result: RecordEventResult): void {
    state.status = result.status;
    if (event.status !== undefined) state.waitingReason = event.waitingReason ?? null;
    if (event.pendingWith !== undefined) state.pendingWith = event.pendingWith;
    if (event.handler) state.handler = event.handler;
  }

  /** Ends the lifecycle's bookkeeping: the completion goes to the reply_to inbox (SPEC §3). */
  async function finish(): Promise<CompletionDelivery> {
    state.completion ??=
      plan.replyTo || plan.humanTask || plan.approval || plan.scenario
        ? await activities.deliverCompletion({ intentId: input.intentId, orgId: input.orgId })
        : { delivered: false, reason: 'reply_to_not_set' };
    return state.completion;
  }

  function inProgress(actor: string, details?: Record<string, unknown>): WorkflowEvent {
    return { eventType: 'intent.in_progress', status: 'IN_PROGRESS', actor, ...(details ? { details } : {}) };
  }

  /**
   * The terminal event, after an in-progress one when the intent is not in progress yet and either it
   * completes or `progress` details are given (a human task's result).
   */
  async function end(
    status: 'COMPLETED' | 'FAILED' | 'CANCELED',
    actor: string,
    fields: { result?: unknown; error?: unknown; details?: Record<string, unknown> },
    progress?: Record<string, unknown>,
  ): Promise<{ seq: number; completion: CompletionDelivery }> {
    const eventType =
      status === 'COMPLETED' ? 'intent.completed' : status === 'FAILED' ? 'intent.failed' : 'intent.canceled';
    const ending: WorkflowEvent = { eventType, status, actor, ...fields };
    const recorded =
      state.status !== 'IN_PROGRESS' && (status === 'COMPLETED' || progress)
        ? await record(inProgress(actor, progress), ending)
        : await record(ending);
    return { seq: recorded.seq, completion: await finish() };
  }

  async function applyResume(request: ResumeUpdateInput): Promise<ResumeUpdateResult> {
    assertOpen();
    if (stepWait.waitsFor) {
      const stepAnswer = await applyStepResume(request);
      if (stepAnswer) return stepAnswer;
    } else if (
      plan.scenario &&
      (request.kind !== 'agent' || request.action === 'complete' || request.action === 'fail')
    )
      refuse(
        `no step of this scenario waits for a result now (step ${stepWait.currentStep ?? 'none'})`,
        'no_step_waiting',
      );
    const actor = request.actor;
    if (
      request.kind === 'task_result' ||
      (request.kind === 'approve' && state.waitingReason === 'WAITING_FOR_HUMAN')
    ) {
      if (state.waitingReason !== 'WAITING_FOR_HUMAN')
        refuse('no human task is waiting for a result', 'no_human_task_pending');
      const taskResult =
        request.kind === 'task_result'
          ? request.taskResult
          : { outcome: 'approved', ...(request.reason ? { comment: request.reason } : {}) };
      const progress = { task_result: taskResult };
      const done = NEGATIVE_OUTCOMES.has(taskResult.outcome)
        ? await end(
            'FAILED',
            actor,
            {
              error: {
                code: 'task_rejected',
                message: `the human task was ${taskResult.outcome}`,
                category: 'policy',
              },
              details: progress,
            },
            progress,
          )
        : await end('COMPLETED', actor, { result: progress, details: progress }, progress);
      return { status: state.status, ...done };
    }
    if (request.kind === 'approve') {
      if (state.status !== 'WAITING')
        refuse(`nothing waits for approval: intent is ${state.status}`, 'nothing_to_approve');
      const recorded = await record({
        eventType: 'intent.in_progress',
        status: 'IN_PROGRESS',
        actor,
        details: { approved: true, reason: request.reason ?? null },
      });
      return { status: state.status, seq: recorded.seq, completion: null };
    }
    const body = request.body;
    switch (request.action) {
      case 'acknowledge': {
        const recorded = await record({ eventType: 'intent.acknowledged', status: 'ACKNOWLEDGED', actor });
        return { status: state.status, seq: recorded.seq, completion: null };
      }
      case 'in_progress': {
        const recorded = await record({
          eventType: 'intent.in_progress',
          status: 'IN_PROGRESS',
          actor,
          details: { progress: body.progress ?? body.note ?? null },
        });
        return { status: state.status, seq: recorded.seq, completion: null };
      }
      case 'wait': {
        const recorded = await record({
          eventType: 'intent.waiting',
          status: 'WAITING',
          waitingReason: request.waitingReason ?? 'WAITING_FOR_AGENT',
          pendingWith: { type: 'agent', ref: state.handler, name: null },
          actor,
          details: { reason: body.reason ?? null },
        });
        return { status: state.status, seq: recorded.seq, completion: null };
      }
      case 'fail': {
        const done = await end('FAILED', actor, {
          error: body.error ?? body,
          details: { reason: body.reason ?? null },
        });
        return { status: state.status, ...done };
      }
      case 'complete': {
        const done = await end('COMPLETED', actor, { result: body.result ?? body });
        return { status: state.status, ...done };
      }
    }
  }

  async function applyResolve(request: ResolveUpdateInput): Promise<ResolveUpdateResult> {
    assertOpen();
    const details = { reason: request.reason ?? null, resolved: true };
    const done =
      request.status === 'COMPLETED'
        ? await end('COMPLETED', request.actor, { result: request.result, details })
        : request.status === 'FAILED'
          ? await end('FAILED', request.actor, { error: request.error, details })
          : await end('CANCELED', request.actor, { details });
    return { status: state.status, ...done };
  }

  async function applyTransfer(request: TransferUpdateInput): Promise<TransferUpdateResult> {
    assertOpen();
    if (request.toAgent === state.handler)
      refuse(`${request.toAgent} already handles this intent`, 'same_handler');
    const binding = await activities.resolveBinding({ orgId: input.orgId, address: request.toAgent });
    const from = state.handler;
    const pendingWith: PendingWith = { type: 'agent', ref: request.toAgent, name: null };
    const recorded = await record({
      eventType: 'intent.transfer',
      handler: request.toAgent,
      pendingWith,
      actor: request.actor,
      deliverTo: request.toAgent,
      details: {
        from_handler: from,
        to_handler: request.toAgent,
        reason: request.reason ?? null,
        cause: request.cause,
      },
    });
    if (binding.mode === 'http' && binding.callbackUrl)
      pending.http = { address: request.toAgent, callbackUrl: binding.callbackUrl };
    return { seq: recorded.seq, handler: state.handler };
  }

  /** Also the updates' validator, so a terminal intent rejects them before they enter history. */
  function assertOpen(_request?: unknown): void {
    if (isTerminal(state.status)) refuse(`intent is ${state.status}`, 'intent_terminal');
  }

  /** Resume and transfer wait until an escalated intent is approved: its handler does not have it yet. */
  function assertReleased(_request?: unknown): void {
    assertOpen();
    if (gate.open && gate.decision === null)
      refuse('the intent waits for a policy approval and has not been delivered', 'approval_pending');
  }

  function assertApprovalPending(_request?: unknown): void {
    assertOpen();
    if (!gate.open || gate.decision !== null)
      refuse('no policy approval is pending for this intent', 'approval_not_pending');
  }

  /**
   * The approver's decision. Rejected: FAILED with policy_denied and the approver's comment.
   * Approved: the main flow delivers; the answer waits for the delivery event, except over http,
   * whose retries may take long (the intent then moves on while the caller has its answer).
   */
  async function applyApproval(request: PolicyApprovalUpdateInput): Promise<PolicyApprovalUpdateResult> {
    gate.decision = request;
    const approval = {
      decision: request.decision,
      approver: request.actor,
      comment: request.comment ?? null,
      approval_id: gate.threadId,
    };
    if (request.decision === 'rejected')
      return exclusive(async () => {
        assertOpen();
        const comment = request.comment ? `: ${request.comment}` : '';
        const done = await end('FAILED', request.actor, {
          error: {
            code: 'policy_denied',
            message: `the policy approval was rejected by ${request.actor}${comment}`,
            category: 'policy',
            retryable: false,
            details: { approver: request.actor, comment: request.comment ?? null },
          },
          details: { approval },
        });
        return { status: state.status, ...done };
      });
    await condition(
      () =>
        deliveryDone ||
        isTerminal(state.status) ||
        (plan.binding.mode === 'http' && plan.binding.callbackUrl !== null),
    );
    return { status: state.status, seq: gate.deliveredSeq, completion: null };
  }

  // Queued before any handler is registered: an update delivered with the start runs after it.
  const planLoaded = exclusive(async () => {
    const book = ledger(); // first: it also decides `batched`, which the input below reads
    const loaded = await book.loadPlan({
      intentId: input.intentId,
      orgId: input.orgId,
      ...(batched ? { deliverDirectly: true } : {}),
    });
    state.status = loaded.status;
    state.handler = loaded.handler;
    state.pendingWith = { type: 'agent', ref: loaded.handler, name: null };
    state.remindCount = loaded.remindCount;
    state.deadlineAt = loaded.deadlineAt;
    deliveryAttempt = loaded.deliveryAttempt;
    step = loaded.recordedSteps ?? 0;
    plan = loaded;
    if (loaded.delivered) {
      step += 1;
      applyRecorded(deliveredEvent(loaded, loaded.deliveryAttempt), loaded.delivered);
    }
  });

  setHandler(stateQuery, () => state);
  setHandler(
    policyUpdate,
    (request: PolicyUpdateInput) =>
      exclusive(async (): Promise<PolicyUpdateResult> => {
        assertOpen();
        const result = await activities.changePolicy({
          ...request,
          intentId: input.intentId,
          orgId: input.orgId,
        });
        if (result.applied && result.deadlineAt !== state.deadlineAt) {
          state.deadlineAt = result.deadlineAt;
          timersChanged = true;
        }
        return result;
      }),
    { validator: assertOpen },
  );
  setHandler(
    resumeUpdate,
    async (request: ResumeUpdateInput) => {
      // A resume that races the delivery is applied after it, so events keep the lifecycle order.
      await condition(() => deliveryDone || isTerminal(state.status));
      return exclusive(() => applyResume(request));
    },
    { validator: assertReleased },
  );
  setHandler(resolveUpdate, (request: ResolveUpdateInput) => exclusive(() => applyResolve(request)), {
    validator: assertOpen,
  });
  setHandler(transferUpdate, (request: TransferUpdateInput) => exclusive(() => applyTransfer(request)), {
    validator: assertReleased,
  });
  setHandler(policyApprovalUpdate, applyApproval, { validator: assertApprovalPending });

  /** POSTs to an http agent until a 2xx or max_delivery_attempts, with exponential backoff and jitter. */
  async function deliverOverHttp(address: string, callbackUrl: string): Promise<boolean> {
    for (;;) {
      if (isTerminal(state.status) || state.handler !== address) return false;
      const outcome = await activities.deliverHttp({
        intentId: input.intentId,
        orgId: input.orgId,
        address,
        callbackUrl,
        attempt: deliveryAttempt + 1,
      });
      if (outcome.ok) {
        deliveryAttempt += 1;
        return true;
      }
      if (outcome.counted) deliveryAttempt += 1;
      if (deliveryAttempt >= plan.maxDeliveryAttempts) {
        await exclusive(async () => {
          if (isTerminal(state.status)) return;
          await record({
            eventType: 'intent.delivery_failed',
            status: 'FAILED',
            actor: SYSTEM_ACTOR,
            deliveryAttempt,
            error: {
              code: 'delivery_failed',
              message: outcome.error,
              category: 'transport',
              retryable: false,
            },
            details: { delivery_attempt: deliveryAttempt, handler: address, error: outcome.error },
          });
          await finish();
        });
        return false;
      }
      const base = Math.min(
        plan.retry.backoffMaxMs,
        plan.retry.backoffMs * 2 ** Math.max(0, deliveryAttempt - 1),
      );
      // "Equal jitter": half fixed, half random, so retries from many intents spread out.
      const wait = Math.max(outcome.retryAfterMs ?? 0, Math.round(base / 2 + Math.random() * (base / 2)));
      await condition(() => isTerminal(state.status), wait);
    }
  }

  await planLoaded;

  // An intent a policy escalated waits for its approver before anything reaches its handler.
  if (plan.approval && state.status === 'SUBMITTED') await awaitApproval(plan.approval);
  const released = gate.decision?.decision === 'approved' && state.status === 'WAITING';

  // Delivery to the first handler (a scenario's steps deliver themselves), unless the gateway's
  // create or the plan load recorded it already.
  if (!plan.scenario && (state.status === 'SUBMITTED' || released)) {
    const delivered =
      plan.binding.mode === 'http' && plan.binding.callbackUrl
        ? await deliverOverHttp(plan.handler, plan.binding.callbackUrl)
        : true;
    if (delivered) {
      await exclusive(async () => {
        if (isTerminal(state.status)) return;
        const approval =
          released && gate.decision
            ? {
                decision: 'approved',
                approver: gate.decision.actor,
                comment: gate.decision.comment ?? null,
                approval_id: gate.threadId,
              }
            : undefined;
        const delivered = await record(deliveredEvent(plan, deliveryAttempt, approval));
        if (released) gate.deliveredSeq = delivered.seq;
        if (plan.humanTask) await assignHumanTask(plan.humanTask);
      });
    }
  } else if (batched && plan.humanTask && !plan.scenario && state.status === 'DELIVERED') {
    // Delivered by the gateway's create or the plan load (`delivered` is absent when an attempt's
    // result was lost, but the status says it), its task not assigned yet: assigning makes it WAITING.
    const task = plan.humanTask;
    await exclusive(async () => {
      if (!isTerminal(state.status)) await assignHumanTask(task);
    });
  }
  deliveryDone = true;

  /**
   * Opens the approval task in the approver's inbox and waits WAITING_FOR_APPROVAL for the decision,
   * the deadline, or a cancel (a resolve). A deadline that passes first times the intent out.
   */
  async function awaitApproval(approval: PolicyApprovalPlan): Promise<void> {
    await exclusive(async () => {
      if (isTerminal(state.status)) return;
      const { threadId } = await activities.openPolicyApproval({
        intentId: input.intentId,
        orgId: input.orgId,
      });
      gate.threadId = threadId;
      gate.open = true;
      await record({
        eventType: 'intent.waiting',
        status: 'WAITING',
        waitingReason: 'WAITING_FOR_APPROVAL',
        pendingWith: { type: 'human', ref: approval.approver, name: 'policy approval' },
        actor: SYSTEM_ACTOR,
        details: {
          approval_id: threadId,
          thread_id: threadId,
          approver: approval.approver,
          rule: approval.rule,
        },
      });
    });
    for (;;) {
      if (isTerminal(state.status) || gate.decision) return;
      timersChanged = false;
      const wake = () => isTerminal(state.status) || gate.decision !== null || timersChanged;
      if (state.deadlineAt === null) await condition(wake);
      else if (state.deadlineAt > Date.now()) await condition(wake, state.deadlineAt - Date.now());
      if (isTerminal(state.status) || gate.decision) return;
      if (state.deadlineAt !== null && Date.now() >= state.deadlineAt) {
        await exclusive(() => timeOut());
        return;
      }
    }
  }

  async function assignHumanTask(task: Record<string, unknown>): Promise<void> {
    const { threadId } = await activities.openHumanTask({ intentId: input.intentId, orgId: input.orgId });
    const assignees = Array.isArray(task.assignees)
      ? task.assignees.filter((a) => typeof a === 'string')
      : [];
    const ref = assignees[0] ?? (typeof task.notify_email === 'string' ? task.notify_email : state.handler);
    await record({
      eventType: 'intent.human_task_assigned',
      status: 'WAITING',
      waitingReason: 'WAITING_FOR_HUMAN',
      pendingWith: { type: 'human', ref, name: typeof task.title === 'string' ? task.title : null },
      actor: SYSTEM_ACTOR,
      details: { human_task: task, thread_id: threadId },
    });
  }

  // ---- Scenario steps (docs/humans.md "Scenarios") ----
  // A scenario intent runs its compiled steps one at a time. Each step advance is an intent.transfer
  // with the new pending_with; agent steps wait for their agent's resume, human steps for a task
  // decision, internal steps are timers (delay, timeout), notices (reminder, notification) or a
  // reassignment (escalation). The intent-level deadline keeps running in the timer loop below.

  /** What the current step waits for, and the result that ends the wait. */
  const stepWait: {
    currentStep: string | null;
    waitsFor: 'agent' | 'human' | null;
    step: ScenarioStepPlan | null;
    /** The HumanTask step key of the task waiting (`<step>`, `<step>:approval`, `<step>:escalation`). */
    taskKey: string | null;
    signal: StepSignal | null;
  } = { currentStep: null, waitsFor: null, step: null, taskKey: null, signal: null };

  /** A resume that ends the current step's wait; null lets the ordinary resume handling run. */
  async function applyStepResume(request: ResumeUpdateInput): Promise<ResumeUpdateResult | null> {
    const step = stepWait.step!;
    if (stepWait.waitsFor === 'human') {
      if (request.kind === 'agent')
        refuse(`step ${step.id} waits for a human decision`, 'no_agent_step_pending');
      const taskResult =
        request.kind === 'task_result'
          ? request.taskResult
          : { outcome: 'approved', ...(request.reason ? { comment: request.reason } : {}) };
      const ok = !NEGATIVE_OUTCOMES.has(taskResult.outcome);
      const recorded = await record({
        eventType: 'intent.in_progress',
        status: 'IN_PROGRESS',
        actor: request.actor,
        details: { step_id: step.id, task_result: taskResult },
      });
      await activities.closeHumanTasks({
        intentId: input.intentId,
        orgId: input.orgId,
        decision: {
          stepId: stepWait.taskKey!,
          outcome: taskResult.outcome,
          result: taskResult,
          decidedBy: request.actor,
        },
      });
      endStepWait({ ok, result: { task_result: taskResult }, actor: request.actor, timedOut: false });
      return { status: state.status, seq: recorded.seq, completion: null };
    }
    if (request.kind === 'task_result') refuse(`step ${step.id} waits for an agent`, 'no_human_task_pending');
    if (request.kind === 'agent' && request.action !== 'complete' && request.action !== 'fail') return null;
    const ok = request.kind === 'approve' || request.action === 'complete';
    const body = request.kind === 'agent' ? request.body : { approved: true };
    const outcome = ok ? { step_result: body.result ?? body } : { step_error: body.error ?? body };
    const recorded = await record({
      eventType: 'intent.in_progress',
      status: 'IN_PROGRESS',
      actor: request.actor,
      details: { step_id: step.id, ...outcome },
    });
    endStepWait({
      ok,
      result: ok ? (body.result ?? body) : (body.error ?? body),
      actor: request.actor,
      timedOut: false,
    });
    return { status: state.status, seq: recorded.seq, completion: null };
  }

  /** Opens the step's wait before the event that announces it, so no result can arrive unseen. */
  function beginStepWait(step: ScenarioStepPlan, waitsFor: 'agent' | 'human', taskKey: string | null): void {
    Object.assign(stepWait, { waitsFor, step, taskKey, signal: null });
  }

  function endStepWait(signal: StepSignal): void {
    stepWait.signal = signal;
    stepWait.waitsFor = null;
  }

  async function runScenario(scenario: ScenarioPlan): Promise<void> {
    const steps = new Map(scenario.steps.map((step) => [step.id, step]));
    const results: Record<string, unknown> = {};
    let stepId: string | null = scenario.entryStep;
    let previous: { id: string; ok: boolean } | null = null;
    let runs = 0;
    let last: StepSignal | null = null;
    while (stepId !== null && !isTerminal(state.status)) {
      const step: ScenarioStepPlan = steps.get(stepId)!;
      runs += 1;
      if (runs > scenario.maxStepRuns) {
        await exclusive(() =>
          endIfOpen('FAILED', SYSTEM_ACTOR, {
            error: stepError('step_limit_exceeded', `more than ${scenario.maxStepRuns} step runs`, step.id),
          }),
        );
        return;
      }
      const outcome = await runStep(step, previous);
      if (isTerminal(state.status)) return;
      results[step.id] = outcome.result;
      last = outcome;
      previous = { id: step.id, ok: outcome.ok };
      if (outcome.ok) stepId = step.onSuccess ?? step.next;
      else if (step.onFailure) stepId = step.onFailure;
      else {
        await exclusive(() =>
          outcome.timedOut
            ? timeOut(step)
            : endIfOpen('FAILED', outcome.actor, {
                error: stepError('step_failed', `step ${step.id} failed`, step.id, outcome.result),
              }),
        );
        return;
      }
    }
    await exclusive(() =>
      endIfOpen('COMPLETED', last?.actor ?? SYSTEM_ACTOR, {
        result: { scenario_id: scenario.scenarioId, steps: results, last_step: previous?.id ?? null },
      }),
    );
  }

  async function endIfOpen(
    status: 'COMPLETED' | 'FAILED',
    actor: string,
    fields: { result?: unknown; error?: unknown },
  ): Promise<void> {
    if (!isTerminal(state.status)) await end(status, actor, fields);
  }

  /** Runs one step from its announcement to its outcome. */
  async function runStep(
    step: ScenarioStepPlan,
    previous: { id: string; ok: boolean } | null,
  ): Promise<StepSignal> {
    await exclusive(() => enterStep(step, previous));
    switch (step.kind) {
      case 'agent':
        return runAgentStep(step);
      case 'human':
        return awaitHuman(step, step.id, step.humanTask ?? {});
      case 'delay': {
        const seconds = Number(step.config.seconds);
        await exclusive(() =>
          record({
            eventType: 'intent.waiting',
            status: 'WAITING',
            waitingReason: 'WAITING_FOR_TIME',
            pendingWith: { type: 'internal', ref: 'delay', name: step.id },
            actor: SYSTEM_ACTOR,
            details: {
              step_id: step.id,
              seconds,
              wake_at: new Date(Date.now() + seconds * 1000).toISOString(),
            },
          }),
        );
        await condition(() => isTerminal(state.status), seconds * 1000);
        await exclusive(async () => {
          if (!isTerminal(state.status))
            await record({
              eventType: 'intent.in_progress',
              status: 'IN_PROGRESS',
              actor: SYSTEM_ACTOR,
              details: { step_id: step.id, waited_seconds: seconds },
            });
        });
        return stepDone({ waited_seconds: seconds });
      }
      case 'timeout': {
        const deadlineAt = Date.now() + Number(step.config.seconds) * 1000;
        await exclusive(async () => {
          const changed = await activities.changePolicy({
            intentId: input.intentId,
            orgId: input.orgId,
            actor: SYSTEM_ACTOR,
            deadlineAt,
          });
          if (changed.applied) {
            state.deadlineAt = changed.deadlineAt;
            timersChanged = true;
          }
        });
        return stepDone({ deadline_at: new Date(deadlineAt).toISOString() });
      }
      case 'reminder': {
        const to = stringList(step.config.to);
        await exclusive(() => recordReminder({ step_id: step.id, to, message: step.config.message ?? null }));
        if (to.length > 0) await notifyInBackground(step, runsOf(step), 'email', to);
        return stepDone({ reminded: to });
      }
      case 'notification': {
        const channel = step.config.channel === 'webhook' ? 'webhook' : 'email';
        await notifyInBackground(step, runsOf(step), channel, stringList(step.config.to));
        return stepDone({ queued: true, channel });
      }
      case 'escalation':
        return escalateStep(step, true);
      case 'exec_job':
        return runExecJob(step);
    }
  }

  /**
   * An exec_job step (SPEC §7): a sandboxed job for the intent's sender; the intent waits
   * WAITING_FOR_TOOL until it ends, then goes on with its exit status and where its logs are. A job
   * that exits 0 succeeds; any other end is the step's failure. A cancel of the intent cancels the job.
   */
  async function runExecJob(step: ScenarioStepPlan): Promise<StepSignal> {
    const started = await execSteps.startExecJob({
      intentId: input.intentId,
      orgId: input.orgId,
      stepId: step.id,
      run: runsOf(step),
      config: step.config,
    });
    // Refused before it ran (a bad config, a tier or capability the host or token does not allow).
    if (started.status === 'failed')
      return { ok: false, result: started, actor: SYSTEM_ACTOR, timedOut: false };
    await exclusive(() =>
      record({
        eventType: 'intent.waiting',
        status: 'WAITING',
        waitingReason: 'WAITING_FOR_TOOL',
        pendingWith: { type: 'internal', ref: 'exec_job', name: step.id },
        actor: SYSTEM_ACTOR,
        details: { step_id: step.id, job_id: started.jobId, logs: started.logs },
      }),
    );
    const ended: { job: ExecStepJob | null } = { job: null };
    const waiting = jobWaits.awaitExecJob({ orgId: input.orgId, jobId: started.jobId }).then((job) => {
      ended.job = job;
    });
    await condition(() => ended.job !== null || isTerminal(state.status));
    if (!ended.job) {
      await execSteps.cancelExecJob({ orgId: input.orgId, jobId: started.jobId });
      await waiting.catch(() => undefined);
      return { ok: false, result: null, actor: SYSTEM_ACTOR, timedOut: false };
    }
    const job = ended.job;
    const result = {
      job_id: job.jobId,
      status: job.status,
      exit_code: job.exitCode,
      error: job.error,
      logs: job.logs,
    };
    await exclusive(async () => {
      if (!isTerminal(state.status))
        await record({
          eventType: 'intent.in_progress',
          status: 'IN_PROGRESS',
          actor: SYSTEM_ACTOR,
          details: { step_id: step.id, job: result },
        });
    });
    return {
      ok: job.status === 'exited' && job.exitCode === 0,
      result,
      actor: SYSTEM_ACTOR,
      timedOut: false,
    };
  }

  const stepRuns = new Map<string, number>();
  function runsOf(step: ScenarioStepPlan): number {
    const n = (stepRuns.get(step.id) ?? 0) + 1;
    stepRuns.set(step.id, n);
    return n;
  }

  function stepDone(result: unknown): StepSignal {
    return { ok: true, result, actor: SYSTEM_ACTOR, timedOut: false };
  }

  /** The step's announcement: delivery to the entry agent, else a transfer to the step's holder. */
  async function enterStep(
    step: ScenarioStepPlan,
    previous: { id: string; ok: boolean } | null,
  ): Promise<void> {
    if (isTerminal(state.status)) return;
    stepWait.currentStep = step.id;
    if (step.kind === 'agent') beginStepWait(step, 'agent', null);
    // The entry step of another kind is announced by its own first event (waiting, task assigned…).
    if (previous === null && step.kind !== 'agent') return;
    const pendingWith: PendingWith =
      step.kind === 'agent'
        ? { type: 'agent', ref: step.agent!, name: step.id }
        : step.kind === 'human'
          ? { type: 'human', ref: firstAssignee(step.humanTask) ?? plan.handler, name: step.id }
          : { type: 'internal', ref: step.kind, name: step.id };
    const details = {
      step_id: step.id,
      step_kind: step.kind,
      step_input: step.input,
      from_step: previous?.id ?? null,
      from_step_outcome: previous ? (previous.ok ? 'succeeded' : 'failed') : null,
    };
    if (previous === null && step.kind === 'agent' && step.agent === state.handler) {
      await record({
        eventType: 'intent.delivered',
        status: 'DELIVERED',
        actor: SYSTEM_ACTOR,
        deliverTo: step.agent,
        pendingWith,
        details: { ...details, binding: plan.binding.mode },
      });
      return;
    }
    await record({
      eventType: 'intent.transfer',
      actor: SYSTEM_ACTOR,
      pendingWith,
      ...(step.kind === 'agent' ? { handler: step.agent!, deliverTo: step.agent! } : {}),
      details: {
        ...details,
        cause: 'step_advance',
        from_handler: state.handler,
        to_handler: step.kind === 'agent' ? step.agent : state.handler,
      },
    });
    // An agent step after internal ones: the intent reaches its first handler now.
    if (step.kind === 'agent' && state.status === 'SUBMITTED')
      await record({
        eventType: 'intent.delivered',
        status: 'DELIVERED',
        actor: SYSTEM_ACTOR,
        details: { step_id: step.id, binding: plan.binding.mode },
      });
  }

  /** An agent step: POST when the agent is http, wait for its resume; retries and approval after. */
  async function runAgentStep(step: ScenarioStepPlan): Promise<StepSignal> {
    const agent = step.agent!;
    for (let attempt = 1; ; attempt += 1) {
      if (!(await deliverToStepAgent(agent)))
        return { ok: false, result: null, actor: SYSTEM_ACTOR, timedOut: false };
      const outcome = await awaitStep(step);
      if (isTerminal(state.status)) return outcome;
      if (outcome.ok) return step.approvalTask ? approveStepResult(step, outcome) : outcome;
      if (outcome.timedOut || attempt > step.retry.maxRetries) return outcome;
      await exclusive(() =>
        record({
          eventType: 'intent.waiting',
          status: 'WAITING',
          waitingReason: 'WAITING_FOR_TIME',
          pendingWith: { type: 'agent', ref: agent, name: step.id },
          actor: SYSTEM_ACTOR,
          details: {
            step_id: step.id,
            retry: attempt,
            max_retries: step.retry.maxRetries,
            retry_in_seconds: step.retry.delaySeconds,
          },
        }),
      );
      await condition(() => isTerminal(state.status), step.retry.delaySeconds * 1000);
      await exclusive(async () => {
        if (isTerminal(state.status)) return;
        beginStepWait(step, 'agent', null);
        await record({
          eventType: 'intent.in_progress',
          status: 'IN_PROGRESS',
          actor: SYSTEM_ACTOR,
          deliverTo: agent,
          details: { step_id: step.id, retry: attempt, redelivered_to: agent },
        });
      });
    }
  }

  /** http agents get the POST (with the usual retries); stream and poll agents already have the event. */
  async function deliverToStepAgent(agent: string): Promise<boolean> {
    const binding = await activities.resolveBinding({ orgId: input.orgId, address: agent });
    if (binding.mode !== 'http' || !binding.callbackUrl) return true;
    deliveryAttempt = 0;
    return deliverOverHttp(agent, binding.callbackUrl);
  }

  async function approveStepResult(step: ScenarioStepPlan, outcome: StepSignal): Promise<StepSignal> {
    const decision = await awaitHuman(step, `${step.id}:approval`, step.approvalTask!);
    return { ...decision, result: { step_result: outcome.result, approval: decision.result } };
  }

  /** Opens the step's human task and waits WAITING_FOR_HUMAN for its decision. */
  async function awaitHuman(
    step: ScenarioStepPlan,
    taskKey: string,
    task: Record<string, unknown>,
  ): Promise<StepSignal> {
    await exclusive(async () => {
      if (isTerminal(state.status)) return;
      beginStepWait(step, 'human', taskKey);
      const opened = await activities.openHumanTask({
        intentId: input.intentId,
        orgId: input.orgId,
        stepId: taskKey,
        task,
      });
      await record({
        eventType: 'intent.human_task_assigned',
        status: 'WAITING',
        waitingReason: 'WAITING_FOR_HUMAN',
        pendingWith: {
          type: 'human',
          ref: opened.assignees?.[0] ?? firstAssignee(task) ?? plan.handler,
          name: typeof task.title === 'string' ? task.title : step.id,
        },
        actor: SYSTEM_ACTOR,
        details: {
          step_id: step.id,
          human_task: task,
          thread_id: opened.threadId,
          task_id: opened.taskId ?? null,
        },
      });
    });
    return awaitStep(step);
  }

  /**
   * Waits for the step's result, with the step's reminders, its escalation once they ran out, and its
   * deadline (a timed-out step fails; it goes to on_failure, or ends the intent TIMED_OUT).
   */
  async function awaitStep(step: ScenarioStepPlan): Promise<StepSignal> {
    const startedAt = Date.now();
    const deadline = step.deadlineSeconds ? startedAt + step.deadlineSeconds * 1000 : null;
    const reminders = step.reminders;
    let remindAt = reminders ? startedAt + reminders.afterSeconds * 1000 : null;
    let reminded = 0;
    let escalateAt: number | null = null;
    for (;;) {
      const signal = stepWait.signal;
      if (signal) {
        stepWait.signal = null;
        return signal;
      }
      if (isTerminal(state.status)) return { ok: false, result: null, actor: SYSTEM_ACTOR, timedOut: false };
      const due = [deadline, remindAt, escalateAt].filter((t): t is number => t !== null);
      const wake = () => stepWait.signal !== null || isTerminal(state.status);
      if (due.length === 0) await condition(wake);
      else if (Math.min(...due) > Date.now()) await condition(wake, Math.min(...due) - Date.now());
      if (stepWait.signal || isTerminal(state.status)) continue;
      const now = Date.now();
      if (deadline !== null && now >= deadline) {
        stepWait.waitsFor = null;
        await exclusive(() => closeOpenTasks());
        return {
          ok: false,
          result: { error: 'step_timeout', step_deadline_seconds: step.deadlineSeconds },
          actor: SYSTEM_ACTOR,
          timedOut: true,
        };
      }
      if (remindAt !== null && now >= remindAt && reminders) {
        reminded += 1;
        await exclusive(() => remindStep(step, reminded, reminders.max));
        remindAt = reminded < reminders.max ? now + reminders.intervalSeconds * 1000 : null;
        if (remindAt === null && step.escalateTo) escalateAt = now + reminders.intervalSeconds * 1000;
        continue;
      }
      if (escalateAt !== null && now >= escalateAt) {
        escalateAt = null;
        return escalateStep(step, false);
      }
    }
  }

  /** One more intent.reminder: remind_count on the intent counts every reminder, steps' included. */
  async function recordReminder(details: Record<string, unknown>): Promise<void> {
    state.remindCount += 1;
    await record({
      eventType: 'intent.reminder',
      actor: SYSTEM_ACTOR,
      remindCount: state.remindCount,
      details: { ...details, pending_with: state.pendingWith },
    });
  }

  async function remindStep(step: ScenarioStepPlan, count: number, max: number): Promise<void> {
    if (isTerminal(state.status)) return;
    await recordReminder({ step_id: step.id, remind_count: count, max_reminders: max });
    if (stepWait.waitsFor === 'human')
      await notifyHumans({ stepId: stepWait.taskKey, reason: 'reminder', remindCount: count });
  }

  /**
   * Reassigns the step (an escalation step, or a step whose reminders ran out) to its escalation
   * target, notifies it, and waits for the new holder: an agent's resume or a person's decision.
   */
  async function escalateStep(step: ScenarioStepPlan, asStep: boolean): Promise<StepSignal> {
    const target = step.escalateTo!;
    const taskKey = `${step.id}:escalation`;
    await exclusive(async () => {
      if (isTerminal(state.status)) return;
      await record({
        eventType: 'intent.escalated',
        actor: SYSTEM_ACTOR,
        details: {
          step_id: step.id,
          escalated_to: target.agent ?? target.humanTask?.assignees ?? null,
          from_handler: state.handler,
          remind_count: state.remindCount,
        },
      });
      if (!asStep) await closeOpenTasks();
      if (target.agent) beginStepWait({ ...step, reminders: null, escalateTo: null }, 'agent', null);
      if (target.agent && target.agent !== state.handler)
        await record({
          eventType: 'intent.transfer',
          actor: SYSTEM_ACTOR,
          handler: target.agent,
          deliverTo: target.agent,
          pendingWith: { type: 'agent', ref: target.agent, name: step.id },
          details: {
            step_id: step.id,
            cause: 'escalation',
            from_handler: state.handler,
            to_handler: target.agent,
          },
        });
    });
    if (target.agent) {
      if (!(await deliverToStepAgent(target.agent)))
        return { ok: false, result: null, actor: SYSTEM_ACTOR, timedOut: false };
      return awaitStep(stepWait.step!);
    }
    // The new task's assignees get its email (with a magic link) when it opens.
    return awaitHuman({ ...step, reminders: null, escalateTo: null }, taskKey, target.humanTask ?? {});
  }

  async function closeOpenTasks(): Promise<void> {
    await activities.closeHumanTasks({ intentId: input.intentId, orgId: input.orgId });
  }

  /** A notification step: its own workflow, so a slow SMTP server or webhook never holds the flow. */
  async function notifyInBackground(
    step: ScenarioStepPlan,
    run: number,
    channel: 'email' | 'webhook',
    to: string[],
  ): Promise<void> {
    const config = step.config;
    await startChild(WORKFLOW_TYPES.notification, {
      workflowId: `${input.intentId}:notify:${step.id}:${run}`,
      args: [
        {
          intentId: input.intentId,
          orgId: input.orgId,
          stepId: step.id,
          channel,
          to,
          url: typeof config.url === 'string' ? config.url : null,
          subject: typeof config.subject === 'string' ? config.subject : `${input.intentType}: ${step.id}`,
          message:
            typeof config.message === 'string'
              ? config.message
              : `Step ${step.id} of intent ${input.intentId}.`,
        } satisfies NotificationInput,
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  }

  // Timers: deadline → TIMED_OUT; reminders; escalation once reminders ran out.
  const startedAt = Date.now();
  const remindEveryMs = (plan.remindIntervalSeconds ?? plan.remindAfterSeconds ?? 0) * 1000;
  const maxReminders = plan.maxReminders ?? 1;
  let nextReminderAt =
    plan.remindAfterSeconds && !plan.scenario && state.remindCount < maxReminders
      ? startedAt + plan.remindAfterSeconds * 1000 + state.remindCount * remindEveryMs
      : null;
  let escalateAt: number | null =
    plan.escalateTo && plan.remindAfterSeconds && !plan.scenario && nextReminderAt === null
      ? startedAt
      : null;
  const scenarioRun: { failure: Error | null } = { failure: null };
  const scenarioDone = plan.scenario
    ? runScenario(plan.scenario).catch((err: unknown) => {
        scenarioRun.failure = err instanceof Error ? err : new Error(String(err));
      })
    : null;

  while (!isTerminal(state.status)) {
    const due = [state.deadlineAt, nextReminderAt, escalateAt].filter((t): t is number => t !== null);
    const wakeAt = due.length > 0 ? Math.min(...due) : null;
    timersChanged = false;
    const wakeUp = () =>
      isTerminal(state.status) || timersChanged || pending.http !== null || scenarioRun.failure !== null;
    if (wakeAt === null) await condition(wakeUp);
    else if (wakeAt > Date.now()) await condition(wakeUp, wakeAt - Date.now());
    if (scenarioRun.failure !== null) throw scenarioRun.failure;
    if (isTerminal(state.status)) break;
    if (pending.http) {
      const target = pending.http;
      pending.http = null;
      await deliverOverHttp(target.address, target.callbackUrl);
      continue;
    }
    const now = Date.now();
    if (state.deadlineAt !== null && now >= state.deadlineAt) {
      await exclusive(() => timeOut());
      break;
    }
    if (nextReminderAt !== null && now >= nextReminderAt) {
      await exclusive(remind);
      nextReminderAt = state.remindCount < maxReminders ? now + remindEveryMs : null;
      if (nextReminderAt === null && plan.escalateTo) escalateAt = now + remindEveryMs;
      continue;
    }
    if (escalateAt !== null && now >= escalateAt) {
      escalateAt = null;
      await exclusive(escalate);
    }
  }

  /** The intent's deadline passed, or (`step`) a scenario step's without an on_failure to go to. */
  async function timeOut(step?: ScenarioStepPlan): Promise<void> {
    if (isTerminal(state.status)) return;
    const deadline = new Date(state.deadlineAt ?? Date.now()).toISOString();
    const details = step
      ? { step_id: step.id, step_deadline_seconds: step.deadlineSeconds }
      : { deadline_at: deadline };
    await record(
      { eventType: 'intent.timeout', actor: SYSTEM_ACTOR, details },
      {
        eventType: 'intent.timed_out',
        status: 'TIMED_OUT',
        actor: SYSTEM_ACTOR,
        error: step
          ? stepError(
              'step_timeout',
              `step ${step.id} passed its ${step.deadlineSeconds} s deadline`,
              step.id,
            )
          : {
              code: 'intent_timeout',
              message: `deadline ${deadline} passed`,
              category: 'timeout',
              retryable: false,
            },
        details,
      },
    );
    await finish();
  }

  async function remind(): Promise<void> {
    if (isTerminal(state.status)) return;
    await recordReminder({ remind_count: state.remindCount + 1, max_reminders: maxReminders });
    if (state.waitingReason === 'WAITING_FOR_HUMAN' && patched('human-task-emails'))
      await notifyHumans({ reason: 'reminder', remindCount: state.remindCount });
  }

  /** Emails the waiting task's assignees; a mail failure is logged by the activity, not fatal here. */
  async function notifyHumans(notice: Omit<NotifyHumanTaskInput, 'intentId' | 'orgId'>): Promise<void> {
    try {
      await notices.notifyHumanTask({ ...notice, intentId: input.intentId, orgId: input.orgId });
    } catch {
      // The reminder event is recorded either way; the email is best effort.
    }
  }

  async function escalate(): Promise<void> {
    if (isTerminal(state.status) || !plan.escalateTo || plan.escalateTo === state.handler) return;
    await record({
      eventType: 'intent.escalated',
      actor: SYSTEM_ACTOR,
      details: {
        escalated_to: plan.escalateTo,
        from_handler: state.handler,
        remind_count: state.remindCount,
      },
    });
    const waitedForHuman = state.waitingReason === 'WAITING_FOR_HUMAN';
    await applyTransfer({
      toAgent: plan.escalateTo,
      actor: SYSTEM_ACTOR,
      reason: 'escalation',
      cause: 'escalation',
    });
    if (waitedForHuman && patched('human-task-emails'))
      await notifyHumans({ reason: 'escalation', escalatedTo: plan.escalateTo });
  }

  if (scenarioDone) await scenarioDone;
  if (scenarioRun.failure !== null) throw scenarioRun.failure;
  await condition(allHandlersFinished);
  await tail;
  return state;
}

type StepSignal = { ok: boolean; result: unknown; actor: string; timedOut: boolean };

function stepError(
  code: string,
  message: string,
  stepId: string,
  details?: unknown,
): Record<string, unknown> {
  return { code, message, category: 'workflow', retryable: false, step_id: stepId, details: details ?? null };
}

function firstAssignee(task: Record<string, unknown> | null | undefined): string | null {
  return stringList(task?.assignees)[0] ?? null;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function refuse(message: string, code = 'invalid_transition'): never {
  throw ApplicationFailure.create({
    type: FAILURE_TYPES.invalidTransition,
    message,
    details: [code],
    nonRetryable: true,
  });
}
