// Token buckets in Redis (SPEC §1/§2: 120 requests per minute per API key and endpoint by default).
// One Lua script reads, refills, takes a token and writes back, so concurrent requests on any
// gateway replica never overspend a bucket; the clock is Redis's own (TIME), so replicas with
// skewed clocks agree.
//
// Fail-open: when Redis is down or slow, requests pass (and a warning is logged at most every
// 10 s). Rate limiting protects capacity, not correctness or tenancy; failing closed would turn
// a Redis outage into a full API outage, including intent creation, which needs only PostgreSQL.
import { RateLimitedError, type RateLimitScope } from '@axle/protocol';
import { type OnModuleDestroy } from '@nestjs/common';
import { type Redis } from 'ioredis';
import { agentRateLimitOf, type Principal, rateLimitSubject } from './principal';
import { failOpenWarning, requestPathRedis } from './request-path-redis';

/**
 * Takes `cost` from every bucket in KEYS, or from none: a request is allowed only when each of its
 * buckets (per key and route, per agent) holds a token, so a refused request spends nothing. Each
 * bucket refills its capacity (ARGV[2 + i]) per window, up to its capacity. Returns the verdict and
 * every bucket's tokens after the call.
 */
const TOKEN_BUCKETS_LUA = `
local window_ms = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = {}
local allowed = 1
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 + i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tk = tonumber(state[1])
  local ts = tonumber(state[2])
  if tk == nil or ts == nil then
    tk = capacity
    ts = now
  end
  if tk > capacity then tk = capacity end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tk = math.min(capacity, tk + elapsed * capacity / window_ms)
  tokens[i] = tk
  if tk < cost then allowed = 0 end
end
local out = { allowed }
for i = 1, #KEYS do
  if allowed == 1 then tokens[i] = tokens[i] - cost end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], window_ms * 2)
  out[i + 1] = tostring(tokens[i])
end
return out
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

/** One bucket a request draws from: whose, which, and its size per minute. */
export type BucketSpec<S extends string = string> = {
  scope: S;
  subject: string;
  bucket: string;
  /** Requests per minute; 0 or less leaves this bucket out. */
  limit: number;
};

/** The verdict over several buckets: allowed only when every one of them had a token. */
export type MultiBucketDecision<S extends string = string> = {
  allowed: boolean;
  buckets: (RateLimitDecision & { scope: S })[];
};

export type RateLimiterOptions = {
  redisUrl: string;
  /** Requests per minute per key and route; 0 turns this bucket off. */
  perMinute: number;
  /**
   * Default requests per minute per agent (all its keys and routes); 0 turns the default off.
   * When both this and perMinute are 0 the limiter is off entirely (no Redis connection).
   */
  agentPerMinute?: number;
  /** Where the fail-open warning goes (a pino logger fits). */
  logger?: { warn(obj: object, msg: string): void };
  /** Redis key prefix; tests use their own. */
  prefix?: string;
  /** Longest a Redis round trip may take before the request passes unlimited (fail-open). */
  commandTimeoutMs?: number;
};

type BucketsCommand = (
  numberOfKeys: number,
  ...keysAndArgs: (string | number)[]
) => Promise<[number, ...string[]]>;

const WINDOW_MS = 60_000;

/**
 * Token buckets: per credential and route (`consume(subject, bucket)`), and several at once
 * (`consumeAll`, e.g. the key's bucket for the route and the agent's bucket for all routes), each
 * with its own size. Built by a factory provider.
 */
export class RateLimiter implements OnModuleDestroy {
  private readonly redis: Redis | null;
  private readonly buckets: BucketsCommand | null;
  /** Settles once Redis is first ready (or soon after): checks right after boot wait for it. */
  private firstConnect: () => Promise<void> = () => Promise.resolve();
  private readonly prefix: string;

  private readonly warnFailOpen: (err: unknown) => void;

  constructor(private readonly options: RateLimiterOptions) {
    this.warnFailOpen = failOpenWarning(
      options.logger,
      'rate limiter cannot reach Redis; requests pass unlimited (fail-open)',
    );
    this.prefix = options.prefix ?? 'axle:ratelimit:v1';
    if (options.perMinute <= 0 && (options.agentPerMinute ?? 0) <= 0) {
      this.redis = null;
      this.buckets = null;
      return;
    }
    // While Redis is down a check fails at once and the request goes through (fail-open).
    const client = requestPathRedis(options.redisUrl, { commandTimeoutMs: options.commandTimeoutMs ?? 500 });
    this.redis = client.redis;
    this.firstConnect = client.ready;
    // numberOfKeys is passed per call: a request draws from one or two buckets.
    this.redis.defineCommand('axleTokenBuckets', { lua: TOKEN_BUCKETS_LUA });
    const redis = this.redis as Redis & { axleTokenBuckets: BucketsCommand };
    this.buckets = (...args) => redis.axleTokenBuckets(...args);
  }

  get enabled(): boolean {
    return this.buckets !== null;
  }

  /** Requests per minute per key and route (0: off). */
  get limit(): number {
    return this.options.perMinute;
  }

  /** Default requests per minute per agent (0: off unless the agent has its own limit). */
  get agentLimit(): number {
    return this.options.agentPerMinute ?? 0;
  }

  /** Takes one token from subject's bucket; null when limiting is off or Redis is unavailable. */
  async consume(
    subject: string,
    bucket: string,
    limit: number = this.options.perMinute,
  ): Promise<RateLimitDecision | null> {
    const result = await this.consumeAll([{ scope: 'key', subject, bucket, limit }]);
    return result?.buckets[0] ?? null;
  }

  /**
   * Takes one token from each bucket with a positive limit, or from none when any is empty. Null
   * when no bucket applies, limiting is off, or Redis is unavailable (fail-open).
   */
  async consumeAll<S extends string>(specs: BucketSpec<S>[]): Promise<MultiBucketDecision<S> | null> {
    const active = specs.filter((s) => s.limit > 0);
    if (!this.buckets || active.length === 0) return null;
    await this.firstConnect();
    try {
      const [allowed, ...left] = await this.buckets(
        active.length,
        ...active.map((s) => `${this.prefix}:${s.subject}:${s.bucket}`),
        WINDOW_MS,
        1,
        ...active.map((s) => s.limit),
      );
      return {
        allowed: allowed === 1,
        buckets: active.map((spec, i) => ({
          scope: spec.scope,
          ...decision(spec.limit, left[i], allowed === 1),
        })),
      };
    } catch (err) {
      this.warnFailOpen(err);
      return null;
    }
  }

  /**
   * One request of `principal` on `route` (SPEC §1, §2), from every face (HTTP, gRPC): a token from
   * the key's bucket for the route and one from the agent's bucket for all routes, or from neither.
   * Answers the bucket a client's X-RateLimit-* headers describe (the refusing one, else the one
   * with the fewest requests left) and, when a bucket was empty, the 429 to throw (naming the
   * bucket that frees last); null when nothing limits (off, or Redis unavailable: fail-open).
   */
  async admitRequest(
    principal: Principal,
    route: string,
  ): Promise<{ shown: RateLimitDecision; refusal: RateLimitedError | null } | null> {
    const result = await this.consumeAll<RateLimitScope>([
      { scope: 'key', subject: rateLimitSubject(principal), bucket: route, limit: this.limit },
      {
        scope: 'agent',
        subject: `agent:${principal.address}`,
        bucket: 'all',
        limit: agentRateLimitOf(principal, this.agentLimit),
      },
    ]);
    if (!result) return null;
    const refused = result.buckets
      .filter((b) => !b.allowed)
      .sort((a, b) => b.retryAfterSeconds - a.retryAfterSeconds)[0];
    const shown =
      refused ?? [...result.buckets].sort((a, b) => a.remaining - b.remaining || a.limit - b.limit)[0];
    if (!shown) return null;
    const refusal = refused
      ? new RateLimitedError(refused.retryAfterSeconds, {
          limit: refused.limit,
          reset_seconds: refused.resetSeconds,
          scope: refused.scope,
        })
      : null;
    return { shown, refusal };
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.redis) return;
    await this.redis.quit().catch(() => this.redis?.disconnect());
  }
}

/** One bucket's state after a call: remaining whole tokens, when it is full, when it has one again. */
function decision(limit: number, left: string | undefined, allowed: boolean): RateLimitDecision {
  const tokens = Math.max(0, Math.min(limit, Number(left ?? 0)));
  const msPerToken = WINDOW_MS / limit;
  const hadToken = allowed || tokens >= 1;
  return {
    allowed: hadToken,
    limit,
    remaining: Math.floor(tokens),
    resetSeconds: Math.ceil(((limit - tokens) * msPerToken) / 1000),
    retryAfterSeconds: hadToken ? 0 : Math.max(1, Math.ceil(((1 - tokens) * msPerToken) / 1000)),
  };
}
