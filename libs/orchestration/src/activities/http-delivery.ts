import { type IntentRecord } from '@axle/data';
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

/** One POST; never throws for the endpoint's failures, which the workflow retries with backoff. */
export async function postDelivery(options: {
  intent: IntentRecord;
  callbackUrl: string;
  attempt: number;
  secret: string | null;
  timeoutMs: number;
  breaker: CircuitBreaker;
  /** The activity's cancellation: the POST is abandoned and the attempt fails (not counted). */
  cancellation?: AbortSignal;
}): Promise<HttpDeliveryResult> {
  const endpoint = new URL(options.callbackUrl).origin;
  const decision = await options.breaker.check(endpoint);
  if (!decision.allowed)
    return {
      ok: false,
      error: `circuit open for ${endpoint}`,
      counted: false,
      retryAfterMs: decision.retryAfterMs,
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
    const res = await fetch(options.callbackUrl, {
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
      ...(Number.isFinite(retryAfter) && retryAfter > 0
        ? { retryAfterMs: Math.min(retryAfter, 3600) * 1000 }
        : {}),
    };
  } catch (err) {
    // Canceled (the worker shuts down): not the endpoint's fault; Temporal retries the activity.
    if (options.cancellation?.aborted) throw options.cancellation.reason ?? err;
    await options.breaker.failed(endpoint);
    const reason =
      err instanceof Error ? (err.name === 'TimeoutError' ? 'timed out' : err.message) : String(err);
    return { ok: false, error: `callback unreachable: ${reason}`, counted: true };
  }
}
