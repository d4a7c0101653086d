import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { type IntentRecord, orgScope, RegistryRepository } from '@axle/data';
import {
  deliveredEvent,
  deliversDirectly,
  type DeliveryBinding,
  type IntentPlan,
  isDeliveryMode,
  policyApprovalOf,
  type RecordEventResult,
  type ScenarioPlan,
  workflowStepKey,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { IntentEventsService } from './intent-events.service';

/**
 * An intent's plan (what its workflow works from) and its direct delivery, in one place for the
 * worker's plan load and the gateway's create, which records a direct delivery itself so the agent
 * has the intent without waiting for the workflow to start (issue #8, round trip).
 */
@Injectable()
export class IntentPlanner {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly registry: RegistryRepository,
    private readonly events: IntentEventsService,
  ) {}

  /**
   * Registered agents deliver by their delivery_mode; unregistered (open addressing) ones by stream.
   * A recipient in another org (a send its policies allowed) too: the registry looks in the org its
   * address names.
   */
  async binding(address: string): Promise<DeliveryBinding> {
    const agent = await this.registry.findDeliveryBinding(address);
    const mode = agent && isDeliveryMode(agent.deliveryMode) ? agent.deliveryMode : 'stream';
    return { mode, callbackUrl: agent?.callbackUrl ?? null };
  }

  /** The plan of `intent`, whose workflow has recorded `recordedSteps` events so far. */
  async plan(intent: IntentRecord, recordedSteps: number): Promise<IntentPlan> {
    const handler = intent.handler ?? intent.toAgent;
    return {
      recordedSteps,
      status: intent.status,
      toAgent: intent.toAgent,
      handler,
      replyTo: intent.replyTo,
      binding: await this.binding(handler),
      humanTask: intent.humanTask,
      deadlineAt: intent.deadlineAt?.getTime() ?? null,
      remindAfterSeconds: intent.remindAfterSeconds,
      remindIntervalSeconds: intent.remindIntervalSeconds,
      maxReminders: intent.maxReminders,
      remindCount: intent.remindCount,
      escalateTo: intent.escalateTo,
      maxDeliveryAttempts: intent.maxDeliveryAttempts,
      deliveryAttempt: intent.deliveryAttempt,
      retry: { backoffMs: this.config.delivery.backoffMs, backoffMaxMs: this.config.delivery.backoffMaxMs },
      approval: policyApprovalOf(intent.policyDecision),
      scenario: (intent.workflowPlan as ScenarioPlan | null) ?? null,
    };
  }

  /**
   * Records the delivery as the workflow's next step when the plan `deliversDirectly`, else null.
   * The step's dedupe key makes the gateway's write and the plan load's one event, whichever is first.
   */
  async deliverDirectly(intent: IntentRecord, plan: IntentPlan): Promise<RecordEventResult | null> {
    if (!deliversDirectly(plan)) return null;
    const { event, intent: after } = await this.events.record(orgScope(intent.orgId), intent.id, {
      ...deliveredEvent(plan, plan.deliveryAttempt),
      dedupeKey: workflowStepKey((plan.recordedSteps ?? 0) + 1),
    });
    return { seq: event.seq, status: after.status };
  }
}
