// Audit completeness (SPEC §2 "Audit": every write is an audit row). Use cases write their own,
// specific rows (intent.create, inbox.reply, webhook.subscription.create, ...) and AuthService writes
// auth failures; each of those marks the request's correlation context (AuditRepository.record →
// markAudited). This hook writes one generic row for every write request that ends without one,
// whatever ended it: a 403 or 422 from a use case, a 409 from idempotency, a 429 from a guard, a
// 400/413 from the body parser, an unknown route, an idempotent replay. So each write request has
// at least one row with its request id, and never a generic row besides a specific one.
//
// A Fastify onSend hook rather than a Nest interceptor: it also sees answers produced before or
// outside the Nest pipeline (guards, body parsing, not-found), and it runs before the answer is
// sent, so a client that reads the trail right after an answer finds the row.
import { type AuditEntry, AuditRepository } from '@axle/data';
import { type Logger } from '@axle/observability';
import { HTTP_HEADERS } from '@axle/protocol';
import { type FastifyInstance, type FastifyRequest } from 'fastify';

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const MAX_TEXT = 200;
/** The target types the use cases' own rows use, by the route segment before the id. */
const TARGET_TYPES: Record<string, string> = {
  intents: 'intent',
  inbox: 'inbox_thread',
  approvals: 'approval',
  subscriptions: 'webhook_subscription',
  events: 'webhook_event',
  quotas: 'quota',
};

/** success below 400; denied for 401/403/429 (refused by identity, role or limits); else failure. */
export function outcomeOf(status: number): AuditEntry['outcome'] {
  if (status < 400) return 'success';
  if (status === 401 || status === 403 || status === 429) return 'denied';
  return 'failure';
}

/**
 * The target named by the route: its last path parameter, typed by the literal segment before it
 * (`/v1/intents/:id/resume` → intent <id>, `/v1/inbox/:id/reply` → inbox_thread <id>).
 */
export function targetOf(
  pattern: string | undefined,
  params: unknown,
): { targetType: string | null; targetId: string | null } {
  if (!pattern || !params || typeof params !== 'object') return { targetType: null, targetId: null };
  const segments = pattern.split('/').filter(Boolean);
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i]!;
    if (!segment.startsWith(':')) continue;
    const value = (params as Record<string, unknown>)[segment.slice(1)];
    if (typeof value !== 'string' || value === '') continue;
    const literal = segments
      .slice(0, i)
      .reverse()
      .find((s) => !s.startsWith(':'));
    const type = literal ? (TARGET_TYPES[literal] ?? literal.replace(/s$/, '').replace(/-/g, '_')) : null;
    return { targetType: type, targetId: value.slice(0, MAX_TEXT) };
  }
  return { targetType: null, targetId: null };
}

/** The generic row of a write request that no use case audited. */
export function genericAuditEntry(request: FastifyRequest, status: number, replayed: boolean): AuditEntry {
  const pattern = request.routeOptions.url;
  const principal = request.principal;
  const { targetType, targetId } = targetOf(pattern, request.params);
  return {
    orgId: principal?.orgId ?? null,
    actorType: principal?.kind ?? 'anonymous',
    actorId: principal?.actorId ?? null,
    action: `http.${request.method} ${pattern ?? '(no route)'}`,
    targetType,
    targetId,
    outcome: outcomeOf(status),
    requestId: request.id,
    details: {
      status,
      ...(replayed ? { idempotent_replay: true } : {}),
      // The path only: query strings can carry tokens.
      ...(pattern ? {} : { path: request.url.split('?')[0]!.slice(0, MAX_TEXT) }),
    },
  };
}

export function installAuditTrail(fastify: FastifyInstance, audit: AuditRepository, logger: Logger): void {
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (!WRITE_METHODS.has(request.method) || request.correlation?.audited) return payload;
    try {
      const replayed = reply.getHeader(HTTP_HEADERS.idempotentReplayed) === 'true';
      await audit.record(genericAuditEntry(request, reply.statusCode, replayed));
      if (request.correlation) request.correlation.audited = true;
    } catch (err) {
      // The answer still goes out; a database outage is already answered 503 to the request.
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'audit row not written');
    }
    return payload;
  });
}
