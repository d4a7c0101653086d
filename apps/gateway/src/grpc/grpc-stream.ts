import { type EventBus, type StreamFrame, type StreamSource } from '@axle/intents';
import { type ServerWritableStream } from '@grpc/grpc-js';
import { HEARTBEAT_MS, streamsShutdown } from '../http/sse';

/**
 * Drives a stream source (the ones the SSE routes use) into a gRPC server stream: the frames after
 * `since`, then each new one as its Redis notice arrives, until the source finishes, `ended` says
 * there is nothing more to come, the client cancels or the gateway drains. Subscribed before the
 * first read, and a notice during a read causes another read, so nothing slips between.
 */
export async function pipeSource<Res>(
  bus: EventBus,
  source: StreamSource,
  since: number,
  stream: ServerWritableStream<unknown, Res>,
  toMessage: (frame: StreamFrame) => Res,
  ended: () => Promise<boolean> = () => Promise.resolve(false),
): Promise<void> {
  let wake: (() => void) | null = null;
  let dirty = false;
  const nudge = () => {
    dirty = true;
    wake?.();
  };
  const stopListening = await bus.listen(source.channel, nudge);
  stream.on('cancelled', nudge);
  streamsShutdown.signal.addEventListener('abort', nudge);
  try {
    let cursor = since;
    while (!stream.cancelled && !streamsShutdown.signal.aborted) {
      dirty = false;
      const batch = await source.read(cursor);
      for (const frame of batch.frames) stream.write(toMessage(frame));
      cursor = batch.cursor;
      if (batch.finished) return;
      if (dirty || batch.frames.length > 0) continue;
      if (await ended()) {
        // It ended after the read: its last events are committed by now, so read them once more.
        for (const frame of (await source.read(cursor)).frames) stream.write(toMessage(frame));
        return;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
        const timer = setTimeout(done, HEARTBEAT_MS);
        wake = done;
        // A notice (or a cancel) while `ended` ran found no wait to end.
        if (dirty) done();
      });
    }
  } finally {
    streamsShutdown.signal.removeEventListener('abort', nudge);
    stopListening();
  }
}
