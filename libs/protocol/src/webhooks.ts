// Webhooks (reference/axme-wire.md §1.3 "Webhooks"): request schemas and the delivery wire contract
// (headers, signature prefix). The delivery workflow's Temporal contract is in webhook-delivery.ts.
import { z } from 'zod';

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
