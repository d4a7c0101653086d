import { Injectable } from '@nestjs/common';
import { guarded } from '../errors';
import { PrismaService } from '../prisma.service';
import { type TenantScope, orgFilter } from '../tenancy';

export type IdempotencyRecordView = {
  requestHash: string;
  responseStatus: number | null;
  responseBody: Record<string, unknown> | null;
};

/** Idempotency keys per caller and route (SPEC §1); writes happen with the work they protect. */
@Injectable()
export class IdempotencyRepository {
  constructor(private readonly prisma: PrismaService) {}

  async find(
    scope: TenantScope,
    callerId: string,
    route: string,
    key: string,
    now = new Date(),
  ): Promise<IdempotencyRecordView | null> {
    return guarded(async () => {
      const row = await this.prisma.client.idempotencyRecord.findFirst({
        where: { callerId, route, key, expiresAt: { gt: now }, ...orgFilter(scope) },
      });
      if (!row) return null;
      return {
        requestHash: row.requestHash,
        responseStatus: row.responseStatus,
        responseBody: row.responseBody as Record<string, unknown> | null,
      };
    });
  }
}
