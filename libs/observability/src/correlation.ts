// Per-request (or per-activity, per-job) correlation context. It follows async work through
// AsyncLocalStorage so every log line carries the request and trace ids without passing them around.
import { AsyncLocalStorage } from 'node:async_hooks';

export type CorrelationContext = {
  requestId: string;
  traceId?: string | null;
  intentId?: string | null;
  jobId?: string | null;
};

const storage = new AsyncLocalStorage<CorrelationContext>();

export function runWithCorrelation<T>(context: CorrelationContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentCorrelation(): CorrelationContext | undefined {
  return storage.getStore();
}
