// Per-request (or per-activity, per-job) correlation context. It follows async work through
// AsyncLocalStorage so every log line carries the request and trace ids without passing them around.
import { AsyncLocalStorage } from 'node:async_hooks';

export type CorrelationContext = {
  /** The HTTP request's id (absent in a worker activity or a runner job). */
  requestId?: string | null;
  traceId?: string | null;
  intentId?: string | null;
  jobId?: string | null;
  /** `METHOD /route/:pattern` of the request, when the context is an HTTP request. */
  route?: string | null;
  /** Set once an audit row carrying this request id was written (see markAudited). */
  audited?: boolean;
};

const storage = new AsyncLocalStorage<CorrelationContext>();

export function runWithCorrelation<T>(context: CorrelationContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentCorrelation(): CorrelationContext | undefined {
  return storage.getStore();
}

/**
 * Notes that an audit row for `requestId` was written, on the current context when it is that
 * request's. The gateway writes a generic row for a write request only when none was (SPEC §2
 * "Audit": every write is audited, and once).
 */
export function markAudited(requestId: string | null | undefined): void {
  const context = storage.getStore();
  if (context && requestId && context.requestId === requestId) context.audited = true;
}
