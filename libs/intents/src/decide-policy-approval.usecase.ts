import { mayActAs, type Principal } from '@axle/auth';
import { AuditRepository, type InboxThreadRecord } from '@axle/data';
import {
  ConflictError,
  ForbiddenError,
  parseAgentAddress,
  POLICY_APPROVAL_THREAD_KIND,
  type PolicyApprovalUpdateResult,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { updateIdFor } from './intent-access';
import { IntentWorkflowClient } from './intent-workflow.client';

export type DecidePolicyApprovalCommand = {
  principal: Principal;
  /** The approval task's thread: its owner is the approver, and owning it is the right to decide. */
  thread: InboxThreadRecord;
  decision: 'approved' | 'rejected';
  comment: string | null;
  idempotencyKey?: string | undefined;
  requestId: string;
};

/**
 * The approver's decision on an intent a send/receive policy escalated (SPEC §2 "Policies"), taken
 * through its approval thread (`/v1/inbox/{id}/approve|reject`, `/v1/approvals/{id}/decision`).
 * The thread lives in the approver's org, which may not be the intent's: the intent is addressed
 * only through its workflow, which refuses unless it is waiting for exactly this approval.
 */
@Injectable()
export class DecidePolicyApprovalUseCase {
  constructor(
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
  ) {}

  async execute(cmd: DecidePolicyApprovalCommand): Promise<PolicyApprovalUpdateResult> {
    const { thread } = cmd;
    if (thread.kind !== POLICY_APPROVAL_THREAD_KIND || !thread.intentId)
      throw new ConflictError('not_a_policy_approval', `thread ${thread.id} is not a policy approval`);
    const approver = parseAgentAddress(thread.ownerAgent);
    if (!approver || !mayActAs(cmd.principal, approver))
      throw new ForbiddenError(
        'owner_scope_violation',
        `${cmd.principal.address} may not decide for ${thread.ownerAgent}`,
      );
    const result = await this.workflows.decidePolicyApproval(
      thread.intentId,
      { decision: cmd.decision, actor: thread.ownerAgent, comment: cmd.comment, requestId: cmd.requestId },
      updateIdFor('policy-approval', cmd.principal, cmd.idempotencyKey),
    );
    await this.audit.record({
      orgId: thread.orgId,
      actorType: cmd.principal.kind,
      actorId: cmd.principal.actorId,
      action: 'intent.policy_approval',
      targetType: 'intent',
      targetId: thread.intentId,
      outcome: 'success',
      requestId: cmd.requestId,
      details: {
        decision: cmd.decision,
        approver: thread.ownerAgent,
        approval_id: thread.id,
        comment: cmd.comment,
        status: result.status,
      },
    });
    return result;
  }
}
