import { type Principal } from '@axle/auth';
import { type AuditRepository, type IntentRecord } from '@axle/data';
import { type IntentWorkflowInput } from '@axle/protocol';

/** Every write to an intent leaves an audit row (SPEC §2 "Audit"). */
export function auditIntentWrite(
  audit: AuditRepository,
  principal: Principal,
  intent: IntentRecord,
  action: string,
  requestId: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  return audit.record({
    orgId: intent.orgId,
    actorType: principal.kind,
    actorId: principal.actorId,
    action,
    targetType: 'intent',
    targetId: intent.id,
    outcome: 'success',
    requestId,
    details,
  });
}

export function workflowInput(intent: IntentRecord): IntentWorkflowInput {
  return {
    intentId: intent.id,
    orgId: intent.orgId,
    toAgent: intent.toAgent,
    intentType: intent.intentType,
    traceId: intent.traceId,
  };
}
