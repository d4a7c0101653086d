import {
  AuditRepository,
  type SigningKeyChange,
  SigningKeyInUseError,
  type SigningKeyRecord,
  SigningKeyRepository,
} from '@axle/data';
import {
  agentAddress,
  agentAddressOrThrow,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  SignatureError,
  type SigningKeyRequest,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { mayActAs, type Principal, tenantScopeOf } from './principal';
import { parsePublicKey } from './signature';

/** An agent's signing key as the API shows it; a public key is public, so it is included. */
export type SigningKeyView = {
  address: string;
  signing_key_id: string | null;
  public_key: string | null;
  require_signature: boolean;
};

/**
 * Registering, reading and removing an agent's Ed25519 signing key (SPEC §2 "Signed agents").
 * Who: the agent itself, an admin of its org, or a platform admin; another org's agent is a 404.
 * While an agent requires signatures, every change to its key or flag must itself be a signed
 * request (signed with the caller's own key), so a stolen API key alone cannot swap the key.
 */
@Injectable()
export class SigningKeyService {
  constructor(
    private readonly keys: SigningKeyRepository,
    private readonly audit: AuditRepository,
  ) {}

  async get(principal: Principal, org: string, ws: string, name: string) {
    const agent = await this.target(principal, org, ws, name);
    return { ok: true as const, agent: view(agent) };
  }

  /** Registers or replaces the key and/or sets require_signature (409 to require without a key). */
  async set(
    principal: Principal,
    org: string,
    ws: string,
    name: string,
    body: SigningKeyRequest,
    requestId: string,
  ) {
    let key: { publicKey: string; keyId: string } | undefined;
    if (body.public_key !== undefined) {
      const parsed = parsePublicKey(body.public_key);
      if ('error' in parsed)
        throw new ValidationFailedError(
          [
            {
              path: 'public_key',
              loc: ['body', 'public_key'],
              message: parsed.error,
              type: 'invalid_public_key',
            },
          ],
          'invalid_public_key',
        );
      key = { publicKey: parsed.raw.toString('base64'), keyId: parsed.keyId };
    }
    const agent = await this.target(principal, org, ws, name);
    const updated = await this.change(principal, agent, requestId, 'agent.signing_key.set', (current) => {
      if (body.require_signature === true && !key && !current.keyId)
        throw new ConflictError(
          'signing_key_missing',
          `register a public key for ${current.address} before requiring signatures`,
        );
      return {
        ...(key ? { key } : {}),
        ...(body.require_signature !== undefined ? { requireSignature: body.require_signature } : {}),
      };
    });
    return { ok: true as const, agent: view(updated) };
  }

  /** Removes the key; require_signature goes off with it. Removing when there is none is a no-op. */
  async remove(principal: Principal, org: string, ws: string, name: string, requestId: string) {
    const agent = await this.target(principal, org, ws, name);
    const updated = await this.change(principal, agent, requestId, 'agent.signing_key.delete', () => ({
      key: null,
      requireSignature: false,
    }));
    return { ok: true as const, agent: view(updated) };
  }

  /** The agent at org/ws/name that the caller may manage: 422 malformed, 404 unknown or other org, 403. */
  private async target(
    principal: Principal,
    org: string,
    ws: string,
    name: string,
  ): Promise<SigningKeyRecord> {
    const address = agentAddressOrThrow(agentAddress(org, ws, name), 'address', 'path');
    const agent = await this.keys.findByAddress(tenantScopeOf(principal), address.canonical);
    if (!agent) throw new NotFoundError('agent_not_found', `agent ${address.canonical} not found`);
    if (!mayActAs(principal, address))
      throw new ForbiddenError(
        'owner_scope_violation',
        `${principal.address} may not manage the signing key of ${address.canonical}`,
      );
    return agent;
  }

  /** Applies a change under the agent's row lock, refusing an unsigned change to a protected agent. */
  private async change(
    principal: Principal,
    agent: SigningKeyRecord,
    requestId: string,
    action: string,
    decide: (current: SigningKeyRecord) => SigningKeyChange,
  ): Promise<SigningKeyRecord> {
    let updated: SigningKeyRecord | null;
    try {
      updated = await this.keys.update(tenantScopeOf(principal), agent.agentId, (current) => {
        if (current.requireSignature && current.keyId && !principal.signed)
          throw new SignatureError(
            'signature_required',
            `${current.address} requires signatures: changing its signing key must be a signed request`,
          );
        return decide(current);
      });
    } catch (err) {
      if (err instanceof SigningKeyInUseError)
        throw new ConflictError('signing_key_in_use', 'this public key is registered for another agent');
      if (err instanceof SignatureError)
        await this.audit.record({
          orgId: agent.orgId,
          actorType: principal.kind,
          actorId: principal.actorId,
          action: 'auth.signature',
          targetType: 'service_account',
          targetId: agent.agentId,
          outcome: 'failure',
          requestId,
          details: { reason: err.code, message: err.message, operation: action },
        });
      throw err;
    }
    if (!updated) throw new NotFoundError('agent_not_found', `agent ${agent.address} not found`);
    await this.audit.record({
      orgId: updated.orgId,
      actorType: principal.kind,
      actorId: principal.actorId,
      action,
      targetType: 'service_account',
      targetId: updated.agentId,
      outcome: 'success',
      requestId,
      details: {
        signing_key_id: updated.keyId,
        require_signature: updated.requireSignature,
        signed: principal.signed === true,
      },
    });
    return updated;
  }
}

function view(agent: SigningKeyRecord): SigningKeyView {
  return {
    address: agent.address,
    signing_key_id: agent.keyId,
    public_key: agent.publicKey,
    require_signature: agent.requireSignature,
  };
}
