import { orgScope, platformScope, type TenantScope } from '@axle/data';

/** Who is calling, as established from a credential. */
export type Principal = {
  kind: 'service_account';
  serviceAccountId: string;
  orgId: string;
  workspaceId: string;
  /** Canonical agent://org/ws/name of the service account. */
  address: string;
  /** The bootstrap admin: may act in any org (SPEC §2). */
  platformAdmin: boolean;
  /** The API key used, when the credential is one (rate limits are per key). */
  apiKeyId?: string;
};

/** What rate limits and quotas count against: the API key, else the service account. */
export function rateLimitSubject(principal: Principal): string {
  return principal.apiKeyId ? `key:${principal.apiKeyId}` : `sa:${principal.serviceAccountId}`;
}

/** The tenant scope a principal's queries run in: its org, or every org for a platform admin. */
export function tenantScopeOf(principal: Principal): TenantScope {
  return principal.platformAdmin ? platformScope() : orgScope(principal.orgId);
}
