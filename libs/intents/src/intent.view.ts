// Wire shapes of intents and events (reference/axme-wire.md §1.4). Both `status` and
// `lifecycle_status` are returned because clients read one or the other.
import { type IntentEventRecord, type IntentRecord } from '@axle/data';
import { type IntentEventView } from '@axle/protocol';

const LEGACY_STATUS: Record<string, string> = {
  CREATED: 'accepted',
  SUBMITTED: 'accepted',
  DELIVERED: 'accepted',
  ACKNOWLEDGED: 'accepted',
  IN_PROGRESS: 'running',
  WAITING: 'blocked',
  COMPLETED: 'done',
  FAILED: 'failed',
  CANCELED: 'failed',
  TIMED_OUT: 'failed',
};

export function toIntentView(intent: IntentRecord): Record<string, unknown> {
  return {
    intent_id: intent.id,
    intent_type: intent.intentType,
    correlation_id: intent.correlationId,
    from_agent: intent.fromAgent,
    to_agent: intent.toAgent,
    reply_to: intent.replyTo,
    status: intent.status,
    lifecycle_status: intent.status,
    legacy_status: LEGACY_STATUS[intent.status],
    waiting_reason: intent.waitingReason,
    handler: intent.handler,
    pending_with: intent.pendingWith,
    payload: intent.payload,
    result: intent.result ?? null,
    error: intent.error ?? null,
    human_task: intent.humanTask,
    deadline_at: intent.deadlineAt?.toISOString() ?? null,
    remind_after_seconds: intent.remindAfterSeconds,
    remind_interval_seconds: intent.remindIntervalSeconds,
    max_reminders: intent.maxReminders,
    remind_count: intent.remindCount,
    escalate_to: intent.escalateTo,
    max_delivery_attempts: intent.maxDeliveryAttempts,
    delivery_attempt: intent.deliveryAttempt,
    policy_generation: intent.policyGeneration,
    /** Set when a send policy escalated the intent: {decision, code, approver, rule}. */
    policy_decision: intent.policyDecision,
    /** Scenario intents (docs/humans.md): the bundle and the step the intent is at. */
    scenario_id: intent.scenarioId,
    current_step: intent.currentStep,
    last_seq: intent.lastSeq,
    created_at: intent.createdAt.toISOString(),
    updated_at: intent.updatedAt.toISOString(),
    completed_at: intent.completedAt?.toISOString() ?? null,
  };
}

export function toEventView(event: IntentEventRecord): IntentEventView {
  return {
    intent_id: event.intentId,
    seq: event.seq,
    event_type: event.eventType,
    status: event.status,
    waiting_reason: event.waitingReason,
    handler: event.handler,
    actor: event.actor,
    at: event.at.toISOString(),
    details: event.details,
  };
}
