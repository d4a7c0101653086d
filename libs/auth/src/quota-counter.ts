// Daily usage counters for quotas (SPEC §2), in Redis: one integer per (dimension, org, subject,
// UTC day), expiring after its day. One Lua script checks every counter of a request against its
// limit and increments all of them only when none would go over, so a refused request consumes
// nothing and concurrent requests on any gateway never overspend.
//
// Fail-open, like the rate limiter: when Redis is down or slow the request passes uncounted (and a
// warning is logged at most every 10 s). Quotas protect capacity, not correctness or tenancy.
import { type Redis } from 'ioredis';
import { failOpenWarning, requestPathRedis } from './request-path-redis';

const TAKE_LUA = `
local cost = tonumber(ARGV[2])
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 + i])
  if limit >= 0 then
    local used = tonumber(redis.call('GET', KEYS[i]) or '0')
    if used + cost > limit then return { i, used } end
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], cost)
  redis.call('EXPIREAT', KEYS[i], tonumber(ARGV[1]))
end
return { 0, 0 }
`;

/** Gives back what a take counted (a create that failed after its quota check). */
const GIVE_BACK_LUA = `
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local v = redis.call('DECRBY', KEYS[i], tonumber(ARGV[1]))
    if v < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
return 0
`;

type TakeCommand = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<[number, number]>;
type GiveBackCommand = (numberOfKeys: number, ...keysAndArgs: (string | number)[]) => Promise<number>;

export type QuotaCounterOptions = {
  redisUrl: string;
  /** Redis key prefix; tests use their own. */
  prefix?: string;
  logger?: { warn(obj: object, msg: string): void };
  commandTimeoutMs?: number;
};

/** One counter a request counts against, with its limit (null: counted, not limited). */
export type CounterSpec = { dimension: string; orgId: string; subject: string; limit: number | null };

export type TakeResult =
  { allowed: true; keys: string[] } | { allowed: false; refused: CounterSpec; used: number };

/** The UTC day a time falls in, and the instant the next one starts. */
export function utcDay(now: Date = new Date()): { day: string; resetAt: Date } {
  const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  return { day: new Date(start).toISOString().slice(0, 10), resetAt: new Date(start + 86_400_000) };
}

export class QuotaCounter {
  private readonly redis: Redis;
  private readonly takeCommand: TakeCommand;
  private readonly giveBackCommand: GiveBackCommand;
  private readonly prefix: string;
  private readonly connected: () => Promise<void>;

  private readonly warnFailOpen: (err: unknown) => void;

  constructor(private readonly options: QuotaCounterOptions) {
    this.warnFailOpen = failOpenWarning(
      options.logger,
      'quota counters cannot reach Redis; requests pass uncounted (fail-open)',
    );
    this.prefix = options.prefix ?? 'axle:quota:v1';
    // Connected on first use (the worker builds this service but rarely counts); no offline
    // queue and a command timeout, so a Redis outage fails a check at once (fail-open).
    ({ redis: this.redis, ready: this.connected } = requestPathRedis(options.redisUrl, {
      commandTimeoutMs: options.commandTimeoutMs ?? 500,
      lazyConnect: true,
    }));
    this.redis.defineCommand('axleQuotaTake', { lua: TAKE_LUA });
    this.redis.defineCommand('axleQuotaGiveBack', { lua: GIVE_BACK_LUA });
    const redis = this.redis as Redis & { axleQuotaTake: TakeCommand; axleQuotaGiveBack: GiveBackCommand };
    this.takeCommand = (...args) => redis.axleQuotaTake(...args);
    this.giveBackCommand = (...args) => redis.axleQuotaGiveBack(...args);
  }

  keyOf(spec: Pick<CounterSpec, 'dimension' | 'orgId' | 'subject'>, now = new Date()): string {
    return `${this.prefix}:${spec.dimension}:${spec.orgId}:${spec.subject}:${utcDay(now).day}`;
  }

  /**
   * Counts one against every counter, or against none when any is at its limit. Null when Redis is
   * unavailable (the caller lets the request pass).
   */
  async take(specs: CounterSpec[], now = new Date()): Promise<TakeResult | null> {
    if (specs.length === 0) return { allowed: true, keys: [] };
    const keys = specs.map((s) => this.keyOf(s, now));
    // Kept an hour past midnight, so a request at 23:59:59.999 still finds its counter.
    const expireAt = Math.floor(utcDay(now).resetAt.getTime() / 1000) + 3600;
    try {
      await this.connected();
      const [refusedIndex, used] = await this.takeCommand(
        keys.length,
        ...keys,
        expireAt,
        1,
        ...specs.map((s) => s.limit ?? -1),
      );
      if (refusedIndex === 0) return { allowed: true, keys };
      return { allowed: false, refused: specs[refusedIndex - 1]!, used: Number(used) };
    } catch (err) {
      this.warnFailOpen(err);
      return null;
    }
  }

  /** Undoes a take whose request did not go through. Best effort. */
  async giveBack(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      await this.connected();
      await this.giveBackCommand(keys.length, ...keys, 1);
    } catch (err) {
      this.warnFailOpen(err);
    }
  }

  /** Today's usage of each counter (0 when none yet); null when Redis is unavailable. */
  async read(
    specs: Pick<CounterSpec, 'dimension' | 'orgId' | 'subject'>[],
    now = new Date(),
  ): Promise<number[] | null> {
    if (specs.length === 0) return [];
    try {
      await this.connected();
      const values = await this.redis.mget(...specs.map((s) => this.keyOf(s, now)));
      return values.map((v) => Number(v ?? 0));
    } catch (err) {
      this.warnFailOpen(err);
      return null;
    }
  }

  async close(): Promise<void> {
    if (this.redis.status === 'wait' || this.redis.status === 'end') {
      this.redis.disconnect();
      return;
    }
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
