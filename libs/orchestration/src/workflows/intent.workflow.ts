// The durable lifecycle of one intent. Deterministic: state changes only through activities, whose
// results come back from history on replay. Workflow id = intent id.
import {
  FAILURE_TYPES,
  type IntentActivities,
  type IntentWorkflowInput,
  type IntentWorkflowState,
  isTerminal,
  type RecordEventInput,
  type RecordEventResult,
  resumeUpdate,
  type ResumeUpdateInput,
  type ResumeUpdateResult,
  stateQuery,
} from '@axle/protocol';
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';

const activities = proxyActivities<IntentActivities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 ms',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [FAILURE_TYPES.invalidTransition, FAILURE_TYPES.intentNotFound],
  },
});

const SYSTEM_ACTOR = 'agent://axle.intent-protocol';

export async function intentWorkflow(input: IntentWorkflowInput): Promise<IntentWorkflowState> {
  const state: IntentWorkflowState = {
    status: 'SUBMITTED',
    waitingReason: null,
    pendingWith: { type: 'agent', ref: input.toAgent, name: null },
  };
  let step = 0;
  let delivered = false;
  let resuming = false;

  async function record(
    event: Omit<RecordEventInput, 'intentId' | 'orgId' | 'dedupeKey'>,
  ): Promise<RecordEventResult> {
    step += 1;
    const result = await activities.recordEvent({
      ...event,
      intentId: input.intentId,
      orgId: input.orgId,
      dedupeKey: `step-${step}`,
    });
    state.status = result.status;
    return result;
  }

  setHandler(stateQuery, () => state);

  setHandler(
    resumeUpdate,
    async (request: ResumeUpdateInput): Promise<ResumeUpdateResult> => {
      resuming = true;
      try {
        // A resume that races the delivery is applied after it, so events keep the lifecycle order.
        await condition(() => delivered);
        if (request.action === 'fail') {
          const failed = await record({
            eventType: 'intent.failed',
            status: 'FAILED',
            actor: request.actor,
            error: request.body.error ?? request.body,
            details: { reason: request.body.reason ?? null },
          });
          return { status: failed.status, seq: failed.seq };
        }
        if (state.status !== 'IN_PROGRESS')
          await record({ eventType: 'intent.in_progress', status: 'IN_PROGRESS', actor: request.actor });
        const completed = await record({
          eventType: 'intent.completed',
          status: 'COMPLETED',
          actor: request.actor,
          result: request.body.result ?? request.body,
        });
        return { status: completed.status, seq: completed.seq };
      } finally {
        resuming = false;
      }
    },
    {
      validator: (_request: ResumeUpdateInput) => {
        if (isTerminal(state.status)) {
          throw ApplicationFailure.create({
            type: FAILURE_TYPES.invalidTransition,
            message: `intent is ${state.status}`,
            nonRetryable: true,
          });
        }
        if (resuming) {
          throw ApplicationFailure.create({
            type: FAILURE_TYPES.invalidTransition,
            message: 'another resume is being applied',
            nonRetryable: true,
          });
        }
      },
    },
  );

  await record({
    eventType: 'intent.delivered',
    status: 'DELIVERED',
    actor: SYSTEM_ACTOR,
    deliverTo: input.toAgent,
    details: { binding: 'stream' },
  });
  delivered = true;

  await condition(() => isTerminal(state.status) && !resuming);
  await condition(allHandlersFinished);
  return state;
}
