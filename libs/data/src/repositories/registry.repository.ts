import { Injectable } from '@nestjs/common';
import { guarded } from '../errors';
import { PrismaService } from '../prisma.service';
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
};

export type ApiKeyRecord = {
  id: string;
  orgId: string;
  serviceAccountId: string;
  secretHash: string;
  revokedAt: Date | null;
};

export type OrgRecord = { id: string; slug: string };

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

  /** Pre-tenant lookup used only to authenticate a key: the key names its service account. */
  async findCredential(
    serviceAccountId: string,
  ): Promise<{ agent: AgentRecord; org: OrgRecord; keys: ApiKeyRecord[] } | null> {
    return guarded(async () => {
      const now = new Date();
      const sa = await this.prisma.client.serviceAccount.findUnique({
        where: { id: serviceAccountId },
        include: {
          apiKeys: { where: { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] } },
          org: { select: { id: true, slug: true, status: true } },
        },
      });
      if (!sa || sa.org.status !== 'active') return null;
      const { apiKeys, org, ...agent } = sa;
      return {
        agent: toAgent(agent),
        org: { id: org.id, slug: org.slug },
        keys: apiKeys.map((k) => ({
          id: k.id,
          orgId: k.orgId,
          serviceAccountId: k.serviceAccountId,
          secretHash: k.secretHash,
          revokedAt: k.revokedAt,
        })),
      };
    });
  }

  /** Pre-tenant lookup for a verified user token: its org, default workspace and member row. */
  async findUserContext(
    orgSlug: string,
    email: string | null,
  ): Promise<{
    org: OrgRecord;
    defaultWorkspaceId: string;
    member: { role: string; address: string | null; status: string } | null;
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
            select: { role: true, address: true, status: true },
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
