// Quotas (SPEC §2 "Rate limits and quotas"; reference/axme-wire.md §1.2 `quota_exceeded`): daily
// ceilings per org or per agent address on two dimensions:
// - requests_per_day: every authenticated request, counted for the caller's agent and its org;
// - intents_per_day: every intent created, counted for the sender agent and the org the intent is
//   created in (cross-org intents count against the sender).
// The ceilings are Quota rows (libs/data); usage is counted in Redis per UTC day (QuotaCounter).
// Usage is always counted, with or without a quota, so a quota set during the day starts from the
// day's real usage.
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { AuditRepository, orgScope, type QuotaRecord, QuotaRepository } from '@axle/data';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import {
  ForbiddenError,
  isUuid,
  NotFoundError,
  parseAgentAddress,
  type PutQuotaRequest,
  QUOTA_ORG_SUBJECT,
  type QuotaDimension,
  QuotaExceededError,
  ValidationFailedError,
} from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { type CounterSpec, QuotaCounter, utcDay } from './quota-counter';
import { type Principal, requireRole, tenantScopeOf } from './principal';

/** How long a gateway reuses an org's quota rows; changes made through another gateway show after it. */
const QUOTA_CACHE_MS = 5_000;
const QUOTA_CACHE_MAX_ORGS = 10_000;

/** A counted create: give it back when the create does not happen after all. */
export type QuotaReservation = { release(): Promise<void> };

const NOTHING_RESERVED: QuotaReservation = { release: () => Promise.resolve() };

@Injectable()
export class QuotaService implements OnModuleDestroy {
  private readonly counter: QuotaCounter;
  private readonly cache = new Map<string, { expires: number; quotas: QuotaRecord[] }>();
  private lastLookupWarning = 0;

  constructor(
    @Inject(AXLE_CONFIG) config: AxleConfig,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
    private readonly quotas: QuotaRepository,
    private readonly audit: AuditRepository,
  ) {
    this.counter = new QuotaCounter({ redisUrl: config.redis.url, logger });
  }

  async onModuleDestroy(): Promise<void> {
    await this.counter.close();
  }

  /** requests_per_day: counts the request for the caller's agent and org; 429 over a quota. */
  async countRequest(principal: Principal): Promise<void> {
    let quotas: QuotaRecord[];
    try {
      quotas = await this.quotasOf(principal.orgId);
    } catch (err) {
      // Like Redis being down: the request passes uncounted rather than failing on a quota check
      // (warned at most every 10 s).
      if (Date.now() - this.lastLookupWarning > 10_000) {
        this.lastLookupWarning = Date.now();
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'quota lookup failed; requests pass unchecked (fail-open)',
        );
      }
      return;
    }
    await this.take('requests_per_day', principal.orgId, principal.address, quotas);
  }

  /**
   * intents_per_day: counts one intent for the sender agent and the org it is created in, before
   * the intent is written; 429 quota_exceeded (nothing written) over a quota. The caller releases
   * the reservation when the create does not happen.
   */
  async reserveIntent(orgId: string, sender: string): Promise<QuotaReservation> {
    const keys = await this.take('intents_per_day', orgId, sender, await this.quotasOf(orgId));
    if (keys.length === 0) return NOTHING_RESERVED;
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        await this.counter.giveBack(keys);
      },
    };
  }

  /** `GET /v1/quotas`: the org's quotas with today's usage. */
  async list(principal: Principal, orgId?: string): Promise<Record<string, unknown>> {
    const org = await this.targetOrg(principal, orgId);
    const quotas = await this.quotas.listForOrg(orgScope(org.id));
    const used = await this.counter.read(quotas);
    const { resetAt } = utcDay();
    return {
      ok: true,
      org_id: org.id,
      quotas: quotas.map((q, i) => toQuotaView(q, used?.[i] ?? null, resetAt)),
    };
  }

  /** `PUT /v1/quotas`: creates or replaces the quota of (org, subject, dimension). Admins only. */
  async put(
    principal: Principal,
    request: PutQuotaRequest,
    requestId: string,
  ): Promise<Record<string, unknown>> {
    requireRole(principal, 'admin');
    const org = await this.targetOrg(principal, request.org_id);
    const subject = subjectOf(request.subject, org.slug);
    const { quota, created } = await this.quotas.upsert(orgScope(org.id), {
      subject,
      dimension: request.dimension,
      limit: request.limit,
    });
    this.cache.delete(org.id);
    await this.audit.record({
      orgId: org.id,
      actorType: principal.kind,
      actorId: principal.actorId,
      action: created ? 'quota.create' : 'quota.update',
      targetType: 'quota',
      targetId: quota.id,
      outcome: 'success',
      requestId,
      details: { subject, dimension: quota.dimension, limit: quota.limit },
    });
    const [used] = (await this.counter.read([quota])) ?? [null];
    return { ok: true, created, quota: toQuotaView(quota, used ?? null, utcDay().resetAt) };
  }

  /** `DELETE /v1/quotas/{id}`: admins only; another org's quota is a 404, as an unknown one. */
  async remove(principal: Principal, id: string, requestId: string): Promise<Record<string, unknown>> {
    requireRole(principal, 'admin');
    const notFound = new NotFoundError('quota_not_found', `quota ${id} not found`);
    if (!isUuid(id)) throw notFound;
    const deleted = await this.quotas.delete(tenantScopeOf(principal), id);
    if (!deleted) throw notFound;
    this.cache.delete(deleted.orgId);
    await this.audit.record({
      orgId: deleted.orgId,
      actorType: principal.kind,
      actorId: principal.actorId,
      action: 'quota.delete',
      targetType: 'quota',
      targetId: deleted.id,
      outcome: 'success',
      requestId,
      details: { subject: deleted.subject, dimension: deleted.dimension, limit: deleted.limit },
    });
    return { ok: true, quota_id: deleted.id, deleted: true };
  }

  /** Counts against the org and the agent counters of a dimension; throws over a quota. */
  private async take(
    dimension: QuotaDimension,
    orgId: string,
    agent: string,
    quotas: QuotaRecord[],
  ): Promise<string[]> {
    const limitOf = (subject: string) =>
      quotas.find((q) => q.dimension === dimension && q.subject === subject)?.limit ?? null;
    const specs: CounterSpec[] = [
      { dimension, orgId, subject: agent, limit: limitOf(agent) },
      { dimension, orgId, subject: QUOTA_ORG_SUBJECT, limit: limitOf(QUOTA_ORG_SUBJECT) },
    ];
    const now = new Date();
    const result = await this.counter.take(specs, now);
    if (!result) return [];
    if (result.allowed) return result.keys;
    const { resetAt } = utcDay(now);
    throw new QuotaExceededError(Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 1000)), {
      dimension,
      subject: result.refused.subject,
      used: result.used,
      limit: result.refused.limit ?? 0,
      reset_at: resetAt.toISOString(),
    });
  }

  private async quotasOf(orgId: string): Promise<QuotaRecord[]> {
    const cached = this.cache.get(orgId);
    if (cached && cached.expires > Date.now()) return cached.quotas;
    const quotas = await this.quotas.listForOrg(orgScope(orgId));
    if (this.cache.size >= QUOTA_CACHE_MAX_ORGS) this.cache.clear();
    this.cache.set(orgId, { expires: Date.now() + QUOTA_CACHE_MS, quotas });
    return quotas;
  }

  /** The caller's org, or (platform admins) the one named by org_id; another org is 403. */
  private async targetOrg(principal: Principal, orgId?: string): Promise<{ id: string; slug: string }> {
    if (orgId === undefined || orgId === principal.orgId)
      return { id: principal.orgId, slug: principal.orgSlug };
    if (!principal.platformAdmin)
      throw new ForbiddenError('org_scope_violation', 'only a platform admin may name another org');
    const slug = await this.quotas.findOrgSlug(orgId);
    if (!slug) throw new NotFoundError('org_not_found', `org ${orgId} not found`);
    return { id: orgId, slug };
  }
}

/** "org", or the canonical form of an agent address of the org (422 otherwise). */
function subjectOf(subject: string, orgSlug: string): string {
  if (subject === QUOTA_ORG_SUBJECT) return subject;
  const address = parseAgentAddress(subject);
  if (address && address.org === orgSlug) return address.canonical;
  throw new ValidationFailedError(
    [
      {
        path: 'subject',
        loc: ['body', 'subject'],
        message: address ? `must be an agent of org ${orgSlug}` : 'must be "org" or an agent address',
        type: address ? 'subject_outside_org' : 'invalid_agent_address',
      },
    ],
    address ? 'validation_error' : 'invalid_agent_address',
  );
}

function toQuotaView(q: QuotaRecord, used: number | null, resetAt: Date): Record<string, unknown> {
  return {
    quota_id: q.id,
    org_id: q.orgId,
    subject: q.subject,
    dimension: q.dimension,
    limit: q.limit,
    // null when the usage counters are unavailable (Redis down).
    used,
    remaining: used === null ? null : Math.max(0, q.limit - used),
    reset_at: resetAt.toISOString(),
    created_at: q.createdAt.toISOString(),
    updated_at: q.updatedAt.toISOString(),
  };
}
