// Webhooks (reference/axme-wire.md §1.3 "Webhooks"): request schemas, the delivery wire contract
// (headers, signature prefix) and the Temporal contract of the delivery workflow. Workflow-safe.
import { z } from 'zod';
import { TASK_QUEUES } from './temporal';

export const WEBHOOK_EVENT_TYPES = [
  'inbox.thread_created',
  'inbox.thread_updated',
  'inbox.reply_received',
  'invite.accepted',
  'auth.session_revoked',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Headers of every webhook POST; receivers verify the signature over the raw body. */
export const WEBHOOK_HEADERS = {
  /** `sha256=<hex HMAC-SHA256(secret, raw body)>` */
  signature: 'X-Axme-Signature',
  /** Unix seconds when the attempt was sent. */
  timestamp: 'X-Axme-Timestamp',
  event: 'X-Axme-Event',
  delivery: 'X-Axme-Delivery',
} as const;

export const WEBHOOK_SIGNATURE_PREFIX = 'sha256=';

/** One POST may take this long before it counts as a failed attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'dead_lettered'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

// ---------------------------------------------------------------------------------------------
// Requests. Unknown fields are dropped rather than rejected, as for intents.

export const webhookSubscriptionSchema = z.object({
  callback_url: z
    .string()
    .max(2048)
    .pipe(z.url({ protocol: /^https?$/, message: 'must be an http or https URL' })),
  event_types: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .max(32)
    .transform((types) => [...new Set(types)]),
  secret: z.string().min(16).max(256).optional(),
  active: z.boolean().optional(),
  description: z.string().max(500).nullable().optional(),
});
export type WebhookSubscriptionRequest = z.infer<typeof webhookSubscriptionSchema>;

export const webhookEventSchema = z.object({
  event_type: z.enum(WEBHOOK_EVENT_TYPES),
  source: z.string().min(2).max(100),
  payload: z.record(z.string(), z.unknown()),
});
export type WebhookEventRequest = z.infer<typeof webhookEventSchema>;

/** The JSON body POSTed to a subscription's callback_url. */
export type WebhookDeliveryBody = {
  event_id: string;
  event_type: string;
  source: string;
  owner_agent: string;
  payload: Record<string, unknown>;
  accepted_at: string;
  delivery_id: string;
  attempt: number;
};

// ---------------------------------------------------------------------------------------------
// Temporal: one workflow per delivery round. A replay gives the delivery a new id, so the workflow id
// is deterministic per round and starting it twice (a retried request) is a no-op.

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
