// MeshRepository against real PostgreSQL: tenant scoping, one event per change under concurrent
// heartbeats and kills, the kill switch lookups, health filters and intent counts.
import { MeshRepository, platformScope, PrismaService, RegistryRepository } from '@axle/data';
import { createTestOrg, requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const mesh = new MeshRepository(prisma);
const registry = new RegistryRepository(prisma);

async function newOrg() {
  const { scope, workspaceId, slug } = await createTestOrg(prisma, 'mesh');
  const agent = async (name: string) =>
    registry.registerAgent(
      scope,
      { workspaceId, name, address: `agent://${slug}/default/${name}` },
      { secretHash: 'x', hint: 'xxxx' },
    );
  return { scope, agent };
}

const first = (t: { before: { lastHeartbeatAt: Date | null } }) =>
  t.before.lastHeartbeatAt ? null : { eventType: 'agent.heartbeat_first' };

describe('MeshRepository (real PostgreSQL)', () => {
  before(() => prisma.ping());
  after(() => prisma.onModuleDestroy());

  test('another org sees nothing: heartbeat, find, kill, resume are null; lists and counts are empty', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const agent = await a.agent('worker');
    const at = new Date();
    assert.equal(await mesh.recordHeartbeat(b.scope, agent.id, { at, metrics: null }, first), null);
    assert.equal(await mesh.findAgent(b.scope, agent.id), null);
    assert.equal(await mesh.kill(b.scope, agent.id, { at, actorId: 'x', reason: null }), null);
    assert.equal(await mesh.resume(b.scope, agent.id, { at, actorId: 'x' }), null);
    assert.equal(
      (await mesh.findAgent(a.scope, agent.id))?.killedAt,
      null,
      'the foreign kill changed nothing',
    );
    assert.deepEqual(await mesh.listAgents(b.scope, {}, 100), []);
    assert.deepEqual(await mesh.countAgents(b.scope, { total: {} }), { total: 0 });
    assert.equal(await mesh.isKilled(b.scope, agent.address), false);
    await mesh.kill(a.scope, agent.id, { at, actorId: 'op', reason: 'test' });
    assert.deepEqual(await mesh.listEvents(b.scope, { limit: 10 }), []);
    assert.equal((await mesh.listEvents(a.scope, { limit: 10 })).length, 1);
    assert.equal(await mesh.isKilled(b.scope, agent.address), false, 'scoped by org');
    assert.equal(await mesh.isKilled(a.scope, agent.address), true);
    assert.equal(await mesh.isKilled(platformScope(), agent.address), true);
  });

  test('concurrent first heartbeats write one agent.heartbeat_first, and leave updated_at alone', async () => {
    const { scope, agent } = await newOrg();
    const bot = await agent('bot');
    const updatedAt = (await prisma.client.serviceAccount.findUniqueOrThrow({ where: { id: bot.id } }))
      .updatedAt;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        mesh.recordHeartbeat(scope, bot.id, { at: new Date(), metrics: { intents_total: i } }, first),
      ),
    );
    assert.equal(results.filter((r) => r?.event).length, 1);
    assert.equal(results.filter((r) => r?.previousHeartbeatAt === null).length, 1);
    const events = await mesh.listEvents(scope, { limit: 100, address: bot.address });
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['agent.heartbeat_first'],
    );
    const row = await prisma.client.serviceAccount.findUniqueOrThrow({ where: { id: bot.id } });
    assert.ok(row.lastHeartbeatAt);
    assert.equal(row.updatedAt.getTime(), updatedAt.getTime());
    // A heartbeat without metrics keeps the last reported ones.
    await mesh.recordHeartbeat(scope, bot.id, { at: new Date(), metrics: null }, first);
    const kept = await mesh.findAgent(scope, bot.id);
    assert.equal(typeof kept?.heartbeatMetrics?.intents_total, 'number');
    assert.match(String(kept?.heartbeatMetrics?.reported_at), /^\d{4}-/);
  });

  test('concurrent kills change the agent once and write one event; resume likewise', async () => {
    const { scope, agent } = await newOrg();
    const bot = await agent('bot');
    const kills = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        mesh.kill(scope, bot.id, { at: new Date(Date.now() + i), actorId: `op-${i}`, reason: `r${i}` }),
      ),
    );
    assert.equal(kills.filter((k) => k?.changed).length, 1);
    const killedAt = kills.find((k) => k?.changed)!.killedAt!;
    assert.ok(
      kills.every((k) => k?.killedAt?.getTime() === killedAt.getTime()),
      'all see the first kill',
    );
    assert.equal((await mesh.killedSince(scope, bot.address))?.getTime(), killedAt.getTime());
    const resumes = await Promise.all(
      Array.from({ length: 6 }, () => mesh.resume(scope, bot.id, { at: new Date(), actorId: 'op' })),
    );
    assert.equal(resumes.filter((r) => r?.changed).length, 1);
    assert.equal(await mesh.isKilled(scope, bot.address), false);
    const events = await mesh.listEvents(scope, { limit: 100, address: bot.address });
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['agent.resumed', 'agent.killed'],
    );
    assert.deepEqual(
      (await mesh.listEvents(scope, { limit: 100, eventType: 'agent.killed' })).map((e) => e.address),
      [bot.address],
    );
  });

  test('health filters and counts select by kill switch and heartbeat age; intents are counted per window', async () => {
    const { scope, agent } = await newOrg();
    const [fresh, stale, never, killed] = await Promise.all(['fresh', 'stale', 'never', 'killed'].map(agent));
    const now = Date.now();
    await mesh.recordHeartbeat(scope, fresh!.id, { at: new Date(now - 1000), metrics: null }, first);
    await mesh.recordHeartbeat(scope, stale!.id, { at: new Date(now - 600_000), metrics: null }, first);
    await mesh.recordHeartbeat(scope, killed!.id, { at: new Date(now - 1000), metrics: null }, first);
    await mesh.kill(scope, killed!.id, { at: new Date(), actorId: 'op', reason: null });
    const cut = new Date(now - 60_000);
    const counts = await mesh.countAgents(scope, {
      total: {},
      killed: { killed: true },
      never: { killed: false, heartbeat: null },
      recent: { killed: false, heartbeat: { after: cut } },
      old: { killed: false, heartbeat: { atOrBefore: cut } },
    });
    assert.deepEqual(counts, { total: 4, killed: 1, never: 1, recent: 1, old: 1 });
    const ids = async (filter: Parameters<MeshRepository['listAgents']>[1]) =>
      (await mesh.listAgents(scope, filter, 100)).map((a) => a.id);
    assert.deepEqual(await ids({ killed: false, heartbeat: { after: cut } }), [fresh!.id]);
    assert.deepEqual(await ids({ killed: false, heartbeat: { atOrBefore: cut } }), [stale!.id]);
    assert.deepEqual(await ids({ killed: false, heartbeat: null }), [never!.id]);
    assert.equal((await mesh.listAgents(scope, {}, 2)).length, 2);

    const counted = await mesh.countIntentsTo(
      scope,
      [fresh!.address, stale!.address],
      new Date(now - 3_600_000),
    );
    assert.equal(counted.size, 0, 'no intents yet');
    assert.deepEqual(await mesh.countIntentsTo(scope, [], new Date()), new Map());
  });
});
