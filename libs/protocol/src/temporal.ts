// Temporal contracts shared by the gateway (client) and the worker (workflows, activities).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import {
  type IntentEventType,
  type IntentStatus,
  type PendingWith,
  SYSTEM_ACTOR,
  type WaitingReason,
} from './lifecycle';
import type { DeliveryMode } from './registry.schema';
import type { NotificationInput, NotificationResult, ScenarioPlan } from './scenarios.schema';

export const TASK_QUEUES = { intents: 'axle-intents' } as const;

export const WORKFLOW_TYPES = {
  intent: 'intentWorkflow',
  reconcile: 'reconcileIntentsWorkflow',
  notification: 'notificationWorkflow',
} as const;

/**
 * Temporal headers Axle adds itself (besides OpenTelemetry's `_tracer-data`): a workflow puts its
 * trace id (the X-Trace-Id in its memo) on every activity it schedules, so activity log lines carry it.
 */
export const CORRELATION_HEADERS = { traceId: 'axle-trace-id' } as const;

/** The Temporal Schedule that starts workflows for intents whose start was interrupted. */
export const RECONCILE_SCHEDULE_ID = 'axle-intent-reconciler';

export type ReconcileActivities = {
  startStrandedIntents(): Promise<{ started: number }>;
};

export type IntentWorkflowInput = {
  intentId: string;
  orgId: string;
  toAgent: string;
  intentType: string;
  traceId?: string | null;
};

/** What an agent reports with a resume `{action: …}`; anything else counts as `complete`. */
export const AGENT_ACTIONS = ['acknowledge', 'in_progress', 'wait', 'complete', 'fail'] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];

/** The three resume flavours of reference §1.4, after the gateway has validated them. */
export type ResumeUpdateInput = { actor: string; requestId?: string | null } & (
  | {
      kind: 'agent';
      action: AgentAction;
      /** The step result (complete), error (fail) or progress note as the caller sent it. */
      body: Record<string, unknown>;
      waitingReason?: WaitingReason | null;
    }
  | {
      kind: 'task_result';
      taskResult: { outcome: string } & Record<string, unknown>;
      /** The HumanTask decided (absent for intents without task rows, and in older histories). */
      taskId?: string | null;
      /** Its scenario step ("" / absent: the intent's own human_task). */
      stepId?: string | null;
    }
  | { kind: 'approve'; reason?: string | null }
);

/** `completion_delivery` of the resolve response (reference §1.4). */
export type CompletionDelivery = {
  delivered: boolean;
  reason?: string;
  reply_to?: string;
  thread_id?: string;
  message_id?: string;
  completion?: Record<string, unknown>;
};

export type ResumeUpdateResult = {
  status: IntentStatus;
  seq: number;
  completion: CompletionDelivery | null;
};

export const RESOLVE_STATUSES = ['COMPLETED', 'FAILED', 'CANCELED'] as const;
export type ResolveStatus = (typeof RESOLVE_STATUSES)[number];

export type ResolveUpdateInput = {
  status: ResolveStatus;
  actor: string;
  result?: unknown;
  error?: unknown;
  reason?: string | null;
  requestId?: string | null;
};

export type ResolveUpdateResult = { status: IntentStatus; seq: number; completion: CompletionDelivery };

export type TransferUpdateInput = {
  toAgent: string;
  actor: string;
  reason?: string | null;
  /** Why the handler changes: an explicit transfer, an inbox delegate or an escalation. */
  cause: 'transfer' | 'delegate' | 'escalation';
  requestId?: string | null;
};

export type TransferUpdateResult = { seq: number; handler: string };

/**
 * The approver's decision on an intent a send/receive policy escalated (SPEC §2 "Policies"): approved
 * releases it to its handler; rejected ends it FAILED with `policy_denied`.
 */
export type PolicyApprovalUpdateInput = {
  decision: 'approved' | 'rejected';
  /** The approver the decision is taken as (the approval thread's owner). */
  actor: string;
  comment?: string | null;
  requestId?: string | null;
};

export type PolicyApprovalUpdateResult = {
  status: IntentStatus;
  /** The event the decision recorded (rejected) or the delivery it released (approved), if any yet. */
  seq: number | null;
  completion: CompletionDelivery | null;
};

/** A controls/policy change (reference §1.4), compare-and-set on policy_generation. */
export type PolicyUpdateInput = {
  actor: string;
  expectedGeneration?: number;
  controls?: Record<string, unknown>;
  grants?: Record<string, { allow: string[] } | null>;
  envelope?: Record<string, unknown>;
  /** Epoch ms; undefined = leave the deadline alone, null = no deadline. */
  deadlineAt?: number | null;
};

export type PolicyUpdateResult =
  | { applied: true; policyGeneration: number; deadlineAt: number | null }
  | { applied: false; reason: 'stale_policy_generation'; policyGeneration: number };

export type IntentWorkflowState = {
  status: IntentStatus;
  waitingReason: WaitingReason | null;
  pendingWith: PendingWith | null;
  handler: string;
  remindCount: number;
  deadlineAt: number | null;
  completion: CompletionDelivery | null;
};

export const resumeUpdate = defineUpdate<ResumeUpdateResult, [ResumeUpdateInput]>('resume');
export const resolveUpdate = defineUpdate<ResolveUpdateResult, [ResolveUpdateInput]>('resolve');
export const transferUpdate = defineUpdate<TransferUpdateResult, [TransferUpdateInput]>('transfer');
export const policyUpdate = defineUpdate<PolicyUpdateResult, [PolicyUpdateInput]>('policy');
export const policyApprovalUpdate = defineUpdate<PolicyApprovalUpdateResult, [PolicyApprovalUpdateInput]>(
  'policyApproval',
);
export const stateQuery = defineQuery<IntentWorkflowState>('state');

/** Failure types raised by activities and update validators; the gateway maps them to errors. */
export const FAILURE_TYPES = {
  invalidTransition: 'InvalidTransition',
  intentNotFound: 'IntentNotFound',
  /** Retryable: an http delivery held while its agent is killed (docs/mesh.md); no attempt is used. */
  agentKilled: 'AgentKilled',
} as const;

/** How the intent reaches its handler (SPEC §5); from the handler's registry entry. */
export type DeliveryBinding = {
  mode: DeliveryMode;
  callbackUrl: string | null;
};

/** Everything the workflow needs from the stored intent and the worker's configuration. */
export type IntentPlan = {
  status: IntentStatus;
  toAgent: string;
  handler: string;
  replyTo: string | null;
  binding: DeliveryBinding;
  humanTask: Record<string, unknown> | null;
  /** Epoch milliseconds. */
  deadlineAt: number | null;
  remindAfterSeconds: number | null;
  remindIntervalSeconds: number | null;
  maxReminders: number | null;
  remindCount: number;
  escalateTo: string | null;
  maxDeliveryAttempts: number;
  deliveryAttempt: number;
  retry: { backoffMs: number; backoffMaxMs: number };
  /**
   * Set when a policy escalated the intent at create: it waits for this approval before delivery.
   * Absent in plans recorded before policies existed, which replay unchanged.
   */
  approval?: PolicyApprovalPlan | null;
  /** A ScenarioBundle's compiled steps (docs/humans.md); absent for plain intents. */
  scenario?: ScenarioPlan | null;
  /**
   * The highest step whose event is already stored (dedupe key `step-N`): written by a workflow task
   * that never completed (its worker died after the local activity committed). The run's step
   * counter starts there, so its next event cannot be taken for that one. Absent in plans recorded
   * before it existed, which replay unchanged.
   */
  recordedSteps?: number;
  /**
   * Set when the plan load recorded the intent's delivery itself (`deliverDirectly`, for a plan that
   * `deliversDirectly`), or found the gateway's create had: the event's result, one local activity
   * fewer per intent. Absent otherwise.
   */
  delivered?: RecordEventResult;
};

/** The dedupe key of the workflow's n-th recorded event. */
export function workflowStepKey(step: number): string {
  return `step-${step}`;
}

/** A recorded event as the workflow describes it; the run's identity and step key are added per call. */
export type WorkflowEvent = Omit<RecordEventInput, 'intentId' | 'orgId' | 'dedupeKey'>;

/**
 * A submitted intent whose delivery needs nothing first: no policy approval, no scenario, no POST
 * to an http agent. The gateway's create and the plan load may record the delivery themselves.
 */
export function deliversDirectly(plan: IntentPlan): boolean {
  return (
    plan.status === 'SUBMITTED' &&
    !plan.approval &&
    !plan.scenario &&
    !(plan.binding.mode === 'http' && plan.binding.callbackUrl)
  );
}

/**
 * The `intent.delivered` event for the plan's handler: built in one place, since both the workflow
 * and a plan load that delivers directly record it.
 */
export function deliveredEvent(
  plan: IntentPlan,
  deliveryAttempt: number,
  approval?: Record<string, unknown>,
): WorkflowEvent {
  return {
    eventType: 'intent.delivered',
    status: 'DELIVERED',
    actor: SYSTEM_ACTOR,
    deliverTo: plan.handler,
    ...(plan.binding.mode === 'http' ? { deliveryAttempt } : {}),
    details: {
      binding: plan.binding.mode,
      delivery_attempt: Math.max(1, deliveryAttempt),
      ...(approval ? { approval } : {}),
    },
  };
}

/** Who must approve an escalated intent, and the rule that asked for it. */
export type PolicyApprovalPlan = {
  approver: string;
  /** The rule that escalated (wire shape of a policy entry), for the events and the task. */
  rule: Record<string, unknown> | null;
};

export type RecordEventInput = {
  intentId: string;
  orgId: string;
  /** Unique per workflow step, so a retried activity writes its event once. */
  dedupeKey: string;
  eventType: IntentEventType;
  status?: IntentStatus;
  waitingReason?: WaitingReason | null;
  pendingWith?: PendingWith | null;
  handler?: string | null;
  actor: string;
  details?: Record<string, unknown>;
  result?: unknown;
  error?: unknown;
  deliverTo?: string;
  /** Projection counters that change with this event. */
  remindCount?: number;
  deliveryAttempt?: number;
  /** Scenario intents: the step the intent moves to. */
  currentStep?: string | null;
};

export type RecordEventResult = {
  seq: number;
  status: IntentStatus;
  /**
   * Set when the event's step was already stored with another event (another type or actor): a
   * workflow task that never completed (its worker died after the local activity committed) wrote
   * it, and its retry handles its work in another order (an update that came meanwhile runs before
   * a timer, say). `seq` and `status` are then that event's; the run adopts the ledger and records
   * its own event on the next step, if the lifecycle still allows it.
   */
  stepTaken?: LedgerState;
};

/** The intent as its ledger has it: the highest step stored and the state after it. */
export type LedgerState = {
  lastStep: number;
  status: IntentStatus;
  waitingReason: WaitingReason | null;
  pendingWith: PendingWith | null;
  handler: string | null;
};

export type HttpDeliveryInput = {
  intentId: string;
  orgId: string;
  address: string;
  callbackUrl: string;
  attempt: number;
};

/**
 * One POST to an http agent. `counted: false` means the endpoint was not tried (its circuit is open),
 * so the attempt does not use up the intent's max_delivery_attempts.
 */
export type HttpDeliveryResult =
  { ok: true; httpStatus: number } | { ok: false; error: string; counted: boolean; retryAfterMs?: number };

/**
 * Opens (idempotently) a human task: the intent's own `human_task` when `stepId` is absent, or a
 * scenario step's task (`task` = the step's HumanTaskSpec, assignees already resolved to contacts).
 * Creates the HumanTask row (its id is the approval_id), the inbox thread, and emails each email
 * assignee a single-use magic link.
 */
export type OpenHumanTaskInput = {
  intentId: string;
  orgId: string;
  stepId?: string | null;
  task?: Record<string, unknown> | null;
};

export type OpenHumanTaskResult = {
  threadId: string;
  /** Absent in histories recorded before human tasks had rows. */
  taskId?: string;
  assignees?: string[];
};

export type NotifyHumanTaskInput = {
  intentId: string;
  orgId: string;
  stepId?: string | null;
  reason: 'reminder' | 'escalation';
  remindCount?: number;
  /** Escalation: who the task now waits for. */
  escalatedTo?: string | null;
};

/** The activities the intent workflow calls; implemented by the worker with the data lib. */
export type IntentActivities = {
  /** `deliverDirectly`: also record the delivery when the plan `deliversDirectly` (see `delivered`). */
  loadPlan(input: { intentId: string; orgId: string; deliverDirectly?: boolean }): Promise<IntentPlan>;
  resolveBinding(input: { orgId: string; address: string }): Promise<DeliveryBinding>;
  recordEvent(input: RecordEventInput): Promise<RecordEventResult>;
  /** Several events in order, in one call; a retry writes each once (its dedupe key). */
  recordEvents(inputs: RecordEventInput[]): Promise<RecordEventResult[]>;
  deliverHttp(input: HttpDeliveryInput): Promise<HttpDeliveryResult>;
  openHumanTask(input: OpenHumanTaskInput): Promise<OpenHumanTaskResult>;
  /** Emails a waiting human task's assignees (reminder or escalation); never fails the flow. */
  notifyHumanTask(input: NotifyHumanTaskInput): Promise<{ emailed: number }>;
  /** The approval task of an escalated intent, in its approver's inbox (idempotent). */
  openPolicyApproval(input: { intentId: string; orgId: string }): Promise<{ threadId: string }>;
  deliverCompletion(input: { intentId: string; orgId: string }): Promise<CompletionDelivery>;
  changePolicy(input: PolicyUpdateInput & { intentId: string; orgId: string }): Promise<PolicyUpdateResult>;
  /**
   * A scenario step ended: its human task is marked decided (when `decision` is given) and every other
   * open task of the intent is closed, so /v1/me/tasks and magic links stop offering them.
   */
  closeHumanTasks(input: CloseHumanTasksInput): Promise<{ closed: number }>;
};

export type CloseHumanTasksInput = {
  intentId: string;
  orgId: string;
  decision?: { stepId: string; outcome: string; result: Record<string, unknown>; decidedBy: string } | null;
};

/** A scenario notification step, run as its own workflow so it never blocks the flow (SPEC §6). */
export type NotificationActivities = {
  sendNotification(input: NotificationInput): Promise<NotificationResult>;
};
