// The data lib against real PostgreSQL: tenant scoping, gapless seq under concurrent writers,
// idempotent appends, transition checks and the per-agent cursor.
import {
  AuditRepository,
  IdempotencyKeyTakenError,
  IdempotencyRepository,
  IntentRepository,
  orgScope,
  platformScope,
  PrismaService,
} from '@axle/data';
import { createTestOrg, requireEnv, until } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const intents = new IntentRepository(prisma);
const idempotency = new IdempotencyRepository(prisma);
const audit = new AuditRepository(prisma);

const newOrg = () => createTestOrg(prisma);

function newIntent(workspaceId: string, toAgent = 'agent://acme/default/worker') {
  return {
    id: randomUUID(),
    workspaceId,
    intentType: 'ops.deploy.v1',
    correlationId: randomUUID(),
    fromAgent: 'agent://acme/default/caller',
    toAgent,
    replyTo: null,
    handler: toAgent,
    pendingWith: { type: 'agent' as const, ref: toAgent, name: null },
    payload: { service: 'api-gateway', version: '3.2.1' },
    humanTask: null,
    deadlineAt: null,
    remindAfterSeconds: null,
    remindIntervalSeconds: null,
    maxReminders: null,
    escalateTo: null,
    maxDeliveryAttempts: 3,
    traceId: null,
  };
}

describe('IntentRepository (real PostgreSQL)', () => {
  before(() => prisma.ping());
  after(() => prisma.onModuleDestroy());

  test('create writes events 1 CREATED and 2 SUBMITTED', async () => {
    const { scope, workspaceId } = await newOrg();
    const intent = await intents.createSubmitted(
      scope,
      newIntent(workspaceId),
      'agent://acme/default/caller',
    );
    assert.equal(intent.status, 'SUBMITTED');
    const events = await intents.listEvents(scope, intent.id, 0, 10);
    assert.deepEqual(
      events.map((e) => [e.seq, e.eventType, e.status]),
      [
        [1, 'intent.created', 'CREATED'],
        [2, 'intent.submitted', 'SUBMITTED'],
      ],
    );
  });

  test('another org sees neither the intent nor its events, and cannot append to it', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const intent = await intents.createSubmitted(a.scope, newIntent(a.workspaceId), 'x');
    assert.equal(await intents.findById(b.scope, intent.id), null);
    assert.deepEqual(await intents.listEvents(b.scope, intent.id, 0, 100), []);
    await assert.rejects(
      intents.appendEvent(b.scope, intent.id, {
        eventType: 'intent.delivered',
        status: 'DELIVERED',
        actor: 'x',
      }),
      { code: 'intent_not_found' },
    );
    assert.equal((await intents.findById(a.scope, intent.id))?.lastSeq, 2, 'the other org changed nothing');
    assert.equal(
      (await intents.findById(platformScope(), intent.id))?.id,
      intent.id,
      'the platform scope sees every org',
    );
  });

  test('concurrent writers get gapless, unique seq numbers', async () => {
    const { scope, workspaceId } = await newOrg();
    const intent = await intents.createSubmitted(scope, newIntent(workspaceId), 'x');
    await intents.appendEvent(scope, intent.id, {
      eventType: 'intent.delivered',
      status: 'DELIVERED',
      actor: 'x',
    });
    const writers = Array.from({ length: 40 }, (_, i) =>
      intents.appendEvent(scope, intent.id, { eventType: 'intent.reminder', actor: `writer-${i}` }),
    );
    const results = await Promise.all(writers);
    const seqs = results.map((r) => r.event.seq).sort((x, y) => x - y);
    assert.deepEqual(
      seqs,
      Array.from({ length: 40 }, (_, i) => i + 4),
    );
    const stored = await intents.listEvents(scope, intent.id, 0, 1000);
    assert.deepEqual(
      stored.map((e) => e.seq),
      Array.from({ length: 43 }, (_, i) => i + 1),
    );
  });

  test('a retried append with the same dedupe key writes its event once', async () => {
    const { scope, workspaceId } = await newOrg();
    const intent = await intents.createSubmitted(scope, newIntent(workspaceId), 'x');
    const input = {
      eventType: 'intent.delivered' as const,
      status: 'DELIVERED' as const,
      actor: 'x',
      dedupeKey: 'step-1',
    };
    const [first, second] = await Promise.all([
      intents.appendEvent(scope, intent.id, input),
      intents.appendEvent(scope, intent.id, input),
    ]);
    assert.equal(first.event.seq, 3);
    assert.equal(second.event.seq, 3);
    assert.equal([first.created, second.created].filter(Boolean).length, 1);
    assert.equal((await intents.listEvents(scope, intent.id, 0, 100)).length, 3);
  });

  test("an append that waited for the lock of a writer of its dedupe key gets that writer's event", async () => {
    const { scope, workspaceId } = await newOrg();
    const intent = await intents.createSubmitted(scope, newIntent(workspaceId), 'x');
    // The first writer, by hand: it holds the intent's lock while the retry starts and waits for it.
    const first = await prisma.pool.connect();
    try {
      await first.query('BEGIN');
      await first.query('SELECT 1 FROM intents WHERE id = $1 FOR UPDATE', [intent.id]);
      const retry = intents.appendEvent(scope, intent.id, {
        eventType: 'intent.delivered',
        status: 'DELIVERED',
        actor: 'x',
        dedupeKey: 'step-1',
      });
      await until('the retry waits for the lock', async () => {
        const { rows } = await prisma.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`,
        );
        return rows[0]!.n > 0 ? true : undefined;
      });
      await first.query(
        `INSERT INTO intent_events (intent_id, org_id, seq, event_type, status, actor, dedupe_key)
         VALUES ($1, $2, 3, 'intent.delivered', 'DELIVERED', 'x', 'step-1')`,
        [intent.id, scope.orgId],
      );
      await first.query(`UPDATE intents SET status = 'DELIVERED', last_seq = 3 WHERE id = $1`, [intent.id]);
      await first.query('COMMIT');
      const result = await retry;
      assert.equal(result.created, false);
      assert.equal(result.event.seq, 3);
      assert.equal(result.intent.lastSeq, 3);
    } finally {
      first.release();
    }
    assert.equal((await intents.listEvents(scope, intent.id, 0, 100)).length, 3);
  });

  test('the plan read gives status and last workflow step of one moment, never a status older than its step', async () => {
    const { scope, workspaceId } = await newOrg();
    const intent = await intents.createSubmitted(scope, newIntent(workspaceId), 'x');
    const read = async () => {
      const found = await intents.findWithLastWorkflowStep(scope, intent.id);
      return [found!.intent.status, found!.lastWorkflowStep];
    };
    assert.deepEqual(await read(), ['SUBMITTED', 0]);
    // The gateway's direct delivery, by hand and held open: a reader meanwhile sees neither half.
    const writer = await prisma.pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO intent_events (intent_id, org_id, seq, event_type, status, actor, dedupe_key)
         VALUES ($1, $2, 3, 'intent.delivered', 'DELIVERED', 'x', 'step-1')`,
        [intent.id, scope.orgId],
      );
      assert.deepEqual(await read(), ['SUBMITTED', 0]);
      await writer.query(`UPDATE intents SET status = 'DELIVERED', last_seq = 3 WHERE id = $1`, [intent.id]);
      await writer.query('COMMIT');
    } finally {
      writer.release();
    }
    assert.deepEqual(await read(), ['DELIVERED', 1]);
    const other = await newOrg();
    assert.equal(await intents.findWithLastWorkflowStep(other.scope, intent.id), null, 'scoped to its org');
  });

  test('refused transitions and writes to terminal intents are 409 and record nothing', async () => {
    const { scope, workspaceId } = await newOrg();
    const intent = await intents.createSubmitted(scope, newIntent(workspaceId), 'x');
    await assert.rejects(
      intents.appendEvent(scope, intent.id, {
        eventType: 'intent.completed',
        status: 'COMPLETED',
        actor: 'x',
      }),
      { code: 'invalid_transition' },
    );
    await intents.appendEvent(scope, intent.id, {
      eventType: 'intent.canceled',
      status: 'CANCELED',
      actor: 'x',
    });
    await assert.rejects(
      intents.appendEvent(scope, intent.id, { eventType: 'intent.failed', status: 'FAILED', actor: 'x' }),
      { code: 'intent_terminal' },
    );
    await assert.rejects(
      intents.appendEvent(scope, intent.id, { eventType: 'intent.reminder', actor: 'x' }),
      { code: 'intent_terminal' },
    );
    const events = await intents.listEvents(scope, intent.id, 0, 100);
    assert.deepEqual(
      events.map((e) => e.status),
      ['CREATED', 'SUBMITTED', 'CANCELED'],
    );
    assert.ok((await intents.findById(scope, intent.id))?.completedAt);
  });

  test('the agent stream cursor is per agent, gapless, and skips terminal intents by default', async () => {
    const { scope, workspaceId, slug } = await newOrg();
    const agent = `agent://${slug}/default/worker`;
    const created = await Promise.all(
      Array.from({ length: 5 }, () => intents.createSubmitted(scope, newIntent(workspaceId, agent), 'x')),
    );
    await Promise.all(
      created.map((intent) =>
        intents.appendEvent(scope, intent.id, {
          eventType: 'intent.delivered',
          status: 'DELIVERED',
          actor: 'x',
          deliverTo: agent,
        }),
      ),
    );
    const all = await intents.listAgentStream(scope, agent, 0, ['DELIVERED'], 100);
    assert.deepEqual(
      all.items.map((i) => i.agentSeq),
      [1, 2, 3, 4, 5],
    );
    const firstIntent = all.items[0]!.intent.id;
    await intents.appendEvent(scope, firstIntent, {
      eventType: 'intent.canceled',
      status: 'CANCELED',
      actor: 'x',
    });
    const open = await intents.listAgentStream(
      scope,
      agent,
      0,
      ['SUBMITTED', 'DELIVERED', 'ACKNOWLEDGED', 'IN_PROGRESS', 'WAITING'],
      100,
    );
    assert.deepEqual(
      open.items.map((i) => i.agentSeq),
      [2, 3, 4, 5],
    );
    const after3 = await intents.listAgentStream(scope, agent, 3, ['DELIVERED'], 100);
    assert.deepEqual(
      after3.items.map((i) => i.agentSeq),
      [4, 5],
    );
    assert.equal(after3.scannedTo, 5);
    const other = await newOrg();
    assert.deepEqual((await intents.listAgentStream(other.scope, agent, 0, ['DELIVERED'], 100)).items, []);
  });

  test('an idempotency key is claimed once; the loser learns it was taken', async () => {
    const { scope, workspaceId } = await newOrg();
    const claim = (key: string) => ({
      callerId: 'caller-1',
      route: 'POST /v1/intents',
      key,
      requestHash: 'h1',
      expiresAt: new Date(Date.now() + 3_600_000),
      response: () => ({ status: 200, body: { ok: true } }),
    });
    const key = randomUUID();
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => intents.createSubmitted(scope, newIntent(workspaceId), 'x', claim(key))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results)
      if (r.status === 'rejected') assert.ok(r.reason instanceof IdempotencyKeyTakenError);
    const record = await idempotency.find(scope, 'caller-1', 'POST /v1/intents', key);
    assert.equal(record?.requestHash, 'h1');
    assert.equal(
      await idempotency.find(orgScope(randomUUID()), 'caller-1', 'POST /v1/intents', key),
      null,
      'scoped to the org',
    );
  });

  test('audit rows are written and read per org', async () => {
    const { scope } = await newOrg();
    await audit.record({
      orgId: scope.orgId,
      actorType: 'system',
      actorId: null,
      action: 'test.action',
      outcome: 'success',
      details: { n: 1 },
    });
    const rows = await audit.listForOrg(scope.orgId);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.action, 'test.action');
  });
});
