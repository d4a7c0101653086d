// The token-bucket rate limiter against real Redis: the bucket empties after `limit` requests, keys
// and routes have their own buckets, concurrent requests never overspend, 0 turns it off, and an
// unreachable Redis lets requests through with a throttled warning (fail-open).
import { RateLimiter } from '@axle/auth';
import { freePort, requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';

const limiters: RateLimiter[] = [];
function limiter(
  perMinute: number,
  redisUrl = requireEnv('REDIS_URL'),
  warnings: string[] = [],
  agentPerMinute?: number,
) {
  const created = new RateLimiter({
    redisUrl,
    perMinute,
    ...(agentPerMinute !== undefined ? { agentPerMinute } : {}),
    prefix: `axle:test:ratelimit:${randomUUID()}`,
    logger: { warn: (_obj, msg) => warnings.push(msg) },
  });
  limiters.push(created);
  return created;
}

describe('RateLimiter (real Redis)', () => {
  after(() => Promise.all(limiters.map((l) => l.onModuleDestroy())));

  test('allows `limit` requests in a burst, then refuses with Retry-After', async () => {
    const rl = limiter(5);
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await rl.consume('key:a', 'POST /v1/intents'));
    assert.deepEqual(
      decisions.map((d) => d?.allowed),
      [true, true, true, true, true, false],
    );
    assert.deepEqual(
      decisions.slice(0, 5).map((d) => d?.remaining),
      [4, 3, 2, 1, 0],
    );
    const refused = decisions[5]!;
    assert.equal(refused.limit, 5);
    assert.equal(refused.remaining, 0);
    // One token per 12 s at 5/min.
    assert.ok(
      refused.retryAfterSeconds >= 1 && refused.retryAfterSeconds <= 12,
      String(refused.retryAfterSeconds),
    );
    assert.ok(refused.resetSeconds >= 1 && refused.resetSeconds <= 60, String(refused.resetSeconds));
  });

  test('each key and each route has its own bucket', async () => {
    const rl = limiter(2);
    for (let i = 0; i < 2; i++) assert.equal((await rl.consume('key:a', 'GET /x'))?.allowed, true);
    assert.equal((await rl.consume('key:a', 'GET /x'))?.allowed, false);
    assert.equal((await rl.consume('key:b', 'GET /x'))?.allowed, true, 'another key');
    assert.equal((await rl.consume('key:a', 'GET /y'))?.allowed, true, 'another route');
  });

  test('concurrent requests never take more than the bucket holds', async () => {
    const rl = limiter(10);
    const decisions = await Promise.all(Array.from({ length: 30 }, () => rl.consume('key:c', 'POST /r')));
    assert.equal(decisions.filter((d) => d?.allowed).length, 10);
  });

  test('0 turns limiting off: no decision, no headers', async () => {
    const rl = limiter(0);
    assert.equal(rl.enabled, false);
    assert.equal(await rl.consume('key:a', 'GET /x'), null);
  });

  test('an unreachable Redis fails open, warning at most once per 10 s', async () => {
    const warnings: string[] = [];
    const rl = limiter(1, `redis://127.0.0.1:${await freePort()}`, warnings);
    for (let i = 0; i < 5; i++) assert.equal(await rl.consume('key:a', 'GET /x'), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /fail-open/);
  });

  test('several buckets: a request takes a token from each, or from none when one is empty', async () => {
    const rl = limiter(100, requireEnv('REDIS_URL'), [], 3);
    const agent = { scope: 'agent' as const, subject: 'agent:x', bucket: 'all', limit: 3 };
    const key = (k: string) => ({ scope: 'key' as const, subject: `key:${k}`, bucket: 'GET /x', limit: 100 });
    // Two keys of one agent share the agent's bucket.
    const results = [];
    for (const k of ['a', 'b', 'a', 'b']) results.push(await rl.consumeAll([key(k), agent]));
    assert.deepEqual(
      results.map((r) => r?.allowed),
      [true, true, true, false],
    );
    const refused = results[3]!;
    const agentBucket = refused.buckets.find((b) => b.scope === 'agent')!;
    const keyBucket = refused.buckets.find((b) => b.scope === 'key')!;
    assert.equal(agentBucket.allowed, false);
    assert.equal(agentBucket.remaining, 0);
    assert.ok(agentBucket.retryAfterSeconds >= 1 && agentBucket.retryAfterSeconds <= 20);
    assert.equal(keyBucket.allowed, true);
    assert.equal(keyBucket.retryAfterSeconds, 0);
    // The refused request took nothing from the key's bucket: key b spent 1 of 100, not 2.
    assert.equal(keyBucket.remaining, 99);
    assert.equal(results[1]!.buckets.find((b) => b.scope === 'key')!.remaining, 99);
  });

  test('a bucket with limit 0 is left out; only the agent default on is enough to enable the limiter', async () => {
    const rl = limiter(0, requireEnv('REDIS_URL'), [], 2);
    assert.equal(rl.enabled, true);
    assert.equal(rl.limit, 0);
    assert.equal(rl.agentLimit, 2);
    const spec = [
      { scope: 'key', subject: 'key:z', bucket: 'GET /x', limit: 0 },
      { scope: 'agent', subject: 'agent:z', bucket: 'all', limit: 2 },
    ];
    const first = await rl.consumeAll(spec);
    assert.deepEqual(
      first?.buckets.map((b) => b.scope),
      ['agent'],
    );
    assert.equal(await rl.consumeAll([{ scope: 'key', subject: 'key:z', bucket: 'GET /x', limit: 0 }]), null);
  });

  test('a smaller limit applies at once to a fuller bucket', async () => {
    const rl = limiter(100);
    const spec = (limit: number) => [{ scope: 'agent', subject: 'agent:shrunk', bucket: 'all', limit }];
    assert.equal((await rl.consumeAll(spec(50)))?.buckets[0]?.remaining, 49);
    const shrunk = await rl.consumeAll(spec(2));
    assert.equal(shrunk?.buckets[0]?.remaining, 1);
    assert.equal((await rl.consumeAll(spec(2)))?.allowed, true);
    assert.equal((await rl.consumeAll(spec(2)))?.allowed, false);
  });
});
