import { type WebhookDeliveryStatus } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Prisma } from '../generated/prisma/client';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';
import { IdempotencyKeyTakenError } from './intent.repository';

/** A subscription as callers see it: the secret itself never leaves this lib except to sign. */
export type WebhookSubscriptionRecord = {
  id: string;
  orgId: string;
  ownerAgent: string;
  callbackUrl: string;
  eventTypes: string[];
  active: boolean;
  description: string | null;
  /** The secret's last four characters. */
  secretHint: string;
  createdAt: Date;
  updatedAt: Date;
  revokedAt: Date | null;
};

export type WebhookEventRecord = {
  id: string;
  orgId: string;
  ownerAgent: string;
  eventType: string;
  source: string;
  payload: Record<string, unknown>;
  acceptedAt: Date;
};

export type WebhookDeliveryRecord = {
  id: string;
  orgId: string;
  eventId: string;
  subscriptionId: string;
  status: WebhookDeliveryStatus;
  attempts: number;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

/** Everything one delivery attempt needs, the signing secret included (worker only). */
export type WebhookDeliveryTarget = {
  delivery: WebhookDeliveryRecord;
  event: WebhookEventRecord;
  subscription: WebhookSubscriptionRecord & { secret: string };
};

export type NewWebhookSubscription = {
  ownerAgent: string;
  callbackUrl: string;
  eventTypes: string[];
  /** The caller's secret; null keeps an existing subscription's secret or uses generatedSecret. */
  secret: string | null;
  /** Used only when a new subscription is created without a caller secret. */
  generatedSecret: string;
  /** Undefined keeps the stored value (true for a new subscription). */
  active?: boolean | undefined;
  description?: string | null | undefined;
};

export type NewWebhookEvent = {
  ownerAgent: string;
  eventType: string;
  source: string;
  payload: Record<string, unknown>;
};

/** An Idempotency-Key claim written in the same transaction as the work it protects. */
export type IdempotencyWrite<T> = {
  callerId: string;
  route: string;
  key: string;
  requestHash: string;
  expiresAt: Date;
  response: (result: T) => { status: number; body: Record<string, unknown> };
};

export type UpsertSubscriptionResult = {
  subscription: WebhookSubscriptionRecord;
  created: boolean;
  /** The server generated the secret in this call (the caller sees it once). */
  secretGenerated: boolean;
};

export type EventDeliveries = { event: WebhookEventRecord; deliveries: WebhookDeliveryRecord[] };

type Tx = Prisma.TransactionClient;
type SubscriptionRow = Awaited<
  ReturnType<PrismaService['client']['webhookSubscription']['findFirstOrThrow']>
>;
type EventRow = Awaited<ReturnType<PrismaService['client']['webhookEvent']['findFirstOrThrow']>>;
type DeliveryRow = Awaited<ReturnType<PrismaService['client']['webhookDelivery']['findFirstOrThrow']>>;

/**
 * Webhook subscriptions, events and their deliveries (one per event and subscription). A replay
 * gives a delivery row a new id, so every delivery round has its own id (and workflow id), and the
 * attempts of an older round that is still running find their row gone and stop.
 */
@Injectable()
export class WebhookRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Creates a subscription, or updates the live one with the same owner and callback URL (the SDKs
   * call this "upsert"). Serialized per owner and URL, so concurrent calls cannot create two.
   */
  async upsertSubscription(
    scope: OrgScope,
    input: NewWebhookSubscription,
    idempotency?: IdempotencyWrite<UpsertSubscriptionResult>,
  ): Promise<UpsertSubscriptionResult> {
    return this.transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`webhook-subscription:${scope.orgId}:${input.ownerAgent}:${input.callbackUrl}`}))`;
      const existing = await tx.webhookSubscription.findFirst({
        where: {
          orgId: scope.orgId,
          ownerAgent: input.ownerAgent,
          callbackUrl: input.callbackUrl,
          revokedAt: null,
        },
        orderBy: { createdAt: 'desc' },
      });
      let result: UpsertSubscriptionResult;
      if (existing) {
        const row = await tx.webhookSubscription.update({
          where: { id: existing.id },
          data: {
            eventTypes: input.eventTypes,
            ...(input.secret !== null ? { secret: input.secret } : {}),
            ...(input.active !== undefined ? { active: input.active } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
          },
        });
        result = { subscription: toSubscription(row), created: false, secretGenerated: false };
      } else {
        const row = await tx.webhookSubscription.create({
          data: {
            orgId: scope.orgId,
            ownerAgent: input.ownerAgent,
            callbackUrl: input.callbackUrl,
            eventTypes: input.eventTypes,
            secret: input.secret ?? input.generatedSecret,
            active: input.active ?? true,
            description: input.description ?? null,
          },
        });
        result = { subscription: toSubscription(row), created: true, secretGenerated: input.secret === null };
      }
      await writeIdempotency(tx, scope, idempotency, result);
      return result;
    });
  }

  /** Live (not revoked) subscriptions of an owner, oldest first. */
  async listSubscriptions(scope: TenantScope, ownerAgent: string): Promise<WebhookSubscriptionRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.webhookSubscription.findMany({
        where: { ownerAgent, revokedAt: null, ...orgFilter(scope) },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      });
      return rows.map(toSubscription);
    });
  }

  async findSubscription(scope: TenantScope, id: string): Promise<WebhookSubscriptionRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.webhookSubscription.findFirst({
        where: { id, ...orgFilter(scope) },
      });
      return row ? toSubscription(row) : null;
    });
  }

  /**
   * The signing secret of a live subscription. Only for answering an idempotent retry of the create
   * that generated it: the secret is shown to its creator and to no one else.
   */
  async findSubscriptionSecret(scope: OrgScope, id: string): Promise<string | null> {
    return guarded(async () => {
      const row = await this.prisma.client.webhookSubscription.findFirst({
        where: { id, revokedAt: null, ...orgFilter(scope) },
        select: { secret: true },
      });
      return row?.secret ?? null;
    });
  }

  /**
   * Revokes a subscription (idempotent: a revoked one is returned unchanged) and dead-letters its
   * pending deliveries. Null when the id is unknown in the scope or belongs to another owner.
   */
  async revokeSubscription(
    scope: TenantScope,
    id: string,
    ownerAgent: string | null,
    now = new Date(),
  ): Promise<{ subscription: WebhookSubscriptionRecord; revokedNow: boolean } | null> {
    return this.transaction(async (tx) => {
      const where = { id, ...orgFilter(scope), ...(ownerAgent ? { ownerAgent } : {}) };
      const changed = await tx.webhookSubscription.updateMany({
        where: { ...where, revokedAt: null },
        data: { revokedAt: now, active: false },
      });
      const row = await tx.webhookSubscription.findFirst({ where });
      if (!row) return null;
      if (changed.count > 0) {
        await tx.webhookDelivery.updateMany({
          where: { subscriptionId: id, status: 'pending' },
          data: { status: 'dead_lettered', lastError: 'subscription revoked' },
        });
      }
      return { subscription: toSubscription(row), revokedNow: changed.count > 0 };
    });
  }

  /** Persists an event and one pending delivery per active subscription of its owner and type. */
  async createEvent(
    scope: OrgScope,
    input: NewWebhookEvent,
    idempotency?: IdempotencyWrite<EventDeliveries>,
  ): Promise<EventDeliveries> {
    return this.transaction(async (tx) => {
      const event = await tx.webhookEvent.create({
        data: {
          orgId: scope.orgId,
          ownerAgent: input.ownerAgent,
          eventType: input.eventType,
          source: input.source,
          payload: json(input.payload) ?? {},
        },
      });
      const subscriptions = await matchingSubscriptions(tx, scope, input.ownerAgent, input.eventType);
      const deliveries =
        subscriptions.length === 0
          ? []
          : await tx.webhookDelivery.createManyAndReturn({
              data: subscriptions.map((s) => ({
                id: randomUUID(),
                orgId: scope.orgId,
                eventId: event.id,
                subscriptionId: s.id,
              })),
            });
      const result = { event: toEvent(event), deliveries: deliveries.map(toDelivery) };
      await writeIdempotency(tx, scope, idempotency, result);
      return result;
    });
  }

  /**
   * Starts a new delivery round of an event for every subscription that is active and matches now:
   * existing deliveries get a new id and start over as pending, new subscriptions get a delivery.
   * Concurrent replays of one event are serialized by a lock on the event row.
   */
  async replayEvent(
    scope: OrgScope,
    eventId: string,
    idempotency?: IdempotencyWrite<EventDeliveries>,
  ): Promise<EventDeliveries | null> {
    return this.transaction(async (tx) => {
      const locked = await tx.$queryRaw<
        { id: string }[]
      >`SELECT id FROM webhook_events WHERE id = ${eventId}::uuid AND org_id = ${scope.orgId}::uuid FOR UPDATE`;
      if (locked.length === 0) return null;
      const event = await tx.webhookEvent.findUniqueOrThrow({ where: { id: eventId } });
      const subscriptions = await matchingSubscriptions(tx, scope, event.ownerAgent, event.eventType);
      const deliveries: DeliveryRow[] = [];
      for (const subscription of subscriptions) {
        const fresh = { status: 'pending', attempts: 0, lastError: null, deliveredAt: null };
        const existing = await tx.webhookDelivery.findUnique({
          where: { eventId_subscriptionId: { eventId, subscriptionId: subscription.id } },
        });
        deliveries.push(
          existing
            ? await tx.webhookDelivery.update({
                where: { id: existing.id },
                data: { id: randomUUID(), ...fresh },
              })
            : await tx.webhookDelivery.create({
                data: {
                  id: randomUUID(),
                  orgId: scope.orgId,
                  eventId,
                  subscriptionId: subscription.id,
                  ...fresh,
                },
              }),
        );
      }
      const result = { event: toEvent(event), deliveries: deliveries.map(toDelivery) };
      await writeIdempotency(tx, scope, idempotency, result);
      return result;
    });
  }

  /** Null for unknown ids, other orgs' events and, when ownerAgent is given, other owners' events. */
  async findEvent(
    scope: TenantScope,
    id: string,
    ownerAgent: string | null,
  ): Promise<WebhookEventRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.webhookEvent.findFirst({
        where: { id, ...orgFilter(scope), ...(ownerAgent ? { ownerAgent } : {}) },
      });
      return row ? toEvent(row) : null;
    });
  }

  /** An event's deliveries (current round of each subscription), oldest first. */
  async listDeliveries(scope: TenantScope, eventId: string): Promise<WebhookDeliveryRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.webhookDelivery.findMany({
        where: { eventId, ...orgFilter(scope) },
        orderBy: [{ createdAt: 'asc' }, { subscriptionId: 'asc' }],
      });
      return rows.map(toDelivery);
    });
  }

  async findDeliveries(scope: TenantScope, ids: string[]): Promise<WebhookDeliveryRecord[]> {
    if (ids.length === 0) return [];
    return guarded(async () => {
      const rows = await this.prisma.client.webhookDelivery.findMany({
        where: { id: { in: ids }, ...orgFilter(scope) },
      });
      return rows.map(toDelivery);
    });
  }

  /** The delivery with its event and subscription (secret included), for one attempt. */
  async loadDeliveryTarget(scope: OrgScope, deliveryId: string): Promise<WebhookDeliveryTarget | null> {
    return guarded(async () => {
      const row = await this.prisma.client.webhookDelivery.findFirst({
        where: { id: deliveryId, ...orgFilter(scope) },
        include: { event: true, subscription: true },
      });
      if (!row) return null;
      const { event, subscription, ...delivery } = row;
      return {
        delivery: toDelivery(delivery),
        event: toEvent(event),
        subscription: { ...toSubscription(subscription), secret: subscription.secret },
      };
    });
  }

  /**
   * Records the outcome of an attempt on a pending delivery. False when the delivery is no longer
   * pending under this id (a replay started a new round, or revocation dead-lettered it).
   */
  async recordAttempt(
    scope: OrgScope,
    deliveryId: string,
    outcome: {
      status: WebhookDeliveryStatus;
      attempts: number;
      lastError: string | null;
      deliveredAt?: Date | null;
    },
  ): Promise<boolean> {
    return guarded(async () => {
      const { count } = await this.prisma.client.webhookDelivery.updateMany({
        where: { id: deliveryId, status: 'pending', ...orgFilter(scope) },
        data: {
          status: outcome.status,
          attempts: outcome.attempts,
          lastError: outcome.lastError,
          deliveredAt: outcome.deliveredAt ?? null,
        },
      });
      return count > 0;
    });
  }

  private async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return guarded(async () => {
      try {
        return await this.prisma.client.$transaction(work);
      } catch (err) {
        if (
          err instanceof Prisma.PrismaClientKnownRequestError &&
          err.code === 'P2002' &&
          /IdempotencyRecord|idempotency/i.test(`${JSON.stringify(err.meta ?? {})} ${err.message}`)
        ) {
          throw new IdempotencyKeyTakenError();
        }
        throw err;
      }
    });
  }
}

async function matchingSubscriptions(
  tx: Tx,
  scope: OrgScope,
  ownerAgent: string,
  eventType: string,
): Promise<SubscriptionRow[]> {
  return tx.webhookSubscription.findMany({
    where: { orgId: scope.orgId, ownerAgent, active: true, revokedAt: null, eventTypes: { has: eventType } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

export async function writeIdempotency<T>(
  tx: Tx,
  scope: OrgScope,
  idempotency: IdempotencyWrite<T> | undefined,
  result: T,
): Promise<void> {
  if (!idempotency) return;
  const response = idempotency.response(result);
  await tx.idempotencyRecord.create({
    data: {
      orgId: scope.orgId,
      callerId: idempotency.callerId,
      route: idempotency.route,
      key: idempotency.key,
      requestHash: idempotency.requestHash,
      responseStatus: response.status,
      responseBody: json(response.body) ?? {},
      expiresAt: idempotency.expiresAt,
    },
  });
}

function toSubscription(row: SubscriptionRow): WebhookSubscriptionRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    ownerAgent: row.ownerAgent,
    callbackUrl: row.callbackUrl,
    eventTypes: row.eventTypes,
    active: row.active,
    description: row.description,
    secretHint: row.secret.slice(-4),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    revokedAt: row.revokedAt,
  };
}

function toEvent(row: EventRow): WebhookEventRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    ownerAgent: row.ownerAgent,
    eventType: row.eventType,
    source: row.source,
    payload: row.payload as Record<string, unknown>,
    acceptedAt: row.acceptedAt,
  };
}

function toDelivery(row: DeliveryRow): WebhookDeliveryRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    eventId: row.eventId,
    subscriptionId: row.subscriptionId,
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    lastError: row.lastError,
    deliveredAt: row.deliveredAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
