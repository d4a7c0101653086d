// Which sandbox tiers the deployment offers (RunnerRegistry, real Redis): the union of what live
// runners report, stale reports ignored and later pruned, a withdrawn runner gone at once, and this
// host's own tiers only when no runner has reported.
import { RUNNER_REPORT_INTERVAL_MS, RunnerRegistry } from '@axle/exec';
import { EXEC_RUNNERS_KEY } from '@axle/protocol';
import { availableTiers } from '@axle/sandbox';
import { requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';

describe('RunnerRegistry (real Redis)', () => {
  const redis = new Redis(requireEnv('REDIS_URL'));
  const registry = new RunnerRegistry(redis);
  // Spec files run one at a time; runners of earlier e2e files may have left reports behind.
  before(() => redis.del(EXEC_RUNNERS_KEY));
  after(async () => {
    await redis.del(EXEC_RUNNERS_KEY);
    await redis.quit();
  });

  test('no report: null, and the offered tiers are this host’s', async () => {
    assert.equal(await registry.liveTiers(), null);
    assert.deepEqual(await registry.offeredTiers(true), availableTiers({ allowNone: true }));
    assert.deepEqual(await registry.offeredTiers(false), availableTiers({ allowNone: false }));
  });

  test('live runners: the union of their tiers, whatever this host enforces', async () => {
    const now = Date.now();
    await registry.report('runner-a', ['kernel'], now);
    await registry.report('runner-b', ['process', 'kernel'], now);
    assert.deepEqual((await registry.liveTiers(now))?.sort(), ['kernel', 'process']);
    assert.deepEqual((await registry.offeredTiers(true)).sort(), ['kernel', 'process']);
    await registry.withdraw('runner-b');
    assert.deepEqual(await registry.liveTiers(now), ['kernel']);
  });

  test('a report older than three intervals no longer counts; after an hour it is removed', async () => {
    const now = Date.now();
    await redis.del(EXEC_RUNNERS_KEY);
    await registry.report('runner-old', ['none'], now - 4 * RUNNER_REPORT_INTERVAL_MS);
    await registry.report('runner-dead', ['process'], now - 3_600_001);
    assert.equal(await registry.liveTiers(now), null);
    assert.deepEqual(Object.keys(await redis.hgetall(EXEC_RUNNERS_KEY)), ['runner-old']);
    await registry.report('runner-new', [], now);
    assert.deepEqual(await registry.liveTiers(now), [], 'a live runner with no tier offers none');
  });

  test('a malformed report is ignored, not fatal', async () => {
    await redis.del(EXEC_RUNNERS_KEY);
    await redis.hset(EXEC_RUNNERS_KEY, 'junk', '{not json', 'half', '{"tiers":"kernel"}');
    assert.equal(await registry.liveTiers(), null);
  });
});
