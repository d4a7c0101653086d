import { type Principal } from '@axle/auth';
import { AuditRepository } from '@axle/data';
import {
  controlsIntentSchema,
  type GrantAction,
  parseOrThrow,
  policyIntentSchema,
  type PolicyUpdateInput,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { actingAgent, assertMayAct, assertNotTerminal, updateIdFor } from './intent-access';
import { auditIntentWrite, workflowInput } from './intent-audit';
import { IntentQueries } from './intent-queries.service';
import { IntentWorkflowClient } from './intent-workflow.client';

export type ChangePolicyCommand = {
  principal: Principal;
  intentId: string;
  body: unknown;
  ownerAgent?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId: string;
};

/**
 * `/controls` and `/policy` (reference §1.4): the mutable workflow_control_policy, versioned by
 * policy_generation. The workflow applies the change (so a new deadline re-arms its timer); a stale
 * expected generation answers 200 `{applied:false, reason:"stale_policy_generation"}` as the SDKs expect.
 */
@Injectable()
export class ChangePolicyUseCase {
  constructor(
    private readonly queries: IntentQueries,
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
  ) {}

  async controls(cmd: ChangePolicyCommand): Promise<Record<string, unknown>> {
    const body = parseOrThrow(controlsIntentSchema, cmd.body ?? {});
    const timeout = body.controls_patch.timeout_seconds;
    return this.apply(cmd, 'update_controls', {
      expectedGeneration: body.expected_policy_generation,
      controls: body.controls_patch,
      ...(timeout !== undefined ? { deadlineAt: timeout === null ? null : Date.now() + timeout * 1000 } : {}),
    });
  }

  async policy(cmd: ChangePolicyCommand): Promise<Record<string, unknown>> {
    const body = parseOrThrow(policyIntentSchema, cmd.body ?? {});
    const envelope = body.envelope_patch;
    const intent = await this.queries.get(cmd.principal, cmd.intentId);
    // expires_at and ttl_seconds bound the intent's life: the earliest one becomes its deadline.
    const bounds = [
      envelope?.expires_at ? Date.parse(envelope.expires_at) : null,
      envelope?.ttl_seconds ? intent.createdAt.getTime() + envelope.ttl_seconds * 1000 : null,
    ].filter((t): t is number => t !== null);
    return this.apply(cmd, 'update_policy', {
      expectedGeneration: body.expected_policy_generation,
      ...(body.grants_patch ? { grants: body.grants_patch } : {}),
      ...(envelope ? { envelope } : {}),
      ...(bounds.length > 0 ? { deadlineAt: Math.min(...bounds) } : {}),
    });
  }

  private async apply(
    cmd: ChangePolicyCommand,
    action: GrantAction,
    change: Omit<PolicyUpdateInput, 'actor' | 'expectedGeneration'> & {
      expectedGeneration: number | undefined;
    },
  ): Promise<Record<string, unknown>> {
    const intent = await this.queries.get(cmd.principal, cmd.intentId);
    const actor = actingAgent(cmd.principal, cmd.ownerAgent);
    assertMayAct(cmd.principal, intent, actor, action);
    assertNotTerminal(intent);
    const { expectedGeneration, ...rest } = change;
    const result = await this.workflows.ensuring(workflowInput(intent), () =>
      this.workflows.changePolicy(
        intent.id,
        { actor, ...rest, ...(expectedGeneration !== undefined ? { expectedGeneration } : {}) },
        updateIdFor(action, cmd.principal, cmd.idempotencyKey),
      ),
    );
    if (!result.applied)
      return { ok: true, applied: false, reason: result.reason, policy_generation: result.policyGeneration };
    await auditIntentWrite(this.audit, cmd.principal, intent, `intent.${action}`, cmd.requestId, {
      policy_generation: result.policyGeneration,
    });
    return {
      ok: true,
      applied: true,
      policy_generation: result.policyGeneration,
      deadline_at: result.deadlineAt === null ? null : new Date(result.deadlineAt).toISOString(),
    };
  }
}
