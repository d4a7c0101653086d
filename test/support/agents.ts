import { BootstrapService, generateApiKey, hashSecret } from '@axle/auth';
import { type OrgScope, type PrismaService, orgScope, RegistryRepository } from '@axle/data';
import { randomUUID } from 'node:crypto';
import { TEST_ADMIN_KEY } from './env';

export type TestAgent = { key: string; address: string; id: string };

export type TestOrg = { id: string; slug: string; scope: OrgScope; workspaceId: string };

/**
 * The platform admin every test gateway bootstraps with. A gateway bootstraps only an empty
 * database, so a spec that creates organizations before any gateway has started (a repository
 * spec run alone, or first) creates the admin first, as that gateway would have.
 */
async function ensureTestAdmin(registry: RegistryRepository): Promise<void> {
  await new BootstrapService(registry).ensureBootstrapped({ bootstrapApiKey: TEST_ADMIN_KEY, dataDir: '' });
}

/** A new organization with its default workspace, under a unique slug `<prefix>-<8 hex>`. */
export async function createTestOrg(prisma: PrismaService, prefix = 'org'): Promise<TestOrg> {
  const registry = new RegistryRepository(prisma);
  await ensureTestAdmin(registry);
  const { org, workspaceId } = await registry.createOrganization({
    slug: `${prefix}-${randomUUID().slice(0, 8)}`,
  });
  return { id: org.id, slug: org.slug, scope: orgScope(org.id), workspaceId };
}

/**
 * Registers an agent with its own key straight through the data lib (faster than the registry API,
 * which has its own tests), creating its organization when needed.
 */
export async function registerTestAgent(
  prisma: PrismaService,
  options: {
    org?: string;
    name: string;
    deliveryMode?: string;
    callbackUrl?: string | null;
    webhookSecret?: string | null;
    role?: 'admin' | 'operator' | 'member';
  },
): Promise<TestAgent> {
  const registry = new RegistryRepository(prisma);
  await ensureTestAdmin(registry);
  const orgSlug = options.org ?? 'default';
  let org = await registry.findOrgBySlug(orgSlug);
  let workspaceId: string;
  if (org) {
    workspaceId = (
      await prisma.client.workspace.findFirstOrThrow({ where: { orgId: org.id, slug: 'default' } })
    ).id;
  } else {
    const created = await registry.createOrganization({ slug: orgSlug });
    org = created.org;
    workspaceId = created.workspaceId;
  }
  const { key, serviceAccountId, secret } = generateApiKey();
  const address = `agent://${orgSlug}/default/${options.name}`;
  await registry.registerAgent(
    orgScope(org.id),
    {
      workspaceId,
      name: options.name,
      address,
      deliveryMode: options.deliveryMode ?? 'stream',
      callbackUrl: options.callbackUrl ?? null,
      webhookSecret: options.webhookSecret ?? null,
      role: options.role ?? 'member',
    },
    { secretHash: await hashSecret(secret), hint: secret.slice(-4), agentId: serviceAccountId },
  );
  return { key, address, id: serviceAccountId };
}
