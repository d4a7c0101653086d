// The hot queries in plain SQL (libs/data/src/raw-sql.ts) against real PostgreSQL: each answers
// exactly what the Prisma query it replaced answers, for rows with every column filled and with
// every nullable column empty, and keeps that query's tenant and validity filters.
import {
  IntentRepository,
  orgScope,
  platformScope,
  PolicyRepository,
  PrismaService,
  RegistryRepository,
} from '@axle/data';
import { createTestOrg, registerTestAgent, requireEnv, type TestOrg } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const intents = new IntentRepository(prisma);
const registry = new RegistryRepository(prisma);
const policies = new PolicyRepository(prisma);

const newOrg = () => createTestOrg(prisma, 'raw');

async function newIntent(org: TestOrg) {
  const to = `agent://${org.slug}/default/worker`;
  const { intent } = await intents.createSubmitted(
    org.scope,
    {
      id: randomUUID(),
      workspaceId: org.workspaceId,
      intentType: 'ops.deploy.v1',
      correlationId: randomUUID(),
      fromAgent: `agent://${org.slug}/default/caller`,
      toAgent: to,
      replyTo: null,
      handler: to,
      pendingWith: null,
      payload: { service: 'api-gateway', nested: { list: [1, 'two', null], flag: true } },
      humanTask: null,
      deadlineAt: null,
      remindAfterSeconds: null,
      remindIntervalSeconds: null,
      maxReminders: null,
      escalateTo: null,
      maxDeliveryAttempts: 3,
      traceId: null,
    },
    'agent://caller',
  );
  return intent;
}

/** The read findById made before it was plain SQL. */
function prismaIntent(id: string, orgId: string | null) {
  return prisma.client.intent.findFirst({
    where: { AND: [{ id }, orgId ? { OR: [{ orgId }, { handlerOrgId: orgId }] } : {}] },
  });
}

describe('hot queries in plain SQL (real PostgreSQL)', () => {
  before(() => prisma.ping());
  after(() => prisma.onModuleDestroy());

  test('an intent with its nullable columns empty reads as Prisma reads it', async () => {
    const org = await newOrg();
    const intent = await newIntent(org);
    assert.deepEqual(await intents.findById(org.scope, intent.id), await prismaIntent(intent.id, org.id));
  });

  test('an intent with every column filled reads as Prisma reads it, for its org, the handler org and the platform', async () => {
    const org = await newOrg();
    const handlerOrg = await newOrg();
    const intent = await newIntent(org);
    await prisma.client.intent.update({
      where: { id: intent.id },
      data: {
        replyTo: 'agent://x/default/reply',
        status: 'WAITING',
        waitingReason: 'WAITING_FOR_HUMAN',
        handlerOrgId: handlerOrg.id,
        pendingWith: { type: 'human', ref: 'ops@example.com', name: 'Ops' },
        humanTask: { title: 'Approve', options: ['yes', 'no'] },
        result: { ok: 1.5 },
        error: { code: 'x', message: 'é ✓ unicode' },
        deadlineAt: new Date('2027-01-02T03:04:05.678Z'),
        remindAfterSeconds: 60,
        remindIntervalSeconds: 120,
        maxReminders: 4,
        escalateTo: 'agent://x/default/boss',
        deliveryAttempt: 2,
        remindCount: 1,
        policyGeneration: 7,
        controls: { max_retries: 2 },
        grants: { resume: { allow: ['agent://x/default/a'] } },
        envelope: { trace: 'abc' },
        workflowStartedAt: new Date('2026-01-01T00:00:00.001Z'),
        traceId: '0af7651916cd43dd8448eb211c80319c',
        policyDecision: { decision: 'escalate', rule: 'r1', approver: null },
        scenarioId: 'scn-1',
        workflowPlan: { steps: [{ id: 's1' }] },
        currentStep: 's1',
        completedAt: new Date('2026-06-01T12:00:00.000Z'),
      },
    });
    const expected = await prismaIntent(intent.id, org.id);
    assert.equal(expected?.handlerOrgId, handlerOrg.id);
    assert.deepEqual(await intents.findById(org.scope, intent.id), expected);
    assert.deepEqual(await intents.findById(handlerOrg.scope, intent.id), expected);
    assert.deepEqual(await intents.findById(platformScope(), intent.id), expected);
  });

  test('an intent of another org, or a missing one, is null', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const intent = await newIntent(org);
    assert.equal(await intents.findById(other.scope, intent.id), null);
    assert.equal(await intents.findById(org.scope, randomUUID()), null);
    assert.equal(await intents.findById(platformScope(), randomUUID()), null);
  });

  test('a credential carries its agent, signing settings, org and only its usable keys', async () => {
    const org = await newOrg();
    const sa = await registry.createServiceAccount(org.scope, {
      workspaceId: org.workspaceId,
      name: 'signer',
      address: `agent://${org.slug}/default/signer`,
      displayName: 'Signer',
      deliveryMode: 'http',
      callbackUrl: 'http://127.0.0.1:9/cb',
      role: 'admin',
      description: null,
      createdBy: 'test',
    });
    assert.ok(sa);
    await prisma.client.serviceAccount.update({
      where: { id: sa.id },
      data: {
        signingPublicKey: 'cHVibGlj',
        signingKeyId: `kid-${sa.id}`,
        requireSignature: true,
        rateLimitPerMinute: 90,
      },
    });
    const key = (name: string, expiresAt: Date | null) =>
      registry.createApiKey(org.scope, sa.id, {
        secretHash: `hash-${name}`,
        hint: name,
        name,
        expiresAt,
        createdBy: 't',
      });
    const live = await key('live', null);
    const notYetExpired = await key('later', new Date(Date.now() + 3_600_000));
    await key('expired', new Date(Date.now() - 1_000));
    const revoked = await key('revoked', null);
    assert.ok(live && notYetExpired && revoked);
    await registry.revokeApiKey(org.scope, sa.id, revoked.id);

    const credential = await registry.findCredential(sa.id);
    assert.deepEqual(credential, {
      agent: {
        id: sa.id,
        orgId: org.id,
        workspaceId: org.workspaceId,
        name: 'signer',
        address: `agent://${org.slug}/default/signer`,
        displayName: 'Signer',
        deliveryMode: 'http',
        callbackUrl: 'http://127.0.0.1:9/cb',
        platformAdmin: false,
        role: 'admin',
        status: 'active',
        rateLimitPerMinute: 90,
      },
      org: { id: org.id, slug: org.slug },
      signing: {
        agentId: sa.id,
        orgId: org.id,
        address: `agent://${org.slug}/default/signer`,
        publicKey: 'cHVibGlj',
        keyId: `kid-${sa.id}`,
        requireSignature: true,
      },
      keys: [live, notYetExpired].map((k) => ({
        id: k.id,
        orgId: org.id,
        serviceAccountId: sa.id,
        secretHash: `hash-${k.name}`,
        revokedAt: null,
      })),
    });
  });

  test('a credential without keys has none; a suspended org or an unknown account has no credential', async () => {
    const org = await newOrg();
    const sa = await registry.createServiceAccount(org.scope, {
      workspaceId: org.workspaceId,
      name: 'bare',
      address: `agent://${org.slug}/default/bare`,
      role: 'member',
      description: null,
      createdBy: 'test',
    });
    assert.ok(sa);
    const credential = await registry.findCredential(sa.id);
    assert.deepEqual(credential?.keys, []);
    assert.equal(credential?.signing.publicKey, null);
    assert.equal(credential?.agent.displayName, null);

    await registry.updateOrganization(platformScope(), org.id, { status: 'suspended' });
    assert.equal(await registry.findCredential(sa.id), null);
    assert.equal(await registry.findCredential(randomUUID()), null);
  });

  test('recipient policies read as the Prisma queries they replaced read them', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const target = await registerTestAgent(prisma, { org: org.slug, name: 'target' });
    const add = (kind: 'org_receive' | 'agent_receive' | 'agent_send', owner: string, pattern: string) =>
      policies.addEntry(
        orgScope(org.id),
        {
          kind,
          owner,
          pattern,
          decision: kind === 'agent_send' ? 'deny' : 'escalate',
          approver: kind === 'agent_receive' ? target.address : null,
          createdBy: 'test',
        },
        10,
      );
    await add('org_receive', org.id, 'agent://b-*/*');
    await add('org_receive', org.id, '*');
    await add('agent_receive', target.address, 'agent://c/*');
    await add('agent_send', target.address, 'agent://d/*');
    await add('agent_send', `agent://${org.slug}/default/someone-else`, 'agent://e/*');
    await policies.addEntry(
      orgScope(other.id),
      {
        kind: 'org_receive',
        owner: other.id,
        pattern: '*',
        decision: 'allow',
        approver: null,
        createdBy: null,
      },
      10,
    );
    await policies.setOrgReceivePolicy(orgScope(org.id), 'allowlist');

    // What recipientPolicies read before it was plain SQL: the org, the agent, the entries.
    const [prismaOrg, prismaAgent, prismaRows] = await Promise.all([
      prisma.client.organization.findUnique({
        where: { id: org.id },
        select: { id: true, slug: true, receivePolicy: true },
      }),
      prisma.client.serviceAccount.findFirst({
        where: { address: target.address, orgId: org.id },
        select: { id: true, orgId: true, address: true, sendPolicy: true, receiveOverride: true },
      }),
      prisma.client.policyEntry.findMany({
        where: {
          orgId: org.id,
          OR: [
            { kind: 'org_receive', owner: org.id },
            { kind: { in: ['agent_receive', 'agent_send'] }, owner: target.address },
          ],
        },
        orderBy: [{ position: 'asc' }, { createdAt: 'asc' }],
      }),
    ]);
    const read = await policies.recipientPolicies(org.slug, target.address);
    assert.deepEqual(read, {
      org: prismaOrg,
      agent: prismaAgent,
      entries: {
        org_receive: prismaRows.filter((r) => r.kind === 'org_receive'),
        agent_receive: prismaRows.filter((r) => r.kind === 'agent_receive'),
        agent_send: prismaRows.filter((r) => r.kind === 'agent_send'),
      },
    });
    assert.deepEqual(
      read?.entries.org_receive.map((e) => e.pattern),
      ['agent://b-*/*', '*'],
    );

    const unregistered = await policies.recipientPolicies(org.slug, `agent://${org.slug}/default/ghost`);
    assert.equal(unregistered?.agent, null);
    assert.deepEqual(unregistered?.entries.agent_send, []);
    assert.equal(unregistered?.entries.org_receive.length, 2);
    assert.equal(
      await policies.recipientPolicies(`nobody-${randomUUID().slice(0, 8)}`, target.address),
      null,
    );
  });

  test('marking a workflow started sets it once, in the org of the intent only', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const intent = await newIntent(org);
    assert.equal(intent.workflowStartedAt, null);
    await intents.markWorkflowStarted(other.scope, intent.id);
    assert.equal((await intents.findById(org.scope, intent.id))?.workflowStartedAt, null);
    await intents.markWorkflowStarted(org.scope, intent.id);
    const first = (await intents.findById(org.scope, intent.id))?.workflowStartedAt;
    assert.ok(first instanceof Date);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await intents.markWorkflowStarted(org.scope, intent.id);
    assert.deepEqual((await intents.findById(org.scope, intent.id))?.workflowStartedAt, first);
  });
});
