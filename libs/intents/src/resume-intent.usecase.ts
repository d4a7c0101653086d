import { humanActor, humanIdentities, type Principal } from '@axle/auth';
import {
  AuditRepository,
  type HumanTaskRecord,
  HumanTaskRepository,
  type IntentRecord,
  IntentRepository,
  orgScope,
} from '@axle/data';
import {
  AGENT_ACTIONS,
  type AgentAction,
  ConflictError,
  decisionOutcome,
  NotFoundError,
  parseOrThrow,
  resumeIntentSchema,
  type ResumeUpdateInput,
  type ResumeUpdateResult,
  ValidationFailedError,
  WAITING_REASONS,
  type WaitingReason,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { assertTaskResult, type TaskResult } from './human-task';
import { actingAgent, assertMayAct, assertNotTerminal, updateIdFor } from './intent-access';
import { workflowInput } from './intent-audit';
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
  /** The HumanTask a task_result is for (inbox/approvals threads are bound to one); default: the open one. */
  taskId?: string | undefined;
};

/** A decision through an email magic link: the token stood for the person, there is no principal. */
export type HumanDecisionCommand = {
  orgId: string;
  taskId: string;
  /** The link's recipient; the decision is recorded as `human:<email>`. */
  email: string;
  taskResult: TaskResult;
  requestId: string;
};

type Actor = { actor: string; auditType: 'service_account' | 'user'; auditId: string };

/**
 * Resume in its three flavours (reference §1.4): an agent's step result (`{action, …}` or any result
 * object), a human `task_result` (checked against the open HumanTask's spec, or the intent's
 * human_task, first: a violation is a 422 and nothing changes), and the control/approve form with
 * the `policy_generation` compare-and-set. The workflow applies it and records the events before
 * this answers; an accepted task_result then marks the HumanTask decided. Every human decision path
 * (resume, inbox approve/reject, approvals decision, email magic link) ends in `submitTaskResult`.
 */
@Injectable()
export class ResumeIntentUseCase {
  constructor(
    private readonly queries: IntentQueries,
    private readonly intents: IntentRepository,
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
    private readonly humanTasks: HumanTaskRepository,
  ) {}

  async execute(cmd: ResumeIntentCommand): Promise<Record<string, unknown>> {
    const intent = await this.queries.get(cmd.principal, cmd.intentId);
    const updateId = updateIdFor('resume', cmd.principal, cmd.idempotencyKey);
    try {
      return await this.apply(cmd, intent, updateId);
    } catch (err) {
      // A conflict (terminal intent, task decided) may be this very request's doing: its first
      // attempt applied the update and its answer was lost. Then it answers what it did.
      const prior =
        err instanceof ConflictError && updateId
          ? await this.workflows.priorOutcome<ResumeUpdateResult>(intent.id, updateId)
          : null;
      if (!prior) throw err;
      return this.answer(intent, prior);
    }
  }

  private async apply(
    cmd: ResumeIntentCommand,
    intent: IntentRecord,
    updateId: string | undefined,
  ): Promise<Record<string, unknown>> {
    const body = parseOrThrow(resumeIntentSchema, cmd.body ?? {});
    const approving =
      body.approve_current_step === true &&
      body.action === undefined &&
      body.result === undefined &&
      body.task_result === undefined;
    const task =
      body.task_result || (approving && intent.waitingReason === 'WAITING_FOR_HUMAN')
        ? await this.openTask(intent, cmd.taskId)
        : null;
    // An assignee of the open task (a person by email, member id or address) may decide it.
    const assignee =
      task !== null && cmd.ownerAgent === undefined && isAssignee(cmd.principal, task.assignees);
    const actor = assignee ? humanActor(cmd.principal) : actingAgent(cmd.principal, cmd.ownerAgent);
    if (!assignee) assertMayAct(cmd.principal, intent, actor, 'resume');
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
    const who: Actor = { actor, auditType: cmd.principal.kind, auditId: cmd.principal.actorId };
    if (body.task_result)
      return this.submitTaskResult(intent, task, body.task_result, who, cmd.requestId, updateId);
    if (approving && task) {
      // approve_current_step on a waiting human task is its "approve" outcome, checked like any result.
      const outcome = decisionOutcome(task.spec, 'approve');
      const taskResult = { outcome, ...(body.reason ? { comment: body.reason } : {}) };
      return this.submitTaskResult(intent, task, taskResult, who, cmd.requestId, updateId);
    }
    const input = this.toUpdate(body, actor, cmd.requestId);
    return this.send(intent, input, who, cmd.requestId, updateId);
  }

  /** The task a result is for: the named one (409 unless it is open), else the intent's open one. */
  private async openTask(intent: IntentRecord, taskId: string | undefined): Promise<HumanTaskRecord | null> {
    const scope = orgScope(intent.orgId);
    if (taskId === undefined) return this.humanTasks.findOpenForIntent(scope, intent.id);
    const task = await this.humanTasks.findById(scope, taskId);
    if (!task || task.intentId !== intent.id)
      throw new NotFoundError('task_not_found', `human task ${taskId} not found`);
    if (task.status !== 'open') throw alreadyDecided(task);
    return task;
  }

  /** The email magic-link decision: the same checks and the same workflow update as resume. */
  async decideAsHuman(cmd: HumanDecisionCommand): Promise<Record<string, unknown>> {
    const scope = orgScope(cmd.orgId);
    const task = await this.humanTasks.findById(scope, cmd.taskId);
    const intent = task ? await this.intents.findById(scope, task.intentId) : null;
    if (!task || !intent) throw new NotFoundError('task_not_found', `human task ${cmd.taskId} not found`);
    if (task.status !== 'open') throw alreadyDecided(task);
    assertNotTerminal(intent);
    const email = cmd.email.toLowerCase();
    return this.submitTaskResult(
      intent,
      task,
      cmd.taskResult,
      { actor: `human:${email}`, auditType: 'user', auditId: `human:${email}` },
      cmd.requestId,
      undefined,
    );
  }

  /**
   * The one code path of a human decision: validate against the open task's spec (falling back to
   * the intent's human_task for intents without task rows), let the workflow apply it, then mark the
   * task decided. A task that is decided or closed already is a 409.
   */
  private async submitTaskResult(
    intent: IntentRecord,
    open: HumanTaskRecord | null,
    taskResult: TaskResult,
    who: Actor,
    requestId: string,
    updateId: string | undefined,
  ): Promise<Record<string, unknown>> {
    const scope = orgScope(intent.orgId);
    let spec: Record<string, unknown> | null = open?.spec ?? null;
    if (!open) {
      const latest = await this.humanTasks.findLatestForIntent(scope, intent.id);
      if (latest) throw alreadyDecided(latest);
      spec = intent.humanTask;
    }
    if (!spec)
      throw new ConflictError('no_human_task_pending', 'this intent has no human task to take a result');
    assertTaskResult(spec, taskResult);
    const result = await this.send(
      intent,
      {
        actor: who.actor,
        requestId,
        kind: 'task_result',
        taskResult,
        ...(open ? { taskId: open.id, stepId: open.stepId } : {}),
      },
      who,
      requestId,
      updateId,
    );
    if (open) {
      const { outcome, ...rest } = taskResult;
      await this.humanTasks.decide(scope, open.id, {
        outcome,
        result: { outcome, ...rest },
        decidedBy: who.actor,
      });
    }
    return { ...result, ...(open ? { task_id: open.id } : {}) };
  }

  private async send(
    intent: IntentRecord,
    input: ResumeUpdateInput,
    who: Actor,
    requestId: string,
    updateId: string | undefined,
  ): Promise<Record<string, unknown>> {
    const outcome = await this.workflows.ensuring(workflowInput(intent), () =>
      this.workflows.resume(intent.id, input, updateId),
    );
    await this.audit.record({
      orgId: intent.orgId,
      actorType: who.auditType,
      actorId: who.auditId,
      action: 'intent.resume',
      targetType: 'intent',
      targetId: intent.id,
      outcome: 'success',
      requestId,
      details: {
        kind: input.kind,
        status: outcome.status,
        ...(input.kind === 'task_result' ? { outcome: input.taskResult.outcome, actor: who.actor } : {}),
      },
    });
    return this.answer(intent, outcome);
  }

  private async answer(intent: IntentRecord, outcome: ResumeUpdateResult): Promise<Record<string, unknown>> {
    const updated = await this.intents.findById(orgScope(intent.orgId), intent.id);
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
    requestId: string,
  ): ResumeUpdateInput {
    const base = { actor, requestId };
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

/** Whether the principal is one of the task's assignees (lower-cased emails, member ids, addresses). */
export function isAssignee(principal: Principal, assignees: readonly string[]): boolean {
  const mine = new Set(humanIdentities(principal));
  return assignees.some((a) => mine.has(a.toLowerCase()));
}

function alreadyDecided(task: HumanTaskRecord): ConflictError {
  return new ConflictError(
    'task_already_decided',
    task.status === 'decided'
      ? `human task ${task.id} was decided already (${task.outcome ?? 'no outcome'})`
      : `human task ${task.id} is closed: its intent moved on`,
    {
      task_id: task.id,
      task_status: task.status,
      ...(task.outcome ? { outcome: task.outcome } : {}),
      ...(task.decidedAt ? { decided_at: task.decidedAt.toISOString() } : {}),
    },
  );
}
