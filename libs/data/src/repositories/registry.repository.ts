import { isUuid, parseAgentAddress } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { createUnlessDuplicate, guarded } from '../errors';
import { type SigningKeyRecord } from './signing-key.repository';
import { PrismaService } from '../prisma.service';
import { preparedRows, selectList } from '../raw-sql';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

export type AgentRecord = {
  id: string;
  orgId: string;
  workspaceId: string;
  name: string;
  address: string;
  displayName: string | null;
  deliveryMode: string;
  callbackUrl: string | null;
  platformAdmin: boolean;
  role: string;
  status: string;
  /** Per-agent request budget per minute; null means the configured default. */
  rateLimitPerMinute: number | null;
};

export type NewAgent = {
  workspaceId: string;
  name: string;
  address: string;
  displayName?: string | null;
  deliveryMode?: string;
  callbackUrl?: string | null;
  webhookSecret?: string | null;
  role?: string;
};

export type ApiKeyRecord = {
  id: string;
  orgId: string;
  serviceAccountId: string;
  secretHash: string;
  revokedAt: Date | null;
};

export type OrgRecord = { id: string; slug: string };

/** What findCredential reads: the agent, its signing settings, its org and its usable keys. */
type CredentialRow = AgentRecord &
  Pick<SigningKeyRecord, 'requireSignature'> & {
    signingPublicKey: string | null;
    signingKeyId: string | null;
    orgSlug: string;
    orgStatus: string;
    keys: { id: string; orgId: string; secretHash: string }[];
  };

const CREDENTIAL_SELECT = selectList<Omit<CredentialRow, 'orgSlug' | 'orgStatus' | 'keys'>>('sa', {
  id: 'id',
  orgId: 'org_id',
  workspaceId: 'workspace_id',
  name: 'name',
  address: 'address',
  displayName: 'display_name',
  deliveryMode: 'delivery_mode',
  callbackUrl: 'callback_url',
  platformAdmin: 'platform_admin',
  role: 'role',
  status: 'status',
  rateLimitPerMinute: 'rate_limit_per_minute',
  signingPublicKey: 'signing_public_key',
  signingKeyId: 'signing_key_id',
  requireSignature: 'require_signature',
});

export type OrganizationRecord = OrgRecord & {
  name: string;
  status: string;
  receivePolicy: string;
  createdAt: Date;
  updatedAt: Date;
};

export type WorkspaceRecord = { id: string; orgId: string; slug: string; name: string; createdAt: Date };

export type MemberRecord = {
  id: string;
  orgId: string;
  email: string;
  displayName: string | null;
  role: string;
  address: string | null;
  status: string;
  createdAt: Date;
  updatedAt: Date;
};

export type ServiceAccountRecord = AgentRecord & {
  description: string | null;
  createdAt: Date;
  updatedAt: Date;
  rateLimitPerMinute: number | null;
  hasWebhookSecret: boolean;
};

export type ServiceAccountPatch = {
  displayName?: string | null;
  description?: string | null;
  deliveryMode?: string;
  callbackUrl?: string | null;
  role?: string;
  status?: string;
  rateLimitPerMinute?: number | null;
};

export type ApiKeyView = {
  id: string;
  serviceAccountId: string;
  name: string;
  hint: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
};

const KEY_VIEW = {
  id: true,
  serviceAccountId: true,
  name: true,
  hint: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
  lastUsedAt: true,
} as const;

/** Finds a row by uuid id or by slug: the API accepts both for orgs and workspaces. */
/**
 * PostgreSQL text cannot hold a NUL character: a query with one fails (22021, a 500) instead of
 * matching nothing. Such a key names no row. (Found by the chaos fuzz: GET /v1/organizations/%00.)
 */
function storable(value: string): boolean {
  return !value.includes('\u0000');
}

function idOrSlug(value: string): { id: string } | { slug: string } {
  return isUuid(value) ? { id: value.toLowerCase() } : { slug: value };
}

/**
 * The org filter for the organizations table itself, whose key is `id` rather than `orgId`. Combine
 * it with AND, never by spreading: a spread would let it replace the `id` the caller asked for.
 */
function orgIdFilter(scope: TenantScope): { id?: string } {
  return scope.kind === 'org' ? { id: scope.orgId } : {};
}

/** Organizations, workspaces, service accounts (agents) and their API keys. */
@Injectable()
export class RegistryRepository {
  constructor(private readonly prisma: PrismaService) {}

  async countOrganizations(): Promise<number> {
    return guarded(() => this.prisma.client.organization.count());
  }

  /**
   * Creates org, workspace, admin service account and its key in one transaction (first boot).
   * Returns false when another process bootstrapped first.
   */
  async bootstrap(input: {
    orgSlug: string;
    workspaceSlug: string;
    agentId: string;
    agentName: string;
    address: string;
    secretHash: string;
    hint: string;
  }): Promise<boolean> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        // Serializes concurrent first boots of several gateways.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(727374)`;
        if ((await tx.organization.count()) > 0) return false;
        const org = await tx.organization.create({ data: { slug: input.orgSlug, name: input.orgSlug } });
        const ws = await tx.workspace.create({
          data: { orgId: org.id, slug: input.workspaceSlug, name: input.workspaceSlug },
        });
        await tx.serviceAccount.create({
          data: {
            id: input.agentId,
            orgId: org.id,
            workspaceId: ws.id,
            name: input.agentName,
            address: input.address,
            displayName: 'Platform admin',
            deliveryMode: 'internal',
            platformAdmin: true,
          },
        });
        await tx.apiKey.create({
          data: {
            orgId: org.id,
            serviceAccountId: input.agentId,
            name: 'bootstrap',
            secretHash: input.secretHash,
            hint: input.hint,
          },
        });
        return true;
      }),
    );
  }

  async createOrganization(input: {
    slug: string;
    name?: string;
    workspaceSlug?: string;
  }): Promise<{ org: OrgRecord; workspaceId: string }> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const org = await tx.organization.create({
          data: { slug: input.slug, name: input.name ?? input.slug },
        });
        const slug = input.workspaceSlug ?? 'default';
        const ws = await tx.workspace.create({ data: { orgId: org.id, slug, name: slug } });
        return { org: { id: org.id, slug: org.slug }, workspaceId: ws.id };
      }),
    );
  }

  /**
   * Pre-tenant lookup used only to authenticate a key: the key names its service account. Every
   * request with a key makes it, so it is one plain SQL query (raw-sql.ts), not three Prisma ones.
   */
  async findCredential(
    serviceAccountId: string,
  ): Promise<{ agent: AgentRecord; org: OrgRecord; keys: ApiKeyRecord[]; signing: SigningKeyRecord } | null> {
    const [row] = await preparedRows<CredentialRow>(
      this.prisma.pool,
      'credential_by_service_account',
      `SELECT ${CREDENTIAL_SELECT}, o.slug AS "orgSlug", o.status AS "orgStatus",
         COALESCE((SELECT json_agg(json_build_object('id', k.id, 'orgId', k.org_id, 'secretHash', k.secret_hash) ORDER BY k.created_at)
                     FROM api_keys k
                    WHERE k.service_account_id = sa.id AND k.revoked_at IS NULL
                      AND (k.expires_at IS NULL OR k.expires_at > $2)), '[]') AS "keys"
         FROM service_accounts sa JOIN organizations o ON o.id = sa.org_id
        WHERE sa.id = $1`,
      [serviceAccountId, new Date()],
    );
    if (!row || row.orgStatus !== 'active') return null;
    const { orgSlug, keys, signingPublicKey, signingKeyId, requireSignature, ...agent } = row;
    return {
      agent: toAgent(agent),
      org: { id: agent.orgId, slug: orgSlug },
      // Read with the credential so that verifying X-Axle-Signature needs no query of its own.
      signing: {
        agentId: agent.id,
        orgId: agent.orgId,
        address: agent.address,
        publicKey: signingPublicKey,
        keyId: signingKeyId,
        requireSignature,
      },
      keys: keys.map((k) => ({
        id: k.id,
        orgId: k.orgId,
        serviceAccountId: agent.id,
        secretHash: k.secretHash,
        revokedAt: null,
      })),
    };
  }

  /** Pre-tenant lookup for a verified user token: its org, default workspace and member row. */
  async findUserContext(
    orgSlug: string,
    email: string | null,
  ): Promise<{
    org: OrgRecord;
    defaultWorkspaceId: string;
    member: { id: string; role: string; address: string | null; status: string } | null;
  } | null> {
    return guarded(async () => {
      const org = await this.prisma.client.organization.findUnique({
        where: { slug: orgSlug },
        include: { workspaces: { where: { slug: 'default' }, select: { id: true } } },
      });
      const workspace = org?.workspaces[0];
      if (!org || org.status !== 'active' || !workspace) return null;
      const member = email
        ? await this.prisma.client.orgMember.findUnique({
            where: { orgId_email: { orgId: org.id, email: email.toLowerCase() } },
            select: { id: true, role: true, address: true, status: true },
          })
        : null;
      return { org: { id: org.id, slug: org.slug }, defaultWorkspaceId: workspace.id, member };
    });
  }

  async findOrgBySlug(slug: string): Promise<OrgRecord | null> {
    return guarded(() =>
      this.prisma.client.organization.findUnique({ where: { slug }, select: { id: true, slug: true } }),
    );
  }

  /** Registers a service account (an agent) with its first API key (only the key's hash is stored). */
  async registerAgent(
    scope: OrgScope,
    agent: NewAgent,
    key: { secretHash: string; hint: string; name?: string; agentId?: string },
  ): Promise<AgentRecord> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const sa = await tx.serviceAccount.create({
          data: {
            ...(key.agentId ? { id: key.agentId } : {}),
            orgId: scope.orgId,
            workspaceId: agent.workspaceId,
            name: agent.name,
            address: agent.address,
            displayName: agent.displayName ?? null,
            deliveryMode: agent.deliveryMode ?? 'stream',
            callbackUrl: agent.callbackUrl ?? null,
            webhookSecret: agent.webhookSecret ?? null,
            role: agent.role ?? 'member',
          },
        });
        await tx.apiKey.create({
          data: {
            orgId: scope.orgId,
            serviceAccountId: sa.id,
            name: key.name ?? 'default',
            secretHash: key.secretHash,
            hint: key.hint,
          },
        });
        return toAgent(sa);
      }),
    );
  }

  /** The HMAC secret used to sign http deliveries to this agent; never leaves the worker. */
  async findWebhookSecret(scope: TenantScope, address: string): Promise<string | null> {
    return guarded(async () => {
      const sa = await this.prisma.client.serviceAccount.findFirst({
        where: { address, ...orgFilter(scope) },
        select: { webhookSecret: true },
      });
      return sa?.webhookSecret ?? null;
    });
  }

  async findAgentByAddress(scope: TenantScope, address: string): Promise<AgentRecord | null> {
    return guarded(async () => {
      const sa = await this.prisma.client.serviceAccount.findFirst({
        where: { address, ...orgFilter(scope) },
      });
      return sa ? toAgent(sa) : null;
    });
  }

  /**
   * How the agent at `address` takes its deliveries, or null when none is registered there. Scoped to
   * the org the address names, which is the recipient's whether the sender is in it or not (an
   * allowed cross-org send). Every create reads it (the gateway's direct delivery): one plain query.
   */
  async findDeliveryBinding(
    address: string,
  ): Promise<{ deliveryMode: string; callbackUrl: string | null } | null> {
    const orgSlug = parseAgentAddress(address)?.org;
    if (!orgSlug) return null;
    const [row] = await preparedRows<{ deliveryMode: string; callbackUrl: string | null }>(
      this.prisma.pool,
      'delivery_binding_by_address',
      `SELECT sa.delivery_mode AS "deliveryMode", sa.callback_url AS "callbackUrl"
         FROM service_accounts sa JOIN organizations o ON o.id = sa.org_id
        WHERE sa.address = $1 AND o.slug = $2`,
      [address, orgSlug],
    );
    return row ?? null;
  }

  // ---- Management (registry API). Every method is confined to the scope. ----

  async listOrganizations(scope: TenantScope, limit: number): Promise<OrganizationRecord[]> {
    return guarded(() =>
      this.prisma.client.organization.findMany({
        where: orgIdFilter(scope),
        orderBy: { createdAt: 'asc' },
        take: limit,
      }),
    );
  }

  async findOrganization(scope: TenantScope, key: string): Promise<OrganizationRecord | null> {
    if (!storable(key)) return null;
    return guarded(() =>
      this.prisma.client.organization.findFirst({ where: { AND: [idOrSlug(key), orgIdFilter(scope)] } }),
    );
  }

  async updateOrganization(
    scope: TenantScope,
    id: string,
    patch: { name?: string; status?: string },
  ): Promise<OrganizationRecord | null> {
    return guarded(async () => {
      const { count } = await this.prisma.client.organization.updateMany({
        where: { AND: [{ id }, orgIdFilter(scope)] },
        data: patch,
      });
      return count ? this.prisma.client.organization.findUnique({ where: { id } }) : null;
    });
  }

  async listWorkspaces(scope: TenantScope, orgId: string): Promise<WorkspaceRecord[]> {
    return guarded(() =>
      this.prisma.client.workspace.findMany({
        where: { AND: [{ orgId }, orgFilter(scope)] },
        orderBy: { createdAt: 'asc' },
      }),
    );
  }

  async findWorkspace(scope: TenantScope, orgId: string, key: string): Promise<WorkspaceRecord | null> {
    if (!storable(key)) return null;
    return guarded(() =>
      this.prisma.client.workspace.findFirst({
        where: { AND: [{ orgId }, idOrSlug(key), orgFilter(scope)] },
      }),
    );
  }

  /** Null when the org has a workspace with that slug already. */
  async createWorkspace(
    scope: OrgScope,
    input: { slug: string; name: string },
  ): Promise<WorkspaceRecord | null> {
    return createUnlessDuplicate(() =>
      this.prisma.client.workspace.create({ data: { orgId: scope.orgId, ...input } }),
    );
  }

  async listMembers(scope: OrgScope): Promise<MemberRecord[]> {
    return guarded(() =>
      this.prisma.client.orgMember.findMany({ where: { orgId: scope.orgId }, orderBy: { createdAt: 'asc' } }),
    );
  }

  async findMember(scope: OrgScope, id: string): Promise<MemberRecord | null> {
    return guarded(() => this.prisma.client.orgMember.findFirst({ where: { id, orgId: scope.orgId } }));
  }

  async createMember(
    scope: OrgScope,
    input: { email: string; role: string; displayName: string | null; address: string | null },
  ): Promise<MemberRecord | null> {
    // Null when the (org, email) unique key says that person is a member already.
    return createUnlessDuplicate(() =>
      this.prisma.client.orgMember.create({ data: { orgId: scope.orgId, ...input } }),
    );
  }

  async updateMember(
    scope: OrgScope,
    id: string,
    patch: { role?: string; status?: string; displayName?: string },
  ): Promise<MemberRecord | null> {
    return guarded(async () => {
      const { count } = await this.prisma.client.orgMember.updateMany({
        where: { id, orgId: scope.orgId },
        data: patch,
      });
      return count ? this.prisma.client.orgMember.findUnique({ where: { id } }) : null;
    });
  }

  async deleteMember(scope: OrgScope, id: string): Promise<boolean> {
    return guarded(
      async () =>
        (await this.prisma.client.orgMember.deleteMany({ where: { id, orgId: scope.orgId } })).count > 0,
    );
  }

  /** A service account without keys yet (keys are created separately and shown once). */
  async createServiceAccount(
    scope: OrgScope,
    agent: NewAgent & { role: string; description: string | null; createdBy: string },
  ): Promise<ServiceAccountRecord | null> {
    // Null when the address (or the name in its workspace) is taken.
    const row = await createUnlessDuplicate(() =>
      this.prisma.client.serviceAccount.create({
        data: {
          orgId: scope.orgId,
          workspaceId: agent.workspaceId,
          name: agent.name,
          address: agent.address,
          displayName: agent.displayName ?? null,
          description: agent.description,
          deliveryMode: agent.deliveryMode ?? 'stream',
          callbackUrl: agent.callbackUrl ?? null,
          webhookSecret: agent.webhookSecret ?? null,
          role: agent.role,
          createdBy: agent.createdBy,
        },
      }),
    );
    return row ? toServiceAccount(row) : null;
  }

  async listServiceAccounts(
    scope: TenantScope,
    filter: { orgId?: string; workspaceId?: string; limit: number },
  ): Promise<ServiceAccountRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.serviceAccount.findMany({
        where: {
          AND: [
            { status: { not: 'deleted' } },
            filter.orgId ? { orgId: filter.orgId } : {},
            filter.workspaceId ? { workspaceId: filter.workspaceId } : {},
            orgFilter(scope),
          ],
        },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: filter.limit,
      });
      return rows.map(toServiceAccount);
    });
  }

  async findServiceAccount(scope: TenantScope, id: string): Promise<ServiceAccountRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.serviceAccount.findFirst({
        where: { id, status: { not: 'deleted' }, ...orgFilter(scope) },
      });
      return row ? toServiceAccount(row) : null;
    });
  }

  async findServiceAccountByAddress(
    scope: TenantScope,
    address: string,
  ): Promise<ServiceAccountRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.serviceAccount.findFirst({
        where: { address, status: { not: 'deleted' }, ...orgFilter(scope) },
      });
      return row ? toServiceAccount(row) : null;
    });
  }

  async updateServiceAccount(
    scope: TenantScope,
    id: string,
    patch: ServiceAccountPatch & { webhookSecret?: string | null },
  ): Promise<ServiceAccountRecord | null> {
    return guarded(async () => {
      const { count } = await this.prisma.client.serviceAccount.updateMany({
        where: { id, status: { not: 'deleted' }, ...orgFilter(scope) },
        data: patch,
      });
      return count ? this.findServiceAccount(scope, id) : null;
    });
  }

  /** Marks the account deleted and revokes its keys; its address stays reserved (intents name it). */
  async deleteServiceAccount(scope: TenantScope, id: string): Promise<boolean> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const { count } = await tx.serviceAccount.updateMany({
          where: { id, status: { not: 'deleted' }, platformAdmin: false, ...orgFilter(scope) },
          data: { status: 'deleted' },
        });
        if (count)
          await tx.apiKey.updateMany({
            where: { serviceAccountId: id, revokedAt: null },
            data: { revokedAt: new Date() },
          });
        return count > 0;
      }),
    );
  }

  async createApiKey(
    scope: TenantScope,
    serviceAccountId: string,
    key: { secretHash: string; hint: string; name: string; expiresAt: Date | null; createdBy: string },
  ): Promise<ApiKeyView | null> {
    return guarded(async () => {
      const sa = await this.prisma.client.serviceAccount.findFirst({
        where: { id: serviceAccountId, status: { not: 'deleted' }, ...orgFilter(scope) },
        select: { orgId: true },
      });
      if (!sa) return null;
      return this.prisma.client.apiKey.create({
        data: { orgId: sa.orgId, serviceAccountId, ...key },
        select: KEY_VIEW,
      });
    });
  }

  async listApiKeys(scope: TenantScope, serviceAccountId: string): Promise<ApiKeyView[]> {
    return guarded(() =>
      this.prisma.client.apiKey.findMany({
        where: { serviceAccountId, ...orgFilter(scope) },
        orderBy: { createdAt: 'asc' },
        select: KEY_VIEW,
      }),
    );
  }

  /** Revokes a key (idempotent: revoking again keeps the first time). Null when there is no such key. */
  async revokeApiKey(
    scope: TenantScope,
    serviceAccountId: string,
    keyId: string,
  ): Promise<ApiKeyView | null> {
    return guarded(async () => {
      const where = { id: keyId, serviceAccountId, ...orgFilter(scope) };
      await this.prisma.client.apiKey.updateMany({
        where: { ...where, revokedAt: null },
        data: { revokedAt: new Date() },
      });
      return this.prisma.client.apiKey.findFirst({ where, select: KEY_VIEW });
    });
  }
}

/** Copies only the agent fields out of a service-account row (which has more). */
function toAgent(sa: AgentRecord): AgentRecord {
  return {
    id: sa.id,
    orgId: sa.orgId,
    workspaceId: sa.workspaceId,
    name: sa.name,
    address: sa.address,
    displayName: sa.displayName,
    deliveryMode: sa.deliveryMode,
    callbackUrl: sa.callbackUrl,
    platformAdmin: sa.platformAdmin,
    role: sa.role,
    status: sa.status,
    rateLimitPerMinute: sa.rateLimitPerMinute,
  };
}

function toServiceAccount(
  sa: AgentRecord & {
    description: string | null;
    createdAt: Date;
    updatedAt: Date;
    rateLimitPerMinute: number | null;
    webhookSecret: string | null;
  },
): ServiceAccountRecord {
  return {
    ...toAgent(sa),
    description: sa.description,
    createdAt: sa.createdAt,
    updatedAt: sa.updatedAt,
    rateLimitPerMinute: sa.rateLimitPerMinute,
    hasWebhookSecret: sa.webhookSecret !== null,
  };
}
