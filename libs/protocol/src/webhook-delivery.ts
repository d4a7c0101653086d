// The Temporal contract of webhook deliveries: one workflow per delivery round. A replay gives the
// delivery a new id, so the workflow id is deterministic per round and starting it twice (a retried
// request) is a no-op. Workflow-safe (no zod): exported by the protocol's workflow entry too.
import { TASK_QUEUES } from './temporal';

export const WEBHOOK_WORKFLOW = {
  type: 'webhookDeliveryWorkflow',
  /** The worker that runs intents runs webhook deliveries too. */
  taskQueue: TASK_QUEUES.intents,
  workflowId: (deliveryId: string) => `webhook-delivery-${deliveryId}`,
} as const;

export type WebhookRetryPolicy = {
  /** Attempts per delivery round, the first included (AXLE_WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Delay before the second attempt; doubles per attempt (AXLE_WEBHOOK_BACKOFF_MS). */
  backoffMs: number;
  /** Upper bound of one delay (AXLE_WEBHOOK_BACKOFF_MAX_MS). */
  backoffMaxMs: number;
};

export type WebhookDeliveryWorkflowInput = {
  deliveryId: string;
  orgId: string;
  eventId: string;
  subscriptionId: string;
  retry: WebhookRetryPolicy;
  traceId?: string | null;
};

/** `superseded`: a replay replaced this round, or the delivery is gone; the round stops quietly. */
export type WebhookDeliveryOutcome = 'delivered' | 'dead_lettered' | 'superseded';

export type WebhookDeliveryWorkflowResult = { outcome: WebhookDeliveryOutcome; attempts: number };

export type WebhookAttemptInput = {
  deliveryId: string;
  orgId: string;
  /** 1-based attempt within the round; stored as the delivery's attempts. */
  attempt: number;
  /** The last allowed attempt: a failure dead-letters the delivery. */
  final: boolean;
};

export type WebhookAttemptResult = {
  /** `retry`: the attempt failed and more are allowed. */
  outcome: WebhookDeliveryOutcome | 'retry';
  statusCode: number | null;
  error: string | null;
};

/** The activities the delivery workflow calls; implemented by the worker. */
export type WebhookActivities = {
  attemptWebhookDelivery(input: WebhookAttemptInput): Promise<WebhookAttemptResult>;
};

/**
 * Delay after failed attempt `attempt` (1-based): exponential from backoffMs, capped at backoffMaxMs,
 * with "equal jitter" (half fixed, half random) so receivers that failed together do not get their
 * retries together. `random` is in [0, 1): Math.random() in a workflow, which Temporal makes replayable.
 */
export function webhookBackoffMs(policy: WebhookRetryPolicy, attempt: number, random: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffMs * 2 ** exponent);
  const jitter = Math.min(Math.max(random, 0), 1);
  return Math.max(1, Math.round(ceiling / 2 + (ceiling / 2) * jitter));
}
