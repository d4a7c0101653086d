// `GET /v1/exec/jobs/{id}/attach` (SPEC §7): SSE frames `id: <seq>`, `event: log` with
// {seq, stream, data|data_b64}, replayed after the cursor (Last-Event-ID or ?since), then followed
// live with XREAD BLOCK on a Redis connection of the stream's own, until the last frame, `exit`.
// A comment heartbeat every 15 s; a disconnect (detach) leaves the job running.
import { type AttachFrame, type AttachSource } from '@axle/exec';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { type Redis } from 'ioredis';
import {
  drainFrame,
  frame,
  HEARTBEAT_MS,
  interruptedFrame,
  openEventStream,
  streamsShutdown,
} from '../http/sse';

export async function serveAttach(
  request: FastifyRequest,
  reply: FastifyReply,
  redis: Redis,
  source: AttachSource,
  since: number,
): Promise<void> {
  const blocking = redis.duplicate({ maxRetriesPerRequest: 1, enableOfflineQueue: true });
  blocking.on('error', () => undefined);
  // Aborted when the client leaves or the gateway drains; only a drain gets a last frame.
  const closed = new AbortController();
  let draining = false;
  const stop = () => {
    closed.abort();
    blocking.disconnect();
  };
  const drain = () => {
    draining = true;
    stop();
  };
  reply.raw.on('close', stop);
  streamsShutdown.signal.addEventListener('abort', drain, { once: true });
  // The first read happens before the headers, so a Redis that is down is still an error answer.
  let first;
  try {
    first = await source.next(blocking, since, 0);
  } catch (err) {
    streamsShutdown.signal.removeEventListener('abort', drain);
    blocking.disconnect();
    throw err;
  }
  const raw = openEventStream(request, reply, 'axle attach', 'exec_attach');
  let cursor = since;
  let exited = false;
  // Opened while the gateway drains: the replay goes out, then the resume frame.
  if (streamsShutdown.signal.aborted && !draining) drain();
  try {
    let batch = first;
    for (;;) {
      let ended = false;
      for (const f of batch) {
        const ok = raw.write(f.event === 'log' ? logFrame(f) : frame(f.id, f.event, f.data));
        cursor = f.id;
        if (f.event === 'exit') ended = true;
        if (!ok && !closed.signal.aborted) await drained(raw, closed.signal);
        if (ended) break;
      }
      exited = ended;
      if (ended || closed.signal.aborted) break;
      batch = await source.next(blocking, cursor, HEARTBEAT_MS);
      if (closed.signal.aborted) break;
      if (batch.length === 0) raw.write(': heartbeat\n\n');
    }
  } catch (err) {
    if (!closed.signal.aborted) raw.write(interruptedFrame(cursor, err));
  } finally {
    if (draining && !exited && !raw.writableEnded && !raw.destroyed) raw.write(drainFrame(cursor));
    streamsShutdown.signal.removeEventListener('abort', drain);
    reply.raw.off('close', stop);
    blocking.disconnect();
    raw.end();
  }
}

/**
 * Resolves on the response's next 'drain' or when the stream is aborted, and removes both
 * listeners either way (one wait per large frame: they must not pile up on the signal).
 */
function drained(raw: NodeJS.WritableStream, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      raw.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    raw.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * A `log` frame as bytes, exactly what frame() would write (`data: {"seq","stream","data"|"data_b64"}`),
 * built for frames of up to a MiB of output: the JSON goes into one buffer sized in advance, with a
 * straight latin1 copy when it is ASCII, so the response does not measure and encode the string again.
 */
export function logFrame(f: Extract<AttachFrame, { event: 'log' }>): Buffer {
  const { seq, stream, data, data_b64 } = f.data;
  const value = data_b64 === undefined ? JSON.stringify(data ?? '') : `"${data_b64}"`;
  const head = `id: ${f.id}\nevent: log\ndata: {"seq":${seq},"stream":${JSON.stringify(stream)},"${data_b64 === undefined ? 'data' : 'data_b64'}":`;
  const encoding = f.ascii ? 'latin1' : 'utf8';
  const out = Buffer.allocUnsafe(Buffer.byteLength(head) + Buffer.byteLength(value, encoding) + 3);
  let at = out.write(head, 0, 'utf8');
  at += out.write(value, at, encoding);
  out.write('}\n\n', at, 'latin1');
  return out;
}
