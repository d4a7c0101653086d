import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  type IntentRecord,
  IntentRepository,
  MeshRepository,
  orgScope,
  RegistryRepository,
} from '@axle/data';
import { Egress } from '@axle/egress';
import { HumanTaskService } from '@axle/humans';
import { InboxDeliveryService } from '@axle/inbox';
import { IntentEventsService, IntentPlanner } from '@axle/intents';
import {
  AxleError,
  type CloseHumanTasksInput,
  type CompletionDelivery,
  type DeliveryBinding,
  FAILURE_TYPES,
  type HttpDeliveryInput,
  type HttpDeliveryResult,
  type IntentActivities,
  type IntentPlan,
  type NotifyHumanTaskInput,
  type OpenHumanTaskInput,
  type OpenHumanTaskResult,
  isTerminal,
  type PolicyUpdateInput,
  type PolicyUpdateResult,
  type RecordEventInput,
  type RecordEventResult,
} from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { Redis } from 'ioredis';
import { CircuitBreaker } from './circuit-breaker';
import { postDelivery } from './http-delivery';

/** Activity implementations; the workflow sees only the IntentActivities type from the protocol lib. */
@Injectable()
export class IntentActivitiesService implements OnModuleDestroy {
  private readonly redis: Redis;
  private readonly breaker: CircuitBreaker;
  private readonly egress: Egress;

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly events: IntentEventsService,
    private readonly planner: IntentPlanner,
    private readonly intents: IntentRepository,
    private readonly registry: RegistryRepository,
    private readonly inbox: InboxDeliveryService,
    private readonly mesh: MeshRepository,
    private readonly humans: HumanTaskService,
  ) {
    this.redis = new Redis(config.redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.redis.on('error', () => undefined);
    this.breaker = new CircuitBreaker(
      this.redis,
      config.delivery.breakerThreshold,
      config.delivery.breakerCooldownMs,
    );
    this.egress = new Egress(config.egress);
  }

  async loadPlan({
    intentId,
    orgId,
    deliverDirectly,
  }: {
    intentId: string;
    orgId: string;
    deliverDirectly?: boolean;
  }): Promise<IntentPlan> {
    const found = await this.intents.findWithLastWorkflowStep(orgScope(orgId), intentId);
    if (!found) throw intentNotFound(intentId);
    const { intent, lastWorkflowStep } = found;
    const plan = await this.planner.plan(intent, lastWorkflowStep);
    if (!deliverDirectly) return plan;
    const delivered = await this.businessErrors(() => this.planner.deliverDirectly(intent, plan));
    return delivered ? { ...plan, delivered } : plan;
  }

  resolveBinding({ address }: { orgId: string; address: string }): Promise<DeliveryBinding> {
    return this.planner.binding(address);
  }

  async recordEvent(input: RecordEventInput): Promise<RecordEventResult> {
    const { intentId, orgId, ...event } = input;
    return this.businessErrors(async () => {
      const { event: recorded, intent, created } = await this.events.record(orgScope(orgId), intentId, event);
      const result = { seq: recorded.seq, status: intent.status };
      // A retry of this very event finds itself; another event on its step was a lost task's.
      if (created || (recorded.eventType === event.eventType && recorded.actor === event.actor))
        return result;
      const ledger = await this.intents.findWithLastWorkflowStep(orgScope(orgId), intentId);
      if (!ledger) throw intentNotFound(intentId);
      const { status, waitingReason, pendingWith, handler } = ledger.intent;
      return {
        ...result,
        stepTaken: { lastStep: ledger.lastWorkflowStep, status, waitingReason, pendingWith, handler },
      };
    });
  }

  /**
   * One activity for events the workflow records back to back (one local activity, not several).
   * Stops at a step taken by another event: the rest were planned from a state the ledger left.
   */
  async recordEvents(inputs: RecordEventInput[]): Promise<RecordEventResult[]> {
    const results: RecordEventResult[] = [];
    for (const input of inputs) {
      const result = await this.recordEvent(input);
      results.push(result);
      if (result.stepTaken) break;
    }
    return results;
  }

  async deliverHttp(input: HttpDeliveryInput): Promise<HttpDeliveryResult> {
    const scope = orgScope(input.orgId);
    const intent = await this.intent(input.intentId, input.orgId);
    if (await this.mesh.isKilled(scope, input.address)) return this.holdForKilledAgent(intent, input.address);
    const result = await postDelivery({
      intent,
      callbackUrl: input.callbackUrl,
      attempt: input.attempt,
      secret: await this.registry.findWebhookSecret(scope, input.address),
      timeoutMs: this.config.delivery.timeoutMs,
      breaker: this.breaker,
      egress: this.egress,
      cancellation: currentCancellation(),
    });
    if (result.ok || result.counted)
      await this.intents.setDeliveryAttempt(scope, input.intentId, input.attempt);
    return result;
  }

  /**
   * The operator kill switch (docs/mesh.md): nothing is POSTed to a killed agent. Like an open
   * circuit, the hold uses up no delivery attempt; unlike it, the wait is this activity's own retry
   * (a benign, retryable failure with a growing delay up to AXLE_MESH_KILLED_RECHECK_MAX_SECONDS), so
   * a kill of any length adds nothing to the workflow's history, and the attempt after the resume
   * POSTs. An intent that ended or moved to another handler meanwhile is not held: the workflow's
   * delivery loop sees that and stops.
   */
  private holdForKilledAgent(intent: IntentRecord, address: string): HttpDeliveryResult {
    if (isTerminal(intent.status) || (intent.handler ?? intent.toAgent) !== address)
      return {
        ok: false,
        counted: false,
        error: `not delivered: ${address} is killed and the intent moved on`,
      };
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.agentKilled,
      message: `${address} is killed; the delivery waits for its resume`,
      nextRetryDelay: killedRecheckDelayMs(currentAttempt(), this.config.mesh.killedRecheckMaxSeconds),
      category: ApplicationFailureCategory.BENIGN,
    });
  }

  /**
   * Opens a human task (the intent's own, or a scenario step's): its HumanTask row, inbox thread and
   * magic-link emails, idempotently (docs/humans.md).
   */
  async openHumanTask(input: OpenHumanTaskInput): Promise<OpenHumanTaskResult> {
    return this.businessErrors(() => this.humans.open(input));
  }

  /** A scenario step ended: its task is decided (if it was) and the intent's other open tasks close. */
  async closeHumanTasks(input: CloseHumanTasksInput): Promise<{ closed: number }> {
    return this.humans.closeTasks(input);
  }

  /** Reminder or escalation emails with fresh links; the workflow goes on if they fail. */
  async notifyHumanTask(input: NotifyHumanTaskInput): Promise<{ emailed: number }> {
    return this.humans.notify(input);
  }

  async openPolicyApproval({
    intentId,
    orgId,
  }: {
    intentId: string;
    orgId: string;
  }): Promise<{ threadId: string }> {
    return this.inbox.openApprovalThread(await this.intent(intentId, orgId));
  }

  async deliverCompletion({
    intentId,
    orgId,
  }: {
    intentId: string;
    orgId: string;
  }): Promise<CompletionDelivery> {
    return this.inbox.deliverCompletion(await this.intent(intentId, orgId));
  }

  async changePolicy(
    input: PolicyUpdateInput & { intentId: string; orgId: string },
  ): Promise<PolicyUpdateResult> {
    return this.businessErrors(async () => {
      const outcome = await this.intents.changePolicy(orgScope(input.orgId), input.intentId, {
        ...(input.expectedGeneration !== undefined ? { expectedGeneration: input.expectedGeneration } : {}),
        ...(input.controls ? { controls: input.controls } : {}),
        ...(input.grants ? { grants: input.grants } : {}),
        ...(input.envelope ? { envelope: input.envelope } : {}),
        ...(input.deadlineAt !== undefined
          ? { deadlineAt: input.deadlineAt === null ? null : new Date(input.deadlineAt) }
          : {}),
      });
      if (outcome.applied)
        return {
          applied: true,
          policyGeneration: outcome.intent.policyGeneration,
          deadlineAt: outcome.intent.deadlineAt?.getTime() ?? null,
        };
      if (outcome.reason === 'intent_terminal')
        throw ApplicationFailure.nonRetryable(
          `intent is ${outcome.intent.status}`,
          FAILURE_TYPES.invalidTransition,
        );
      return { applied: false, reason: outcome.reason, policyGeneration: outcome.intent.policyGeneration };
    });
  }

  /** The object handed to the Temporal Worker: bound methods, named as the workflow calls them. */
  asActivities(): IntentActivities {
    return {
      loadPlan: this.loadPlan.bind(this),
      resolveBinding: this.resolveBinding.bind(this),
      recordEvent: this.recordEvent.bind(this),
      recordEvents: this.recordEvents.bind(this),
      deliverHttp: this.deliverHttp.bind(this),
      openHumanTask: this.openHumanTask.bind(this),
      notifyHumanTask: this.notifyHumanTask.bind(this),
      closeHumanTasks: this.closeHumanTasks.bind(this),
      openPolicyApproval: this.openPolicyApproval.bind(this),
      deliverCompletion: this.deliverCompletion.bind(this),
      changePolicy: this.changePolicy.bind(this),
    };
  }

  async onModuleDestroy(): Promise<void> {
    this.redis.disconnect();
    await this.egress.close();
  }

  private async intent(intentId: string, orgId: string): Promise<IntentRecord> {
    const intent = await this.intents.findById(orgScope(orgId), intentId);
    if (!intent) throw intentNotFound(intentId);
    return intent;
  }

  /** Business rejections must not be retried; infrastructure errors are (the default). */
  private async businessErrors<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AxleError && err.kind === 'conflict')
        throw ApplicationFailure.create({
          message: err.message,
          type: FAILURE_TYPES.invalidTransition,
          details: [err.code],
          nonRetryable: true,
        });
      if (err instanceof AxleError && err.kind === 'not_found')
        throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.intentNotFound);
      throw err;
    }
  }
}

function intentNotFound(intentId: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`intent ${intentId} not found`, FAILURE_TYPES.intentNotFound);
}

/** 1 s, 2 s, 4 s … up to the configured ceiling: quick after a short kill, cheap during a long one. */
export function killedRecheckDelayMs(attempt: number, maxSeconds: number): number {
  return Math.min(maxSeconds, 2 ** Math.min(30, Math.max(0, attempt - 1))) * 1000;
}

/**
 * The running activity's cancellation (a worker shutting down cancels it after its grace, so the
 * attempt fails and Temporal retries it on another worker), or none outside an activity.
 */
function currentCancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** The running activity's attempt (1 on the first), or 1 outside an activity. */
function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}
