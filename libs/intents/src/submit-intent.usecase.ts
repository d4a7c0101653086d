import { type Principal, QuotaService } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  hashBody,
  IdempotencyKeyTakenError,
  IdempotencyRepository,
  type IntentRecord,
  IntentRepository,
  orgScope,
} from '@axle/data';
import {
  AxleError,
  ConflictError,
  createIntentSchema,
  DependencyUnavailableError,
  parseAgentAddress,
  parseOrThrow,
  PayloadTooLargeError,
  type ScenarioPlan,
  ValidationFailedError,
} from '@axle/protocol';
import { axleMetrics, boundedLabel } from '@axle/observability';
import { PolicyService } from '@axle/policies';
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { assertValidTaskSpec } from './human-task';
import { workflowInput } from './intent-audit';
import { IntentPlanner } from './intent-planner.service';
import { IntentWorkflowClient } from './intent-workflow.client';
import { RecipientResolver } from './recipient-resolver.service';

export const SUBMIT_ROUTE = 'POST /v1/intents';

export type SubmitIntentCommand = {
  principal: Principal;
  body: unknown;
  idempotencyKey?: string | undefined;
  /** The request fingerprint the transport computed for the key (default: hash of the body). */
  requestHash?: string | undefined;
  requestId: string;
  traceId?: string | null;
  /** A ScenarioBundle apply (libs/scenarios): the compiled plan, and the route and answer it keeps for its key. */
  scenario?: ScenarioSubmission;
};

export type ScenarioSubmission = {
  scenarioId: string;
  plan: ScenarioPlan;
  route: string;
  response: (intent: IntentRecord) => Record<string, unknown>;
};

export type SubmitIntentResult = {
  status: number;
  body: Record<string, unknown>;
  /** True when the answer is the stored one of an earlier request with the same key. */
  replayed: boolean;
};

/**
 * Creates an intent: validates it, makes it durable (events 1 and 2) together with its idempotency
 * record, then starts its workflow. The answer is sent once the intent is durable (SPEC §3), while
 * its workflow may still be starting.
 */
@Injectable()
export class SubmitIntentUseCase {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly intents: IntentRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly recipients: RecipientResolver,
    private readonly workflows: IntentWorkflowClient,
    private readonly audit: AuditRepository,
    private readonly quotas: QuotaService,
    private readonly policies: PolicyService,
    private readonly planner: IntentPlanner,
  ) {}

  /**
   * Creates under an Idempotency-Key that are running in this process, by caller + route + key. A
   * burst of identical retries (a client retrying on a timeout, 1,000 at once in the chaos storm)
   * then waits for the first instead of each running the whole create against the database: with
   * the same body it gets the first's answer as a replay; otherwise it goes on as usual once the
   * first is done (and finds its record: 409, or a new create if the first failed). The database
   * stays the arbiter across processes.
   */
  private readonly inFlight = new Map<string, { requestHash: string; done: Promise<SubmitIntentResult> }>();

  async execute(cmd: SubmitIntentCommand): Promise<SubmitIntentResult> {
    const requestHash = cmd.requestHash ?? hashBody(cmd.body);
    if (!cmd.idempotencyKey) return this.create(cmd, requestHash);
    const flightKey = [cmd.principal.actorId, cmd.scenario?.route ?? SUBMIT_ROUTE, cmd.idempotencyKey].join(
      '\n',
    );
    for (;;) {
      const first = this.inFlight.get(flightKey);
      if (!first) break;
      const outcome = await first.done.then(
        (result) => result,
        () => null,
      );
      if (outcome && first.requestHash === requestHash && outcome.status === 200)
        return { ...outcome, replayed: true };
      if (this.inFlight.get(flightKey) === first) break;
    }
    const done = this.create(cmd, requestHash);
    const entry = { requestHash, done };
    this.inFlight.set(flightKey, entry);
    try {
      return await done;
    } finally {
      if (this.inFlight.get(flightKey) === entry) this.inFlight.delete(flightKey);
    }
  }

  private async create(cmd: SubmitIntentCommand, requestHash: string): Promise<SubmitIntentResult> {
    const scope = orgScope(cmd.principal.orgId);
    // The key is looked at first, as on every other POST: a known key answers what it answered
    // before (or 409 for another body), whatever the body is now.
    if (cmd.idempotencyKey) {
      const replay = await this.replay(cmd, requestHash);
      if (replay) return replay;
    }
    const request = parseOrThrow(createIntentSchema, cmd.body);
    const payloadBytes = Buffer.byteLength(JSON.stringify(request.payload));
    if (payloadBytes > this.config.limits.maxPayloadBytes)
      throw new PayloadTooLargeError(this.config.limits.maxPayloadBytes, payloadBytes);

    // A form_schema that is no JSON Schema 2020-12 is refused now, not when the human answers.
    if (request.human_task) assertValidTaskSpec(request.human_task);
    if (request.escalate_to && !request.remind_after_seconds) {
      // Escalation happens when reminders go unanswered, so it needs a reminder schedule.
      throw new ValidationFailedError([
        {
          path: 'remind_after_seconds',
          loc: ['body', 'remind_after_seconds'],
          message: 'required when escalate_to is set',
          type: 'missing',
        },
      ]);
    }
    // from_agent is the caller's own address; only a platform admin may speak for another agent.
    const fromAgent =
      cmd.principal.platformAdmin && request.from_agent
        ? (parseAgentAddress(request.from_agent)?.canonical ?? cmd.principal.address)
        : cmd.principal.address;
    // Send/receive policies: a deny is a 403 here and nothing is stored; an escalate is stored with
    // the intent, whose workflow then holds it for the approver before delivering it.
    const recipient = await this.recipients.resolveSend(cmd.principal, request.to_agent, {
      sender: fromAgent,
      requestId: cmd.requestId,
    });
    const toAgent = recipient.address;
    const escalated = recipient.verdict.decision === 'escalate' && !recipient.bypassed;
    const id = randomUUID();
    const newIntent = {
      id,
      workspaceId: cmd.principal.workspaceId,
      intentType: request.intent_type,
      correlationId: request.correlation_id ?? randomUUID(),
      fromAgent,
      toAgent,
      replyTo: request.reply_to ? parseAgentAddress(request.reply_to)!.canonical : null,
      handler: toAgent,
      pendingWith: { type: 'agent' as const, ref: toAgent, name: null },
      payload: request.payload,
      // The title is optional on the wire (reference §9.7): the intent type stands in for it.
      humanTask: request.human_task
        ? { ...request.human_task, title: request.human_task.title ?? request.intent_type }
        : null,
      deadlineAt: request.deadline_at ? new Date(request.deadline_at) : null,
      remindAfterSeconds: request.remind_after_seconds ?? null,
      remindIntervalSeconds: request.remind_interval_seconds ?? null,
      maxReminders: request.max_reminders ?? null,
      escalateTo: request.escalate_to ? parseAgentAddress(request.escalate_to)!.canonical : null,
      maxDeliveryAttempts: request.max_delivery_attempts ?? 3,
      traceId: cmd.traceId ?? null,
      scenarioId: cmd.scenario?.scenarioId ?? null,
      workflowPlan: cmd.scenario ? (cmd.scenario.plan as unknown as Record<string, unknown>) : null,
      policyDecision: escalated
        ? {
            decision: 'escalate',
            code: recipient.verdict.code,
            approver: recipient.verdict.approver,
            rule: recipient.verdict.rule,
          }
        : null,
    };

    // intents_per_day of the sender and its org (SPEC §2): counted before anything is written, so a
    // refused create (429 quota_exceeded) leaves nothing behind; given back if the create fails.
    const reservation = await this.quotas.reserveIntent(scope.orgId, newIntent.fromAgent);
    let intent: IntentRecord;
    try {
      intent = await this.intents.createSubmitted(
        scope,
        newIntent,
        cmd.principal.address,
        cmd.idempotencyKey
          ? {
              callerId: cmd.principal.actorId,
              route: cmd.scenario?.route ?? SUBMIT_ROUTE,
              key: cmd.idempotencyKey,
              requestHash,
              expiresAt: new Date(Date.now() + this.config.limits.idempotencyTtlHours * 3_600_000),
              response: (created) => ({
                status: 200,
                body: (cmd.scenario?.response ?? createdBody)(created),
              }),
            }
          : undefined,
      );
    } catch (err) {
      await reservation.release();
      if (err instanceof IdempotencyKeyTakenError) {
        const replay = await this.replay(cmd, requestHash);
        if (replay) return replay;
      }
      throw err;
    }
    axleMetrics.intentsCreated.inc({ intent_type: boundedLabel('intent_type', intent.intentType) });
    // The intent is durable, so the answer does not wait for its workflow's start (SPEC §3): a start
    // that is lost (a crash, Temporal down) is the worker's reconciler's to redo.
    await this.workflows.startDetached(async () => {
      await Promise.all([this.deliverDirectly(intent), this.startWorkflow(intent)]);
    });
    await this.audit.record({
      orgId: intent.orgId,
      actorType: cmd.principal.kind,
      actorId: cmd.principal.actorId,
      action: 'intent.create',
      targetType: 'intent',
      targetId: intent.id,
      outcome: 'success',
      requestId: cmd.requestId,
      details: { intent_type: intent.intentType, to_agent: intent.toAgent },
    });
    await this.policies.recordDecision(recipient.verdict, {
      principal: cmd.principal,
      requestId: cmd.requestId,
      operation: 'send',
      intentId: intent.id,
      bypassed: recipient.bypassed,
    });
    return { status: 200, body: (cmd.scenario?.response ?? createdBody)(intent), replayed: false };
  }

  /** Same caller + route + key: same body → the stored answer; another body → 409. */
  private async replay(cmd: SubmitIntentCommand, requestHash: string): Promise<SubmitIntentResult | null> {
    const scope = orgScope(cmd.principal.orgId);
    const record = await this.idempotency.find(
      scope,
      cmd.principal.actorId,
      cmd.scenario?.route ?? SUBMIT_ROUTE,
      cmd.idempotencyKey!,
    );
    if (!record) return null;
    if (record.requestHash !== requestHash)
      throw new ConflictError('idempotency_conflict', 'idempotency key reused with different payload');
    const body = record.responseBody ?? {};
    // The first attempt may have stopped between commit and workflow start; starting again is a
    // no-op, but a Temporal call per replay, so only when that start was never confirmed.
    const intentId = typeof body.intent_id === 'string' ? body.intent_id : null;
    const intent = intentId ? await this.intents.findById(scope, intentId) : null;
    if (intent && intent.workflowStartedAt === null) await this.startWorkflow(intent);
    return { status: record.responseStatus ?? 200, body, replayed: true };
  }

  /**
   * An intent whose delivery needs nothing first (`deliversDirectly`: a stream, poll, inbox or
   * internal agent, no policy approval, no scenario) is delivered by recording its event, so the
   * gateway records it beside the workflow's start: the agent has it without waiting for the start,
   * a workflow task and the plan load (issue #8, round trip). The workflow's plan load writes the
   * same step, so whichever comes second finds it; a failure here is the plan load's to redo.
   */
  private async deliverDirectly(intent: IntentRecord): Promise<void> {
    try {
      await this.planner.deliverDirectly(intent, await this.planner.plan(intent, 0));
    } catch (err) {
      if (!(err instanceof AxleError)) throw err;
    }
  }

  /**
   * The intent is durable before this runs, so a Temporal outage does not fail the create: the
   * worker's reconciler starts workflows whose start was never confirmed.
   */
  private async startWorkflow(intent: IntentRecord): Promise<void> {
    try {
      await this.workflows.start(workflowInput(intent));
      await this.intents.markWorkflowStarted(orgScope(intent.orgId), intent.id);
    } catch (err) {
      if (!(err instanceof DependencyUnavailableError)) throw err;
    }
  }
}

function createdBody(intent: IntentRecord): Record<string, unknown> {
  return {
    ok: true,
    intent_id: intent.id,
    status: intent.status,
    created_at: intent.createdAt.toISOString(),
  };
}
