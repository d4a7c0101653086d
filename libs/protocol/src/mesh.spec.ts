import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { meshAgentsQuerySchema, meshEventsQuerySchema, meshHeartbeatSchema, meshKillSchema } from './mesh';

describe('mesh schemas', () => {
  test('heartbeat bodies the SDKs send are accepted', () => {
    for (const body of [
      {},
      { metrics: null },
      // TypeScript SDK: avg_latency_ms is null until a latency was reported.
      {
        metrics: {
          intents_total: 3,
          intents_succeeded: 2,
          intents_failed: 1,
          avg_latency_ms: null,
          cost_usd: 0,
        },
      },
      // Python SDK: only the counters it incremented.
      { metrics: { intents_total: 1, intents_failed: 1, avg_latency_ms: 12.5 } },
      { metrics: { intents_total: 4, intents_succeeded: 4, intents_failed: 0, cost_usd: 0.0125 } },
    ])
      assert.equal(meshHeartbeatSchema.safeParse(body).success, true, JSON.stringify(body));
  });

  test('negative, fractional counts, non-numbers and unknown keys are refused, each by its path', () => {
    for (const [body, path] of [
      [{ metrics: { intents_total: -1 } }, 'metrics.intents_total'],
      [{ metrics: { intents_succeeded: 1.5 } }, 'metrics.intents_succeeded'],
      [{ metrics: { cost_usd: -0.01 } }, 'metrics.cost_usd'],
      [{ metrics: { avg_latency_ms: '12' } }, 'metrics.avg_latency_ms'],
      [{ metrics: { intents_total: 1, cpu: 3 } }, 'metrics'],
      [{ metrics: [] }, 'metrics'],
      [{ metric: {} }, ''],
    ] as const) {
      const parsed = meshHeartbeatSchema.safeParse(body);
      assert.equal(parsed.success, false, JSON.stringify(body));
      assert.ok(
        parsed.error?.issues.some((i) => i.path.join('.') === path),
        `${JSON.stringify(body)}: ${JSON.stringify(parsed.error?.issues)}`,
      );
    }
  });

  test('a kill reason is optional, bounded, and nothing else is accepted', () => {
    assert.equal(meshKillSchema.safeParse({}).success, true);
    assert.equal(meshKillSchema.safeParse({ reason: 'runaway costs' }).success, true);
    assert.equal(meshKillSchema.safeParse({ reason: '' }).success, false);
    assert.equal(meshKillSchema.safeParse({ reason: 'x'.repeat(501) }).success, false);
    assert.equal(meshKillSchema.safeParse({ reason: 'x', force: true }).success, false);
  });

  test('list queries: defaults, enums and bounds', () => {
    assert.deepEqual(meshAgentsQuerySchema.parse({}), { limit: 100, window: 'day' });
    assert.deepEqual(meshAgentsQuerySchema.parse({ limit: '5', health: 'killed', window: 'month' }), {
      limit: 5,
      health: 'killed',
      window: 'month',
    });
    for (const query of [{ limit: '0' }, { limit: '1001' }, { health: 'sick' }, { window: 'year' }])
      assert.equal(meshAgentsQuerySchema.safeParse(query).success, false, JSON.stringify(query));
    assert.deepEqual(meshEventsQuerySchema.parse({}), { limit: 50 });
    assert.equal(meshEventsQuerySchema.safeParse({ event_type: 'agent.killed' }).success, true);
    assert.equal(meshEventsQuerySchema.safeParse({ event_type: 'agent.exploded' }).success, false);
  });
});
