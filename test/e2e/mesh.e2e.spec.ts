// The agent mesh end to end (docs/mesh.md) on real gateway and worker processes, PostgreSQL, Redis
// and Temporal: heartbeats and health states, the configured thresholds, summary counts, mesh events,
// the kill switch on the http and stream bindings (nothing delivered while killed, everything after
// the resume, exactly once), the resume notice, access rules and bad input.
import { PrismaService } from '@axle/data';
import { REDIS_CHANNELS } from '@axle/protocol';
import {
  apiClient,
  AxleProcesses,
  HttpSink,
  parseSse,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
  type TestAgent,
} from '@axle/testing';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Redis } from 'ioredis';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type MeshAgent = {
  address_id: string;
  address: string;
  display_name: string;
  health_status: string;
  last_heartbeat_at: string | null;
  created_at: string;
  intents_period: number;
  cost_period: number;
  metadata: Record<string, unknown> | null;
};
type MeshEvent = {
  event_id: string;
  address: string;
  event_type: string;
  details: Record<string, unknown> | null;
  actor_id: string | null;
  created_at: string;
};

// Non-default thresholds, so the assertions below show that the configuration is what counts.
const DEGRADED_AFTER_SECONDS = 60;
const UNREACHABLE_AFTER_SECONDS = 120;

let axle: AxleProcesses;
let admin: Api;
let anonymous: Api;
let prisma: PrismaService;
let temporal: Connection;
let sink: HttpSink;

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const suffix = () => randomUUID().slice(0, 8);

/** A fresh org with an operator (the org's mesh operator) and a member. */
async function freshOrg(): Promise<{
  slug: string;
  operator: TestAgent & { api: Api };
  member: TestAgent & { api: Api };
}> {
  const slug = `mesh-${suffix()}`;
  const operator = await agentIn(slug, 'operator', { role: 'operator' });
  const member = await agentIn(slug, 'member');
  return { slug, operator, member };
}

async function agentIn(
  org: string,
  name: string,
  options: { role?: string; deliveryMode?: string; callbackUrl?: string } = {},
): Promise<TestAgent & { api: Api }> {
  const agent = await registerTestAgent(prisma, {
    org,
    name,
    ...(options.deliveryMode ? { deliveryMode: options.deliveryMode } : {}),
    ...(options.callbackUrl ? { callbackUrl: options.callbackUrl } : {}),
  });
  if (options.role)
    await prisma.client.serviceAccount.update({ where: { id: agent.id }, data: { role: options.role } });
  return { ...agent, api: apiClient(axle.baseUrl, agent.key) };
}

/** Moves an agent's last heartbeat into the past (instead of waiting for it to age). */
async function heartbeatAgo(agentId: string, seconds: number): Promise<void> {
  await prisma.client.serviceAccount.update({
    where: { id: agentId },
    data: { lastHeartbeatAt: new Date(Date.now() - seconds * 1000) },
  });
}

async function meshAgent(api: Api, id: string): Promise<MeshAgent> {
  const res = await api('GET', `/v1/mesh/agents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.agent as MeshAgent;
}

async function events(api: Api, query = ''): Promise<MeshEvent[]> {
  const res = await api('GET', `/v1/mesh/events${query}`);
  assert.equal(res.status, 200, res.text);
  return res.body.events as MeshEvent[];
}

async function send(api: Api, toAgent: string): Promise<string> {
  const res = await api('POST', '/v1/intents', {
    body: { intent_type: 'ops.mesh.v1', to_agent: toAgent, payload: { n: suffix() } },
  });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function intentOf(id: string): Promise<Record<string, unknown>> {
  return (await admin('GET', `/v1/intents/${id}`)).body.intent as Record<string, unknown>;
}

/**
 * The intent workflow's status and pending http delivery as Temporal reports them (workflow id =
 * intent id); status NOT_STARTED before its start.
 */
async function pendingDelivery(intentId: string) {
  const client = new Client({ connection: temporal, namespace: 'default' });
  // A create answers before its workflow starts (docs/api.md), so the first look may find none.
  const description = await client.workflow
    .getHandle(intentId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    });
  if (!description) return { status: 'NOT_STARTED', attempt: 0, failureType: null };
  const pending = description.raw.pendingActivities?.find((a) => a.activityType?.name === 'deliverHttp');
  return {
    status: description.status.name,
    attempt: pending?.attempt ?? 0,
    failureType: pending?.lastFailure?.applicationFailureInfo?.type ?? null,
  };
}

describe('agent mesh end to end', () => {
  before(async () => {
    sink = new HttpSink();
    await sink.start();
    axle = await AxleProcesses.create({
      LOG_LEVEL: 'info',
      AXLE_MESH_DEGRADED_AFTER_SECONDS: String(DEGRADED_AFTER_SECONDS),
      AXLE_MESH_UNREACHABLE_AFTER_SECONDS: String(UNREACHABLE_AFTER_SECONDS),
      AXLE_MESH_KILLED_RECHECK_MAX_SECONDS: '1',
      AXLE_DELIVERY_BACKOFF_MS: '50',
      AXLE_DELIVERY_BACKOFF_MAX_MS: '200',
    });
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway', 'worker']);
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    temporal = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
    await until(
      () => admin('GET', '/v1/mesh/agents?limit=1'),
      (r) => r.status === 200,
      'the gateway accepts the admin key',
    );
  });
  after(async () => {
    await axle.stopAll();
    await sink.stop();
    await prisma?.onModuleDestroy();
    await temporal?.close();
  });

  test('no heartbeat yet is unknown; a heartbeat makes the agent healthy and writes one first-heartbeat event', async () => {
    const { slug, operator } = await freshOrg();
    const agent = await agentIn(slug, `bot-${suffix()}`);
    const before = await meshAgent(operator.api, agent.id);
    assert.equal(before.health_status, 'unknown');
    assert.equal(before.last_heartbeat_at, null);

    // The SDKs send an empty body with a JSON content type when they have no metrics.
    const beat = await agent.api('POST', '/v1/mesh/heartbeat', {
      rawBody: '',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(beat.status, 200, beat.text);
    assert.equal(beat.body.ok, true);
    assert.equal(beat.body.address_id, agent.id);
    assert.equal(beat.body.address, agent.address);
    assert.equal(beat.body.health_status, 'healthy');
    assert.match(String(beat.body.last_heartbeat_at), /^\d{4}-\d{2}-\d{2}T/);
    const second = await agent.api('POST', '/v1/mesh/heartbeat', {
      body: {
        metrics: {
          intents_total: 2,
          intents_succeeded: 2,
          intents_failed: 0,
          avg_latency_ms: 41.5,
          cost_usd: 0.02,
        },
      },
    });
    assert.equal(second.status, 200, second.text);

    const detail = await operator.api('GET', `/v1/mesh/agents/${agent.id}`);
    assert.equal(detail.status, 200, detail.text);
    const view = detail.body.agent as MeshAgent;
    assert.deepEqual(Object.keys(view).sort(), [
      'address',
      'address_id',
      'cost_period',
      'created_at',
      'display_name',
      'health_status',
      'intents_period',
      'last_heartbeat_at',
      'metadata',
    ]);
    assert.equal(view.health_status, 'healthy');
    assert.equal(view.last_heartbeat_at, second.body.last_heartbeat_at);
    assert.equal(view.cost_period, 0.02);
    assert.equal((detail.body.metrics as Record<string, unknown>).avg_latency_ms, 41.5);
    const own = detail.body.events as MeshEvent[];
    assert.deepEqual(
      own.map((e) => e.event_type),
      ['agent.heartbeat_first'],
      'two heartbeats, one event: a steady agent writes none',
    );
    assert.equal(own[0]!.actor_id, agent.id);
    assert.equal(own[0]!.address, agent.address);
  });

  test('health follows the configured thresholds; a heartbeat after a silence writes agent.health_changed', async () => {
    const { slug, operator } = await freshOrg();
    const agent = await agentIn(slug, `aging-${suffix()}`);
    assert.equal((await agent.api('POST', '/v1/mesh/heartbeat', { body: {} })).status, 200);
    for (const [age, health] of [
      [DEGRADED_AFTER_SECONDS - 20, 'healthy'],
      [DEGRADED_AFTER_SECONDS + 10, 'degraded'],
      [UNREACHABLE_AFTER_SECONDS - 10, 'degraded'],
      [UNREACHABLE_AFTER_SECONDS + 10, 'unreachable'],
    ] as const) {
      await heartbeatAgo(agent.id, age);
      assert.equal((await meshAgent(operator.api, agent.id)).health_status, health, `${age} s of silence`);
      const filtered = await operator.api('GET', `/v1/mesh/agents?health=${health}`);
      assert.equal(filtered.status, 200, filtered.text);
      assert.ok(
        (filtered.body.agents as MeshAgent[]).some((a) => a.address_id === agent.id),
        `?health=${health} lists the agent after ${age} s`,
      );
    }
    const back = await agent.api('POST', '/v1/mesh/heartbeat', { body: { metrics: null } });
    assert.equal(back.body.health_status, 'healthy');
    const changed = (await events(operator.api, '?event_type=agent.health_changed')).filter(
      (e) => e.address === agent.address,
    );
    assert.equal(changed.length, 1);
    assert.equal(changed[0]!.details?.from, 'unreachable');
    assert.equal(changed[0]!.details?.to, 'healthy');
  });

  test('list: summary counts over the whole org, health filter, limit, intents and cost in the window', async () => {
    const { slug, operator, member } = await freshOrg();
    const healthy = await agentIn(slug, 'healthy');
    const degraded = await agentIn(slug, 'degraded');
    const unreachable = await agentIn(slug, 'unreachable');
    const killed = await agentIn(slug, 'killed');
    for (const agent of [healthy, degraded, unreachable, killed])
      assert.equal((await agent.api('POST', '/v1/mesh/heartbeat', { body: {} })).status, 200);
    await healthy.api('POST', '/v1/mesh/heartbeat', {
      body: { metrics: { intents_total: 1, cost_usd: 0.25 } },
    });
    await heartbeatAgo(degraded.id, DEGRADED_AFTER_SECONDS + 10);
    await heartbeatAgo(unreachable.id, UNREACHABLE_AFTER_SECONDS + 10);
    assert.equal((await operator.api('POST', `/v1/mesh/agents/${killed.id}/kill`)).status, 200);
    await send(operator.api, healthy.address);
    await send(member.api, healthy.address);

    const all = await member.api('GET', '/v1/mesh/agents');
    assert.equal(all.status, 200, all.text);
    assert.equal(all.body.ok, true);
    // operator and member never heartbeated: they count in total only (unknown).
    assert.deepEqual(all.body.summary, { total: 6, healthy: 1, degraded: 1, unreachable: 1, killed: 1 });
    const byId = new Map((all.body.agents as MeshAgent[]).map((a) => [a.address_id, a]));
    assert.equal(byId.size, 6, 'only the org own agents');
    assert.deepEqual(
      [operator, member, healthy, degraded, unreachable, killed].map((a) => byId.get(a.id)?.health_status),
      ['unknown', 'unknown', 'healthy', 'degraded', 'unreachable', 'killed'],
    );
    assert.equal(byId.get(healthy.id)!.intents_period, 2);
    assert.equal(byId.get(healthy.id)!.cost_period, 0.25);
    assert.equal(byId.get(degraded.id)!.intents_period, 0);
    assert.equal(byId.get(killed.id)!.metadata?.killed_at !== null, true);
    assert.equal(byId.get(healthy.id)!.display_name, 'healthy');

    const unknown = await member.api('GET', '/v1/mesh/agents?health=unknown&window=week');
    assert.deepEqual(
      (unknown.body.agents as MeshAgent[]).map((a) => a.address_id).sort(),
      [operator.id, member.id].sort(),
    );
    assert.deepEqual(unknown.body.summary, all.body.summary, 'the summary ignores the filter');
    const limited = await member.api('GET', '/v1/mesh/agents?limit=2&window=month');
    assert.deepEqual(
      (limited.body.agents as MeshAgent[]).map((a) => a.address_id),
      [operator.id, member.id],
      'oldest first',
    );
    assert.equal((limited.body.summary as { total: number }).total, 6);
  });

  test('kill and resume: operators only, idempotent, one event each, audited; events list with filters', async () => {
    const { slug, operator, member } = await freshOrg();
    const target = await agentIn(slug, `target-${suffix()}`);

    const denied = await member.api('POST', `/v1/mesh/agents/${target.id}/kill`, { body: { reason: 'x' } });
    assert.equal(denied.status, 403, denied.text);
    assert.equal((denied.body.error as { code: string }).code, 'insufficient_role');
    assert.equal((await member.api('POST', `/v1/mesh/agents/${target.id}/resume`)).status, 403);

    const kill = await operator.api('POST', `/v1/mesh/agents/${target.id}/kill`, {
      body: { reason: 'runaway costs' },
    });
    assert.equal(kill.status, 200, kill.text);
    assert.equal(kill.body.ok, true);
    assert.equal(kill.body.changed, true);
    assert.equal((kill.body.agent as MeshAgent).health_status, 'killed');
    const again = await operator.api('POST', `/v1/mesh/agents/${target.id}/kill`, {
      body: { reason: 'again' },
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.changed, false);
    assert.equal(again.body.killed_at, kill.body.killed_at, 'the first kill stays');
    // A heartbeat does not bring a killed agent back.
    const beat = await target.api('POST', '/v1/mesh/heartbeat', { body: {} });
    assert.equal(beat.body.health_status, 'killed');

    // The SDKs send kill/resume without a body.
    const resume = await operator.api('POST', `/v1/mesh/agents/${target.id}/resume`);
    assert.equal(resume.status, 200, resume.text);
    assert.equal(resume.body.changed, true);
    assert.equal((resume.body.agent as MeshAgent).health_status, 'healthy');
    const resumeAgain = await operator.api('POST', `/v1/mesh/agents/${target.id}/resume`);
    assert.equal(resumeAgain.status, 200);
    assert.equal(resumeAgain.body.changed, false);

    const mine = (await events(member.api)).filter((e) => e.address === target.address);
    assert.deepEqual(
      mine.map((e) => e.event_type),
      ['agent.resumed', 'agent.heartbeat_first', 'agent.killed'],
      'newest first, one event per change',
    );
    const killedEvent = mine[2]!;
    assert.equal(killedEvent.actor_id, operator.id);
    assert.equal(killedEvent.details?.reason, 'runaway costs');
    assert.match(killedEvent.event_id, /^\d+$/);
    const onlyKills = await events(member.api, '?event_type=agent.killed');
    assert.ok(onlyKills.length >= 1 && onlyKills.every((e) => e.event_type === 'agent.killed'));
    assert.equal((await events(member.api, '?limit=1')).length, 1);
    assert.equal((await events(member.api, '?limit=1'))[0]!.event_type, 'agent.resumed');

    const audit = await prisma.client.auditEvent.findMany({
      where: { targetId: target.id, action: { in: ['mesh.kill', 'mesh.resume'] } },
      orderBy: { id: 'asc' },
    });
    assert.deepEqual(
      audit.map((a) => [a.action, a.outcome, a.actorId]),
      [
        ['mesh.kill', 'denied', member.id],
        ['mesh.resume', 'denied', member.id],
        ['mesh.kill', 'success', operator.id],
        ['mesh.kill', 'success', operator.id],
        ['mesh.resume', 'success', operator.id],
        ['mesh.resume', 'success', operator.id],
      ],
    );
    assert.deepEqual(
      audit.filter((a) => a.outcome === 'success').map((a) => (a.details as { changed: boolean }).changed),
      [true, false, true, false],
    );
  });

  test('access: another org is 404, unknown and non-uuid ids are 404, the platform admin may act anywhere', async () => {
    const a = await freshOrg();
    const b = await freshOrg();
    const target = await agentIn(a.slug, `x-${suffix()}`);
    for (const path of [`/v1/mesh/agents/${target.id}/kill`, `/v1/mesh/agents/${target.id}/resume`]) {
      const res = await b.operator.api('POST', path);
      assert.equal(res.status, 404, `${path}: ${res.text}`);
      assert.equal((res.body.error as { code: string }).code, 'agent_not_found');
    }
    assert.equal((await b.operator.api('GET', `/v1/mesh/agents/${target.id}`)).status, 404);
    const listed = (await b.operator.api('GET', '/v1/mesh/agents')).body.agents as MeshAgent[];
    assert.deepEqual(
      listed.map((x) => x.address_id).sort(),
      [b.operator.id, b.member.id].sort(),
      'only the caller’s org is listed',
    );
    for (const id of [randomUUID(), 'not-a-uuid', '1', encodeURIComponent("' OR 1=1 --")]) {
      for (const [method, path] of [
        ['GET', `/v1/mesh/agents/${id}`],
        ['POST', `/v1/mesh/agents/${id}/kill`],
        ['POST', `/v1/mesh/agents/${id}/resume`],
      ] as const) {
        const res = await a.operator.api(method, path);
        assert.equal(res.status, 404, `${method} ${path}: ${res.text}`);
      }
    }
    const platform = await admin('POST', `/v1/mesh/agents/${target.id}/kill`, {
      body: { reason: 'platform' },
    });
    assert.equal(platform.status, 200, platform.text);
    assert.equal((await admin('POST', `/v1/mesh/agents/${target.id}/resume`)).status, 200);
    // A heartbeat is always the caller's own agent: nothing in the body can name another.
    const other = await b.member.api('POST', '/v1/mesh/heartbeat', { body: { address_id: target.id } });
    assert.equal(other.status, 422, other.text);
  });

  test('unauthenticated requests are 401 on every mesh route', async () => {
    const id = randomUUID();
    for (const [method, path] of [
      ['POST', '/v1/mesh/heartbeat'],
      ['GET', '/v1/mesh/agents'],
      ['GET', `/v1/mesh/agents/${id}`],
      ['POST', `/v1/mesh/agents/${id}/kill`],
      ['POST', `/v1/mesh/agents/${id}/resume`],
      ['GET', '/v1/mesh/events'],
    ] as const) {
      const res = await anonymous(method, path, method === 'POST' ? { body: {} } : {});
      assert.equal(res.status, 401, `${method} ${path}`);
      const wrong = await apiClient(axle.baseUrl, `axme_sa_${randomUUID()}_${'cd'.repeat(32)}`)(method, path);
      assert.equal(wrong.status, 401, `${method} ${path} with an unknown key`);
    }
  });

  test('malformed and oversized input: 400, 413 and 422 with the failing field', async () => {
    const { slug, operator } = await freshOrg();
    const beat = (options: Parameters<Api>[2]) => operator.api('POST', '/v1/mesh/heartbeat', options);
    for (const [body, path] of [
      [{ metrics: { intents_total: -1 } }, 'metrics.intents_total'],
      [{ metrics: { intents_failed: 0.5 } }, 'metrics.intents_failed'],
      [{ metrics: { cost_usd: 'cheap' } }, 'metrics.cost_usd'],
      [{ metrics: { intents_total: 1, gpu_hours: 3 } }, 'metrics'],
      [{ status: 'ok' }, ''],
      [[], ''],
      ['alive', ''],
    ] as const) {
      const res = await beat({ body });
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
      const errors = (res.body.error as { details: { errors: { path: string }[] } }).details.errors;
      assert.ok(
        errors.some((e) => e.path === path),
        `${JSON.stringify(body)} names ${path || '(body)'}: ${res.text}`,
      );
    }
    assert.equal((await beat({ rawBody: '{"metrics": {' })).status, 400);
    const padded = await beat({ body: { metrics: { intents_total: 1 }, pad: 'x'.repeat(5000) } });
    assert.equal(padded.status, 413, padded.text);
    assert.equal((padded.body.error as { code: string }).code, 'payload_too_large');
    const huge = await beat({ rawBody: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }) });
    assert.equal(huge.status, 413);

    const target = await agentIn(slug, `v-${suffix()}`);
    for (const body of [
      { reason: '' },
      { reason: 'x'.repeat(501) },
      { reason: 'ok', force: true },
      { reason: 7 },
    ]) {
      const res = await operator.api('POST', `/v1/mesh/agents/${target.id}/kill`, { body });
      assert.equal(res.status, 422, `${JSON.stringify(body)}: ${res.text}`);
    }
    assert.equal(
      (await operator.api('POST', `/v1/mesh/agents/${target.id}/resume`, { body: { now: true } })).status,
      422,
    );
    assert.equal((await meshAgent(operator.api, target.id)).health_status, 'unknown', 'nothing was killed');
    for (const query of ['limit=0', 'limit=5000', 'limit=ten', 'health=sick', 'window=year']) {
      const res = await operator.api('GET', `/v1/mesh/agents?${query}`);
      assert.equal(res.status, 422, `${query}: ${res.text}`);
    }
    for (const query of ['limit=-1', 'event_type=agent.exploded']) {
      const res = await operator.api('GET', `/v1/mesh/events?${query}`);
      assert.equal(res.status, 422, `${query}: ${res.text}`);
    }
  });

  test('http binding: nothing is POSTed while killed, and the intent is delivered exactly once after the resume', async () => {
    const { slug, operator } = await freshOrg();
    const path = `/http-${suffix()}`;
    const agent = await agentIn(slug, `hook-${suffix()}`, {
      deliveryMode: 'http',
      callbackUrl: `${sink.url}${path}`,
    });
    await operator.api('POST', `/v1/mesh/agents/${agent.id}/kill`, { body: { reason: 'maintenance' } });
    const id = await send(operator.api, agent.address);

    // The delivery activity is held and re-checks the kill switch (attempt ≥ 3: it has looked twice).
    const held = await until(
      () => pendingDelivery(id),
      (p) => p.attempt >= 3,
      'the http delivery is held',
    );
    assert.equal(held.failureType, 'AgentKilled');
    assert.equal(held.status, 'RUNNING');
    assert.equal(sink.for(path).length, 0, 'nothing was POSTed to the killed agent');
    const waiting = await intentOf(id);
    assert.equal(waiting.status, 'SUBMITTED');
    assert.equal(waiting.delivery_attempt, 0, 'the hold used up no delivery attempt');

    assert.equal((await operator.api('POST', `/v1/mesh/agents/${agent.id}/resume`)).status, 200);
    const delivered = await until(
      () => intentOf(id),
      (i) => i.status === 'DELIVERED',
      'delivered after the resume',
    );
    assert.equal(delivered.delivery_attempt, 1);
    const posts = sink.for(path);
    assert.equal(posts.length, 1, 'exactly one POST');
    assert.equal(posts[0]!.body?.intent_id, id);
    assert.equal(posts[0]!.body?.delivery_attempt, 1);
  });

  test('http binding: an intent canceled while its agent is killed is never POSTed, and its workflow ends', async () => {
    const { slug, operator } = await freshOrg();
    const path = `/cancel-${suffix()}`;
    const agent = await agentIn(slug, `gone-${suffix()}`, {
      deliveryMode: 'http',
      callbackUrl: `${sink.url}${path}`,
    });
    await operator.api('POST', `/v1/mesh/agents/${agent.id}/kill`);
    const id = await send(operator.api, agent.address);
    await until(
      () => pendingDelivery(id),
      (p) => p.attempt >= 2,
      'the http delivery is held',
    );
    const cancel = await operator.api('POST', `/v1/intents/${id}/resolve`, {
      body: { status: 'CANCELED', reason: 'agent under maintenance' },
    });
    assert.equal(cancel.status, 200, cancel.text);
    await until(
      () => pendingDelivery(id),
      (p) => p.status === 'COMPLETED',
      'the workflow ends while killed',
    );
    assert.equal((await operator.api('POST', `/v1/mesh/agents/${agent.id}/resume`)).status, 200);
    assert.equal((await intentOf(id)).status, 'CANCELED');
    assert.equal(sink.for(path).length, 0);
  });

  test('stream binding: a killed agent’s stream yields nothing and keeps its cursor; the resume wakes it with the intent', async () => {
    const { slug, operator } = await freshOrg();
    const name = `listener-${suffix()}`;
    const agent = await agentIn(slug, name);
    const streamPath = (since: number, wait: number) =>
      `/v1/agents/${slug}/default/${name}/intents/stream?since=${since}&wait_seconds=${wait}`;
    await operator.api('POST', `/v1/mesh/agents/${agent.id}/kill`);
    const id = await send(operator.api, agent.address);
    // Queued on the agent's stream (for stream/poll, DELIVERED means appended to it).
    await until(
      () => intentOf(id),
      (i) => i.status === 'DELIVERED',
      'queued on the stream',
    );

    const whileKilled = await agent.api('GET', streamPath(0, 1));
    assert.equal(whileKilled.status, 200, whileKilled.text);
    const frames = parseSse(whileKilled.text);
    assert.deepEqual(
      frames.map((f) => f.event),
      ['stream.timeout'],
      `no delivery while killed: ${whileKilled.text}`,
    );
    assert.equal(frames[0]!.data.next_seq, 0, 'the cursor stays put');

    // A listener that waits across the resume gets the intent, and the resume published a notice.
    const subscriber = new Redis(requireEnv('REDIS_URL'));
    try {
      const notice = new Promise<string>((resolve) =>
        subscriber.on('message', (channel: string) => resolve(channel)),
      );
      await subscriber.subscribe(REDIS_CHANNELS.agentStream(agent.address));
      const listening = agent.api('GET', streamPath(0, 30));
      // Give the listener a moment to start waiting (either way it must end with the intent).
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await operator.api('POST', `/v1/mesh/agents/${agent.id}/resume`)).status, 200);
      assert.equal(await notice, REDIS_CHANNELS.agentStream(agent.address));
      const res = await listening;
      const delivered = parseSse(res.text).filter((f) => f.event.startsWith('intent.'));
      assert.deepEqual(
        delivered.map((f) => [f.data.intent_id, f.event]),
        [[id, 'intent.delivered']],
        res.text,
      );
    } finally {
      subscriber.disconnect();
    }
    const later = parseSse((await agent.api('GET', streamPath(0, 1))).text);
    assert.equal(
      later.filter((f) => f.data.intent_id === id).length,
      1,
      'one stream entry: the hold added none',
    );
  });
});
