import { mayActAs, type Principal, tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  type AuditEntry,
  type EventDeliveries,
  IdempotencyKeyTakenError,
  IdempotencyRepository,
  type IdempotencyWrite,
  type OrgScope,
  orgScope,
  platformScope,
  RegistryRepository,
  type TenantScope,
  type WebhookDeliveryRecord,
  type WebhookEventRecord,
  WebhookRepository,
} from '@axle/data';
import {
  agentAddressOrThrow,
  ConflictError,
  ForbiddenError,
  isUuid,
  NotFoundError,
  parseOrThrow,
  PayloadTooLargeError,
  webhookEventSchema,
  type WebhookEventType,
  webhookSubscriptionSchema,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { requestHash } from './request-hash';
import { deliveryCounters, toDeliveryView, toEventView, toSubscriptionView } from './webhook.view';
import { WebhookWorkflowClient } from './webhook-workflow.client';

export const WEBHOOK_ROUTES = {
  subscribe: 'POST /v1/webhooks/subscriptions',
  publish: 'POST /v1/webhooks/events',
  replay: (eventId: string) => `POST /v1/webhooks/events/${eventId}/replay`,
} as const;

/** What every webhook route gets from the gateway. */
export type WebhookCommand = {
  principal: Principal;
  /** `?owner_agent` / `x-owner-agent`: the agent the caller acts for (default: itself). */
  ownerAgent?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId: string;
  traceId?: string | null;
};

export type WebhookResult = { status: number; body: Record<string, unknown> };

/** What another lib passes to emit(): the owner whose subscriptions receive the event. */
export type WebhookEmission = {
  ownerAgent: string;
  eventType: WebhookEventType;
  source: string;
  payload: Record<string, unknown>;
  traceId?: string | null;
  /**
   * Makes the emission happen once per key: a retried emitter (an activity, a retried request) gets
   * the first event's counters back and any of its deliveries that never started are started.
   */
  dedupeKey?: string;
};

/** Who claims emit dedupe keys in the idempotency table (no credential emits). */
const EMIT_CALLER = 'system:webhooks.emit';

type Owner = { address: string; orgId: string };

/** Marks a stored create response whose secret the server generated (the record never holds it). */
const SECRET_GENERATED = '_secret_generated';

/**
 * Webhook subscriptions, events and replays (reference/axme-wire.md §1.3). Events are persisted with
 * one delivery per matching subscription, then each delivery runs as a Temporal workflow.
 */
@Injectable()
export class WebhooksService {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly webhooks: WebhookRepository,
    private readonly registry: RegistryRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly audit: AuditRepository,
    private readonly workflows: WebhookWorkflowClient,
  ) {}

  /** Creates a subscription, or updates the owner's live one with the same callback_url. */
  async subscribe(cmd: WebhookCommand & { body: unknown }): Promise<WebhookResult> {
    const owner = await this.resolveOwner(cmd.principal, cmd.ownerAgent);
    const request = parseOrThrow(webhookSubscriptionSchema, cmd.body);
    const hash = requestHash({ owner: owner.address, body: cmd.body });
    const scope = orgScope(owner.orgId);
    const replay = () => this.replaySubscribe(cmd, scope, hash);
    if (cmd.idempotencyKey) {
      const replayed = await replay();
      if (replayed) return replayed;
    }
    const generatedSecret = `whsec_${randomBytes(24).toString('hex')}`;
    let result;
    try {
      result = await this.webhooks.upsertSubscription(
        scope,
        {
          ownerAgent: owner.address,
          callbackUrl: request.callback_url,
          eventTypes: request.event_types,
          secret: request.secret ?? null,
          generatedSecret,
          active: request.active,
          description: request.description,
        },
        this.claim(cmd, WEBHOOK_ROUTES.subscribe, hash, (r) => ({
          status: 200,
          body: {
            ok: true,
            subscription: toSubscriptionView(r.subscription),
            [SECRET_GENERATED]: r.secretGenerated,
          },
        })),
      );
    } catch (err) {
      if (err instanceof IdempotencyKeyTakenError) {
        const replayed = await replay();
        if (replayed) return replayed;
      }
      throw err;
    }
    const { subscription } = result;
    await this.record(cmd, {
      orgId: owner.orgId,
      action: result.created ? 'webhook.subscription.create' : 'webhook.subscription.update',
      targetType: 'webhook_subscription',
      targetId: subscription.id,
      details: {
        owner_agent: owner.address,
        // The origin only: callback paths and queries often carry tokens.
        callback_origin: new URL(subscription.callbackUrl).origin,
        event_types: subscription.eventTypes,
        active: subscription.active,
        secret_source: request.secret ? 'caller' : result.secretGenerated ? 'generated' : 'unchanged',
      },
    });
    return {
      status: 200,
      body: {
        ok: true,
        subscription: toSubscriptionView(subscription),
        // Shown once: only in the answer to the create that generated it.
        ...(result.secretGenerated ? { secret: generatedSecret } : {}),
      },
    };
  }

  async list(cmd: WebhookCommand): Promise<Record<string, unknown>> {
    const owner = await this.resolveOwner(cmd.principal, cmd.ownerAgent);
    const subscriptions = await this.webhooks.listSubscriptions(orgScope(owner.orgId), owner.address);
    return { ok: true, subscriptions: subscriptions.map(toSubscriptionView) };
  }

  /** Revoking a revoked subscription answers 200 with the first revocation time (DELETE is retried). */
  async revoke(cmd: WebhookCommand & { subscriptionId: string }): Promise<Record<string, unknown>> {
    const notFound = new NotFoundError(
      'webhook_subscription_not_found',
      `webhook subscription ${cmd.subscriptionId} not found`,
    );
    if (!isUuid(cmd.subscriptionId)) throw notFound;
    const filter = await this.ownerFilter(cmd.principal, cmd.ownerAgent);
    const result = await this.webhooks.revokeSubscription(
      filter.scope,
      cmd.subscriptionId,
      filter.ownerAgent,
    );
    if (!result) throw notFound;
    const { subscription } = result;
    await this.record(cmd, {
      orgId: subscription.orgId,
      action: 'webhook.subscription.revoke',
      targetType: 'webhook_subscription',
      targetId: subscription.id,
      details: { owner_agent: subscription.ownerAgent, already_revoked: !result.revokedNow },
    });
    return {
      ok: true,
      subscription_id: subscription.id,
      revoked_at: subscription.revokedAt?.toISOString() ?? null,
    };
  }

  /** POST /v1/webhooks/events: persist, fan out to matching subscriptions, start deliveries. */
  async publish(cmd: WebhookCommand & { body: unknown }): Promise<WebhookResult> {
    const owner = await this.resolveOwner(cmd.principal, cmd.ownerAgent);
    const request = parseOrThrow(webhookEventSchema, cmd.body);
    this.checkPayloadSize(request.payload);
    const hash = requestHash({ owner: owner.address, body: cmd.body });
    const scope = orgScope(owner.orgId);
    const replay = () => this.replayStored(cmd, scope, WEBHOOK_ROUTES.publish, hash);
    if (cmd.idempotencyKey) {
      const replayed = await replay();
      if (replayed) return replayed;
    }
    let body: Record<string, unknown>;
    try {
      body = await this.publishEvent(
        scope,
        {
          ownerAgent: owner.address,
          eventType: request.event_type,
          source: request.source,
          payload: request.payload,
        },
        cmd.traceId ?? null,
        this.claim(cmd, WEBHOOK_ROUTES.publish, hash, (r) => ({ status: 200, body: publishedBody(r) })),
      );
    } catch (err) {
      if (err instanceof IdempotencyKeyTakenError) {
        const replayed = await replay();
        if (replayed) return replayed;
      }
      throw err;
    }
    await this.record(cmd, {
      orgId: owner.orgId,
      action: 'webhook.event.publish',
      targetType: 'webhook_event',
      targetId: body.event_id as string,
      details: { owner_agent: owner.address, event_type: request.event_type, source: request.source },
    });
    return { status: 200, body };
  }

  /**
   * For other libs (the inbox, invites, sessions): record an event for an owner and deliver it to the
   * owner's matching subscriptions. Answers the same counters as POST /v1/webhooks/events.
   */
  async emit(scope: OrgScope, input: WebhookEmission): Promise<Record<string, unknown>> {
    const owner = agentAddressOrThrow(input.ownerAgent, 'owner_agent', 'query');
    const request = parseOrThrow(webhookEventSchema, {
      event_type: input.eventType,
      source: input.source,
      payload: input.payload,
    });
    const route = `emit ${request.event_type}`;
    const dedupe: IdempotencyWrite<EventDeliveries> | undefined = input.dedupeKey
      ? {
          callerId: EMIT_CALLER,
          route,
          key: input.dedupeKey,
          requestHash: route,
          expiresAt: new Date(Date.now() + this.config.limits.idempotencyTtlHours * 3_600_000),
          response: (r) => ({ status: 200, body: publishedBody(r) }),
        }
      : undefined;
    const emitted = async (): Promise<Record<string, unknown> | null> => {
      if (!input.dedupeKey) return null;
      const record = await this.idempotency.find(scope, EMIT_CALLER, route, input.dedupeKey);
      if (!record?.responseBody) return null;
      const eventId = record.responseBody.event_id;
      if (typeof eventId === 'string')
        await this.startDeliveries(await this.webhooks.listDeliveries(scope, eventId), input.traceId ?? null);
      return record.responseBody;
    };
    const earlier = await emitted();
    if (earlier) return earlier;
    let body: Record<string, unknown>;
    try {
      body = await this.publishEvent(
        scope,
        {
          ownerAgent: owner.canonical,
          eventType: request.event_type,
          source: request.source,
          payload: request.payload,
        },
        input.traceId ?? null,
        dedupe,
      );
    } catch (err) {
      if (err instanceof IdempotencyKeyTakenError) {
        const raced = await emitted();
        if (raced) return raced;
      }
      throw err;
    }
    await this.audit.record({
      orgId: scope.orgId,
      actorType: 'system',
      actorId: null,
      action: 'webhook.event.emit',
      targetType: 'webhook_event',
      targetId: body.event_id as string,
      outcome: 'success',
      details: { owner_agent: owner.canonical, event_type: request.event_type, source: request.source },
    });
    return body;
  }

  /** A new delivery round of an event for every subscription that is active and matches now. */
  async replay(cmd: WebhookCommand & { eventId: string }): Promise<WebhookResult> {
    const event = await this.findEvent(cmd);
    const scope = orgScope(event.orgId);
    const route = WEBHOOK_ROUTES.replay(event.id);
    const hash = requestHash({ event_id: event.id });
    const replay = () => this.replayStored(cmd, scope, route, hash);
    if (cmd.idempotencyKey) {
      const replayed = await replay();
      if (replayed) return replayed;
    }
    const replayedAt = new Date();
    let round: EventDeliveries | null;
    try {
      round = await this.webhooks.replayEvent(
        scope,
        event.id,
        this.claim(cmd, route, hash, (r) => ({ status: 200, body: replayedBody(r, replayedAt) })),
      );
    } catch (err) {
      if (err instanceof IdempotencyKeyTakenError) {
        const replayed = await replay();
        if (replayed) return replayed;
      }
      throw err;
    }
    if (!round) throw eventNotFound(cmd.eventId);
    await this.startDeliveries(round.deliveries, cmd.traceId ?? null);
    await this.record(cmd, {
      orgId: event.orgId,
      action: 'webhook.event.replay',
      targetType: 'webhook_event',
      targetId: event.id,
      details: { owner_agent: event.ownerAgent, deliveries: round.deliveries.length },
    });
    const current = await this.webhooks.findDeliveries(
      scope,
      round.deliveries.map((d) => d.id),
    );
    return { status: 200, body: replayedBody({ event: round.event, deliveries: current }, replayedAt) };
  }

  /** GET /v1/webhooks/events/{id}: the event and the state of each subscription's delivery. */
  async getEvent(cmd: WebhookCommand & { eventId: string }): Promise<Record<string, unknown>> {
    const event = await this.findEvent(cmd);
    const deliveries = await this.webhooks.listDeliveries(orgScope(event.orgId), event.id);
    return { ok: true, event: toEventView(event), deliveries: deliveries.map(toDeliveryView) };
  }

  // -------------------------------------------------------------------------------------------

  private async publishEvent(
    scope: OrgScope,
    input: { ownerAgent: string; eventType: string; source: string; payload: Record<string, unknown> },
    traceId: string | null,
    idempotency?: IdempotencyWrite<EventDeliveries>,
  ): Promise<Record<string, unknown>> {
    const created = await this.webhooks.createEvent(scope, input, idempotency);
    await this.startDeliveries(created.deliveries, traceId);
    const current = await this.webhooks.findDeliveries(
      scope,
      created.deliveries.map((d) => d.id),
    );
    return publishedBody({ event: created.event, deliveries: current });
  }

  private async startDeliveries(deliveries: readonly WebhookDeliveryRecord[], traceId: string | null) {
    await Promise.all(
      deliveries
        .filter((d) => d.status === 'pending')
        .map((d) =>
          this.workflows.startDelivery({
            deliveryId: d.id,
            orgId: d.orgId,
            eventId: d.eventId,
            subscriptionId: d.subscriptionId,
            retry: this.config.webhooks,
            traceId,
          }),
        ),
    );
  }

  private async findEvent(cmd: WebhookCommand & { eventId: string }): Promise<WebhookEventRecord> {
    if (!isUuid(cmd.eventId)) throw eventNotFound(cmd.eventId);
    const filter = await this.ownerFilter(cmd.principal, cmd.ownerAgent);
    const event = await this.webhooks.findEvent(filter.scope, cmd.eventId, filter.ownerAgent);
    if (!event) throw eventNotFound(cmd.eventId);
    return event;
  }

  /**
   * The owner a write or a list acts for: the caller itself, or (platform admins only) the agent
   * named by owner_agent, in that agent's org.
   */
  private async resolveOwner(principal: Principal, ownerAgent: string | undefined): Promise<Owner> {
    const own = { address: principal.address, orgId: principal.orgId };
    if (ownerAgent === undefined) return own;
    const address = agentAddressOrThrow(ownerAgent, 'owner_agent', 'query');
    if (address.canonical === principal.address) return own;
    if (!mayActAs(principal, address))
      throw new ForbiddenError(
        'owner_agent_mismatch',
        `${principal.address} may not act as ${address.canonical}`,
      );
    const notFound = new NotFoundError('agent_not_found', `agent ${address.canonical} not found`);
    const org = await this.registry.findOrgBySlug(address.org);
    if (!org) throw notFound;
    // Open addressing (SPEC §2) lets a well-formed, unregistered owner of a known org have webhooks.
    if (
      this.config.addressing === 'strict' &&
      !(await this.registry.findAgentByAddress(orgScope(org.id), address.canonical))
    )
      throw notFound;
    return { address: address.canonical, orgId: org.id };
  }

  /**
   * Where a lookup by id may look: with owner_agent, that owner's resources; without it, the
   * caller's own resources, or for a platform admin any org's.
   */
  private async ownerFilter(
    principal: Principal,
    ownerAgent: string | undefined,
  ): Promise<{ scope: TenantScope; ownerAgent: string | null }> {
    if (ownerAgent !== undefined) {
      const owner = await this.resolveOwner(principal, ownerAgent);
      return { scope: orgScope(owner.orgId), ownerAgent: owner.address };
    }
    if (principal.platformAdmin) return { scope: platformScope(), ownerAgent: null };
    return { scope: orgScope(principal.orgId), ownerAgent: principal.address };
  }

  private checkPayloadSize(payload: Record<string, unknown>): void {
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    if (bytes > this.config.limits.maxPayloadBytes)
      throw new PayloadTooLargeError(this.config.limits.maxPayloadBytes, bytes);
  }

  private claim<T>(
    cmd: WebhookCommand,
    route: string,
    hash: string,
    response: IdempotencyWrite<T>['response'],
  ): IdempotencyWrite<T> | undefined {
    if (!cmd.idempotencyKey) return undefined;
    return {
      callerId: cmd.principal.actorId,
      route,
      key: cmd.idempotencyKey,
      requestHash: hash,
      expiresAt: new Date(Date.now() + this.config.limits.idempotencyTtlHours * 3_600_000),
      response,
    };
  }

  /** The stored answer for the same caller, route and key; 409 when the body differs. */
  private async stored(cmd: WebhookCommand, route: string, hash: string) {
    const record = await this.idempotency.find(
      tenantScopeOf(cmd.principal),
      cmd.principal.actorId,
      route,
      cmd.idempotencyKey!,
    );
    if (!record) return null;
    if (record.requestHash !== hash)
      throw new ConflictError('idempotency_conflict', 'idempotency key reused with different payload');
    return { status: record.responseStatus ?? 200, body: record.responseBody ?? {} };
  }

  /**
   * A retried publish or replay: the stored answer, after starting any delivery of the event that is
   * still pending (the first attempt may have stopped between commit and start; starting is idempotent).
   */
  private async replayStored(
    cmd: WebhookCommand,
    scope: OrgScope,
    route: string,
    hash: string,
  ): Promise<WebhookResult | null> {
    const stored = await this.stored(cmd, route, hash);
    if (!stored) return null;
    const eventId = stored.body.event_id;
    if (typeof eventId === 'string') {
      const deliveries = await this.webhooks.listDeliveries(scope, eventId);
      await this.startDeliveries(deliveries, cmd.traceId ?? null);
    }
    return stored;
  }

  private async replaySubscribe(
    cmd: WebhookCommand,
    scope: OrgScope,
    hash: string,
  ): Promise<WebhookResult | null> {
    const stored = await this.stored(cmd, WEBHOOK_ROUTES.subscribe, hash);
    if (!stored) return null;
    const { [SECRET_GENERATED]: generated, ...body } = stored.body;
    const subscription = body.subscription as { subscription_id?: unknown } | undefined;
    if (generated === true && typeof subscription?.subscription_id === 'string') {
      const secret = await this.webhooks.findSubscriptionSecret(scope, subscription.subscription_id);
      if (secret) return { status: stored.status, body: { ...body, secret } };
    }
    return { status: stored.status, body };
  }

  private async record(
    cmd: WebhookCommand,
    entry: Pick<AuditEntry, 'orgId' | 'action' | 'targetType' | 'targetId' | 'details'>,
  ): Promise<void> {
    await this.audit.record({
      ...entry,
      actorType: cmd.principal.kind,
      actorId: cmd.principal.actorId,
      outcome: 'success',
      requestId: cmd.requestId,
    });
  }
}

function publishedBody(r: EventDeliveries): Record<string, unknown> {
  return {
    ok: true,
    accepted_at: r.event.acceptedAt.toISOString(),
    event_type: r.event.eventType,
    source: r.event.source,
    owner_agent: r.event.ownerAgent,
    event_id: r.event.id,
    ...deliveryCounters(r.deliveries),
  };
}

function replayedBody(r: EventDeliveries, replayedAt: Date): Record<string, unknown> {
  return { ...publishedBody(r), replayed_at: replayedAt.toISOString() };
}

function eventNotFound(id: string): NotFoundError {
  return new NotFoundError('webhook_event_not_found', `webhook event ${id} not found`);
}
