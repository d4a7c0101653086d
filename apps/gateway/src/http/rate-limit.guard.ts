import { rateLimitSubject, RateLimiter } from '@axle/auth';
import { HTTP_HEADERS, RateLimitedError } from '@axle/protocol';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Token bucket per API key and route pattern (SPEC §1: 429 with Retry-After and X-RateLimit-*).
 * Runs after AuthGuard (registered after it), so it sees the principal; routes without one (health)
 * are not limited. Every limited answer, errors and SSE streams included, carries the headers.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(private readonly limiter: RateLimiter) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || !this.limiter.enabled) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    if (!request.principal) return true;
    const route = `${request.method} ${request.routeOptions.url ?? request.url}`;
    const decision = await this.limiter.consume(rateLimitSubject(request.principal), route);
    // null: Redis is unavailable and the limiter fails open (see RateLimiter).
    if (!decision) return true;
    void http
      .getResponse<FastifyReply>()
      .header(HTTP_HEADERS.rateLimitLimit, String(decision.limit))
      .header(HTTP_HEADERS.rateLimitRemaining, String(decision.remaining))
      .header(HTTP_HEADERS.rateLimitReset, String(decision.resetSeconds));
    if (!decision.allowed)
      throw new RateLimitedError(decision.retryAfterSeconds, {
        limit: decision.limit,
        reset_seconds: decision.resetSeconds,
      });
    return true;
  }
}
