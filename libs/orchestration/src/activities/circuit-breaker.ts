import { Redis } from 'ioredis';

export type BreakerDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * A circuit breaker per http endpoint (origin), shared by every worker through Redis: after
 * `threshold` failures in a row the circuit opens for `cooldownMs`; then one probe may pass
 * (half-open); a success closes it. When Redis is unreachable the breaker lets requests through.
 */
export class CircuitBreaker {
  constructor(
    private readonly redis: Redis,
    private readonly threshold: number,
    private readonly cooldownMs: number,
  ) {}

  async check(endpoint: string): Promise<BreakerDecision> {
    try {
      const openUntil = Number((await this.redis.get(key(endpoint, 'open'))) ?? 0);
      const now = Date.now();
      if (openUntil === 0) return { allowed: true };
      if (now < openUntil) return { allowed: false, retryAfterMs: openUntil - now };
      // Half-open: one probe per cooldown window.
      const probe = await this.redis.set(key(endpoint, 'probe'), '1', 'PX', this.cooldownMs, 'NX');
      return probe === 'OK' ? { allowed: true } : { allowed: false, retryAfterMs: this.cooldownMs };
    } catch {
      return { allowed: true };
    }
  }

  async succeeded(endpoint: string): Promise<void> {
    await this.redis
      .del(key(endpoint, 'failures'), key(endpoint, 'open'), key(endpoint, 'probe'))
      .catch(() => undefined);
  }

  async failed(endpoint: string): Promise<void> {
    try {
      const failures = await this.redis.incr(key(endpoint, 'failures'));
      await this.redis.pexpire(key(endpoint, 'failures'), this.cooldownMs * 10);
      if (failures >= this.threshold) {
        await this.redis.set(
          key(endpoint, 'open'),
          String(Date.now() + this.cooldownMs),
          'PX',
          this.cooldownMs * 10,
        );
        await this.redis.del(key(endpoint, 'probe'));
      }
    } catch {
      // Without Redis the breaker stays closed; retries still back off.
    }
  }
}

function key(endpoint: string, part: string): string {
  return `axle:breaker:${endpoint}:${part}`;
}
