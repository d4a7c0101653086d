// Idempotency records against real PostgreSQL: one claim wins among concurrent ones, answers are
// stored and replayed, 5xx releases the key, expired and abandoned records are taken over, the
// create-intent transaction reuses an expired key, and everything stays inside its org.
import {
  hashBody,
  IdempotencyRepository,
  IntentRepository,
  platformScope,
  PrismaService,
  requestHash,
} from '@axle/data';
import { createTestOrg, requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const records = new IdempotencyRepository(prisma);
const intents = new IntentRepository(prisma);

const DAY_MS = 24 * 3_600_000;

const newOrg = () => createTestOrg(prisma, 'idem');

function claimInput(overrides: Partial<Parameters<IdempotencyRepository['claim']>[1]> = {}) {
  return {
    callerId: randomUUID(),
    route: 'POST /v1/intents/:id/resume',
    key: randomUUID(),
    requestHash: hashBody({ action: 'complete' }),
    expiresAt: new Date(Date.now() + DAY_MS),
    staleAfterMs: 60_000,
    ...overrides,
  };
}

describe('IdempotencyRepository (real PostgreSQL)', () => {
  before(() => prisma.ping());
  after(() => prisma.onModuleDestroy());

  test('the request fingerprint ignores key order and includes non-empty path parameters', () => {
    assert.equal(hashBody({ a: 1, b: [1, 2] }), hashBody({ b: [1, 2], a: 1 }));
    assert.notEqual(hashBody({ a: 1 }), hashBody({ a: 2 }));
    assert.equal(requestHash({ a: 1 }, { params: {}, query: {} }), hashBody({ a: 1 }));
    assert.notEqual(
      requestHash({ a: 1 }, { params: { id: 'x' } }),
      requestHash({ a: 1 }, { params: { id: 'y' } }),
    );
  });

  test('ten concurrent claims: exactly one wins, the others see it in progress', async () => {
    const { scope } = await newOrg();
    const input = claimInput();
    const results = await Promise.all(Array.from({ length: 10 }, () => records.claim(scope, input)));
    assert.equal(results.filter((r) => r.claimed).length, 1);
    for (const r of results.filter((r) => !r.claimed)) {
      assert.ok(!r.claimed);
      assert.equal(r.existing.responseStatus, null);
      assert.equal(r.existing.requestHash, input.requestHash);
    }
  });

  test('complete stores the answer; a later claim gets it back', async () => {
    const { scope } = await newOrg();
    const input = claimInput();
    const first = await records.claim(scope, input);
    assert.ok(first.claimed);
    assert.equal(
      await records.complete(scope, first.token, { status: 404, body: { ok: false, n: 1 } }),
      true,
    );
    const again = await records.claim(scope, input);
    assert.ok(!again.claimed);
    assert.equal(again.existing.responseStatus, 404);
    assert.deepEqual(again.existing.responseBody, { ok: false, n: 1 });
    assert.equal(
      await records.complete(scope, first.token, { status: 200, body: {} }),
      false,
      'completes once',
    );
  });

  test('release gives the key back: the next claim wins it', async () => {
    const { scope } = await newOrg();
    const input = claimInput();
    const first = await records.claim(scope, input);
    assert.ok(first.claimed);
    await records.release(scope, first.token);
    const second = await records.claim(scope, { ...input, requestHash: hashBody({ other: true }) });
    assert.ok(second.claimed, 'a released key is new again, whatever the body');
  });

  test('an expired record is taken over as new; an abandoned in-progress claim too', async () => {
    const { scope } = await newOrg();
    const expired = claimInput({ expiresAt: new Date(Date.now() - 1_000) });
    const old = await records.claim(scope, expired);
    assert.ok(old.claimed);
    await records.complete(scope, old.token, { status: 200, body: { ok: true, old: true } });
    const fresh = await records.claim(scope, { ...expired, requestHash: hashBody({ new: 1 }) });
    assert.ok(fresh.claimed, 'expired key accepted as new');

    const abandoned = claimInput({ staleAfterMs: 60_000 });
    assert.ok((await records.claim(scope, abandoned)).claimed);
    assert.ok(!(await records.claim(scope, abandoned)).claimed, 'a live claim holds the key');
    const takeover = await records.claim(scope, { ...abandoned, staleAfterMs: 0 });
    assert.ok(takeover.claimed, 'an unanswered claim older than the lease is taken over');
  });

  test('storeIfAbsent writes a finished answer once and never overwrites a live record', async () => {
    const { scope } = await newOrg();
    const ref = { callerId: randomUUID(), route: 'POST /v1/intents', key: randomUUID() };
    const expiresAt = new Date(Date.now() + DAY_MS);
    const stored = await records.storeIfAbsent(scope, {
      ...ref,
      requestHash: 'h1',
      expiresAt,
      response: { status: 422, body: { ok: false } },
    });
    assert.equal(stored, true);
    const second = await records.storeIfAbsent(scope, {
      ...ref,
      requestHash: 'h2',
      expiresAt,
      response: { status: 400, body: { ok: false, second: true } },
    });
    assert.equal(second, false);
    const found = await records.find(scope, ref.callerId, ref.route, ref.key);
    assert.deepEqual(found, { requestHash: 'h1', responseStatus: 422, responseBody: { ok: false } });
  });

  test('records are confined to their org', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const input = claimInput();
    const claim = await records.claim(a.scope, input);
    assert.ok(claim.claimed);
    assert.equal(await records.complete(b.scope, claim.token, { status: 200, body: {} }), false);
    await records.release(b.scope, claim.token);
    assert.equal(await records.find(b.scope, input.callerId, input.route, input.key), null);
    assert.ok(await records.find(a.scope, input.callerId, input.route, input.key));
    assert.equal(await records.complete(a.scope, claim.token, { status: 200, body: { ok: true } }), true);
  });

  test('purgeExpired deletes only expired records', async () => {
    const { scope } = await newOrg();
    const live = claimInput();
    const dead = claimInput({ expiresAt: new Date(Date.now() - 1_000) });
    await records.claim(scope, live);
    await records.claim(scope, dead);
    assert.ok((await records.purgeExpired(platformScope())) >= 1);
    assert.ok(await records.find(scope, live.callerId, live.route, live.key));
    const rows = await records.claim(scope, { ...dead, expiresAt: new Date(Date.now() + DAY_MS) });
    assert.ok(rows.claimed, 'the purged key is free');
  });

  test('create intent with an expired key makes a new intent instead of failing', async () => {
    const { scope, workspaceId } = await newOrg();
    const callerId = randomUUID();
    const key = randomUUID();
    const toAgent = 'agent://acme/default/worker';
    const newIntent = () => ({
      id: randomUUID(),
      workspaceId,
      intentType: 'ops.deploy.v1',
      correlationId: randomUUID(),
      fromAgent: 'agent://acme/default/caller',
      toAgent,
      replyTo: null,
      handler: toAgent,
      pendingWith: { type: 'agent' as const, ref: toAgent, name: null },
      payload: {},
      humanTask: null,
      deadlineAt: null,
      remindAfterSeconds: null,
      remindIntervalSeconds: null,
      maxReminders: null,
      escalateTo: null,
      maxDeliveryAttempts: 3,
      traceId: null,
    });
    const claim = (expiresAt: Date) => ({
      callerId,
      route: 'POST /v1/intents',
      key,
      requestHash: 'h',
      expiresAt,
      response: (intent: { id: string }) => ({ status: 200, body: { ok: true, intent_id: intent.id } }),
    });
    const first = await intents.createSubmitted(scope, newIntent(), 'x', claim(new Date(Date.now() - 1_000)));
    const second = await intents.createSubmitted(
      scope,
      newIntent(),
      'x',
      claim(new Date(Date.now() + DAY_MS)),
    );
    assert.notEqual(first.id, second.id);
    const record = await records.find(scope, callerId, 'POST /v1/intents', key);
    assert.equal(record?.responseBody?.intent_id, second.id);
  });
});
