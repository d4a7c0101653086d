import { type MeshAgentRecord } from '@axle/data';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { healthFilter, heartbeatEvent, meshHealth } from './health';

const thresholds = { degradedAfterSeconds: 90, unreachableAfterSeconds: 300 };
const now = new Date('2026-11-21T12:00:00.000Z');
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

function agent(fields: Partial<MeshAgentRecord> = {}): MeshAgentRecord {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    orgId: '00000000-0000-4000-8000-0000000000aa',
    workspaceId: '00000000-0000-4000-8000-0000000000bb',
    name: 'worker',
    address: 'agent://acme/default/worker',
    displayName: null,
    deliveryMode: 'stream',
    role: 'member',
    status: 'active',
    lastHeartbeatAt: null,
    heartbeatMetrics: null,
    killedAt: null,
    createdAt: ago(3600),
    ...fields,
  };
}

/** Whether a filter selects an agent, evaluated the way the repository's SQL does. */
function selects(filter: ReturnType<typeof healthFilter>, a: MeshAgentRecord): boolean {
  if (filter.killed !== undefined && (a.killedAt !== null) !== filter.killed) return false;
  if (filter.heartbeat === null) return a.lastHeartbeatAt === null;
  if (filter.heartbeat) {
    if (!a.lastHeartbeatAt) return false;
    if (filter.heartbeat.after && !(a.lastHeartbeatAt > filter.heartbeat.after)) return false;
    if (filter.heartbeat.atOrBefore && !(a.lastHeartbeatAt <= filter.heartbeat.atOrBefore)) return false;
  }
  return true;
}

describe('mesh health', () => {
  test('unknown before the first heartbeat, then by heartbeat age', () => {
    assert.equal(meshHealth(agent(), now, thresholds), 'unknown');
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(0) }), now, thresholds), 'healthy');
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(89.999) }), now, thresholds), 'healthy');
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(90) }), now, thresholds), 'degraded');
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(299.999) }), now, thresholds), 'degraded');
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(300) }), now, thresholds), 'unreachable');
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(86_400) }), now, thresholds), 'unreachable');
  });

  test('a heartbeat from a gateway whose clock is ahead counts as healthy', () => {
    assert.equal(meshHealth(agent({ lastHeartbeatAt: ago(-5) }), now, thresholds), 'healthy');
  });

  test('killed wins over any heartbeat age, and over never having heartbeated', () => {
    for (const lastHeartbeatAt of [null, ago(1), ago(100), ago(1000)])
      assert.equal(meshHealth(agent({ lastHeartbeatAt, killedAt: ago(10) }), now, thresholds), 'killed');
  });

  test('each health filter selects exactly the agents meshHealth puts in that state', () => {
    const population = [
      agent(),
      ...[0, 1, 89.999, 90, 91, 299.999, 300, 301, 10_000, -3].map((s) => agent({ lastHeartbeatAt: ago(s) })),
      agent({ killedAt: ago(5) }),
      agent({ killedAt: ago(5), lastHeartbeatAt: ago(1) }),
      agent({ killedAt: ago(5), lastHeartbeatAt: ago(1000) }),
    ];
    for (const status of ['healthy', 'degraded', 'unreachable', 'killed', 'unknown'] as const) {
      const filter = healthFilter(status, now, thresholds);
      for (const a of population)
        assert.equal(
          selects(filter, a),
          meshHealth(a, now, thresholds) === status,
          `${status} filter vs agent heartbeat ${a.lastHeartbeatAt?.toISOString() ?? 'never'} killed ${String(a.killedAt !== null)}`,
        );
    }
  });
});

describe('heartbeat events', () => {
  test('the first heartbeat writes agent.heartbeat_first', () => {
    const before = agent();
    const event = heartbeatEvent({ before, after: { ...before, lastHeartbeatAt: now } }, now, thresholds);
    assert.deepEqual(event, {
      eventType: 'agent.heartbeat_first',
      actorId: before.id,
      details: { health_status: 'healthy' },
    });
  });

  test('a steady agent writes nothing', () => {
    const before = agent({ lastHeartbeatAt: ago(30) });
    assert.equal(
      heartbeatEvent({ before, after: { ...before, lastHeartbeatAt: now } }, now, thresholds),
      null,
    );
  });

  test('a heartbeat that ends a silence writes agent.health_changed from the derived state', () => {
    for (const [silence, from] of [
      [120, 'degraded'],
      [600, 'unreachable'],
    ] as const) {
      const before = agent({ lastHeartbeatAt: ago(silence) });
      const event = heartbeatEvent({ before, after: { ...before, lastHeartbeatAt: now } }, now, thresholds);
      assert.equal(event?.eventType, 'agent.health_changed');
      assert.equal(event?.details?.from, from);
      assert.equal(event?.details?.to, 'healthy');
      assert.equal(event?.details?.silent_for_seconds, silence);
    }
  });

  test('a killed agent stays killed: its heartbeats change nothing, except the very first', () => {
    const killed = agent({ killedAt: ago(60), lastHeartbeatAt: ago(600) });
    assert.equal(
      heartbeatEvent({ before: killed, after: { ...killed, lastHeartbeatAt: now } }, now, thresholds),
      null,
    );
    const fresh = agent({ killedAt: ago(60) });
    assert.deepEqual(
      heartbeatEvent({ before: fresh, after: { ...fresh, lastHeartbeatAt: now } }, now, thresholds)?.details,
      { health_status: 'killed' },
    );
  });
});
