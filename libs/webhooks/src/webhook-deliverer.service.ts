import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { orgScope, WebhookRepository } from '@axle/data';
import { Egress } from '@axle/egress';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import {
  WEBHOOK_HEADERS,
  WEBHOOK_TIMEOUT_MS,
  type WebhookAttemptInput,
  type WebhookAttemptResult,
  type WebhookDeliveryBody,
} from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { signBody } from './signature';

const MAX_ERROR_LENGTH = 500;

/**
 * One delivery attempt: POST the signed event to the subscription's callback URL and record the
 * outcome on the delivery. The worker's activity calls this; the workflow decides on retries.
 * Failures of the receiver are results, not exceptions; only our own infrastructure (PostgreSQL)
 * throws, and Temporal retries the activity then.
 */
@Injectable()
export class WebhookDeliverer implements OnModuleDestroy {
  private readonly egress: Egress;

  constructor(
    @Inject(AXLE_CONFIG) config: AxleConfig,
    private readonly webhooks: WebhookRepository,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {
    this.egress = new Egress(config.egress);
  }

  async onModuleDestroy(): Promise<void> {
    await this.egress.close();
  }

  async attempt(input: WebhookAttemptInput): Promise<WebhookAttemptResult> {
    const scope = orgScope(input.orgId);
    const target = await this.webhooks.loadDeliveryTarget(scope, input.deliveryId);
    // A replay gave the delivery a new id (this round is over), or the event is gone.
    if (!target) return { outcome: 'superseded', statusCode: null, error: null };
    const { delivery, event, subscription } = target;
    // An activity retried after it recorded its outcome finds the outcome.
    if (delivery.status === 'delivered') return { outcome: 'delivered', statusCode: null, error: null };
    if (delivery.status === 'dead_lettered')
      return { outcome: 'dead_lettered', statusCode: null, error: delivery.lastError };
    if (subscription.revokedAt || !subscription.active) {
      const error = subscription.revokedAt ? 'subscription revoked' : 'subscription inactive';
      await this.webhooks.recordAttempt(scope, delivery.id, {
        status: 'dead_lettered',
        attempts: delivery.attempts,
        lastError: error,
      });
      return { outcome: 'dead_lettered', statusCode: null, error };
    }

    const body: WebhookDeliveryBody = {
      event_id: event.id,
      event_type: event.eventType,
      source: event.source,
      owner_agent: event.ownerAgent,
      payload: event.payload,
      accepted_at: event.acceptedAt.toISOString(),
      delivery_id: delivery.id,
      attempt: input.attempt,
    };
    const raw = JSON.stringify(body);
    const sent = await post(this.egress, subscription.callbackUrl, raw, {
      'content-type': 'application/json',
      'user-agent': 'Axle-Webhooks/1',
      [WEBHOOK_HEADERS.signature]: signBody(subscription.secret, raw),
      [WEBHOOK_HEADERS.timestamp]: String(Math.floor(Date.now() / 1000)),
      [WEBHOOK_HEADERS.event]: event.eventType,
      [WEBHOOK_HEADERS.delivery]: delivery.id,
    });

    const ok = sent.statusCode !== null && sent.statusCode >= 200 && sent.statusCode < 300;
    const outcome = ok ? 'delivered' : input.final ? 'dead_lettered' : 'retry';
    const recorded = await this.webhooks.recordAttempt(scope, delivery.id, {
      status: outcome === 'retry' ? 'pending' : outcome,
      attempts: input.attempt,
      lastError: ok ? null : sent.error,
      deliveredAt: ok ? new Date() : null,
    });
    // Replayed or revoked while the request was in flight: the newer state stands.
    if (!recorded) return { outcome: 'superseded', statusCode: sent.statusCode, error: sent.error };
    if (outcome === 'dead_lettered') {
      this.logger.warn(
        {
          delivery_id: delivery.id,
          event_id: event.id,
          subscription_id: subscription.id,
          attempts: input.attempt,
          error: sent.error,
        },
        'webhook delivery dead-lettered',
      );
    }
    return { outcome, statusCode: sent.statusCode, error: ok ? null : sent.error };
  }
}

/** POSTs without following redirects (a 3xx is a failed attempt); never throws. */
async function post(
  egress: Egress,
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ statusCode: number | null; error: string | null }> {
  try {
    const res = await egress.fetch(url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    // The receiver's answer is not read; release the connection.
    await res.body?.cancel().catch(() => undefined);
    return { statusCode: res.status, error: res.ok ? null : `HTTP ${res.status}` };
  } catch (err) {
    return { statusCode: null, error: describeNetworkError(err) };
  }
}

function describeNetworkError(err: unknown): string {
  const refused = Egress.refusalOf(err);
  if (refused) return `refused: ${refused.message}`.slice(0, MAX_ERROR_LENGTH);
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `timeout after ${WEBHOOK_TIMEOUT_MS} ms`;
  const cause = err instanceof Error ? err.cause : undefined;
  const code =
    cause && typeof cause === 'object' && 'code' in cause && typeof cause.code === 'string'
      ? cause.code
      : null;
  const message = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
  return `network error: ${code ?? message}`.slice(0, MAX_ERROR_LENGTH);
}
