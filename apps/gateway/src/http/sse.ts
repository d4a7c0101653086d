// Long-poll SSE (SPEC §4): send what is after the cursor; when there is nothing, wait up to
// wait_seconds for a notice; then `stream.timeout {ok, next_seq}` and close. With follow=true the
// stream stays open with a comment heartbeat every 15 s.
import { type EventBus, type StreamBatch, type StreamSource } from '@axle/intents';
import { axleMetrics, secondsSince, type SseStreamKind } from '@axle/observability';
import { parseOrThrow, SSE_EVENTS, streamQuerySchema } from '@axle/protocol';
import { type FastifyReply, type FastifyRequest } from 'fastify';

export const HEARTBEAT_MS = 15_000;

/** Aborted when the gateway shuts down: open streams end with a resume hint instead of being cut. */
export const streamsShutdown = new AbortController();

/**
 * The wake-ups of the streams waiting now, which a shutdown calls. A set, not a listener per wait on
 * the shutdown signal: an EventTarget's add and remove walk its listeners, so with 5,000 streams
 * every wait cost a walk over all the others (15 % of the gateway's CPU in the fan-out benchmark).
 */
const waitingStreams = new Set<() => void>();
streamsShutdown.signal.addEventListener(
  'abort',
  () => {
    for (const wake of waitingStreams) wake();
  },
  { once: true },
);

export type StreamOptions = { since: number; waitSeconds: number; follow: boolean };

export function frame(id: number | null, event: string, data: unknown): string {
  return `${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const eventStreams = new WeakSet<FastifyRequest>();

/** True for a request answered as an SSE stream (left out of the HTTP latency histogram). */
export function isEventStream(request: FastifyRequest): boolean {
  return eventStreams.has(request);
}

/**
 * Sends the SSE response headers (with the ones set so far: request and trace ids, rate limits) and a
 * first comment, and hands the raw response over: Fastify no longer answers for this request.
 * axle_sse_streams_open{stream} counts the stream until its response closes (end, client
 * disconnect or error alike).
 */
export function openEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  comment: string,
  stream: SseStreamKind,
) {
  const headers = Object.fromEntries(
    Object.entries(reply.getHeaders()).filter(
      (entry): entry is [string, string | number | string[]] => entry[1] !== undefined,
    ),
  );
  reply.hijack();
  const raw = reply.raw;
  eventStreams.add(request);
  if (!raw.closed && !raw.destroyed) {
    axleMetrics.sseStreamsOpen.inc({ stream });
    raw.once('close', () => axleMetrics.sseStreamsOpen.dec({ stream }));
  }
  raw.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
    ...(request.traceId ? { 'x-trace-id': request.traceId } : {}),
  });
  raw.write(`: ${comment}\n\n`);
  return raw;
}

/** The last frame of a stream that failed after its headers went out: where to resume. */
export function interruptedFrame(cursor: number, err: unknown): string {
  return frame(null, 'stream.error', {
    ok: false,
    next_seq: cursor,
    error: { code: 'stream_interrupted', message: err instanceof Error ? err.message : 'stream failed' },
  });
}

/** How soon a client should reconnect after a draining gateway ended its stream (SSE `retry:`). */
export const RECONNECT_AFTER_MS = 1_000;

/**
 * The last frame of a stream that a draining gateway ends (docs/lifecycle.md): an SSE `retry:` hint
 * and `stream.interrupted {ok:false, next_seq, retry_after_ms}`. EventSource reconnects on its own
 * with Last-Event-ID; the SDKs ignore events that are not `intent.*` and, on the clean end, poll or
 * reconnect from their cursor, which `next_seq` equals.
 */
export function drainFrame(cursor: number): string {
  return `retry: ${RECONNECT_AFTER_MS}\n${frame(null, SSE_EVENTS.interrupted, {
    ok: false,
    next_seq: cursor,
    retry_after_ms: RECONNECT_AFTER_MS,
    error: { code: 'shutting_down', message: 'this gateway is shutting down; reconnect to resume' },
  })}`;
}

/** The stream query (`since`, `wait_seconds`, `follow`, `status`) with the cursor a reconnect resumes from. */
export function streamRequest(
  request: FastifyRequest,
  query: unknown,
): { options: StreamOptions; status: string | undefined } {
  const q = parseOrThrow(streamQuerySchema, query, 'query');
  return {
    options: { since: startCursor(request, q.since), waitSeconds: q.wait_seconds, follow: q.follow },
    status: q.status,
  };
}

/** Cursor from Last-Event-ID (a reconnecting EventSource) or else `?since`. */
export function startCursor(request: FastifyRequest, since: number | undefined): number {
  const header = request.headers['last-event-id'];
  const value = Array.isArray(header) ? header[0] : header;
  if (value && /^\d{1,15}$/.test(value.trim())) return Number(value.trim());
  return since ?? 0;
}

/**
 * Frames as bytes, by frame object: the streams one coalesced read woke share its frames (SSE
 * fan-out), so each is serialized and encoded once instead of once per stream.
 */
const encodedFrames = new WeakMap<object, Buffer>();

/** Writes one event frame; axle_event_delivery_lag_seconds gets the time since the event was recorded. */
export function writeEventFrame(
  raw: FastifyReply['raw'],
  stream: SseStreamKind,
  f: { id: number; event: string; data: unknown; at?: Date | undefined },
): boolean {
  let bytes = encodedFrames.get(f);
  if (!bytes) {
    bytes = Buffer.from(frame(f.id, f.event, f.data));
    encodedFrames.set(f, bytes);
  }
  const ok = raw.write(bytes);
  if (f.at) axleMetrics.eventDeliveryLag.observe({ stream }, secondsSince(f.at));
  return ok;
}

export async function serveStream(
  request: FastifyRequest,
  reply: FastifyReply,
  bus: EventBus,
  source: StreamSource,
  options: StreamOptions,
  stream: Exclude<SseStreamKind, 'exec_attach'>,
): Promise<void> {
  const closed = new AbortController();
  let dirty = false;
  let wake: (() => void) | null = null;
  request.raw.on('close', () => {
    closed.abort();
    wake?.();
  });
  // Subscribe before the first read so a notice between read and wait is never missed.
  const stopListening = await bus.listen(source.channel, () => {
    dirty = true;
    wake?.();
  });
  // The first read happens before the headers, so a database that is down is still a 503.
  let first: StreamBatch;
  try {
    first = await source.read(options.since);
  } catch (err) {
    stopListening();
    throw err;
  }
  const raw = openEventStream(request, reply, 'axle stream', stream);
  let cursor = options.since;
  const deadline = Date.now() + options.waitSeconds * 1000;
  let drained = false;
  try {
    let pending: StreamBatch | null = first;
    for (;;) {
      if (closed.signal.aborted) break;
      if (streamsShutdown.signal.aborted) {
        drained = true;
        break;
      }
      if (!pending) dirty = false;
      const batch: StreamBatch = pending ?? (await source.read(cursor));
      pending = null;
      for (const f of batch.frames) writeEventFrame(raw, stream, f);
      cursor = batch.cursor;
      if (batch.finished || (!options.follow && batch.frames.length > 0)) break;
      const waitMs = options.follow ? HEARTBEAT_MS : deadline - Date.now();
      if (waitMs <= 0) break;
      if (!dirty) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waitingStreams.delete(done);
            resolve();
          };
          const timer = setTimeout(done, waitMs);
          wake = done;
          waitingStreams.add(done);
          // A close or shutdown while the last read ran found no wait to end.
          if (closed.signal.aborted || streamsShutdown.signal.aborted) done();
        });
        wake = null;
        if (options.follow && !dirty && !closed.signal.aborted) raw.write(': heartbeat\n\n');
      }
    }
    if (!closed.signal.aborted)
      raw.write(
        drained ? drainFrame(cursor) : frame(null, SSE_EVENTS.timeout, { ok: true, next_seq: cursor }),
      );
  } catch (err) {
    // Headers are sent; tell the client where to resume and close.
    if (!closed.signal.aborted) raw.write(interruptedFrame(cursor, err));
  } finally {
    stopListening();
    raw.end();
  }
}
