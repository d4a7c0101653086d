// Audit queries, quotas and rate-limit scopes (SPEC §2 "Rate limits and quotas", "Audit";
// reference/axme-wire.md §1.2 quota_exceeded). Workflow-safe: zod and the protocol lib only.
import { z } from 'zod';
import { parseAgentAddress } from './address';

// ---------------------------------------------------------------------------------------------
// Audit

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export const AUDIT_QUERY_MAX_LIMIT = 500;

const text = (max: number) => z.string().min(1).max(max);

/** `GET /v1/audit/events`: every filter optional, newest first, keyset cursor. */
export const auditEventsQuerySchema = z
  .object({
    /** An actor id: a service account id or `user:<sub>`. */
    actor: text(255).optional(),
    /** An exact action, or a prefix ending in `*` (`intent.*`, `http.POST *`). */
    action: text(255)
      .refine((v) => !v.slice(0, -1).includes('*'), 'only a trailing * is allowed')
      .optional(),
    target: text(255).optional(),
    outcome: z.enum(AUDIT_OUTCOMES).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    request_id: text(255).optional(),
    /** Platform admins only: confine the query to one org. */
    org_id: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(AUDIT_QUERY_MAX_LIMIT).default(100),
    cursor: text(200).optional(),
  })
  .superRefine((q, ctx) => {
    if (q.since && q.until && new Date(q.since).getTime() > new Date(q.until).getTime())
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'must not be before since' });
  });
export type AuditEventsQuery = z.output<typeof auditEventsQuerySchema>;

// ---------------------------------------------------------------------------------------------
// Quotas

export const QUOTA_DIMENSIONS = ['intents_per_day', 'requests_per_day'] as const;
export type QuotaDimension = (typeof QUOTA_DIMENSIONS)[number];

/** A quota's subject: the whole org, or one agent address of the org. */
export const QUOTA_ORG_SUBJECT = 'org';

export const QUOTA_MAX_LIMIT = 1_000_000_000;

const quotaSubjectSchema = z
  .string()
  .min(1)
  .max(383)
  .refine((v) => v === QUOTA_ORG_SUBJECT || parseAgentAddress(v) !== null, {
    message: 'must be "org" or an agent address',
    params: { code: 'invalid_agent_address' },
  });

/** `PUT /v1/quotas`: creates or replaces the quota of (org, subject, dimension). */
export const putQuotaSchema = z.object({
  subject: quotaSubjectSchema,
  dimension: z.enum(QUOTA_DIMENSIONS),
  limit: z.int().min(0).max(QUOTA_MAX_LIMIT),
  /** Platform admins only: the org the quota belongs to (default: the caller's). */
  org_id: z.uuid().optional(),
});
export type PutQuotaRequest = z.output<typeof putQuotaSchema>;

export const listQuotasQuerySchema = z.object({
  /** Platform admins only. */
  org_id: z.uuid().optional(),
});

// ---------------------------------------------------------------------------------------------
// Rate limits

/** Which token bucket refused a request: the API key's (per route) or the agent's (all routes). */
export const RATE_LIMIT_SCOPES = ['key', 'agent'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];
