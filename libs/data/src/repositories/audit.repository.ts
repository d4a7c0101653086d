import { currentCorrelation, markAudited } from '@axle/observability';
import { Injectable } from '@nestjs/common';
import { guarded } from '../errors';
import { PrismaService } from '../prisma.service';
import { jsonParam, preparedRows } from '../raw-sql';
import { orgFilter, type TenantScope } from '../tenancy';

export type AuditEntry = {
  orgId: string | null;
  actorType: 'service_account' | 'user' | 'system' | 'anonymous';
  actorId: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  outcome: 'success' | 'failure' | 'denied';
  /** Defaults to the request id of the current correlation context (every request-driven row has one). */
  requestId?: string | null;
  details?: Record<string, unknown>;
};

export type AuditEventRecord = Required<Omit<AuditEntry, 'details'>> & {
  /** The row's sequence number, as a decimal string (it is a bigint). */
  id: string;
  details: Record<string, unknown>;
  at: Date;
};

export type AuditQueryFilter = {
  actorId?: string;
  /** Exact action, or `actionPrefix` for a trailing-`*` query. */
  action?: string;
  actionPrefix?: string;
  targetId?: string;
  outcome?: AuditEntry['outcome'];
  since?: Date;
  until?: Date;
  requestId?: string;
  /** Narrows a platform scope to one org (an org scope is narrowed already). */
  orgId?: string;
  /** Keyset cursor: rows strictly older than this (at, id), newest first. */
  before?: { at: Date; id: string };
  limit: number;
};

/**
 * Detail keys whose values are replaced before a row is written: callers pass metadata only, and
 * this is the safety net that keeps a secret passed by mistake out of the trail (SPEC §2).
 */
const SECRET_DETAIL_KEY = /^(?:.*[_-])?(?:secret|password|token|api_?key|authorization|signature)$/i;

function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET_DETAIL_KEY.test(k) ? '[redacted]' : scrub(v, depth + 1),
    ]),
  );
}

/** Append-only audit trail. Callers pass no secrets; details are metadata only. */
@Injectable()
export class AuditRepository {
  constructor(private readonly prisma: PrismaService) {}

  async record(entry: AuditEntry): Promise<void> {
    const requestId = entry.requestId ?? currentCorrelation()?.requestId ?? null;
    // Plain SQL (raw-sql.ts): every write request records a row.
    await preparedRows(
      this.prisma.pool,
      'audit_insert',
      `INSERT INTO audit_events (org_id, actor_type, actor_id, action, target_type, target_id, outcome, request_id, details)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
      [
        entry.orgId,
        entry.actorType,
        entry.actorId,
        entry.action,
        entry.targetType ?? null,
        entry.targetId ?? null,
        entry.outcome,
        requestId,
        jsonParam(scrub(entry.details ?? {})),
      ],
    );
    markAudited(requestId);
  }

  /**
   * Newest first, keyset-paged on (at, id). Every filter maps onto an index: (org_id, at),
   * (org_id, actor_id, at), (org_id, target_id), (action, at), (request_id).
   */
  async query(scope: TenantScope, filter: AuditQueryFilter): Promise<AuditEventRecord[]> {
    return guarded(async () => {
      const scoped = orgFilter(scope);
      const orgId = scoped.orgId ?? filter.orgId;
      const at =
        filter.since || filter.until
          ? { ...(filter.since ? { gte: filter.since } : {}), ...(filter.until ? { lte: filter.until } : {}) }
          : undefined;
      const rows = await this.prisma.client.auditEvent.findMany({
        where: {
          ...(orgId ? { orgId } : {}),
          ...(filter.actorId ? { actorId: filter.actorId } : {}),
          ...(filter.action ? { action: filter.action } : {}),
          ...(filter.actionPrefix ? { action: { startsWith: filter.actionPrefix } } : {}),
          ...(filter.targetId ? { targetId: filter.targetId } : {}),
          ...(filter.outcome ? { outcome: filter.outcome } : {}),
          ...(filter.requestId ? { requestId: filter.requestId } : {}),
          ...(at ? { at } : {}),
          ...(filter.before
            ? {
                OR: [
                  { at: { lt: filter.before.at } },
                  { at: filter.before.at, id: { lt: BigInt(filter.before.id) } },
                ],
              }
            : {}),
        },
        orderBy: [{ at: 'desc' }, { id: 'desc' }],
        take: filter.limit,
      });
      return rows.map((r) => ({
        id: r.id.toString(),
        orgId: r.orgId,
        actorType: r.actorType as AuditEntry['actorType'],
        actorId: r.actorId,
        action: r.action,
        targetType: r.targetType,
        targetId: r.targetId,
        outcome: r.outcome as AuditEntry['outcome'],
        requestId: r.requestId,
        details: (r.details ?? {}) as Record<string, unknown>,
        at: r.at,
      }));
    });
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
