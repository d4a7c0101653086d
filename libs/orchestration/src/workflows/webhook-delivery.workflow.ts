// One delivery round of a webhook event to one subscription: attempt, back off, attempt again, until
// delivered, out of attempts (dead-lettered) or superseded by a replay. Deterministic: attempts go
// through an activity, delays are Temporal timers and the jitter comes from the workflow's seeded
// Math.random, so a restart of any process resumes the round where it was.
import {
  type WebhookActivities,
  webhookBackoffMs,
  type WebhookDeliveryWorkflowInput,
  type WebhookDeliveryWorkflowResult,
} from '@axle/protocol/workflow';
import { proxyActivities, sleep } from '@temporalio/workflow';

// The receiver's failures are results; these retries cover only our own infrastructure (PostgreSQL).
const { attemptWebhookDelivery } = proxyActivities<WebhookActivities>({
  // One POST may take 10 s; the rest is reading and writing the delivery.
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

export async function webhookDeliveryWorkflow(
  input: WebhookDeliveryWorkflowInput,
): Promise<WebhookDeliveryWorkflowResult> {
  const maxAttempts = Math.max(1, Math.floor(input.retry.maxAttempts));
  for (let attempt = 1; ; attempt++) {
    const result = await attemptWebhookDelivery({
      deliveryId: input.deliveryId,
      orgId: input.orgId,
      attempt,
      final: attempt >= maxAttempts,
    });
    if (result.outcome !== 'retry') return { outcome: result.outcome, attempts: attempt };
    // The activity dead-letters a failed final attempt; never loop past the limit whatever it says.
    if (attempt >= maxAttempts) return { outcome: 'dead_lettered', attempts: attempt };
    await sleep(webhookBackoffMs(input.retry, attempt, Math.random()));
  }
}
