// PolicyRepository against real PostgreSQL: tenant scoping of orgs, agents and entries, entry order,
// duplicates and the per-list cap under concurrent writers, and the one read a send decision makes.
import {
  IntentRepository,
  orgScope,
  platformScope,
  PolicyRepository,
  PrismaService,
  RegistryRepository,
} from '@axle/data';
import { createTestOrg, registerTestAgent, requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const policies = new PolicyRepository(prisma);
const registry = new RegistryRepository(prisma);
const intents = new IntentRepository(prisma);

const newOrg = () => createTestOrg(prisma, 'pr');

const entry = (owner: string, pattern: string, kind: 'org_receive' | 'agent_send' = 'org_receive') => ({
  kind,
  owner,
  pattern,
  decision: 'allow' as const,
  approver: null,
  createdBy: null,
});

describe('PolicyRepository (real PostgreSQL)', () => {
  before(() => prisma.ping());
  after(() => prisma.onModuleDestroy());

  test('an org is found by id or slug in its own scope and the platform scope only (RegistryRepository.findOrganization, which policies use)', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    assert.equal((await registry.findOrganization(a.scope, a.id))?.receivePolicy, 'closed');
    assert.equal((await registry.findOrganization(a.scope, a.slug))?.id, a.id);
    assert.equal(await registry.findOrganization(a.scope, b.id), null);
    assert.equal(await registry.findOrganization(a.scope, b.slug), null);
    assert.equal((await registry.findOrganization(platformScope(), b.slug))?.id, b.id);
    assert.equal(await registry.findOrganization(platformScope(), randomUUID()), null);
    await policies.setOrgReceivePolicy(a.scope, 'open');
    assert.equal((await registry.findOrganization(a.scope, a.id))?.receivePolicy, 'open');
    assert.equal((await registry.findOrganization(b.scope, b.id))?.receivePolicy, 'closed');
  });

  test('agents: scoped reads, and a write in another org changes nothing', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const agent = await registerTestAgent(prisma, { org: a.slug, name: 'bot' });
    const found = await policies.findAgent(a.scope, agent.address);
    assert.deepEqual([found?.sendPolicy, found?.receiveOverride], ['open', 'use_org_default']);
    assert.equal(await policies.findAgent(b.scope, agent.address), null);
    assert.equal(await policies.setAgentPolicy(b.scope, agent.address, { sendPolicy: 'denylist' }), null);
    const changed = await policies.setAgentPolicy(a.scope, agent.address, { receiveOverride: 'closed' });
    assert.deepEqual([changed?.sendPolicy, changed?.receiveOverride], ['open', 'closed']);
  });

  test('entries keep insertion order; duplicates are 409; delete is scoped to org and list', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const first = await policies.addEntry(a.scope, entry(a.id, 'agent://x-y/*'), 10);
    const second = await policies.addEntry(a.scope, entry(a.id, '*'), 10);
    assert.ok(second.position > first.position);
    assert.deepEqual(
      (await policies.listEntries(a.scope, 'org_receive', a.id)).map((e) => e.id),
      [first.id, second.id],
    );
    await assert.rejects(policies.addEntry(a.scope, entry(a.id, '*'), 10), { code: 'policy_entry_exists' });
    assert.deepEqual(await policies.listEntries(b.scope, 'org_receive', a.id), []);
    assert.equal(await policies.deleteEntry(b.scope, 'org_receive', a.id, first.id), false);
    assert.equal(await policies.deleteEntry(a.scope, 'agent_send', a.id, first.id), false);
    assert.equal(await policies.deleteEntry(a.scope, 'org_receive', a.id, 'not-a-uuid'), false);
    assert.equal(await policies.deleteEntry(a.scope, 'org_receive', a.id, first.id), true);
    assert.equal(await policies.deleteEntry(a.scope, 'org_receive', a.id, first.id), false);
  });

  test('the per-list cap holds under concurrent additions', async () => {
    const a = await newOrg();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => policies.addEntry(a.scope, entry(a.id, `agent://s-${i}/*`), 5)),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5);
    for (const r of results)
      if (r.status === 'rejected') assert.equal((r.reason as { code: string }).code, 'policy_entries_limit');
    assert.equal((await policies.listEntries(a.scope, 'org_receive', a.id)).length, 5);
  });

  test('recipientPolicies reads the org policy, the agent and its lists, nothing of other owners', async () => {
    const a = await newOrg();
    const target = await registerTestAgent(prisma, { org: a.slug, name: 'target' });
    const other = await registerTestAgent(prisma, { org: a.slug, name: 'other' });
    await policies.addEntry(a.scope, entry(a.id, '*'), 10);
    await policies.addEntry(a.scope, entry(target.address, 'agent://p-q/*', 'agent_send'), 10);
    await policies.addEntry(a.scope, entry(other.address, 'agent://r-s/*', 'agent_send'), 10);
    const read = await policies.recipientPolicies(a.slug, target.address);
    assert.ok(read);
    assert.equal(read.org.receivePolicy, 'closed');
    assert.equal(read.agent?.address, target.address);
    assert.deepEqual(
      read.entries.org_receive.map((e) => e.pattern),
      ['*'],
    );
    assert.deepEqual(
      read.entries.agent_send.map((e) => e.pattern),
      ['agent://p-q/*'],
    );
    assert.deepEqual(read.entries.agent_receive, []);
    const ghost = await policies.recipientPolicies(a.slug, `agent://${a.slug}/default/ghost`);
    assert.equal(ghost?.agent, null);
    assert.equal(
      await policies.recipientPolicies(`nobody-${randomUUID().slice(0, 8)}`, target.address),
      null,
    );
  });

  test('an escalated intent keeps its decision; WAITING → DELIVERED only when held for approval', async () => {
    const { org, workspaceId } = await registry.createOrganization({
      slug: `pr-${randomUUID().slice(0, 8)}`,
    });
    const scope = orgScope(org.id);
    const create = (policyDecision: Record<string, unknown> | null) =>
      intents.createSubmitted(
        scope,
        {
          id: randomUUID(),
          workspaceId,
          intentType: 'ops.review.v1',
          correlationId: randomUUID(),
          fromAgent: 'agent://pr-x/default/a',
          toAgent: 'agent://pr-x/default/b',
          replyTo: null,
          handler: 'agent://pr-x/default/b',
          pendingWith: null,
          payload: {},
          humanTask: null,
          deadlineAt: null,
          remindAfterSeconds: null,
          remindIntervalSeconds: null,
          maxReminders: null,
          escalateTo: null,
          maxDeliveryAttempts: 3,
          traceId: null,
          policyDecision,
        },
        'x',
      );
    const decision = { decision: 'escalate', approver: 'agent://pr-x/default/b', rule: null };
    const held = await create(decision);
    assert.deepEqual((await intents.findById(scope, held.id))?.policyDecision, decision);
    const wait = (waitingReason: 'WAITING_FOR_APPROVAL' | 'WAITING_FOR_HUMAN') => ({
      eventType: 'intent.waiting' as const,
      status: 'WAITING' as const,
      waitingReason,
      actor: 'x',
    });
    const deliver = { eventType: 'intent.delivered' as const, status: 'DELIVERED' as const, actor: 'x' };
    await intents.appendEvent(scope, held.id, wait('WAITING_FOR_APPROVAL'));
    assert.equal((await intents.appendEvent(scope, held.id, deliver)).intent.status, 'DELIVERED');

    const human = await create(null);
    assert.equal(human.policyDecision, null);
    await intents.appendEvent(scope, human.id, wait('WAITING_FOR_HUMAN'));
    await assert.rejects(intents.appendEvent(scope, human.id, deliver), { code: 'invalid_transition' });
  });
});
