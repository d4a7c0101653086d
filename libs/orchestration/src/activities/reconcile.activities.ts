import { IntentRepository, orgScope, platformScope } from '@axle/data';
import { IntentWorkflowClient, workflowInput } from '@axle/intents';
import { type ReconcileActivities } from '@axle/protocol';
import { Injectable } from '@nestjs/common';

/** Intents older than this without a confirmed workflow start are treated as stranded. */
const GRACE_MS = 10_000;
const BATCH = 200;

@Injectable()
export class ReconcileActivitiesService {
  constructor(
    private readonly intents: IntentRepository,
    private readonly workflows: IntentWorkflowClient,
  ) {}

  /** Starting is idempotent (workflow id = intent id), so a race with the gateway is harmless. */
  async startStrandedIntents(): Promise<{ started: number }> {
    const stranded = await this.intents.findStranded(platformScope(), new Date(Date.now() - GRACE_MS), BATCH);
    for (const intent of stranded) {
      await this.workflows.start(workflowInput(intent));
      await this.intents.markWorkflowStarted(orgScope(intent.orgId), intent.id);
    }
    return { started: stranded.length };
  }

  asActivities(): ReconcileActivities {
    return { startStrandedIntents: this.startStrandedIntents.bind(this) };
  }
}
