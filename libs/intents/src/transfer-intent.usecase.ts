import { type Principal } from '@axle/auth';
import { AuditRepository } from '@axle/data';
import { parseOrThrow, transferIntentSchema, type TransferUpdateInput } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { actingAgent, assertMayAct, assertNotTerminal, updateIdFor } from './intent-access';
import { auditIntentWrite, workflowInput } from './intent-audit';
import { IntentQueries } from './intent-queries.service';
import { IntentWorkflowClient } from './intent-workflow.client';
import { RecipientResolver } from './recipient-resolver.service';

export type TransferIntentCommand = {
  principal: Principal;
  intentId: string;
  body: unknown;
  ownerAgent?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId: string;
  /** Inbox delegate uses the same path with its own cause. */
  cause?: TransferUpdateInput['cause'];
};

/**
 * Hands an intent to another handler (SPEC §3 "Handler transfer"): `intent.transfer` with the new
 * handler and pending_with, no status change; the old handler's stream stops showing it and the new
 * one's delivery starts.
 */
@Injectable()
export class TransferIntentUseCase {
  constructor(
    private readonly queries: IntentQueries,
    private readonly recipients: RecipientResolver,
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
  ) {}

  async execute(cmd: TransferIntentCommand): Promise<Record<string, unknown>> {
    const intent = await this.queries.get(cmd.principal, cmd.intentId);
    const body = parseOrThrow(transferIntentSchema, cmd.body ?? {});
    const actor = actingAgent(cmd.principal, cmd.ownerAgent);
    assertMayAct(cmd.principal, intent, actor, 'transfer');
    assertNotTerminal(intent);
    const toAgent = await this.recipients.resolve(cmd.principal, body.to_agent, 'to_agent', {
      requestId: cmd.requestId,
      operation: cmd.cause === 'delegate' ? 'delegate' : 'transfer',
    });
    const outcome = await this.workflows.ensuring(workflowInput(intent), () =>
      this.workflows.transfer(
        intent.id,
        {
          toAgent,
          actor,
          reason: body.reason ?? null,
          cause: cmd.cause ?? 'transfer',
          requestId: cmd.requestId,
        },
        updateIdFor('transfer', cmd.principal, cmd.idempotencyKey),
      ),
    );
    await auditIntentWrite(this.audit, cmd.principal, intent, 'intent.transfer', cmd.requestId, {
      from_handler: intent.handler,
      to_handler: toAgent,
    });
    return {
      ok: true,
      ...(await this.queries.afterWrite(cmd.principal, intent.id, outcome.seq)),
    };
  }
}
