import { type Principal } from '@axle/auth';
import { AuditRepository } from '@axle/data';
import { isTerminal, parseOrThrow, resolveIntentSchema, type ResolveUpdateResult } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { actingAgent, assertMayAct, assertNotTerminal, updateIdFor } from './intent-access';
import { auditIntentWrite, workflowInput } from './intent-audit';
import { IntentQueries } from './intent-queries.service';
import { IntentWorkflowClient } from './intent-workflow.client';

export type ResolveIntentCommand = {
  principal: Principal;
  intentId: string;
  body: unknown;
  ownerAgent?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId: string;
};

/** Ends an intent (COMPLETED/FAILED/CANCELED); a second resolve is 409 (terminal immutability). */
@Injectable()
export class ResolveIntentUseCase {
  constructor(
    private readonly queries: IntentQueries,
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
  ) {}

  async execute(cmd: ResolveIntentCommand): Promise<Record<string, unknown>> {
    const intent = await this.queries.get(cmd.principal, cmd.intentId);
    const body = parseOrThrow(resolveIntentSchema, cmd.body ?? {});
    const actor = actingAgent(cmd.principal, cmd.ownerAgent);
    assertMayAct(cmd.principal, intent, actor, 'resolve');
    const updateId = updateIdFor('resolve', cmd.principal, cmd.idempotencyKey);
    if (isTerminal(intent.status)) {
      // Perhaps by this very request, whose first answer was lost: then it answers what it did.
      const prior = updateId
        ? await this.workflows.priorOutcome<ResolveUpdateResult>(intent.id, updateId)
        : null;
      if (prior) return this.answer(cmd, intent.id, prior);
      assertNotTerminal(intent);
    }
    const outcome = await this.workflows.ensuring(workflowInput(intent), () =>
      this.workflows.resolve(
        intent.id,
        {
          status: body.status,
          // The audited actor is the credential's agent; a body `actor` is kept as a label only.
          actor,
          ...(body.result !== undefined ? { result: body.result } : {}),
          ...(body.error !== undefined ? { error: body.error } : {}),
          reason: body.reason ?? null,
          requestId: cmd.requestId,
        },
        updateId,
      ),
    );
    await auditIntentWrite(this.audit, cmd.principal, intent, 'intent.resolve', cmd.requestId, {
      status: outcome.status,
      actor_label: body.actor ?? null,
    });
    return this.answer(cmd, intent.id, outcome);
  }

  private async answer(cmd: ResolveIntentCommand, intentId: string, outcome: ResolveUpdateResult) {
    return {
      ok: true,
      ...(await this.queries.afterWrite(cmd.principal, intentId, outcome.seq)),
      completion_delivery: outcome.completion,
    };
  }
}
