import { QuotaService } from '@axle/auth';
import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type FastifyRequest } from 'fastify';

const NO_REQUEST_QUOTA = 'axle:no-request-quota';
/**
 * Marks routes that neither count nor are refused by requests_per_day: the quota routes themselves,
 * so an admin whose org used up its requests can still read and raise the quota.
 */
export const NoRequestQuota = () => SetMetadata(NO_REQUEST_QUOTA, true);

/**
 * requests_per_day (SPEC §2 quotas): every authenticated request counts for its agent and org; over
 * a quota it is 429 quota_exceeded with Retry-After until the next UTC midnight. Registered after
 * RateLimitGuard, so a request refused by a rate limit is not counted.
 */
@Injectable()
export class QuotaGuard implements CanActivate {
  constructor(
    private readonly quotas: QuotaService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    if (
      this.reflector.getAllAndOverride<boolean>(NO_REQUEST_QUOTA, [context.getHandler(), context.getClass()])
    )
      return true;
    const principal = context.switchToHttp().getRequest<FastifyRequest>().principal;
    if (principal) await this.quotas.countRequest(principal);
    return true;
  }
}
