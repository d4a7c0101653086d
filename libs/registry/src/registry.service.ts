import { generateApiKey, hashSecret, type Principal, requireRole, tenantScopeOf } from '@axle/auth';
import {
  AuditRepository,
  type MemberRecord,
  type OrganizationRecord,
  orgScope,
  RegistryRepository,
  type ServiceAccountRecord,
  type WorkspaceRecord,
} from '@axle/data';
import {
  agentAddress,
  agentAddressOrThrow,
  ConflictError,
  createApiKeySchema,
  createMemberSchema,
  createOrganizationSchema,
  createServiceAccountSchema,
  createWorkspaceSchema,
  ForbiddenError,
  isUuid,
  listQuerySchema,
  NotFoundError,
  parseAgentAddress,
  parseOrThrow,
  updateMemberSchema,
  updateOrganizationSchema,
  updateServiceAccountSchema,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import {
  agentView,
  apiKeyView,
  memberView,
  organizationView,
  serviceAccountView,
  workspaceView,
} from './registry.view';

export type RegistryCommand = { principal: Principal; requestId: string };
type Body = Record<string, unknown>;

/**
 * The registry API (SPEC §2): orgs, workspaces, members, service accounts (agents) and API keys.
 * Reads are confined to the caller's org (a platform admin sees all); writes need the admin role in
 * the org; other orgs' objects answer 404 so that their existence does not leak. Every write is
 * audited; secrets (keys, webhook secrets) are returned once, at creation, and never audited.
 */
@Injectable()
export class RegistryService {
  constructor(
    private readonly registry: RegistryRepository,
    private readonly audit: AuditRepository,
  ) {}

  // ---- Organizations ----

  async createOrganization(cmd: RegistryCommand & { body: unknown }): Promise<Body> {
    if (!cmd.principal.platformAdmin)
      throw new ForbiddenError('insufficient_role', 'only a platform admin may create organizations');
    const input = parseOrThrow(createOrganizationSchema, cmd.body);
    if (await this.registry.findOrgBySlug(input.slug))
      throw new ConflictError('organization_exists', `organization ${input.slug} already exists`);
    const { org } = await this.registry.createOrganization({
      slug: input.slug,
      ...(input.name ? { name: input.name } : {}),
    });
    const created = (await this.registry.findOrganization(orgScope(org.id), org.id))!;
    await this.record(cmd, created.id, 'organization.create', 'organization', created.id, {
      slug: created.slug,
    });
    return { ok: true, organization: organizationView(created) };
  }

  async listOrganizations(cmd: RegistryCommand & { query: unknown }): Promise<Body> {
    const { limit } = parseOrThrow(listQuerySchema, cmd.query ?? {}, 'query');
    const orgs = await this.registry.listOrganizations(tenantScopeOf(cmd.principal), limit);
    return { ok: true, organizations: orgs.map(organizationView) };
  }

  async getOrganization(cmd: RegistryCommand & { orgId: string }): Promise<Body> {
    return { ok: true, organization: organizationView(await this.org(cmd)) };
  }

  async updateOrganization(cmd: RegistryCommand & { orgId: string; body: unknown }): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'admin');
    const patch = parseOrThrow(updateOrganizationSchema, cmd.body);
    if (patch.status && !cmd.principal.platformAdmin)
      throw new ForbiddenError(
        'insufficient_role',
        'only a platform admin may suspend or reactivate an organization',
      );
    if (patch.status === 'suspended' && org.id === cmd.principal.orgId)
      throw new ConflictError(
        'cannot_suspend_own_org',
        'a platform admin cannot suspend its own organization',
      );
    const updated = (await this.registry.updateOrganization(tenantScopeOf(cmd.principal), org.id, patch))!;
    await this.record(cmd, org.id, 'organization.update', 'organization', org.id, {
      fields: Object.keys(patch),
    });
    return { ok: true, organization: organizationView(updated) };
  }

  // ---- Workspaces ----

  async createWorkspace(cmd: RegistryCommand & { orgId: string; body: unknown }): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'admin');
    const input = parseOrThrow(createWorkspaceSchema, cmd.body);
    const ws = await this.registry.createWorkspace(orgScope(org.id), {
      slug: input.slug,
      name: input.name ?? input.slug,
    });
    if (!ws)
      throw new ConflictError('workspace_exists', `workspace ${input.slug} already exists in ${org.slug}`);
    await this.record(cmd, org.id, 'workspace.create', 'workspace', ws.id, { slug: ws.slug });
    return { ok: true, workspace: workspaceView(ws, org) };
  }

  async listWorkspaces(cmd: RegistryCommand & { orgId: string }): Promise<Body> {
    const org = await this.org(cmd);
    const list = await this.registry.listWorkspaces(orgScope(org.id), org.id);
    return { ok: true, workspaces: list.map((ws) => workspaceView(ws, org)) };
  }

  async getWorkspace(cmd: RegistryCommand & { orgId: string; workspaceId: string }): Promise<Body> {
    const org = await this.org(cmd);
    return { ok: true, workspace: workspaceView(await this.workspace(org, cmd.workspaceId), org) };
  }

  // ---- Members ----

  async createMember(cmd: RegistryCommand & { orgId: string; body: unknown }): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'admin');
    const input = parseOrThrow(createMemberSchema, cmd.body);
    let address: string | null = null;
    if (input.address !== undefined) {
      const parsed = parseAgentAddress(input.address);
      if (!parsed || parsed.org !== org.slug)
        throw fieldError('address', `must be an agent address in ${org.slug}`, 'invalid_agent_address');
      address = parsed.canonical;
    }
    const email = input.email.toLowerCase();
    const member = await this.registry.createMember(orgScope(org.id), {
      email,
      role: input.role,
      displayName: input.display_name ?? null,
      address,
    });
    if (!member) throw new ConflictError('member_exists', `${email} is already a member of ${org.slug}`);
    await this.record(cmd, org.id, 'member.create', 'member', member.id, { role: member.role });
    return { ok: true, member: memberView(member) };
  }

  async listMembers(cmd: RegistryCommand & { orgId: string }): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'operator');
    return { ok: true, members: (await this.registry.listMembers(orgScope(org.id))).map(memberView) };
  }

  async getMember(cmd: RegistryCommand & { orgId: string; memberId: string }): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'operator');
    return { ok: true, member: memberView(await this.member(org, cmd.memberId)) };
  }

  async updateMember(
    cmd: RegistryCommand & { orgId: string; memberId: string; body: unknown },
  ): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'admin');
    await this.member(org, cmd.memberId);
    const patch = parseOrThrow(updateMemberSchema, cmd.body);
    const updated = (await this.registry.updateMember(orgScope(org.id), cmd.memberId, {
      ...(patch.role ? { role: patch.role } : {}),
      ...(patch.status ? { status: patch.status } : {}),
      ...(patch.display_name ? { displayName: patch.display_name } : {}),
    }))!;
    await this.record(cmd, org.id, 'member.update', 'member', updated.id, { fields: Object.keys(patch) });
    return { ok: true, member: memberView(updated) };
  }

  async deleteMember(cmd: RegistryCommand & { orgId: string; memberId: string }): Promise<Body> {
    const org = await this.org(cmd);
    requireRole(cmd.principal, 'admin');
    await this.member(org, cmd.memberId);
    await this.registry.deleteMember(orgScope(org.id), cmd.memberId);
    await this.record(cmd, org.id, 'member.delete', 'member', cmd.memberId);
    return { ok: true, member_id: cmd.memberId, deleted: true };
  }

  // ---- Service accounts (agents) ----

  async createServiceAccount(cmd: RegistryCommand & { body: unknown }): Promise<Body> {
    const input = parseOrThrow(createServiceAccountSchema, cmd.body);
    const org = input.org_id ? await this.org({ ...cmd, orgId: input.org_id }) : await this.ownOrg(cmd);
    requireRole(cmd.principal, 'admin');
    const ws = await this.workspace(org, input.workspace_id ?? 'default');
    const address = agentAddress(org.slug, ws.slug, input.name);
    // http agents get a signing secret for X-Axme-Signature, shown once here.
    const webhookSecret = input.delivery_mode === 'http' ? newWebhookSecret() : null;
    const sa = await this.registry.createServiceAccount(orgScope(org.id), {
      workspaceId: ws.id,
      name: input.name,
      address,
      displayName: input.display_name ?? null,
      description: input.description ?? null,
      deliveryMode: input.delivery_mode,
      callbackUrl: input.callback_url ?? null,
      webhookSecret,
      role: input.role,
      createdBy: cmd.principal.actorId,
    });
    if (!sa) throw new ConflictError('agent_exists', `${address} already exists`);
    await this.record(cmd, org.id, 'service_account.create', 'service_account', sa.id, {
      address,
      role: sa.role,
      delivery_mode: sa.deliveryMode,
    });
    return {
      ok: true,
      service_account: serviceAccountView(sa, org.slug, ws.slug),
      ...(webhookSecret ? { webhook_secret: webhookSecret } : {}),
    };
  }

  async listServiceAccounts(cmd: RegistryCommand & { query: unknown }): Promise<Body> {
    const list = await this.listAccounts(cmd);
    return { ok: true, service_accounts: list.map((sa) => serviceAccountView(sa)) };
  }

  async getServiceAccount(cmd: RegistryCommand & { serviceAccountId: string }): Promise<Body> {
    return { ok: true, service_account: serviceAccountView(await this.serviceAccount(cmd, 'read')) };
  }

  async updateServiceAccount(
    cmd: RegistryCommand & { serviceAccountId: string; body: unknown },
  ): Promise<Body> {
    const sa = await this.serviceAccount(cmd, 'admin');
    const patch = parseOrThrow(updateServiceAccountSchema, cmd.body);
    if (sa.platformAdmin && (patch.status || patch.role))
      throw new ConflictError(
        'platform_admin_immutable',
        'the platform admin account cannot be suspended or demoted',
      );
    const deliveryMode = patch.delivery_mode ?? sa.deliveryMode;
    const callbackUrl = patch.callback_url === undefined ? sa.callbackUrl : patch.callback_url;
    if (deliveryMode === 'http' && !callbackUrl)
      throw fieldError('callback_url', 'required when delivery_mode is http', 'missing');
    const webhookSecret = deliveryMode === 'http' && !sa.hasWebhookSecret ? newWebhookSecret() : undefined;
    const updated = (await this.registry.updateServiceAccount(tenantScopeOf(cmd.principal), sa.id, {
      ...(patch.display_name !== undefined ? { displayName: patch.display_name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.delivery_mode ? { deliveryMode: patch.delivery_mode } : {}),
      ...(patch.callback_url !== undefined ? { callbackUrl: patch.callback_url } : {}),
      ...(patch.role ? { role: patch.role } : {}),
      ...(patch.status ? { status: patch.status } : {}),
      ...(patch.rate_limit_per_minute !== undefined
        ? { rateLimitPerMinute: patch.rate_limit_per_minute }
        : {}),
      ...(webhookSecret ? { webhookSecret } : {}),
    }))!;
    await this.record(cmd, sa.orgId, 'service_account.update', 'service_account', sa.id, {
      fields: Object.keys(patch),
    });
    return {
      ok: true,
      service_account: serviceAccountView(updated),
      ...(webhookSecret ? { webhook_secret: webhookSecret } : {}),
    };
  }

  async deleteServiceAccount(cmd: RegistryCommand & { serviceAccountId: string }): Promise<Body> {
    const sa = await this.serviceAccount(cmd, 'admin');
    if (sa.platformAdmin || sa.id === cmd.principal.actorId)
      throw new ConflictError(
        'cannot_delete_self',
        'a credential cannot delete its own or the platform admin account',
      );
    await this.registry.deleteServiceAccount(tenantScopeOf(cmd.principal), sa.id);
    await this.record(cmd, sa.orgId, 'service_account.delete', 'service_account', sa.id, {
      address: sa.address,
    });
    return { ok: true, service_account_id: sa.id, status: 'deleted' };
  }

  async rotateWebhookSecret(cmd: RegistryCommand & { serviceAccountId: string }): Promise<Body> {
    const sa = await this.serviceAccount(cmd, 'admin');
    const webhookSecret = newWebhookSecret();
    await this.registry.updateServiceAccount(tenantScopeOf(cmd.principal), sa.id, { webhookSecret });
    await this.record(cmd, sa.orgId, 'service_account.webhook_secret.rotate', 'service_account', sa.id);
    return { ok: true, service_account_id: sa.id, webhook_secret: webhookSecret };
  }

  // ---- API keys ----

  async createApiKey(cmd: RegistryCommand & { serviceAccountId: string; body: unknown }): Promise<Body> {
    const sa = await this.serviceAccount(cmd, 'admin');
    const input = parseOrThrow(createApiKeySchema, cmd.body ?? {});
    const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now())
      throw fieldError('expires_at', 'must be in the future', 'too_small');
    const { key, secret } = generateApiKey(sa.id);
    const created = (await this.registry.createApiKey(tenantScopeOf(cmd.principal), sa.id, {
      secretHash: await hashSecret(secret),
      hint: secret.slice(-4),
      name: input.name,
      expiresAt,
      createdBy: cmd.principal.actorId,
    }))!;
    await this.record(cmd, sa.orgId, 'api_key.create', 'api_key', created.id, {
      service_account_id: sa.id,
      name: created.name,
    });
    return { ok: true, key: { ...apiKeyView(created), token: key } };
  }

  async listApiKeys(cmd: RegistryCommand & { serviceAccountId: string }): Promise<Body> {
    const sa = await this.serviceAccount(cmd, 'self');
    const keys = await this.registry.listApiKeys(tenantScopeOf(cmd.principal), sa.id);
    return { ok: true, keys: keys.map(apiKeyView) };
  }

  /** Effective on the next request on every gateway: AuthService reads key state per request. */
  async revokeApiKey(cmd: RegistryCommand & { serviceAccountId: string; keyId: string }): Promise<Body> {
    const sa = await this.serviceAccount(cmd, 'self');
    const key = isUuid(cmd.keyId)
      ? await this.registry.revokeApiKey(tenantScopeOf(cmd.principal), sa.id, cmd.keyId)
      : null;
    if (!key) throw new NotFoundError('api_key_not_found', `api key ${cmd.keyId} not found`);
    await this.record(cmd, sa.orgId, 'api_key.revoke', 'api_key', key.id, { service_account_id: sa.id });
    return { ok: true, key: apiKeyView(key) };
  }

  // ---- Agents (the AXP view of service accounts) ----

  async listAgents(cmd: RegistryCommand & { query: unknown }): Promise<Body> {
    const list = await this.listAccounts(cmd);
    return { ok: true, agents: list.map(agentView) };
  }

  async getAgent(cmd: RegistryCommand & { address: string }): Promise<Body> {
    const address = agentAddressOrThrow(cmd.address);
    const sa = await this.registry.findServiceAccountByAddress(
      tenantScopeOf(cmd.principal),
      address.canonical,
    );
    if (!sa) throw new NotFoundError('agent_not_found', `agent ${address.canonical} not found`);
    return { ok: true, agent: agentView(sa) };
  }

  // ---- helpers ----

  private async listAccounts(cmd: RegistryCommand & { query: unknown }): Promise<ServiceAccountRecord[]> {
    const query = parseOrThrow(listQuerySchema, cmd.query ?? {}, 'query');
    const scope = tenantScopeOf(cmd.principal);
    let orgId: string | undefined;
    let workspaceId: string | undefined;
    if (query.org_id) {
      const org = await this.registry.findOrganization(scope, query.org_id);
      if (!org) return [];
      orgId = org.id;
      if (query.workspace_id) {
        const ws = await this.registry.findWorkspace(scope, org.id, query.workspace_id);
        if (!ws) return [];
        workspaceId = ws.id;
      }
    } else if (query.workspace_id) {
      const ws = await this.registry.findWorkspace(scope, cmd.principal.orgId, query.workspace_id);
      if (!ws) return [];
      workspaceId = ws.id;
    }
    return this.registry.listServiceAccounts(scope, {
      limit: query.limit,
      ...(orgId ? { orgId } : {}),
      ...(workspaceId ? { workspaceId } : {}),
    });
  }

  /** An org the caller can see (its own, any for a platform admin), by id or slug; else 404. */
  private async org(cmd: RegistryCommand & { orgId: string }): Promise<OrganizationRecord> {
    const org = await this.registry.findOrganization(tenantScopeOf(cmd.principal), cmd.orgId);
    if (!org) throw new NotFoundError('organization_not_found', `organization ${cmd.orgId} not found`);
    return org;
  }

  private async ownOrg(cmd: RegistryCommand): Promise<OrganizationRecord> {
    return this.org({ ...cmd, orgId: cmd.principal.orgId });
  }

  private async workspace(org: OrganizationRecord, key: string): Promise<WorkspaceRecord> {
    const ws = await this.registry.findWorkspace(orgScope(org.id), org.id, key);
    if (!ws) throw new NotFoundError('workspace_not_found', `workspace ${key} not found in ${org.slug}`);
    return ws;
  }

  private async member(org: OrganizationRecord, id: string): Promise<MemberRecord> {
    const member = isUuid(id) ? await this.registry.findMember(orgScope(org.id), id) : null;
    if (!member) throw new NotFoundError('member_not_found', `member ${id} not found`);
    return member;
  }

  /**
   * A service account the caller may see, else 404. `self` also lets the account itself in (its own
   * keys); `admin` needs the admin role in the account's org.
   */
  private async serviceAccount(
    cmd: RegistryCommand & { serviceAccountId: string },
    access: 'read' | 'self' | 'admin',
  ): Promise<ServiceAccountRecord> {
    const sa = isUuid(cmd.serviceAccountId)
      ? await this.registry.findServiceAccount(tenantScopeOf(cmd.principal), cmd.serviceAccountId)
      : null;
    if (!sa)
      throw new NotFoundError(
        'service_account_not_found',
        `service account ${cmd.serviceAccountId} not found`,
      );
    if (access === 'admin' || (access === 'self' && sa.id !== cmd.principal.actorId))
      requireRole(cmd.principal, 'admin');
    return sa;
  }

  private async record(
    cmd: RegistryCommand,
    orgId: string,
    action: string,
    targetType: string,
    targetId: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.audit.record({
      orgId,
      actorType: cmd.principal.kind,
      actorId: cmd.principal.actorId,
      action,
      targetType,
      targetId,
      outcome: 'success',
      requestId: cmd.requestId,
      details,
    });
  }
}

function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('hex')}`;
}

function fieldError(
  path: string,
  message: string,
  type: string,
  where: 'body' | 'path' = 'body',
): ValidationFailedError {
  return new ValidationFailedError(
    [{ path, loc: [where, path], message, type }],
    type === 'invalid_agent_address' ? 'invalid_agent_address' : 'validation_error',
  );
}
