import { Redis } from 'ioredis';

/** How long a check made right after boot waits for the first connection before going on without it. */
const FIRST_CONNECT_WAIT_MS = 1_000;

/**
 * A Redis client for checks on the request path (rate limits, quotas, signature nonces): no offline
 * queue and a command timeout, so while Redis is down a command fails at once instead of waiting for
 * a reconnect; each caller then fails open or closed as its purpose requires. `ready` settles once
 * the client first connects (or after FIRST_CONNECT_WAIT_MS); a lazy client connects on that call.
 */
export function requestPathRedis(
  url: string,
  options: { commandTimeoutMs: number; lazyConnect?: boolean },
): { redis: Redis; ready: () => Promise<void> } {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    lazyConnect: options.lazyConnect ?? false,
  });
  redis.on('error', () => undefined);
  let first: Promise<void> | null = null;
  const ready = () =>
    (first ??= new Promise<void>((resolve) => {
      redis.once('ready', () => resolve());
      setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref();
      if (options.lazyConnect) redis.connect().catch(() => undefined);
    }));
  if (!options.lazyConnect) void ready();
  return { redis, ready };
}

/** At most one warning every 10 s while Redis stays unreachable, instead of one per request. */
export function failOpenWarning(
  logger: { warn(obj: object, msg: string): void } | undefined,
  message: string,
): (err: unknown) => void {
  let last = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    logger?.warn({ err: err instanceof Error ? err.message : String(err) }, message);
  };
}
