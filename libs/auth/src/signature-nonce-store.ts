// Replay protection for signed requests (SPEC §2): each (key id, nonce) is accepted once within
// the replay window, on every gateway replica, because the claim is one atomic Redis SET NX.
//
// Fail-closed: unlike the rate limiter, a nonce check that cannot reach Redis refuses the request
// (503 dependency_unavailable). Accepting it could let a captured request be replayed, and a signed
// request is exactly the kind whose sender asked for that guarantee. Unsigned requests never touch
// this store, so a Redis outage does not affect them.
import { DependencyUnavailableError, SIGNATURE_NONCE_TTL_SECONDS } from '@axle/protocol';
import { type OnModuleDestroy } from '@nestjs/common';
import { type Redis } from 'ioredis';
import { requestPathRedis } from './request-path-redis';

export type SignatureNonceStoreOptions = {
  redisUrl: string;
  /** Redis key prefix; tests use their own. */
  prefix?: string;
  /** How long a nonce is remembered (seconds). */
  ttlSeconds?: number;
  /** Longest a Redis round trip may take before the request is refused with a 503. */
  commandTimeoutMs?: number;
};

export class SignatureNonceStore implements OnModuleDestroy {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly firstConnect: () => Promise<void>;

  constructor(options: SignatureNonceStoreOptions) {
    this.prefix = options.prefix ?? 'axle:sig-nonce:v1';
    this.ttlSeconds = options.ttlSeconds ?? SIGNATURE_NONCE_TTL_SECONDS;
    // While Redis is down a claim fails at once (503) instead of hanging until a reconnect.
    ({ redis: this.redis, ready: this.firstConnect } = requestPathRedis(options.redisUrl, {
      commandTimeoutMs: options.commandTimeoutMs ?? 1_000,
    }));
  }

  /**
   * Records the nonce for the key: true the first time, false when it was seen within the window.
   * Throws DependencyUnavailableError('redis') when Redis cannot answer.
   */
  async claim(keyId: string, nonce: string): Promise<boolean> {
    await this.firstConnect();
    let reply: string | null;
    try {
      reply = await this.redis.set(`${this.prefix}:${keyId}:${nonce}`, '1', 'EX', this.ttlSeconds, 'NX');
    } catch {
      throw new DependencyUnavailableError('redis');
    }
    return reply === 'OK';
  }

  async onModuleDestroy(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
