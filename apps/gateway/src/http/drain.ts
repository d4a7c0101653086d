// Graceful shutdown of the gateway (docs/lifecycle.md). On SIGTERM/SIGINT, within
// AXLE_SHUTDOWN_GRACE_SECONDS:
//   1. draining: /ready answers 503 (checks.draining); the listener closes (no new connections);
//      every open SSE stream ends with `stream.interrupted` (next_seq, retry hint); requests already
//      in flight finish; every response now carries `connection: close`, so kept-alive connections
//      end after their current request; idle ones are closed.
//   2. once no connection is left (or the grace is nearly over): closing. A request that still
//      arrives gets 503 shutting_down + Retry-After; the Nest app closes (Prisma, Redis, Temporal).
//   3. exit 0. If the grace runs out first: exit 1.
import { ShuttingDownError } from '@axle/protocol';
import { type FastifyInstance } from 'fastify';
import { type Server } from 'node:http';
import { toErrorResponse } from './error-response';
import { streamsShutdown } from './sse';

export type DrainPhase = 'serving' | 'draining' | 'closing';

export type DrainLogger = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

export type DrainOptions = {
  /** The HTTP server that listens (Fastify's `server`). */
  server: Server;
  graceMs: number;
  /** Closes the application (Nest's app.close(): module destroy and shutdown hooks). */
  closeApp: () => Promise<void>;
  exit: (code: number) => void;
  logger: DrainLogger;
  /** What triggered the drain, for the log. */
  reason: string;
};

/** Paths answered even while closing: the probes must say "not ready", not 503 shutting_down. */
const PROBE_PATHS = new Set(['/ready', '/health', '/v1/health']);
/** How often connections that became idle during the drain are closed. */
const REAP_EVERY_MS = 100;

export class GatewayDrain {
  private current: DrainPhase = 'serving';
  private running: Promise<void> | null = null;

  /** `streams` is aborted when the drain starts: every open SSE stream ends with its resume frame. */
  constructor(private readonly streams: AbortController) {}

  get phase(): DrainPhase {
    return this.current;
  }

  get draining(): boolean {
    return this.current !== 'serving';
  }

  /** `connection: close` on every response during the drain; 503 shutting_down while closing. */
  install(fastify: FastifyInstance): void {
    fastify.addHook('onRequest', (request, reply, done) => {
      if (this.current !== 'closing' || PROBE_PATHS.has(request.url.split('?')[0] ?? '')) return done();
      const answer = toErrorResponse(new ShuttingDownError());
      void reply
        .code(answer.status)
        .headers({ ...answer.headers, connection: 'close' })
        .send(answer.body);
    });
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (this.current !== 'serving') void reply.header('connection', 'close');
      done(null, payload);
    });
  }

  /** Runs the drain once; a second call returns the same run. */
  drain(options: DrainOptions): Promise<void> {
    this.running ??= this.run(options);
    return this.running;
  }

  private async run(options: DrainOptions): Promise<void> {
    const { server, graceMs, logger } = options;
    const started = Date.now();
    this.current = 'draining';
    logger.info({ reason: options.reason, grace_ms: graceMs }, 'gateway draining');
    const force = setTimeout(() => {
      logger.error(
        { grace_ms: graceMs, phase: this.current },
        'shutdown grace exceeded; exiting with work unfinished',
      );
      options.exit(1);
    }, graceMs);

    this.streams.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Responses during the drain close their connection; sockets that went idle (ended SSE streams,
    // responses without `connection: close` sent before the drain) are closed as they appear.
    server.closeIdleConnections();
    const reaper = setInterval(() => server.closeIdleConnections(), REAP_EVERY_MS);
    // Keep a little of the grace for closing the app: at most 5 s, at most a quarter.
    const reserveMs = Math.min(5_000, Math.floor(graceMs / 4));
    let waited: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      closed.then(() => true),
      new Promise<false>((resolve) => (waited = setTimeout(() => resolve(false), graceMs - reserveMs))),
    ]);
    clearTimeout(waited);
    clearInterval(reaper);
    this.current = 'closing';
    if (!drained)
      logger.warn(
        { open_connections: await connectionCount(server) },
        'connections still open near the end of the grace; closing the app anyway',
      );
    try {
      await options.closeApp();
    } catch (err) {
      logger.error({ err: String(err) }, 'closing the app failed');
      clearTimeout(force);
      options.exit(1);
      return;
    }
    clearTimeout(force);
    logger.info({ duration_ms: Date.now() - started }, 'gateway drained');
    options.exit(0);
  }
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, count) => resolve(err ? -1 : count)));
}

/** The gateway process's drain: main.ts starts it on SIGTERM/SIGINT, /ready reads it. */
export const gatewayDrain = new GatewayDrain(streamsShutdown);
