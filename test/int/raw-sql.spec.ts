// The hot queries in plain SQL (libs/data/src/raw-sql.ts) against real PostgreSQL: each answers
// exactly what the Prisma query it replaced answers, for rows with every column filled and with
// every nullable column empty, and keeps that query's tenant and validity filters.
import {
  AuditRepository,
  type IdempotencyClaim,
  IdempotencyKeyTakenError,
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
const audit = new AuditRepository(prisma);

const newOrg = () => createTestOrg(prisma, 'raw');

function newIntent(org: TestOrg, claim?: IdempotencyClaim) {
  const to = `agent://${org.slug}/default/worker`;
  return intents.createSubmitted(
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
    claim,
  );
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
    assert.deepEqual(await intents.findWithLastWorkflowStep(org.scope, intent.id), {
      intent: expected,
      lastWorkflowStep: 0,
    });
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

  test('a delivery binding reads as the agent Prisma finds: its mode and callback, in the org its address names', async () => {
    const org = await newOrg();
    const other = await newOrg();
    const hook = await registerTestAgent(prisma, {
      org: org.slug,
      name: 'hook',
      deliveryMode: 'http',
      callbackUrl: 'https://example.com/hook',
    });
    const plain = await registerTestAgent(prisma, { org: org.slug, name: 'plain' });
    for (const agent of [hook, plain]) {
      const found = await registry.findAgentByAddress(org.scope, agent.address);
      assert.deepEqual(await registry.findDeliveryBinding(agent.address), {
        deliveryMode: found!.deliveryMode,
        callbackUrl: found!.callbackUrl,
      });
      // The same name in another org is another agent, registered there or not.
      assert.equal(await registry.findDeliveryBinding(agent.address.replace(org.slug, other.slug)), null);
    }
    assert.equal(await registry.findDeliveryBinding(`agent://${org.slug}/default/nobody`), null);
    assert.equal(await registry.findDeliveryBinding('not an address'), null);
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

  test('a create writes the intent, its two events and its key as the Prisma create it replaced', async () => {
    const org = await newOrg();
    const handlerOrg = await newOrg();
    const handler = `agent://${handlerOrg.slug}/default/worker`;
    const full = (id: string) => ({
      id,
      workspaceId: org.workspaceId,
      intentType: 'ops.deploy.v1',
      correlationId: randomUUID(),
      fromAgent: `agent://${org.slug}/default/caller`,
      toAgent: handler,
      replyTo: `agent://${org.slug}/default/reply`,
      handler,
      pendingWith: { type: 'agent' as const, ref: handler, name: null },
      payload: { list: [1, 'two', null], text: 'é ✓' },
      humanTask: { title: 'Approve', options: ['yes', 'no'] },
      deadlineAt: new Date('2027-01-02T03:04:05.678Z'),
      remindAfterSeconds: 60,
      remindIntervalSeconds: 120,
      maxReminders: 4,
      escalateTo: `agent://${org.slug}/default/boss`,
      maxDeliveryAttempts: 5,
      traceId: '0af7651916cd43dd8448eb211c80319c',
      policyDecision: { decision: 'escalate', code: 'x', rule: 'r1', approver: null },
      scenarioId: 'scn-1',
      workflowPlan: { steps: [{ id: 's1' }] },
    });
    const claim = {
      callerId: randomUUID(),
      route: 'POST /v1/intents',
      key: randomUUID(),
      requestHash: 'h',
      expiresAt: new Date('2030-01-01T00:00:00.000Z'),
      response: (intent: { id: string }) => ({ status: 200, body: { ok: true, intent_id: intent.id } }),
    };
    const created = await intents.createSubmitted(org.scope, full(randomUUID()), 'agent://actor', claim);

    // The same intent as the Prisma create wrote it (id and timestamps aside).
    const reference = full(randomUUID());
    await prisma.client.intent.create({
      data: {
        ...reference,
        orgId: org.id,
        handlerOrgId: handlerOrg.id,
        status: 'SUBMITTED',
        lastSeq: 2,
        createdAt: created.createdAt,
        events: {
          create: [
            { orgId: org.id, seq: 1, eventType: 'intent.created', status: 'CREATED', dedupeKey: 'created' },
            {
              orgId: org.id,
              seq: 2,
              eventType: 'intent.submitted',
              status: 'SUBMITTED',
              dedupeKey: 'submitted',
            },
          ].map((e) => ({ ...e, actor: 'agent://actor', handler, at: created.createdAt })),
        },
      },
    });
    const stored = await prismaIntent(created.id, org.id);
    const expected = await prismaIntent(reference.id, org.id);
    const comparable = (row: typeof stored) => ({ ...row, id: null, correlationId: null, updatedAt: null });
    assert.deepEqual(comparable(stored), comparable(expected));
    assert.deepEqual(
      { ...created, handlerOrgId: stored?.handlerOrgId },
      stored,
      'the answer is the stored row',
    );
    assert.deepEqual(created.updatedAt, created.createdAt);

    const events = (intentId: string) =>
      prisma.client.intentEvent.findMany({
        where: { intentId },
        orderBy: { seq: 'asc' },
        omit: { id: true, intentId: true },
      });
    assert.deepEqual(await events(created.id), await events(reference.id));
    const record = await prisma.client.idempotencyRecord.findUniqueOrThrow({
      where: { callerId_route_key: { callerId: claim.callerId, route: claim.route, key: claim.key } },
    });
    assert.deepEqual(
      [record.orgId, record.requestHash, record.responseStatus, record.responseBody, record.expiresAt],
      [org.id, 'h', 200, { ok: true, intent_id: created.id }, claim.expiresAt],
    );

    // A handler in the intent's own org, or at no registered org, has no handler org.
    const own = await newIntent(org);
    assert.equal((await prismaIntent(own.id, org.id))?.handlerOrgId, null);
    const nowhere = {
      ...full(randomUUID()),
      handler: 'agent://no-such-org/default/x',
      toAgent: 'agent://no-such-org/default/x',
    };
    const elsewhere = await intents.createSubmitted(org.scope, nowhere, 'x');
    assert.equal((await prismaIntent(elsewhere.id, org.id))?.handlerOrgId, null);
  });

  test('a create whose key a live record holds stores nothing; an expired record of the key gives way', async () => {
    const org = await newOrg();
    const claim = (expiresAt: Date) => ({
      callerId: randomUUID(),
      route: 'POST /v1/intents',
      key: randomUUID(),
      requestHash: 'h',
      expiresAt,
      response: () => ({ status: 200, body: { ok: true } }),
    });
    const live = claim(new Date(Date.now() + 60_000));
    await newIntent(org, live);
    const before = await prisma.client.intent.count({ where: { orgId: org.id } });
    await assert.rejects(newIntent(org, live), IdempotencyKeyTakenError);
    assert.equal(await prisma.client.intent.count({ where: { orgId: org.id } }), before, 'rolled back');

    // Another org's caller with the same caller id, route and key does not take this org's record.
    const other = await newOrg();
    await assert.rejects(
      newIntent(other, { ...live, expiresAt: new Date(Date.now() + 60_000) }),
      IdempotencyKeyTakenError,
    );

    const expired = claim(new Date(Date.now() - 1_000));
    await newIntent(org, expired);
    const renewed = await newIntent(org, {
      ...expired,
      requestHash: 'h2',
      expiresAt: new Date(Date.now() + 60_000),
    });
    const record = await prisma.client.idempotencyRecord.findFirstOrThrow({ where: { key: expired.key } });
    assert.equal(record.requestHash, 'h2');
    assert.ok(renewed.id);
  });

  test('an appended event answers the intent and event as stored, and changes only the fields it names', async () => {
    const org = await newOrg();
    const handlerOrg = await newOrg();
    const intent = await newIntent(org);
    const storedEvent = async (seq: number) => {
      const row = await prisma.client.intentEvent.findUniqueOrThrow({
        where: { intentId_seq: { intentId: intent.id, seq } },
        omit: { id: true, orgId: true, dedupeKey: true },
      });
      return row;
    };

    const foreign = `agent://${handlerOrg.slug}/default/worker`;
    const delivered = await intents.appendEvent(org.scope, intent.id, {
      eventType: 'intent.delivered',
      status: 'DELIVERED',
      handler: foreign,
      pendingWith: { type: 'agent', ref: foreign, name: null },
      deliveryAttempt: 2,
      currentStep: 's1',
      actor: 'agent://actor',
      details: { attempt: 2, list: [1, null], skipped: undefined },
      dedupeKey: 'step-1',
      deliverTo: foreign,
    });
    assert.equal(delivered.created, true);
    assert.deepEqual(delivered.intent, await intents.findById(org.scope, intent.id));
    assert.equal((await prismaIntent(intent.id, org.id))?.handlerOrgId, handlerOrg.id, 'a foreign handler');
    assert.deepEqual(delivered.event, await storedEvent(3));
    assert.deepEqual(delivered.event.details, { attempt: 2, list: [1, null] });
    const entry = await prisma.client.agentStreamEntry.findFirstOrThrow({ where: { intentId: intent.id } });
    assert.deepEqual(
      [entry.orgId, entry.address, entry.seq, entry.eventSeq, entry.eventType],
      [handlerOrg.id, foreign, delivered.agentSeq, 3, 'intent.delivered'],
      "the stream entry is in the listening agent's org",
    );

    // Fields not named keep their values; a named null clears one.
    const waiting = await intents.appendEvent(org.scope, intent.id, {
      eventType: 'intent.waiting',
      status: 'WAITING',
      waitingReason: 'WAITING_FOR_HUMAN',
      pendingWith: null,
      remindCount: 1,
      actor: 'x',
    });
    assert.deepEqual(
      [
        waiting.intent.handler,
        waiting.intent.pendingWith,
        waiting.intent.deliveryAttempt,
        waiting.intent.currentStep,
      ],
      [foreign, null, 2, 's1'],
    );
    assert.equal(waiting.agentSeq, null);
    assert.equal(waiting.intent.remindCount, 1);
    assert.deepEqual(waiting.event, await storedEvent(4));

    // Back to a handler of the intent's own org; then a terminal event with its result.
    const own = `agent://${org.slug}/default/worker`;
    await intents.appendEvent(org.scope, intent.id, {
      eventType: 'intent.transfer',
      handler: own,
      actor: 'x',
    });
    assert.equal((await prismaIntent(intent.id, org.id))?.handlerOrgId, null);
    const done = await intents.appendEvent(org.scope, intent.id, {
      eventType: 'intent.failed',
      status: 'FAILED',
      result: { ok: 1.5, text: 'é ✓' },
      error: null,
      currentStep: null,
      actor: 'x',
    });
    assert.deepEqual(done.intent, await intents.findById(org.scope, intent.id));
    assert.deepEqual(
      [done.intent.status, done.intent.waitingReason, done.intent.lastSeq],
      ['FAILED', null, 6],
    );
    assert.deepEqual(done.intent.completedAt, done.event.at);
    assert.deepEqual(done.intent.result, { ok: 1.5, text: 'é ✓' });
    assert.equal(done.intent.currentStep, null);

    // The first append again, by its dedupe key: its stored event, the current intent, nothing new.
    const retried = await intents.appendEvent(org.scope, intent.id, {
      eventType: 'intent.delivered',
      status: 'DELIVERED',
      actor: 'agent://actor',
      dedupeKey: 'step-1',
    });
    assert.equal(retried.created, false);
    assert.deepEqual(retried.event, delivered.event);
    assert.deepEqual(retried.intent, done.intent);
  });

  test('an audit row is stored with every field, its secrets redacted; a platform row has no org', async () => {
    const org = await newOrg();
    const requestId = randomUUID();
    const before = new Date();
    const filled = {
      orgId: org.id,
      actorType: 'service_account' as const,
      actorId: 'sa-1',
      action: 'intent.create',
      targetType: 'intent',
      targetId: 'i-1',
      outcome: 'denied' as const,
      requestId,
    };
    await audit.record({
      ...filled,
      details: { list: [1, null], nested: { api_key: 'secret' }, text: 'é ✓' },
    });
    await audit.record({
      orgId: null,
      actorType: 'system',
      actorId: null,
      action: 'platform.x',
      outcome: 'success',
      requestId,
    });
    const rows = await prisma.client.auditEvent.findMany({
      where: { requestId },
      orderBy: { id: 'asc' },
      omit: { id: true },
    });
    assert.equal(rows.length, 2);
    assert.ok(rows[0]!.at >= new Date(before.getTime() - 1_000), 'stamped by the database');
    assert.deepEqual(
      rows.map(({ at: _at, ...row }) => row),
      [
        { ...filled, details: { list: [1, null], nested: { api_key: '[redacted]' }, text: 'é ✓' } },
        {
          orgId: null,
          actorType: 'system',
          actorId: null,
          action: 'platform.x',
          targetType: null,
          targetId: null,
          outcome: 'success',
          requestId,
          details: {},
        },
      ],
    );
  });
});
