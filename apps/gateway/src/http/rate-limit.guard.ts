import { agentRateLimitOf, rateLimitSubject, RateLimiter } from '@axle/auth';
import { HTTP_HEADERS, RateLimitedError, type RateLimitScope } from '@axle/protocol';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Two token buckets per request (SPEC §1, §2: 429 with Retry-After and X-RateLimit-*): one per API
 * key and route pattern, one per agent (all its keys, all routes; its own rate_limit_per_minute or
 * AXLE_AGENT_RATE_LIMIT_PER_MINUTE). A request takes a token from both or, when either is empty,
 * from neither. Runs after AuthGuard (registered after it), so it sees the principal; routes
 * without one (health) are not limited. Every limited answer, errors and SSE streams included,
 * carries the headers of the tighter bucket; a 429 names the bucket that refused (details.scope).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(private readonly limiter: RateLimiter) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || !this.limiter.enabled) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const principal = request.principal;
    if (!principal) return true;
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const result = await this.limiter.consumeAll<RateLimitScope>([
      { scope: 'key', subject: rateLimitSubject(principal), bucket: route, limit: this.limiter.limit },
      {
        scope: 'agent',
        subject: `agent:${principal.address}`,
        bucket: 'all',
        limit: agentRateLimitOf(principal, this.limiter.agentLimit),
      },
    ]);
    // null: no bucket applies, or Redis is unavailable and the limiter fails open (see RateLimiter).
    if (!result) return true;
    const refused = result.buckets
      .filter((b) => !b.allowed)
      .sort((a, b) => b.retryAfterSeconds - a.retryAfterSeconds)[0];
    // The headers describe the bucket that refused, else the one with the fewest requests left.
    const shown =
      refused ?? [...result.buckets].sort((a, b) => a.remaining - b.remaining || a.limit - b.limit)[0];
    if (!shown) return true;
    void http
      .getResponse<FastifyReply>()
      .header(HTTP_HEADERS.rateLimitLimit, String(shown.limit))
      .header(HTTP_HEADERS.rateLimitRemaining, String(shown.remaining))
      .header(HTTP_HEADERS.rateLimitReset, String(shown.resetSeconds));
    if (refused)
      throw new RateLimitedError(refused.retryAfterSeconds, {
        limit: refused.limit,
        reset_seconds: refused.resetSeconds,
        scope: refused.scope,
      });
    return true;
  }
}
