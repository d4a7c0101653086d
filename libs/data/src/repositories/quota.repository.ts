import { Injectable } from '@nestjs/common';
import { guarded } from '../errors';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

/** A configured ceiling (SPEC §2 quotas); usage is counted elsewhere (Redis, per UTC day). */
export type QuotaRecord = {
  id: string;
  orgId: string;
  /** "org" or a canonical agent address of the org. */
  subject: string;
  dimension: string;
  limit: number;
  createdAt: Date;
  updatedAt: Date;
};

@Injectable()
export class QuotaRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** The org's quotas, optionally only those of some subjects ("org", an agent address). */
  async listForOrg(scope: OrgScope, subjects?: readonly string[]): Promise<QuotaRecord[]> {
    return guarded(() =>
      this.prisma.client.quota.findMany({
        where: { orgId: scope.orgId, ...(subjects ? { subject: { in: [...subjects] } } : {}) },
        orderBy: [{ subject: 'asc' }, { dimension: 'asc' }],
      }),
    );
  }

  /** The slug of an org, for a platform admin naming it by id; null when there is none. */
  async findOrgSlug(orgId: string): Promise<string | null> {
    return guarded(async () => {
      const org = await this.prisma.client.organization.findUnique({
        where: { id: orgId },
        select: { slug: true },
      });
      return org?.slug ?? null;
    });
  }

  /** Creates the quota of (org, subject, dimension), or replaces its limit. */
  async upsert(
    scope: OrgScope,
    input: { subject: string; dimension: string; limit: number },
  ): Promise<{ quota: QuotaRecord; created: boolean }> {
    return guarded(async () => {
      const key = { orgId: scope.orgId, subject: input.subject, dimension: input.dimension };
      const existing = await this.prisma.client.quota.findUnique({
        where: { orgId_subject_dimension: key },
        select: { id: true },
      });
      const quota = await this.prisma.client.quota.upsert({
        where: { orgId_subject_dimension: key },
        create: { ...key, limit: input.limit },
        update: { limit: input.limit },
      });
      return { quota, created: !existing };
    });
  }

  /** Deletes a quota inside the scope; null when there is none with that id there. */
  async delete(scope: TenantScope, id: string): Promise<QuotaRecord | null> {
    return guarded(async () => {
      const found = await this.prisma.client.quota.findFirst({ where: { id, ...orgFilter(scope) } });
      if (!found) return null;
      const { count } = await this.prisma.client.quota.deleteMany({ where: { id, ...orgFilter(scope) } });
      return count === 1 ? found : null;
    });
  }
}
