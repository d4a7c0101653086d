import { type Principal, tenantScopeOf } from '@axle/auth';
import { AuditRepository, IntentRepository } from '@axle/data';
import {
  ConflictError,
  ForbiddenError,
  isTerminal,
  resumeIntentSchema,
  type ResumeUpdateInput,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { IntentQueries } from './intent-queries.service';
import { IntentWorkflowClient } from './intent-workflow.client';
import { toIntentView } from './intent.view';
import { parseOrThrow } from './validation';

export type ResumeIntentCommand = {
  principal: Principal;
  intentId: string;
  body: unknown;
  /** `?owner_agent` / `x-owner-agent`: the agent the caller acts as. */
  ownerAgent?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId: string;
};

/**
 * Resume with an agent's step result (`{action: "complete"|"fail", …}` or any result object): the
 * workflow validates the transition against its state and records it before answering.
 */
@Injectable()
export class ResumeIntentUseCase {
  constructor(
    private readonly queries: IntentQueries,
    private readonly intents: IntentRepository,
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
  ) {}

  async execute(cmd: ResumeIntentCommand): Promise<Record<string, unknown>> {
    const intent = await this.queries.get(cmd.principal, cmd.intentId);
    const body = parseOrThrow(resumeIntentSchema, cmd.body ?? {});
    const actor = cmd.ownerAgent ?? cmd.principal.address;
    if (cmd.ownerAgent && !cmd.principal.platformAdmin && cmd.ownerAgent !== cmd.principal.address) {
      throw new ForbiddenError('owner_agent_mismatch', 'owner_agent is not the calling agent');
    }
    if (isTerminal(intent.status)) {
      throw new ConflictError(
        'intent_terminal',
        `intent is ${intent.status}; a terminal intent cannot be resumed`,
        { status: intent.status },
      );
    }
    const input: ResumeUpdateInput = {
      action: body.action === 'fail' ? 'fail' : 'complete',
      actor,
      body,
      requestId: cmd.requestId,
    };
    const outcome = await this.workflows.resume(
      intent.id,
      input,
      cmd.idempotencyKey ? `resume:${cmd.idempotencyKey}` : undefined,
    );
    await this.audit.record({
      orgId: intent.orgId,
      actorType: 'service_account',
      actorId: cmd.principal.serviceAccountId,
      action: 'intent.resume',
      targetType: 'intent',
      targetId: intent.id,
      outcome: 'success',
      requestId: cmd.requestId,
      details: { action: input.action, status: outcome.status },
    });
    const updated = await this.intents.findById(tenantScopeOf(cmd.principal), intent.id);
    return {
      ok: true,
      applied: true,
      status: outcome.status,
      seq: outcome.seq,
      policy_generation: updated?.policyGeneration ?? 0,
      intent: updated ? toIntentView(updated) : null,
    };
  }
}
