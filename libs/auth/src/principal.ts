import { orgScope, platformScope, type SigningKeyRecord, type TenantScope } from '@axle/data';
import {
  type AgentAddress,
  agentAddressOrThrow,
  ForbiddenError,
  type Role,
  roleAtLeast,
} from '@axle/protocol';

/** Who is calling, as established from a credential. */
export type Principal = {
  /** An API key's service account (an agent), or a person with a user/operator JWT. */
  kind: 'service_account' | 'user';
  /** The service account id, or `user:<sub>` for a JWT; audit rows and idempotency keys use it. */
  actorId: string;
  orgId: string;
  /** The org's slug, for addresses and messages. */
  orgSlug: string;
  workspaceId: string;
  /** Canonical agent://org/ws/name the caller acts as by default. */
  address: string;
  role: Role;
  /** The bootstrap admin: may act in any org and as any agent (SPEC §2). */
  platformAdmin: boolean;
  /** The API key used, when the credential is one (rate limits are per key). */
  apiKeyId?: string;
  /** A user's email, from the token. */
  email?: string;
  /** A user's org member id, when the token's email is a member of the org. */
  memberId?: string;
  /** The agent's signing key verified this request (X-Axle-Signature). */
  signed?: boolean;
  /**
   * The signing state of the API key's service account, read with the credential: whose key must
   * sign (for a key plus an actor token, the key's own account, so a token cannot sidestep it).
   */
  signer?: SigningKeyRecord;
  /** The agent's own per-minute request budget (ServiceAccount.rateLimitPerMinute), when it has one. */
  agentRateLimitPerMinute?: number | null;
};

/** What rate limits and quotas count against: the API key, else the actor. */
export function rateLimitSubject(principal: Principal): string {
  return principal.apiKeyId ? `key:${principal.apiKeyId}` : `actor:${principal.actorId}`;
}

/** The size of the caller's per-agent token bucket: its own limit, else the configured default. */
export function agentRateLimitOf(principal: Principal, defaultPerMinute: number): number {
  return principal.agentRateLimitPerMinute ?? defaultPerMinute;
}

/** The tenant scope a principal's queries run in: its org, or every org for a platform admin. */
export function tenantScopeOf(principal: Principal): TenantScope {
  return principal.platformAdmin ? platformScope() : orgScope(principal.orgId);
}

export function hasRole(principal: Principal, needed: Role): boolean {
  return principal.platformAdmin || roleAtLeast(principal.role, needed);
}

/** 403 unless the caller holds `needed` (or a stronger role) in its org. */
export function requireRole(principal: Principal, needed: Role): void {
  if (!hasRole(principal, needed))
    throw new ForbiddenError('insufficient_role', `this action needs the ${needed} role`);
}

/**
 * Owner scope (reference §1.1): whether the caller may act as `address`. A platform admin may act as
 * any agent; an org admin as any agent of its own org; everyone else only as itself.
 */
export function mayActAs(principal: Principal, address: AgentAddress): boolean {
  return (
    address.canonical === principal.address ||
    principal.platformAdmin ||
    (principal.role === 'admin' && address.org === principal.orgSlug)
  );
}

/** The agent the caller acts as: `owner_agent` when given (422 if malformed, 403 if out of scope), else itself. */
export function actingAgent(principal: Principal, ownerAgent?: string): string {
  if (ownerAgent === undefined) return principal.address;
  const parsed = agentAddressOrThrow(ownerAgent, 'owner_agent', 'query');
  if (!mayActAs(principal, parsed))
    throw new ForbiddenError(
      'owner_scope_violation',
      `${principal.address} may not act as ${parsed.canonical}`,
    );
  return parsed.canonical;
}

/**
 * Who the caller is to a human task's `assignees` (lower-cased): a person's email, member id and
 * address; a service account's own address.
 */
export function humanIdentities(principal: Principal): string[] {
  const ids = [principal.address];
  if (principal.kind === 'user') {
    if (principal.email) ids.push(principal.email);
    if (principal.memberId) ids.push(principal.memberId);
  }
  return [...new Set(ids.map((id) => id.toLowerCase()))];
}

/** The actor a person's decision is recorded as: `human:<email>`, or their address without one. */
export function humanActor(principal: Principal): string {
  return principal.kind === 'user' && principal.email
    ? `human:${principal.email.toLowerCase()}`
    : principal.address;
}
