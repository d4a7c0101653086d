// Prometheus metrics end to end (docs/metrics.md): real gateway, worker and runner processes. Each
// /metrics is scraped before and after a scripted flow (intents created, one completed by its agent,
// one canceled, an http delivery that fails once, a human task waiting, an open SSE stream, an exec
// job that exits 0), and the series must have moved by what the flow did. Also: no credential, no
// tenant data in any label, and a clean error for other methods.
//
// Series labelled with this file's own intent_type move only by what this file does, so they are
// compared exactly. Delivery counters have only a `binding` label and Temporal workflows of earlier
// test files share the task queue, so those are compared as "at least". The human-task and queue
// gauges read shared tables and queues, so each is checked against direct reads taken just before
// and after the scrape.
import { HumanTaskRepository, platformScope, PrismaService } from '@axle/data';
import { QUEUES } from '@axle/protocol';
import {
  apiClient,
  AxleProcesses,
  parseSse,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
  type TestAgent,
  until,
} from '@axle/testing';
import { Queue } from 'bullmq';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Sample = { name: string; labels: Record<string, string>; value: number };

const sfx = randomUUID().slice(0, 8);
const INTENT_TYPE = `metrics.e2e.${sfx}.v1`;
const ORG = `metrics-${sfx}`;
const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const tasks = new HumanTaskRepository(prisma);
const queue = new Queue(QUEUES.execJobs, { connection: { url: requireEnv('REDIS_URL') } });

let axle: AxleProcesses;
let admin: Api;
let anonymous: Api;
let agent: TestAgent;
let asAgent: Api;
let execUser: TestAgent;
let hook: Server;
let hookCalls = 0;

// ----- a tiny parser of the Prometheus text format ------------------------------------------------

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    let consumed = 0;
    for (let m = pair.exec(body); m; m = pair.exec(body)) {
      labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      consumed += m[0].length;
    }
    assert.equal(consumed, body.length, `bad labels in ${line}`);
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sample with exactly these labels (0 when the series does not exist yet). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} is ambiguous`);
  return found[0]?.value ?? 0;
}

function has(samples: Sample[], name: string, labels: Record<string, string>): boolean {
  return samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

const urls = () => ({
  gateway: `${axle.baseUrl}/metrics`,
  worker: `http://127.0.0.1:${axle.env.AXLE_WORKER_HEALTH_PORT}/metrics`,
  runner: `http://127.0.0.1:${axle.env.AXLE_RUNNER_HEALTH_PORT}/metrics`,
});

async function scrapeText(app: 'gateway' | 'worker' | 'runner'): Promise<string> {
  const res = await fetch(urls()[app]);
  assert.equal(res.status, 200, `${app} /metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

async function scrape(app: 'gateway' | 'worker' | 'runner'): Promise<Sample[]> {
  return parseMetrics(await scrapeText(app));
}

// ----- flow helpers -------------------------------------------------------------------------------

async function create(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await admin('POST', '/v1/intents', {
    body: { intent_type: INTENT_TYPE, payload: { n: 1 }, ...body },
    headers,
  });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function statusOf(id: string): Promise<string> {
  const res = await admin('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return (res.body.intent as { status: string }).status;
}

const reachStatus = (id: string, status: string) =>
  until(`${id} ${status}`, async () => ((await statusOf(id)) === status ? true : undefined));

/** Opens a follow stream of one intent's events and reads until `stop` says so; then keeps it open. */
async function openIntentStream(id: string, stop: (events: string[]) => boolean) {
  const controller = new AbortController();
  const res = await fetch(`${axle.baseUrl}/v1/intents/${id}/events/stream?since=0&follow=true`, {
    headers: { 'x-api-key': TEST_ADMIN_KEY },
    signal: controller.signal,
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events: string[] = [];
  while (!stop(events)) {
    const chunk = await reader.read();
    assert.ok(!chunk.done, 'the stream ended early');
    text += decoder.decode(chunk.value as Uint8Array, { stream: true });
    events.splice(0, events.length, ...parseSse(text).map((f) => f.event));
  }
  return {
    events,
    close: () => {
      controller.abort();
      void reader.cancel().catch(() => undefined);
    },
  };
}

describe('metrics end to end', () => {
  before(async () => {
    hook = createServer((req, res) => {
      req.resume();
      hookCalls++;
      // The first delivery fails, the next succeeds.
      res.writeHead(hookCalls === 1 ? 503 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookPort = (hook.address() as { port: number }).port;

    axle = await AxleProcesses.create({
      AXLE_EXEC_ALLOW_NONE: 'true',
      AXLE_DELIVERY_BACKOFF_MS: '100',
      AXLE_DELIVERY_BACKOFF_MAX_MS: '200',
    });
    await axle.startAll(['gateway', 'worker']);
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    agent = await registerTestAgent(prisma, { org: 'default', name: `metrics-agent-${sfx}` });
    asAgent = apiClient(axle.baseUrl, agent.key);
    await registerTestAgent(prisma, {
      org: 'default',
      name: `metrics-http-${sfx}`,
      deliveryMode: 'http',
      callbackUrl: `http://127.0.0.1:${hookPort}/deliver`,
    });
    execUser = await registerTestAgent(prisma, { org: ORG, name: 'exec-user' });
    await until('the admin key', async () =>
      (await admin('GET', '/v1/intents?limit=1')).status === 200 ? true : undefined,
    );
  });
  after(async () => {
    await axle.stopAll();
    await new Promise((resolve) => hook.close(resolve));
    await queue.close();
    await prisma.onModuleDestroy();
  });

  test('the scripted flow moves every series by what it did', { timeout: 150_000 }, async () => {
    const gatewayBefore = await scrape('gateway');
    const workerBefore = await scrape('worker');
    const POST_INTENTS = { method: 'POST', route: '/v1/intents', status_code: '200' };

    // 1. Four intents; one sent twice with the same Idempotency-Key (the replay creates nothing).
    const key = randomUUID();
    const toComplete = await create({ to_agent: agent.address }, { 'idempotency-key': key });
    assert.equal(await create({ to_agent: agent.address }, { 'idempotency-key': key }), toComplete);
    const toCancel = await create({ to_agent: agent.address });
    const overHttp = await create({ to_agent: `agent://default/default/metrics-http-${sfx}` });
    const waitingForHuman = await create({
      to_agent: `agent://default/default/metrics-reviewer-${sfx}`,
      human_task: { title: 'Approve?', task_type: 'approval', assignees: [`ops-${sfx}@example.com`] },
    });

    // 2. The agent reads its delivery stream and completes one; the sender cancels another.
    await reachStatus(toComplete, 'DELIVERED');
    await reachStatus(toCancel, 'DELIVERED');
    const stream = await asAgent(
      'GET',
      `/v1/agents/default/default/metrics-agent-${sfx}/intents/stream?since=0&wait_seconds=5`,
    );
    assert.equal(stream.status, 200, stream.text);
    const agentFrames = parseSse(stream.text).filter((f) => f.id !== null);
    assert.deepEqual(agentFrames.map((f) => f.data.intent_id).sort(), [toComplete, toCancel].sort());
    const resumed = await asAgent('POST', `/v1/intents/${toComplete}/resume`, {
      body: { action: 'complete', result: { done: true } },
    });
    assert.equal(resumed.status, 200, resumed.text);
    const canceled = await admin('POST', `/v1/intents/${toCancel}/resolve`, {
      body: { status: 'CANCELED', reason: 'metrics e2e' },
    });
    assert.equal(canceled.status, 200, canceled.text);

    // 3. The http agent's endpoint fails once, then takes the delivery.
    await reachStatus(overHttp, 'DELIVERED');
    assert.equal(hookCalls, 2);

    // 4. A human task waits; an SSE stream of its intent stays open after reading its events.
    await reachStatus(waitingForHuman, 'WAITING');
    const expectedFrames = (
      (await admin('GET', `/v1/intents/${waitingForHuman}/events?since=0`)).body.events as unknown[]
    ).length;
    const sse = await openIntentStream(waitingForHuman, (events) => events.length >= expectedFrames);
    assert.equal(sse.events.length, expectedFrames);

    // 5. A 404 without a route, and a routed GET whose path carries an id.
    const unmatchedPath = `/v1/no-such-route/${randomUUID()}`;
    assert.equal((await admin('GET', unmatchedPath)).status, 404);
    await reachStatus(toComplete, 'COMPLETED');
    await reachStatus(toCancel, 'CANCELED');

    const tasksLow = await tasks.countOpen(platformScope());
    const gatewayText = await scrapeText('gateway');
    const tasksHigh = await tasks.countOpen(platformScope());
    const gateway = parseMetrics(gatewayText);
    const worker = await scrape('worker');
    const delta = (after: Sample[], before: Sample[], name: string, labels: Record<string, string> = {}) =>
      value(after, name, labels) - value(before, name, labels);

    // Gateway.
    assert.equal(
      delta(gateway, gatewayBefore, 'axle_intents_created_total', { intent_type: INTENT_TYPE }),
      4,
    );
    assert.equal(
      delta(gateway, gatewayBefore, 'axle_http_request_duration_seconds_count', POST_INTENTS),
      5,
      'the replay is a request too',
    );
    assert.equal(
      delta(gateway, gatewayBefore, 'axle_http_request_duration_seconds_bucket', {
        ...POST_INTENTS,
        le: '+Inf',
      }),
      5,
    );
    assert.ok(delta(gateway, gatewayBefore, 'axle_http_request_duration_seconds_sum', POST_INTENTS) > 0);
    assert.equal(
      delta(gateway, gatewayBefore, 'axle_http_request_duration_seconds_count', {
        method: 'GET',
        route: 'unmatched',
        status_code: '404',
      }),
      1,
    );
    assert.ok(has(gateway, 'axle_http_request_duration_seconds_count', { route: '/v1/intents/:id' }));
    assert.ok(!has(gateway, 'axle_http_request_duration_seconds_count', { route: '/metrics' }));
    assert.ok(
      !gateway.some((s) => s.labels.route?.includes('stream')),
      'SSE streams are not in the latency histogram',
    );
    assert.equal(delta(gateway, gatewayBefore, 'axle_sse_streams_open', { stream: 'intent_events' }), 1);
    assert.equal(
      delta(gateway, gatewayBefore, 'axle_event_delivery_lag_seconds_count', { stream: 'intent_events' }),
      expectedFrames,
    );
    assert.equal(
      delta(gateway, gatewayBefore, 'axle_event_delivery_lag_seconds_count', { stream: 'agent' }),
      agentFrames.length,
    );
    const waiting = value(gateway, 'axle_human_tasks_waiting');
    assert.ok(waiting >= 1, 'this flow left a task open');
    assert.ok(
      Math.min(tasksLow, tasksHigh) <= waiting && waiting <= Math.max(tasksLow, tasksHigh),
      `${tasksLow} ≤ ${waiting} ≤ ${tasksHigh}`,
    );
    for (const state of ['waiting', 'active', 'delayed', 'failed'])
      assert.ok(has(gateway, 'axle_queue_jobs', { queue: QUEUES.execJobs, state }), state);
    assert.equal(value(gateway, 'axle_build_info', { version: '0.1.0', app: 'gateway' }), 1);

    // Worker.
    const terminal = (status: string) =>
      delta(worker, workerBefore, 'axle_intents_terminal_total', { status, intent_type: INTENT_TYPE });
    assert.equal(terminal('COMPLETED'), 1);
    assert.equal(terminal('CANCELED'), 1);
    assert.equal(terminal('FAILED'), 0);
    assert.ok(delta(worker, workerBefore, 'axle_delivery_attempts_total', { binding: 'http' }) >= 2);
    assert.ok(
      delta(worker, workerBefore, 'axle_delivery_failures_total', { binding: 'http', reason: 'http_5xx' }) >=
        1,
    );
    // A stream delivery is counted where its event is written: mostly the gateway's create, else
    // the worker's plan load; each delivery once, in one of them.
    const streamDeliveries = (metrics: typeof worker, before: typeof worker) =>
      delta(metrics, before, 'axle_delivery_attempts_total', { binding: 'stream' });
    assert.ok(streamDeliveries(worker, workerBefore) + streamDeliveries(gateway, gatewayBefore) >= 3);
    assert.equal(value(worker, 'axle_build_info', { version: '0.1.0', app: 'worker' }), 1);

    // The stream's client goes away: the gauge comes back down.
    sse.close();
    await until('the SSE gauge to drop', async () => {
      const now = await scrape('gateway');
      return value(now, 'axle_sse_streams_open', { stream: 'intent_events' }) ===
        value(gatewayBefore, 'axle_sse_streams_open', { stream: 'intent_events' })
        ? true
        : undefined;
    });

    // Canceling the human task's intent closes its task.
    const closed = await admin('POST', `/v1/intents/${waitingForHuman}/resolve`, {
      body: { status: 'CANCELED', reason: 'metrics e2e' },
    });
    assert.equal(closed.status, 200, closed.text);
    await reachStatus(waitingForHuman, 'CANCELED');
    await until('the CANCELED count', async () =>
      delta(await scrape('worker'), workerBefore, 'axle_intents_terminal_total', {
        status: 'CANCELED',
        intent_type: INTENT_TYPE,
      }) === 2
        ? true
        : undefined,
    );
  });

  test(
    'an exec job queued before a runner exists shows in the queue gauge, then in the runner counters',
    {
      timeout: 120_000,
    },
    async () => {
      const asExec = apiClient(axle.baseUrl, execUser.key);
      const session = await asExec('POST', '/v1/exec/sessions', {
        body: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
      });
      assert.equal(session.status, 200, session.text);
      const token = session.body.cap_token as string;
      const started = await asExec('POST', '/v1/exec/jobs', {
        body: { session_id: session.body.session_id, command: ['sh', '-c', 'echo metrics'] },
        headers: { 'x-axp-cap-token': token },
      });
      assert.equal(started.status, 200, started.text);
      const jobId = started.body.job_id as string;

      const low = (await queue.getJobCounts('waiting')).waiting ?? 0;
      const gateway = await scrape('gateway');
      const high = (await queue.getJobCounts('waiting')).waiting ?? 0;
      const waiting = value(gateway, 'axle_queue_jobs', { queue: QUEUES.execJobs, state: 'waiting' });
      assert.ok(
        high >= 1 && waiting >= Math.min(low, high) && waiting <= Math.max(low, high),
        `${low} ≤ ${waiting} ≤ ${high}`,
      );

      axle.start('runner');
      await axle.waitReady();
      await until(`job ${jobId} exited`, async () => {
        const job = await asExec('GET', `/v1/exec/jobs/${jobId}`, { headers: { 'x-axp-cap-token': token } });
        return (job.body.job as { status: string }).status === 'exited' ? true : undefined;
      });
      const runner = await scrape('runner');
      const exited = value(runner, 'axle_exec_jobs_total', { status: 'exited' });
      assert.ok(exited >= 1);
      assert.equal(value(runner, 'axle_exec_job_duration_seconds_count', { status: 'exited' }), exited);
      assert.equal(
        value(runner, 'axle_exec_job_duration_seconds_bucket', { status: 'exited', le: '+Inf' }),
        exited,
      );
      assert.equal(value(runner, 'axle_build_info', { version: '0.1.0', app: 'runner' }), 1);
      assert.ok(has(runner, 'process_cpu_user_seconds_total', {}));
      assert.ok(has(runner, 'nodejs_eventloop_lag_seconds', {}));
    },
  );

  test('/metrics needs no credential and carries no tenant data', async () => {
    const org = await prisma.client.organization.findFirstOrThrow({ where: { slug: ORG } });
    const defaultOrg = await prisma.client.organization.findFirstOrThrow({ where: { slug: 'default' } });
    for (const app of ['gateway', 'worker', 'runner'] as const) {
      const text = await scrapeText(app);
      for (const secret of [
        org.id,
        defaultOrg.id,
        ORG,
        'agent://',
        agent.key,
        execUser.key,
        TEST_ADMIN_KEY,
        '@example.com',
      ])
        assert.ok(!text.includes(secret), `${app} /metrics shows ${secret}`);
      assert.doesNotMatch(
        text,
        /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/,
        `${app}: an id in a label`,
      );
      for (const sample of parseMetrics(text))
        for (const label of Object.keys(sample.labels))
          assert.doesNotMatch(label, /org|address|agent|user/, `${app}: ${sample.name}{${label}}`);
    }
    // A gateway scrape with a wrong key still answers: the route ignores credentials.
    const res = await fetch(`${axle.baseUrl}/metrics`, { headers: { 'x-api-key': 'axme_sa_bogus' } });
    assert.equal(res.status, 200);
    const anon = await anonymous('GET', '/metrics?format=junk&name[]=x');
    assert.equal(anon.status, 200);
    assert.match(anon.text, /^# HELP /m);
  });

  test('other methods on /metrics get a clean JSON error, never a 5xx', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await anonymous(method, '/metrics', { body: { a: 1 } });
      assert.ok([404, 405].includes(res.status), `${method} gateway: ${res.status}`);
      assert.equal(res.body.ok, false, res.text);
      assert.equal(typeof (res.body.error as { code: string }).code, 'string');
    }
    const oversized = await anonymous('POST', '/metrics', { rawBody: 'x'.repeat(2_000_000) });
    assert.ok(oversized.status >= 400 && oversized.status < 500, String(oversized.status));
    for (const app of ['worker', 'runner'] as const) {
      for (const method of ['POST', 'DELETE']) {
        const res = await fetch(urls()[app], { method, body: method === 'POST' ? '{}' : undefined });
        assert.equal(res.status, 405, `${method} ${app}`);
        assert.equal(res.headers.get('allow'), 'GET, HEAD');
        const body = (await res.json()) as { ok: boolean; error: { code: string } };
        assert.equal(body.ok, false);
        assert.equal(body.error.code, 'method_not_allowed');
      }
      const head = await fetch(urls()[app], { method: 'HEAD' });
      assert.equal(head.status, 200);
    }
  });
});
