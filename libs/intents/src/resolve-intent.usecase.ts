import { type Principal } from '@axle/auth';
import { AuditRepository } from '@axle/data';
import { parseOrThrow, resolveIntentSchema } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { actingAgent, assertMayAct, assertNotTerminal } from './intent-access';
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
    assertNotTerminal(intent);
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
        cmd.idempotencyKey ? `resolve:${cmd.idempotencyKey}` : undefined,
      ),
    );
    await auditIntentWrite(this.audit, cmd.principal, intent, 'intent.resolve', cmd.requestId, {
      status: outcome.status,
      actor_label: body.actor ?? null,
    });
    return {
      ok: true,
      ...(await this.queries.afterWrite(cmd.principal, intent.id, outcome.seq)),
      completion_delivery: outcome.completion,
    };
  }
}
