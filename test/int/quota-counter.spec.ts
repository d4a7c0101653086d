// Daily quota counters against real Redis: a take counts against every counter or none, a refused
// take consumes nothing, concurrent takes never overspend, counters are per UTC day and expire after
// it, a give-back undoes a take, and an unreachable Redis fails open.
import { type CounterSpec, QuotaCounter, utcDay } from '@axle/auth';
import { freePort, requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { after, describe, test } from 'node:test';

const counters: QuotaCounter[] = [];
function counter(redisUrl = requireEnv('REDIS_URL'), warnings: string[] = []) {
  const created = new QuotaCounter({
    redisUrl,
    prefix: `axle:test:quota:${randomUUID()}`,
    logger: { warn: (_obj, msg) => warnings.push(msg) },
  });
  counters.push(created);
  return created;
}

const spec = (subject: string, limit: number | null, orgId = 'org-1'): CounterSpec => ({
  dimension: 'intents_per_day',
  orgId,
  subject,
  limit,
});

describe('QuotaCounter (real Redis)', () => {
  after(() => Promise.all(counters.map((c) => c.close())));

  test('utcDay: the day and the next UTC midnight', () => {
    const { day, resetAt } = utcDay(new Date('2026-03-04T23:59:59.999Z'));
    assert.equal(day, '2026-03-04');
    assert.equal(resetAt.toISOString(), '2026-03-05T00:00:00.000Z');
    assert.equal(utcDay(new Date('2026-03-05T00:00:00.000Z')).day, '2026-03-05');
  });

  test('limit 3: three takes pass, the fourth is refused naming the counter, and consumes nothing', async () => {
    const c = counter();
    const specs = [spec('agent://o/default/a', 3), spec('org', null)];
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await c.take(specs));
    assert.deepEqual(
      results.map((r) => r?.allowed),
      [true, true, true, false],
    );
    const refused = results[3]!;
    assert.ok(refused && !refused.allowed);
    assert.equal(refused.refused.subject, 'agent://o/default/a');
    assert.equal(refused.used, 3);
    // The org counter (no limit) counted the three that passed, not the refused one.
    assert.deepEqual(await c.read(specs), [3, 3]);
  });

  test('the org limit refuses too, and another agent of the org shares it', async () => {
    const c = counter();
    const org = spec('org', 2);
    assert.equal((await c.take([spec('agent://o/default/a', null), org]))?.allowed, true);
    assert.equal((await c.take([spec('agent://o/default/b', null), org]))?.allowed, true);
    const third = await c.take([spec('agent://o/default/c', null), org]);
    assert.ok(third && !third.allowed);
    assert.equal(third.refused.subject, 'org');
    assert.deepEqual(await c.read([spec('agent://o/default/c', null)]), [0]);
  });

  test('limit 0 refuses the first; another org has its own counters', async () => {
    const c = counter();
    const first = await c.take([spec('org', 0)]);
    assert.ok(first && !first.allowed);
    assert.equal(first.used, 0);
    assert.equal((await c.take([spec('org', 1, 'org-2')]))?.allowed, true);
  });

  test('concurrent takes never pass more than the limit', async () => {
    const c = counter();
    const results = await Promise.all(Array.from({ length: 25 }, () => c.take([spec('org', 10)])));
    assert.equal(results.filter((r) => r?.allowed).length, 10);
    assert.deepEqual(await c.read([spec('org', 10)]), [10]);
  });

  test('a give-back undoes a take, never below zero', async () => {
    const c = counter();
    const taken = await c.take([spec('org', 1)]);
    assert.ok(taken?.allowed);
    assert.equal((await c.take([spec('org', 1)]))?.allowed, false);
    await c.giveBack(taken.keys);
    await c.giveBack(taken.keys);
    assert.deepEqual(await c.read([spec('org', 1)]), [0]);
    assert.equal((await c.take([spec('org', 1)]))?.allowed, true);
  });

  test('counters are per UTC day and expire an hour after the day ends', async () => {
    const c = counter();
    const today = new Date();
    const tomorrow = new Date(today.getTime() + 86_400_000);
    assert.equal((await c.take([spec('org', 1)], today))?.allowed, true);
    assert.equal((await c.take([spec('org', 1)], today))?.allowed, false);
    assert.equal((await c.take([spec('org', 1)], tomorrow))?.allowed, true, 'a new day starts at 0');
    const redis = new Redis(requireEnv('REDIS_URL'));
    try {
      const expireAt = await redis.call('EXPIRETIME', c.keyOf(spec('org', 1), today));
      assert.equal(Number(expireAt), utcDay(today).resetAt.getTime() / 1000 + 3600);
    } finally {
      redis.disconnect();
    }
  });

  test('an unreachable Redis fails open (null), warning at most once per 10 s', async () => {
    const warnings: string[] = [];
    const c = counter(`redis://127.0.0.1:${await freePort()}`, warnings);
    for (let i = 0; i < 3; i++) assert.equal(await c.take([spec('org', 0)]), null);
    assert.equal(await c.read([spec('org', 0)]), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /fail-open/);
  });
});
