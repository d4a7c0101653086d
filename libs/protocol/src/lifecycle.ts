// The AXP intent lifecycle (reference/axme-wire.md §3.2): statuses, the one transition table every
// writer checks, WAITING reasons and event types. Workflow-safe: no I/O, no Node.

export const INTENT_STATUSES = [
  'CREATED',
  'SUBMITTED',
  'DELIVERED',
  'ACKNOWLEDGED',
  'IN_PROGRESS',
  'WAITING',
  'COMPLETED',
  'FAILED',
  'CANCELED',
  'TIMED_OUT',
] as const;
export type IntentStatus = (typeof INTENT_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<IntentStatus> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELED',
  'TIMED_OUT',
]);

export function isTerminal(status: IntentStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export function isIntentStatus(value: unknown): value is IntentStatus {
  return typeof value === 'string' && (INTENT_STATUSES as readonly string[]).includes(value);
}

/** Allowed next statuses; any non-terminal status may also go to TIMED_OUT (SPEC §3). */
const TRANSITIONS: Readonly<Record<IntentStatus, readonly IntentStatus[]>> = {
  CREATED: ['SUBMITTED'],
  SUBMITTED: ['DELIVERED', 'IN_PROGRESS', 'WAITING', 'FAILED', 'CANCELED'],
  DELIVERED: ['ACKNOWLEDGED', 'IN_PROGRESS', 'WAITING', 'FAILED', 'CANCELED'],
  ACKNOWLEDGED: ['IN_PROGRESS', 'WAITING', 'FAILED', 'CANCELED'],
  IN_PROGRESS: ['WAITING', 'COMPLETED', 'FAILED', 'CANCELED'],
  WAITING: ['IN_PROGRESS', 'FAILED', 'CANCELED'],
  COMPLETED: [],
  FAILED: [],
  CANCELED: [],
  TIMED_OUT: [],
};

/**
 * Whether `from` may go to `to`. `waitingReason` is the reason the intent waits for when `from` is
 * WAITING: one edge exists beyond the reference table, WAITING (WAITING_FOR_APPROVAL) → DELIVERED, for
 * an intent a send policy escalated (SPEC §2 "Policies"): it was held before delivery until a human
 * approved it, and approval releases it to its handler.
 */
export function canTransition(from: IntentStatus, to: IntentStatus, waitingReason?: string | null): boolean {
  if (isTerminal(from)) return false;
  if (to === 'TIMED_OUT') return true;
  if (from === 'WAITING' && to === 'DELIVERED') return waitingReason === 'WAITING_FOR_APPROVAL';
  return TRANSITIONS[from].includes(to);
}

export const WAITING_REASONS = [
  'WAITING_FOR_HUMAN',
  'WAITING_FOR_TOOL',
  'WAITING_FOR_AGENT',
  'WAITING_FOR_TIME',
  /** Held before delivery: a send/receive policy escalated the intent to a human approver (SPEC §2). */
  'WAITING_FOR_APPROVAL',
] as const;
export type WaitingReason = (typeof WAITING_REASONS)[number];

export const INTENT_EVENT_TYPES = [
  'intent.created',
  'intent.submitted',
  'intent.delivered',
  'intent.acknowledged',
  'intent.in_progress',
  'intent.waiting',
  'intent.completed',
  'intent.failed',
  'intent.canceled',
  'intent.transfer',
  'intent.timeout',
  'intent.timed_out',
  'intent.reminder',
  'intent.escalated',
  'intent.delivery_failed',
  'intent.human_task_assigned',
] as const;
export type IntentEventType = (typeof INTENT_EVENT_TYPES)[number];

/** The event that records entering a status. */
export const STATUS_EVENT: Readonly<Record<IntentStatus, IntentEventType>> = {
  CREATED: 'intent.created',
  SUBMITTED: 'intent.submitted',
  DELIVERED: 'intent.delivered',
  ACKNOWLEDGED: 'intent.acknowledged',
  IN_PROGRESS: 'intent.in_progress',
  WAITING: 'intent.waiting',
  COMPLETED: 'intent.completed',
  FAILED: 'intent.failed',
  CANCELED: 'intent.canceled',
  TIMED_OUT: 'intent.timed_out',
};

export type PendingWith = { type: 'agent' | 'human' | 'internal'; ref: string; name?: string | null };

/** The actor of events and inbox entries that Axle itself writes (reference §3.6). */
export const SYSTEM_ACTOR = 'agent://axle.intent-protocol';
