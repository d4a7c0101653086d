// Token buckets in Redis (SPEC §1/§2: 120 requests per minute per API key and endpoint by default).
// One Lua script reads, refills, takes a token and writes back, so concurrent requests on any
// gateway replica never overspend a bucket; the clock is Redis's own (TIME), so replicas with
// skewed clocks agree.
//
// Fail-open: when Redis is down or slow, requests pass (and a warning is logged at most every
// 10 s). Rate limiting protects capacity, not correctness or tenancy; failing closed would turn
// a Redis outage into a full API outage, including intent creation, which needs only PostgreSQL.
import { type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';

/** A bucket refills `limit` tokens per `windowMs`, up to `limit`; each request takes one. */
const TOKEN_BUCKET_LUA = `
local key = KEYS[1]
local capacity = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', key, 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if tokens > capacity then tokens = capacity end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(capacity, tokens + elapsed * capacity / window_ms)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', key, window_ms * 2)
return { allowed, tostring(tokens) }
`;

export type RateLimitDecision = {
  allowed: boolean;
  /** Bucket size (requests per window). */
  limit: number;
  /** Whole requests left right now. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until the next request would be allowed (0 when allowed). */
  retryAfterSeconds: number;
};

export type RateLimiterOptions = {
  redisUrl: string;
  /** Requests per minute per bucket; 0 turns the limiter off. */
  perMinute: number;
  /** Where the fail-open warning goes (a pino logger fits). */
  logger?: { warn(obj: object, msg: string): void };
  /** Redis key prefix; tests use their own. */
  prefix?: string;
  /** Longest a Redis round trip may take before the request passes unlimited (fail-open). */
  commandTimeoutMs?: number;
};

type BucketCommand = (
  key: string,
  capacity: number,
  windowMs: number,
  cost: number,
) => Promise<[number, string]>;

const WINDOW_MS = 60_000;
const WARN_EVERY_MS = 10_000;
const FIRST_CONNECT_WAIT_MS = 1_000;

/**
 * Per-credential, per-route token buckets. `consume(subject, bucket)` where subject identifies the
 * credential (an API key id, later an agent or a user) and bucket the endpoint; quotas and per-agent
 * limits can be added as further buckets with their own limits. Built by a factory provider.
 */
export class RateLimiter implements OnModuleDestroy {
  private readonly redis: Redis | null;
  private readonly bucket: BucketCommand | null;
  private lastWarning = 0;
  /** Settles once Redis is first ready (or after FIRST_CONNECT_WAIT_MS): checks right after boot wait for it. */
  private firstConnect: Promise<void> = Promise.resolve();
  private readonly prefix: string;

  constructor(private readonly options: RateLimiterOptions) {
    this.prefix = options.prefix ?? 'axle:ratelimit:v1';
    if (options.perMinute <= 0) {
      this.redis = null;
      this.bucket = null;
      return;
    }
    // No offline queue and a command timeout: while Redis is down a check fails at once instead
    // of waiting for a reconnect, and the request goes through (fail-open).
    this.redis = new Redis(options.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 500,
      lazyConnect: false,
    });
    this.redis.on('error', () => undefined);
    this.firstConnect = new Promise<void>((resolve) => {
      this.redis?.once('ready', () => resolve());
      setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref();
    });
    this.redis.defineCommand('axleTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    const redis = this.redis as Redis & { axleTokenBucket: BucketCommand };
    this.bucket = (...args) => redis.axleTokenBucket(...args);
  }

  get enabled(): boolean {
    return this.bucket !== null;
  }

  get limit(): number {
    return this.options.perMinute;
  }

  /** Takes one token from subject's bucket; null when limiting is off or Redis is unavailable. */
  async consume(subject: string, bucket: string): Promise<RateLimitDecision | null> {
    if (!this.bucket) return null;
    const limit = this.options.perMinute;
    await this.firstConnect;
    try {
      const [allowed, left] = await this.bucket(`${this.prefix}:${subject}:${bucket}`, limit, WINDOW_MS, 1);
      const tokens = Math.max(0, Math.min(limit, Number(left)));
      const msPerToken = WINDOW_MS / limit;
      return {
        allowed: allowed === 1,
        limit,
        remaining: Math.floor(tokens),
        resetSeconds: Math.ceil(((limit - tokens) * msPerToken) / 1000),
        retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(((1 - tokens) * msPerToken) / 1000)),
      };
    } catch (err) {
      this.warnFailOpen(err);
      return null;
    }
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.redis) return;
    await this.redis.quit().catch(() => this.redis?.disconnect());
  }

  private warnFailOpen(err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.options.logger?.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'rate limiter cannot reach Redis; requests pass unlimited (fail-open)',
    );
  }
}
