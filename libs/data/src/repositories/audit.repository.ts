import { Injectable } from '@nestjs/common';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';

export type AuditEntry = {
  orgId: string | null;
  actorType: 'service_account' | 'user' | 'system' | 'anonymous';
  actorId: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  outcome: 'success' | 'failure' | 'denied';
  requestId?: string | null;
  details?: Record<string, unknown>;
};

/** Append-only audit trail. Callers pass no secrets; details are metadata only. */
@Injectable()
export class AuditRepository {
  constructor(private readonly prisma: PrismaService) {}

  async record(entry: AuditEntry): Promise<void> {
    await guarded(() =>
      this.prisma.client.auditEvent.create({
        data: {
          orgId: entry.orgId,
          actorType: entry.actorType,
          actorId: entry.actorId,
          action: entry.action,
          targetType: entry.targetType ?? null,
          targetId: entry.targetId ?? null,
          outcome: entry.outcome,
          requestId: entry.requestId ?? null,
          details: json(entry.details) ?? {},
        },
      }),
    );
  }

  async listForOrg(orgId: string, limit = 100): Promise<(AuditEntry & { at: Date })[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.auditEvent.findMany({
        where: { orgId },
        orderBy: { id: 'desc' },
        take: limit,
      });
      return rows.map((r) => ({
        ...r,
        actorType: r.actorType as AuditEntry['actorType'],
        outcome: r.outcome as AuditEntry['outcome'],
        details: r.details as Record<string, unknown>,
      }));
    });
  }
}
