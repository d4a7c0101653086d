import { AuditRepository, RegistryRepository } from '@axle/data';
import { UnauthenticatedError } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { fingerprint, parseApiKey, verifySecret } from './api-key';
import { type Principal } from './principal';

/** Verified keys are remembered briefly because scrypt is deliberately slow (~40 ms a check). */
const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;

export type CredentialHeaders = { apiKey?: string | undefined; authorization?: string | undefined };

@Injectable()
export class AuthService {
  private readonly verified = new Map<string, { principal: Principal; expiresAt: number }>();

  constructor(
    private readonly registry: RegistryRepository,
    private readonly audit: AuditRepository,
  ) {}

  /** Authenticates a request's credential: `x-api-key`, or `Authorization: Bearer <api key>`. */
  async authenticate(headers: CredentialHeaders, requestId?: string): Promise<Principal> {
    const key = headers.apiKey?.trim() || bearer(headers.authorization);
    if (!key) {
      await this.recordFailure('missing_credential', requestId);
      throw new UnauthenticatedError('missing_platform_api_key', 'missing platform api key');
    }
    const id = fingerprint(key);
    const cached = this.verified.get(id);
    if (cached && cached.expiresAt > Date.now()) return cached.principal;

    const principal = await this.verifyKey(key);
    if (!principal) {
      await this.recordFailure('invalid_credential', requestId);
      throw new UnauthenticatedError('invalid_platform_api_key', 'invalid platform api key');
    }
    if (this.verified.size >= CACHE_MAX) this.verified.clear();
    this.verified.set(id, { principal, expiresAt: Date.now() + CACHE_TTL_MS });
    return principal;
  }

  private async verifyKey(key: string): Promise<Principal | null> {
    const parsed = parseApiKey(key);
    if (!parsed) return null;
    const credential = await this.registry.findCredential(parsed.serviceAccountId);
    if (!credential || credential.agent.status !== 'active') return null;
    for (const stored of credential.keys) {
      if (await verifySecret(parsed.secret, stored.secretHash)) {
        const { agent } = credential;
        return {
          kind: 'service_account',
          serviceAccountId: agent.id,
          orgId: agent.orgId,
          workspaceId: agent.workspaceId,
          address: agent.address,
          platformAdmin: agent.platformAdmin,
          apiKeyId: stored.id,
        };
      }
    }
    return null;
  }

  private async recordFailure(reason: string, requestId?: string): Promise<void> {
    await this.audit.record({
      orgId: null,
      actorType: 'anonymous',
      actorId: null,
      action: 'auth.authenticate',
      outcome: 'failure',
      requestId: requestId ?? null,
      details: { reason },
    });
  }
}

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
