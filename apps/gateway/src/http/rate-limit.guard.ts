import { RateLimiter } from '@axle/auth';
import { HTTP_HEADERS } from '@axle/protocol';
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
    // null: no bucket applies, or Redis is unavailable and the limiter fails open (see RateLimiter).
    const admitted = await this.limiter.admitRequest(principal, route);
    if (!admitted) return true;
    const { shown, refusal } = admitted;
    void http
      .getResponse<FastifyReply>()
      .header(HTTP_HEADERS.rateLimitLimit, String(shown.limit))
      .header(HTTP_HEADERS.rateLimitRemaining, String(shown.remaining))
      .header(HTTP_HEADERS.rateLimitReset, String(shown.resetSeconds));
    if (refusal) throw refusal;
    return true;
  }
}
