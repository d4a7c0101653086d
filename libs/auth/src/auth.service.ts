import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { AuditRepository, RegistryRepository } from '@axle/data';
import { currentCorrelation } from '@axle/observability';
import {
  agentAddress,
  ForbiddenError,
  isRole,
  parseAgentAddress,
  type Role,
  UnauthenticatedError,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { fingerprint, parseApiKey, verifySecret } from './api-key';
import { type JwtClaims, JwtVerifier } from './jwt-verifier';
import { type Principal } from './principal';

/**
 * Which stored key a presented key matched, remembered because scrypt is deliberately slow (~40 ms).
 * Only the match is cached: the key's and its agent's state are read on every request, so a revoked
 * key or a suspended agent is refused on the very next request, on every gateway.
 */
const MATCH_CACHE_MAX = 10_000;

export type CredentialHeaders = { apiKey?: string | undefined; authorization?: string | undefined };

@Injectable()
export class AuthService {
  private readonly matchedKeys = new Map<string, string>();
  /** Credential reads in progress, by service account id (see verifyKey). */
  private readonly reading = new Map<string, ReturnType<RegistryRepository['findCredential']>>();
  /** Matches in progress, by key fingerprint (see verifyKey). */
  private readonly matching = new Map<string, Promise<string | null>>();
  private readonly jwt: JwtVerifier;

  constructor(
    @Inject(AXLE_CONFIG) config: AxleConfig,
    private readonly registry: RegistryRepository,
    private readonly audit: AuditRepository,
  ) {
    this.jwt = new JwtVerifier({ secret: config.auth.jwtSecret, jwksUrl: config.auth.jwksUrl });
  }

  /**
   * Authenticates a request: an API key in `x-api-key` or `Authorization: Bearer`, a user JWT in
   * `Authorization: Bearer`, or both (a key plus the actor token of the person using it).
   */
  async authenticate(headers: CredentialHeaders, requestId?: string): Promise<Principal> {
    const bearerToken = bearer(headers.authorization);
    const apiKey =
      headers.apiKey?.trim() ||
      (bearerToken && !JwtVerifier.looksLikeJwt(bearerToken) ? bearerToken : undefined);
    const actorToken = bearerToken && JwtVerifier.looksLikeJwt(bearerToken) ? bearerToken : undefined;
    if (!apiKey && !actorToken) {
      await this.recordFailure('missing_credential', requestId);
      throw new UnauthenticatedError('missing_platform_api_key', 'missing platform api key');
    }
    let keyPrincipal: Principal | null = null;
    if (apiKey) {
      keyPrincipal = await this.verifyKey(apiKey);
      if (!keyPrincipal) {
        await this.recordFailure('invalid_api_key', requestId);
        throw new UnauthenticatedError('invalid_platform_api_key', 'invalid platform api key');
      }
    }
    if (!actorToken) return keyPrincipal!;
    const user = await this.verifyUser(actorToken, requestId);
    if (keyPrincipal && !keyPrincipal.platformAdmin && keyPrincipal.orgId !== user.orgId) {
      await this.recordFailure('actor_token_org_mismatch', requestId, user.orgId);
      throw new ForbiddenError(
        'invalid_actor_scope',
        'the actor token belongs to another organization than the api key',
      );
    }
    // A key plus an actor token: the person acts, counted against the key's rate limit.
    return keyPrincipal?.apiKeyId
      ? {
          ...user,
          apiKeyId: keyPrincipal.apiKeyId,
          ...(keyPrincipal.signer ? { signer: keyPrincipal.signer } : {}),
        }
      : user;
  }

  private async verifyKey(key: string): Promise<Principal | null> {
    const parsed = parseApiKey(key);
    if (!parsed) return null;
    // Requests with one key at the same moment share one read: still read per request (a revoked
    // key is refused at once), but a burst costs one query, not one pooled connection each.
    let reading = this.reading.get(parsed.serviceAccountId);
    if (!reading) {
      reading = this.registry
        .findCredential(parsed.serviceAccountId)
        .finally(() => this.reading.delete(parsed.serviceAccountId));
      this.reading.set(parsed.serviceAccountId, reading);
    }
    const credential = await reading;
    if (!credential || credential.agent.status !== 'active') return null;
    const id = fingerprint(key);
    const remembered = this.matchedKeys.get(id);
    let matched = remembered ? credential.keys.find((k) => k.id === remembered) : undefined;
    if (!matched) {
      this.matchedKeys.delete(id);
      // Concurrent first requests with one key share one scrypt run: a burst of 1,000 requests
      // with a key not yet matched otherwise costs 1,000 × ~40 ms of CPU and starves the process.
      let running = this.matching.get(id);
      if (!running) {
        running = this.matchSecret(parsed.secret, credential.keys).finally(() => this.matching.delete(id));
        this.matching.set(id, running);
      }
      const matchedId = await running;
      matched = matchedId ? credential.keys.find((k) => k.id === matchedId) : undefined;
      if (!matched) return null;
      if (this.matchedKeys.size >= MATCH_CACHE_MAX) this.matchedKeys.clear();
      this.matchedKeys.set(id, matched.id);
    }
    const { agent, org, signing } = credential;
    return {
      kind: 'service_account',
      actorId: agent.id,
      orgId: agent.orgId,
      orgSlug: org.slug,
      workspaceId: agent.workspaceId,
      address: agent.address,
      role: isRole(agent.role) ? agent.role : 'member',
      platformAdmin: agent.platformAdmin,
      apiKeyId: matched.id,
      signer: signing,
      agentRateLimitPerMinute: agent.rateLimitPerMinute,
    };
  }

  /** The id of the stored key whose hash the secret matches, or null. */
  private async matchSecret(
    secret: string,
    keys: { id: string; secretHash: string }[],
  ): Promise<string | null> {
    for (const stored of keys) if (await verifySecret(secret, stored.secretHash)) return stored.id;
    return null;
  }

  private async verifyUser(token: string, requestId?: string): Promise<Principal> {
    let claims: JwtClaims;
    try {
      if (!this.jwt.enabled)
        throw new UnauthenticatedError(
          'invalid_actor_token',
          'user tokens are not enabled (set AXLE_JWT_SECRET or AXLE_JWKS_URL)',
        );
      claims = await this.jwt.verify(token);
    } catch (err) {
      await this.recordFailure(
        err instanceof UnauthenticatedError ? err.message : 'invalid_actor_token',
        requestId,
      );
      throw err;
    }
    const refuse = async (reason: string): Promise<never> => {
      await this.recordFailure(reason, requestId);
      throw new UnauthenticatedError('invalid_actor_token', `invalid actor token: ${reason}`);
    };
    const owner = claims.ownerAgent ? parseAgentAddress(claims.ownerAgent) : null;
    if (claims.ownerAgent && !owner) return refuse('owner_agent claim is not an agent address');
    const orgSlug = claims.org ?? owner?.org;
    if (!orgSlug) return refuse('token names no org');
    const context = await this.registry.findUserContext(orgSlug, claims.email);
    if (!context) return refuse(`org ${orgSlug} does not exist`);
    if (owner && owner.org !== orgSlug) return refuse("owner_agent is outside the token's org");
    if (context.member?.status === 'suspended') return refuse('member is suspended');
    const role: Role =
      strongest(claims.roles) ?? (isRole(context.member?.role) ? context.member.role : 'member');
    return {
      kind: 'user',
      actorId: `user:${claims.sub}`,
      orgId: context.org.id,
      orgSlug,
      workspaceId: context.defaultWorkspaceId,
      address:
        owner?.canonical ??
        context.member?.address ??
        agentAddress(
          orgSlug,
          'default',
          `user-${createHash('sha256').update(claims.sub).digest('hex').slice(0, 12)}`,
        ),
      role,
      platformAdmin: false,
      ...(claims.email ? { email: claims.email } : {}),
      ...(context.member ? { memberId: context.member.id } : {}),
    };
  }

  private async recordFailure(
    reason: string,
    requestId?: string,
    orgId: string | null = null,
  ): Promise<void> {
    const correlation = currentCorrelation();
    const route = correlation?.route;
    await this.audit.record({
      orgId,
      actorType: 'anonymous',
      actorId: null,
      action: 'auth.authenticate',
      outcome: 'failure',
      requestId: requestId ?? correlation?.requestId ?? null,
      // Which route was tried; never the credential itself.
      details: { reason, ...(route ? { route } : {}) },
    });
  }
}

function strongest(roles: Role[]): Role | undefined {
  return (['admin', 'operator', 'member'] as const).find((r) => roles.includes(r));
}

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
