// Temporal contracts shared by the gateway (client) and the worker (workflows, activities).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { IntentEventType, IntentStatus, PendingWith, WaitingReason } from './lifecycle';

export const TASK_QUEUES = { intents: 'axle-intents' } as const;

export const WORKFLOW_TYPES = { intent: 'intentWorkflow' } as const;

export type IntentWorkflowInput = {
  intentId: string;
  orgId: string;
  toAgent: string;
  intentType: string;
  traceId?: string | null;
};

export type ResumeAction = 'complete' | 'fail';

export type ResumeUpdateInput = {
  action: ResumeAction;
  actor: string;
  /** The step result (complete) or error (fail) as the caller sent it. */
  body: Record<string, unknown>;
  requestId?: string | null;
};

export type ResumeUpdateResult = { status: IntentStatus; seq: number };

export type IntentWorkflowState = {
  status: IntentStatus;
  waitingReason: WaitingReason | null;
  pendingWith: PendingWith | null;
};

export const resumeUpdate = defineUpdate<ResumeUpdateResult, [ResumeUpdateInput]>('resume');
export const stateQuery = defineQuery<IntentWorkflowState>('state');

/** Failure types raised by activities and update validators; the gateway maps them to errors. */
export const FAILURE_TYPES = {
  invalidTransition: 'InvalidTransition',
  intentNotFound: 'IntentNotFound',
} as const;

export type RecordEventInput = {
  intentId: string;
  orgId: string;
  /** Unique per workflow step, so a retried activity writes its event once. */
  dedupeKey: string;
  eventType: IntentEventType;
  status?: IntentStatus;
  waitingReason?: WaitingReason | null;
  pendingWith?: PendingWith | null;
  actor: string;
  details?: Record<string, unknown>;
  result?: unknown;
  error?: unknown;
  deliverTo?: string;
};

export type RecordEventResult = { seq: number; status: IntentStatus };

/** The activities the intent workflow calls; implemented by the worker with the data lib. */
export type IntentActivities = {
  recordEvent(input: RecordEventInput): Promise<RecordEventResult>;
};
