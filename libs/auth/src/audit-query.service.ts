// `GET /v1/audit/events` (SPEC §2 "Audit": queryable by operators). Operators and admins see their
// own org's trail; a platform admin sees every org's (and the rows of failed authentications that
// belong to no org), optionally narrowed with org_id. Newest first, keyset cursor on (at, id).
import { type AuditEventRecord, AuditRepository } from '@axle/data';
import { type AuditEventsQuery, ForbiddenError, ValidationFailedError } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { type Principal, requireRole, tenantScopeOf } from './principal';

@Injectable()
export class AuditQueryService {
  constructor(private readonly audit: AuditRepository) {}

  async list(principal: Principal, query: AuditEventsQuery): Promise<Record<string, unknown>> {
    requireRole(principal, 'operator');
    if (query.org_id && !principal.platformAdmin && query.org_id !== principal.orgId)
      throw new ForbiddenError('org_scope_violation', 'only a platform admin may query another org');
    const rows = await this.audit.query(tenantScopeOf(principal), {
      ...(query.actor ? { actorId: query.actor } : {}),
      ...actionFilter(query.action),
      ...(query.target ? { targetId: query.target } : {}),
      ...(query.outcome ? { outcome: query.outcome } : {}),
      ...(query.since ? { since: new Date(query.since) } : {}),
      ...(query.until ? { until: new Date(query.until) } : {}),
      ...(query.request_id ? { requestId: query.request_id } : {}),
      ...(query.org_id ? { orgId: query.org_id } : {}),
      ...(query.cursor ? { before: decodeCursor(query.cursor) } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      ok: true,
      events: page.map(toAuditEventView),
      next_cursor: rows.length > query.limit && last ? encodeCursor(last) : null,
    };
  }
}

/** An exact action, or a prefix for a trailing `*` (a lone `*` matches every action). */
function actionFilter(action: string | undefined): { action?: string; actionPrefix?: string } {
  if (action === undefined) return {};
  if (!action.endsWith('*')) return { action };
  const prefix = action.slice(0, -1);
  return prefix ? { actionPrefix: prefix } : {};
}

const MAX_ROW_ID = 9_223_372_036_854_775_807n;

export function toAuditEventView(e: AuditEventRecord): Record<string, unknown> {
  return {
    event_id: e.id,
    org_id: e.orgId,
    actor_type: e.actorType,
    actor_id: e.actorId,
    action: e.action,
    target_type: e.targetType,
    target_id: e.targetId,
    outcome: e.outcome,
    request_id: e.requestId,
    details: e.details,
    at: e.at.toISOString(),
  };
}

function encodeCursor(e: AuditEventRecord): string {
  return Buffer.from(JSON.stringify({ a: e.at.toISOString(), i: e.id })).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      a?: unknown;
      i?: unknown;
    };
    const at = typeof parsed.a === 'string' ? new Date(parsed.a) : null;
    if (
      at &&
      !Number.isNaN(at.getTime()) &&
      typeof parsed.i === 'string' &&
      /^\d{1,19}$/.test(parsed.i) &&
      BigInt(parsed.i) <= MAX_ROW_ID
    )
      return { at, id: parsed.i };
  } catch {
    // fall through
  }
  throw new ValidationFailedError([
    {
      path: 'cursor',
      loc: ['query', 'cursor'],
      message: 'not a cursor this server issued',
      type: 'invalid_cursor',
    },
  ]);
}
