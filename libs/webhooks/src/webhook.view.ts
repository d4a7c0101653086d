// Wire shapes of webhook subscriptions, events and deliveries (reference/axme-wire.md §1.3).
import {
  type WebhookDeliveryRecord,
  type WebhookEventRecord,
  type WebhookSubscriptionRecord,
} from '@axle/data';

export function toSubscriptionView(s: WebhookSubscriptionRecord): Record<string, unknown> {
  return {
    subscription_id: s.id,
    owner_agent: s.ownerAgent,
    callback_url: s.callbackUrl,
    event_types: s.eventTypes,
    active: s.active,
    description: s.description,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
    revoked_at: s.revokedAt?.toISOString() ?? null,
    secret_hint: s.secretHint,
  };
}

export function toEventView(e: WebhookEventRecord): Record<string, unknown> {
  return {
    event_id: e.id,
    event_type: e.eventType,
    source: e.source,
    owner_agent: e.ownerAgent,
    payload: e.payload,
    accepted_at: e.acceptedAt.toISOString(),
  };
}

export function toDeliveryView(d: WebhookDeliveryRecord): Record<string, unknown> {
  return {
    delivery_id: d.id,
    subscription_id: d.subscriptionId,
    status: d.status,
    attempts: d.attempts,
    last_error: d.lastError,
    delivered_at: d.deliveredAt?.toISOString() ?? null,
    updated_at: d.updatedAt.toISOString(),
  };
}

/** The counters every publish and replay answers with. */
export type DeliveryCounters = {
  queued_deliveries: number;
  processed_deliveries: number;
  delivered: number;
  pending: number;
  dead_lettered: number;
};

export function deliveryCounters(deliveries: readonly WebhookDeliveryRecord[]): DeliveryCounters {
  const count = (status: WebhookDeliveryRecord['status']) =>
    deliveries.filter((d) => d.status === status).length;
  const delivered = count('delivered');
  const deadLettered = count('dead_lettered');
  return {
    queued_deliveries: deliveries.length,
    processed_deliveries: delivered + deadLettered,
    delivered,
    pending: count('pending'),
    dead_lettered: deadLettered,
  };
}
