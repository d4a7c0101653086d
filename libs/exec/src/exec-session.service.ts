import { mayActAs, type Principal, tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  type ExecSessionRecord,
  ExecRepository,
  type ExecTokenRecord,
  orgScope,
} from '@axle/data';
import {
  attenuateSchema,
  type Capability,
  CapTokenError,
  capTokenBodySchema,
  formatCapability,
  isUuid,
  NotFoundError,
  openExecSessionSchema,
  parseAgentAddress,
  parseOrThrow,
  uncoveredCapabilities,
  ValidationFailedError,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { type Redis } from 'ioredis';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hashCapToken, isCapTokenShaped, newCapToken } from './cap-token';
import { EXEC_REDIS } from './exec-redis';
import { parseCapabilities } from './exec-spec';
import { toExecSessionView } from './exec.view';
import { RunnerRegistry } from './runner-registry';

/** What every exec route gets from the gateway: the caller, and the capability token it presented. */
export type ExecCommand = { principal: Principal; requestId: string; capToken: string | undefined };

/** A session and the valid token that was presented for it. */
export type AuthorizedSession = {
  session: ExecSessionRecord;
  token: ExecTokenRecord;
  capabilities: Capability[];
};

/**
 * Exec sessions (SPEC §7, docs/exec.md): a workspace, a sandbox tier the host really enforces (never
 * a silent downgrade) and a capability set, behind a capability token shown once. Every later call
 * presents the token besides the API key; tokens only narrow (attenuate).
 */
@Injectable()
export class ExecSessionService {
  private readonly runners: RunnerRegistry;

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly exec: ExecRepository,
    private readonly audit: AuditRepository,
    @Inject(EXEC_REDIS) redis: Redis,
  ) {
    this.runners = new RunnerRegistry(redis);
  }

  /** `POST /v1/exec/sessions {workspace?, sandbox_tier, capabilities[]}`. */
  async open(command: ExecCommand & { body: unknown }) {
    const { principal } = command;
    const body = parseOrThrow(openExecSessionSchema, command.body ?? {});
    const tiers = await this.runners.offeredTiers(this.config.exec.allowNone);
    if (!tiers.includes(body.sandbox_tier)) {
      await this.record(command, principal.orgId, null, 'exec.session.open', 'failure', {
        reason: 'tier_unavailable',
        sandbox_tier: body.sandbox_tier,
        available: tiers,
      });
      throw new ValidationFailedError(
        [
          {
            path: 'sandbox_tier',
            loc: ['body', 'sandbox_tier'],
            message: `tier ${body.sandbox_tier} is not enforced by any runner (available: ${tiers.join(', ') || 'none'})`,
            type: 'tier_unavailable',
          },
        ],
        'tier_unavailable',
      );
    }
    const id = randomUUID();
    const owner = principal.address;
    const workspaceDir = join(
      this.config.exec.workspacesDir,
      principal.orgId,
      createHash('sha256').update(owner).digest('hex').slice(0, 16),
      body.workspace ?? `s-${id}`,
    );
    await mkdir(workspaceDir, { recursive: true, mode: 0o755 });
    const capabilities = body.capabilities.map(formatCapability);
    const { token, hash } = newCapToken();
    const { session } = await this.exec.createSession(
      orgScope(principal.orgId),
      {
        id,
        ownerAgent: owner,
        workspaceDir,
        requestedTier: body.sandbox_tier,
        grantedTier: body.sandbox_tier,
        capabilities,
        expiresAt: new Date(Date.now() + this.config.exec.sessionTtlSeconds * 1000),
      },
      hash,
    );
    await this.record(command, session.orgId, session.id, 'exec.session.open', 'success', {
      granted_tier: session.grantedTier,
      capabilities,
      workspace: workspaceDir,
    });
    const view = toExecSessionView(session);
    return {
      ok: true,
      session_id: session.id,
      granted_tier: session.grantedTier,
      capabilities,
      cap_token: token,
      workspace: view.workspace,
      expires_at: view.expires_at,
    };
  }

  /** `GET /v1/exec/sessions/{id}` (token required). */
  async get(command: ExecCommand & { sessionId: string }) {
    const { session } = await this.authorize(command, command.sessionId);
    return { ok: true, session: toExecSessionView(session) };
  }

  /** `POST /v1/exec/sessions/{id}/close`: revokes every token of the session; jobs keep running. */
  async close(command: ExecCommand & { sessionId: string; body: unknown }) {
    parseOrThrow(capTokenBodySchema, command.body ?? {});
    const { session } = await this.authorize(command, command.sessionId);
    await this.exec.closeSession(tenantScopeOf(command.principal), session.id);
    await this.record(command, session.orgId, session.id, 'exec.session.close', 'success', {});
    return { ok: true, session_id: session.id, status: 'closed' };
  }

  /**
   * `POST /v1/exec/sessions/{id}/attenuate {capabilities[], ttl_seconds}`: a new token with a subset
   * of the presented token's capabilities, expiring no later than it; 422 for any capability the
   * presented token does not cover.
   */
  async attenuate(command: ExecCommand & { sessionId: string; body: unknown }) {
    const body = parseOrThrow(attenuateSchema, command.body ?? {});
    const parent = await this.authorize(command, command.sessionId);
    await this.decide(command, parent, body.capabilities, 'attenuate');
    const capabilities = body.capabilities.map(formatCapability);
    const ttlEnd = Date.now() + body.ttl_seconds * 1000;
    const parentEnd = parent.token.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
    const expiresAt = new Date(Math.min(ttlEnd, parentEnd));
    const { token, hash } = newCapToken();
    const created = await this.exec.createToken(
      tenantScopeOf(command.principal),
      {
        sessionId: parent.session.id,
        orgId: parent.session.orgId,
        parentId: parent.token.id,
        capabilities,
        expiresAt,
      },
      hash,
    );
    await this.record(command, parent.session.orgId, parent.session.id, 'exec.token.attenuate', 'success', {
      parent_token_id: parent.token.id,
      token_id: created.id,
      capabilities,
      expires_at: expiresAt.toISOString(),
    });
    return {
      ok: true,
      session_id: parent.session.id,
      cap_token: token,
      capabilities,
      expires_at: expiresAt.toISOString(),
    };
  }

  /**
   * Checks that `requested` only narrows the token's capabilities and audits the decision; 422
   * `capability_not_covered` naming each widening entry.
   */
  async decide(
    command: ExecCommand,
    authorized: AuthorizedSession,
    requested: readonly Capability[],
    what: 'attenuate' | 'job' | 'tool',
  ): Promise<void> {
    const uncovered = uncoveredCapabilities(authorized.capabilities, requested);
    const outcome = uncovered.length === 0 ? 'success' : 'denied';
    await this.record(
      command,
      authorized.session.orgId,
      authorized.session.id,
      uncovered.length === 0 ? 'exec.capability.granted' : 'exec.capability.refused',
      outcome,
      {
        for: what,
        token_id: authorized.token.id,
        requested: requested.map(formatCapability),
        ...(uncovered.length ? { uncovered: uncovered.map(formatCapability) } : {}),
      },
    );
    if (uncovered.length === 0) return;
    throw new ValidationFailedError(
      uncovered.map((cap) => {
        const i = requested.indexOf(cap);
        return {
          path: `capabilities.${i}`,
          loc: ['body', 'capabilities', i],
          message: `${formatCapability(cap)} is not covered by the token's capabilities (a token or job may only narrow them)`,
          type: 'capability_not_covered',
        };
      }),
      'capability_not_covered',
    );
  }

  /**
   * The session, if the caller may see it (its org, and its owner agent or someone who may act as
   * it), and the presented token, if it is a live token of that session. Unknown and foreign
   * sessions are the same 404; a missing token is 401, a wrong, expired or revoked one 403.
   */
  async authorize(command: ExecCommand, sessionId: string): Promise<AuthorizedSession> {
    const session = await this.visibleSession(command.principal, sessionId);
    return { session, ...(await this.checkToken(command, session)) };
  }

  async visibleSession(principal: Principal, sessionId: string): Promise<ExecSessionRecord> {
    const session = isUuid(sessionId)
      ? await this.exec.findSession(tenantScopeOf(principal), sessionId)
      : null;
    const owner = session ? parseAgentAddress(session.ownerAgent) : null;
    if (!session || !owner || !mayActAs(principal, owner))
      throw new NotFoundError('exec_session_not_found', `exec session ${sessionId} not found`);
    return session;
  }

  private async checkToken(
    command: ExecCommand,
    session: ExecSessionRecord,
  ): Promise<{ token: ExecTokenRecord; capabilities: Capability[] }> {
    const presented = command.capToken;
    if (!presented)
      throw new CapTokenError('cap_token_required', 'send the session capability token in x-axp-cap-token');
    const token = isCapTokenShaped(presented)
      ? await this.exec.findToken(tenantScopeOf(command.principal), session.id, hashCapToken(presented))
      : null;
    const refuse = async (
      code: 'invalid_cap_token' | 'cap_token_expired' | 'cap_token_revoked',
      message: string,
    ) => {
      await this.record(command, session.orgId, session.id, 'exec.token.refused', 'denied', {
        reason: code,
        ...(token ? { token_id: token.id } : {}),
      });
      return new CapTokenError(code, message);
    };
    if (!token) throw await refuse('invalid_cap_token', 'the capability token is not one of this session');
    if (token.revokedAt || session.status !== 'open')
      throw await refuse('cap_token_revoked', 'the capability token was revoked (its session is closed)');
    if (token.expiresAt && token.expiresAt.getTime() <= Date.now())
      throw await refuse(
        'cap_token_expired',
        `the capability token expired at ${token.expiresAt.toISOString()}`,
      );
    return { token, capabilities: parseCapabilities(token.capabilities) };
  }

  private async record(
    command: ExecCommand,
    orgId: string,
    sessionId: string | null,
    action: string,
    outcome: 'success' | 'failure' | 'denied',
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      orgId,
      actorType: command.principal.kind,
      actorId: command.principal.actorId,
      action,
      targetType: 'exec_session',
      targetId: sessionId,
      outcome,
      requestId: command.requestId,
      details,
    });
  }
}
