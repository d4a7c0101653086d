// `GET /v1/exec/jobs/{id}/attach` (SPEC §7): SSE frames `id: <seq>`, `event: log` with
// {seq, stream, data|data_b64}, replayed after the cursor (Last-Event-ID or ?since), then followed
// live with XREAD BLOCK on a Redis connection of the stream's own, until the last frame, `exit`.
// A comment heartbeat every 15 s; a disconnect (detach) leaves the job running.
import { type AttachSource } from '@axle/exec';
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
        const ok = raw.write(frame(f.id, f.event, f.data));
        cursor = f.id;
        if (f.event === 'exit') ended = true;
        if (!ok && !closed.signal.aborted)
          await new Promise<void>((resolve) => {
            raw.once('drain', resolve);
            closed.signal.addEventListener('abort', () => resolve(), { once: true });
          });
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
