// Run by a Temporal Schedule: intents made durable while Temporal was unreachable get their workflow.
import { type ReconcileActivities } from '@axle/protocol/workflow';
import { proxyActivities } from '@temporalio/workflow';

const { startStrandedIntents } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3 },
});

export async function reconcileIntentsWorkflow(): Promise<{ started: number }> {
  return startStrandedIntents();
}
