import { type IntentRecord } from '@axle/data';
import { Egress } from '@axle/egress';
import { axleMetrics, type DeliveryFailureReason } from '@axle/observability';
import { DELIVERY_HEADERS, type HttpDeliveryResult } from '@axle/protocol';
import { signBody } from '@axle/webhooks';
import { type CircuitBreaker } from './circuit-breaker';

/** The body an http agent receives: enough to act, with the attempt so it can dedupe (SPEC §5). */
export function deliveryBody(intent: IntentRecord, attempt: number): Record<string, unknown> {
  return {
    intent_id: intent.id,
    intent_type: intent.intentType,
    correlation_id: intent.correlationId,
    from_agent: intent.fromAgent,
    to_agent: intent.toAgent,
    handler: intent.handler,
    reply_to: intent.replyTo,
    status: intent.status,
    payload: intent.payload,
    human_task: intent.humanTask,
    deadline_at: intent.deadlineAt?.toISOString() ?? null,
    created_at: intent.createdAt.toISOString(),
    delivery_attempt: attempt,
  };
}

/**
 * One POST; never throws for the endpoint's failures, which the workflow retries with backoff.
 * Each call counts in axle_delivery_attempts_total{binding="http"}, and a failed one in
 * axle_delivery_failures_total with its reason (an open circuit counts as a failed attempt).
 */
export async function postDelivery(
  options: Parameters<typeof attemptDelivery>[0],
): Promise<HttpDeliveryResult> {
  const result = await attemptDelivery(options);
  axleMetrics.deliveryAttempts.inc({ binding: 'http' });
  if (result.ok) return result;
  const { reason, ...failed } = result;
  axleMetrics.deliveryFailures.inc({ binding: 'http', reason });
  return failed;
}

type Attempt =
  | Extract<HttpDeliveryResult, { ok: true }>
  | (Extract<HttpDeliveryResult, { ok: false }> & { reason: DeliveryFailureReason });

function statusReason(status: number): DeliveryFailureReason {
  if (status >= 500 && status < 600) return 'http_5xx';
  if (status >= 400 && status < 500) return 'http_4xx';
  return 'http_other';
}

async function attemptDelivery(options: {
  intent: IntentRecord;
  callbackUrl: string;
  attempt: number;
  secret: string | null;
  timeoutMs: number;
  breaker: CircuitBreaker;
  egress: Egress;
  /** The activity's cancellation: the POST is abandoned and the attempt fails (not counted). */
  cancellation?: AbortSignal;
}): Promise<Attempt> {
  const endpoint = new URL(options.callbackUrl).origin;
  const decision = await options.breaker.check(endpoint);
  if (!decision.allowed)
    return {
      ok: false,
      error: `circuit open for ${endpoint}`,
      counted: false,
      retryAfterMs: decision.retryAfterMs,
      reason: 'circuit_open',
    };
  const raw = JSON.stringify(deliveryBody(options.intent, options.attempt));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'axle-delivery/1',
    [DELIVERY_HEADERS.timestamp]: String(Math.floor(Date.now() / 1000)),
    [DELIVERY_HEADERS.intentId]: options.intent.id,
    [DELIVERY_HEADERS.attempt]: String(options.attempt),
    ...(options.secret ? { [DELIVERY_HEADERS.signature]: signBody(options.secret, raw) } : {}),
  };
  try {
    const res = await options.egress.fetch(options.callbackUrl, {
      method: 'POST',
      headers,
      body: raw,
      redirect: 'manual',
      signal: options.cancellation
        ? AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.cancellation])
        : AbortSignal.timeout(options.timeoutMs),
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) {
      await options.breaker.succeeded(endpoint);
      return { ok: true, httpStatus: res.status };
    }
    await options.breaker.failed(endpoint);
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      ok: false,
      error: `callback answered HTTP ${res.status}`,
      counted: true,
      reason: statusReason(res.status),
      ...(Number.isFinite(retryAfter) && retryAfter > 0
        ? { retryAfterMs: Math.min(retryAfter, 3600) * 1000 }
        : {}),
    };
  } catch (err) {
    // Canceled (the worker shuts down): not the endpoint's fault; Temporal retries the activity.
    if (options.cancellation?.aborted) throw options.cancellation.reason ?? err;
    // Nothing was sent, and the endpoint did not fail: it was not called.
    const refused = Egress.refusalOf(err);
    if (refused)
      return {
        ok: false,
        error: `callback refused: ${refused.message}`,
        counted: true,
        reason: 'egress_refused',
      };
    await options.breaker.failed(endpoint);
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    const reason = err instanceof Error ? (timedOut ? 'timed out' : err.message) : String(err);
    return {
      ok: false,
      error: `callback unreachable: ${reason}`,
      counted: true,
      reason: timedOut ? 'timeout' : 'unreachable',
    };
  }
}
