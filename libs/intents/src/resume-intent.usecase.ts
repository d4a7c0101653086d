import { type Principal, tenantScopeOf } from '@axle/auth';
import { AuditRepository, IntentRepository } from '@axle/data';
import {
  AGENT_ACTIONS,
  type AgentAction,
  ConflictError,
  parseOrThrow,
  resumeIntentSchema,
  type ResumeUpdateInput,
  ValidationFailedError,
  WAITING_REASONS,
  type WaitingReason,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { taskResultErrors } from './human-task';
import { actingAgent, assertMayAct, assertNotTerminal } from './intent-access';
import { auditIntentWrite, workflowInput } from './intent-audit';
import { IntentQueries } from './intent-queries.service';
import { IntentWorkflowClient } from './intent-workflow.client';
import { toIntentView } from './intent.view';

/** What an agent may say it waits for; WAITING_FOR_APPROVAL is Axle's own policy gate. */
const AGENT_WAITING_REASONS: readonly string[] = WAITING_REASONS.filter((r) => r !== 'WAITING_FOR_APPROVAL');

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
 * Resume in its three flavours (reference §1.4): an agent's step result (`{action, …}` or any result
 * object), a human `task_result` (checked against the task spec first), and the control/approve form
 * with the `policy_generation` compare-and-set. The workflow applies it and records the events
 * before this answers.
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
    const actor = actingAgent(cmd.principal, cmd.ownerAgent);
    assertMayAct(cmd.principal, intent, actor, 'resume');
    assertNotTerminal(intent);
    if (
      body.expected_policy_generation !== undefined &&
      body.expected_policy_generation !== intent.policyGeneration
    ) {
      return {
        ok: true,
        applied: false,
        reason: 'stale_policy_generation',
        policy_generation: intent.policyGeneration,
        intent: toIntentView(intent),
      };
    }
    const input = this.toUpdate(body, actor, intent.humanTask, cmd.requestId);
    const outcome = await this.workflows.ensuring(workflowInput(intent), () =>
      this.workflows.resume(
        intent.id,
        input,
        cmd.idempotencyKey ? `resume:${cmd.idempotencyKey}` : undefined,
      ),
    );
    await auditIntentWrite(this.audit, cmd.principal, intent, 'intent.resume', cmd.requestId, {
      kind: input.kind,
      status: outcome.status,
    });
    const updated = await this.intents.findById(tenantScopeOf(cmd.principal), intent.id);
    return {
      ok: true,
      applied: true,
      status: outcome.status,
      seq: outcome.seq,
      policy_generation: updated?.policyGeneration ?? intent.policyGeneration,
      intent: updated ? toIntentView(updated) : null,
      ...(outcome.completion ? { completion_delivery: outcome.completion } : {}),
    };
  }

  private toUpdate(
    body: ReturnType<typeof resumeIntentSchema.parse>,
    actor: string,
    humanTask: Record<string, unknown> | null,
    requestId: string,
  ): ResumeUpdateInput {
    const base = { actor, requestId };
    if (body.task_result) {
      if (!humanTask)
        throw new ConflictError('no_human_task_pending', 'this intent has no human task to take a result');
      const errors = taskResultErrors(humanTask, body.task_result);
      if (errors.length > 0) throw new ValidationFailedError(errors, 'invalid_task_result');
      return { ...base, kind: 'task_result', taskResult: body.task_result };
    }
    const { action, approve_current_step: approve, ...rest } = body;
    if (approve === true && action === undefined && rest.result === undefined)
      return { ...base, kind: 'approve', reason: body.reason ?? null };
    const known = (AGENT_ACTIONS as readonly string[]).includes(action ?? '');
    const waitingReason = typeof rest.waiting_reason === 'string' ? rest.waiting_reason : undefined;
    if (waitingReason !== undefined && !AGENT_WAITING_REASONS.includes(waitingReason)) {
      throw new ValidationFailedError([
        {
          path: 'waiting_reason',
          loc: ['body', 'waiting_reason'],
          message: `must be one of ${AGENT_WAITING_REASONS.join(', ')}`,
          type: 'enum',
        },
      ]);
    }
    return {
      ...base,
      kind: 'agent',
      // An unknown or missing action is a step result: the agent finished (reference §1.4 flavour 2).
      action: known ? (action as AgentAction) : 'complete',
      body: rest,
      waitingReason: (waitingReason as WaitingReason | undefined) ?? null,
    };
  }
}
