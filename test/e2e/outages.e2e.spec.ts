// Dependency outages (SPEC §1: 503 with Retry-After while a dependency is down): a gateway and a
// worker run against a PostgreSQL, Redis and Temporal of this file's own, which it stops and starts
// again on the same port and data. While one is down, the routes that need it answer 503
// dependency_unavailable with Retry-After (before any SSE header), the others keep working, and
// /ready says which is down; once it is back, the SAME gateway process serves 200s again.
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  generateSigningKey,
  PrivateStack,
  type ServiceName,
  signedHeaders,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

let stack: PrivateStack;
let axle: AxleProcesses;
let api: ReturnType<typeof apiClient>;
let gatewayPid: number | undefined;

function intentBody() {
  return {
    intent_type: 'ops.deploy.v1',
    correlation_id: randomUUID(),
    to_agent: 'agent://default/default/deployer',
    payload: { service: 'api-gateway' },
  };
}

function assertUnavailable(res: ApiResponse, dependency: string, what: string) {
  assert.equal(res.status, 503, `${what}: ${res.status} ${res.text}`);
  assert.equal(res.body.ok, false, what);
  const error = res.body.error as { code: string; details?: { dependency?: string } };
  assert.equal(error.code, 'dependency_unavailable', what);
  assert.equal(error.details?.dependency, dependency, what);
  assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/, `${what}: not an SSE answer`);
}

async function readyChecks(): Promise<{ status: number; checks: Record<string, string> }> {
  const res = await api('GET', '/ready');
  return { status: res.status, checks: res.body.checks as Record<string, string> };
}

/** Polls until `probe` passes (the dependency came back), failing with the last answer after a bound. */
async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 60_000;
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function waitForStatus(id: string, status: string) {
  return eventually(
    `intent ${id} ${status}`,
    () => api('GET', `/v1/intents/${id}`),
    (res) => (res.body.intent as { status?: string } | undefined)?.status === status,
  );
}

async function deliveredIntent(): Promise<string> {
  const res = await api('POST', '/v1/intents', { body: intentBody() });
  assert.equal(res.status, 200, res.text);
  const id = res.body.intent_id as string;
  await waitForStatus(id, 'DELIVERED');
  return id;
}

/** Rows of idempotency_records for a key (a fresh connection each time: the database may go away). */
async function claimsOf(key: string): Promise<number> {
  const client = new pg.Client({ connectionString: stack.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM idempotency_records WHERE key = $1',
      [key],
    );
    return rows[0]?.n ?? 0;
  } finally {
    await client.end();
  }
}

/** Takes `name` away for the duration of `during`, then brings it back, even when `during` fails. */
async function outage(name: ServiceName, during: () => Promise<void>): Promise<void> {
  await stack.stopService(name);
  try {
    await during();
  } finally {
    await stack.startService(name);
  }
}

function assertSameGateway() {
  const child = axle.children.get('gateway');
  assert.equal(child?.pid, gatewayPid, 'the gateway was not restarted');
  assert.equal(child?.exitCode, null, 'the gateway is still running');
}

describe('dependency outages (private PostgreSQL, Redis and Temporal)', () => {
  before(async () => {
    stack = await PrivateStack.start();
    axle = await AxleProcesses.create({ ...stack.env, LOG_LEVEL: 'info' });
    api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    await axle.startAll(['gateway', 'worker']);
    gatewayPid = axle.children.get('gateway')?.pid;
  });
  after(async () => {
    await axle?.stopAll();
    await stack?.stopAll();
  });

  test('PostgreSQL down: every database route is 503 with Retry-After, /ready 503; back: 200s again', async () => {
    const id = await deliveredIntent();
    await outage('postgres', async () => {
      const calls: [string, () => Promise<ApiResponse>][] = [
        ['create', () => api('POST', '/v1/intents', { body: intentBody() })],
        [
          'create with a key',
          () =>
            api('POST', '/v1/intents', { body: intentBody(), headers: { 'idempotency-key': randomUUID() } }),
        ],
        ['get', () => api('GET', `/v1/intents/${id}`)],
        ['events', () => api('GET', `/v1/intents/${id}/events?since=0`)],
        [
          'resume with a key',
          () =>
            api('POST', `/v1/intents/${id}/resume`, {
              body: { action: 'complete' },
              headers: { 'idempotency-key': randomUUID() },
            }),
        ],
        ['intent stream', () => api('GET', `/v1/intents/${id}/events/stream?since=0&wait_seconds=1`)],
        [
          'agent stream',
          () => api('GET', '/v1/agents/default/default/deployer/intents/stream?since=0&wait_seconds=1'),
        ],
        // A credential the gateway has not seen yet must be looked up: 503, not 401.
        [
          'unknown key',
          () =>
            apiClient(axle.baseUrl, `axme_sa_${randomUUID()}_${'ef'.repeat(32)}`)('GET', `/v1/intents/${id}`),
        ],
      ];
      for (const [what, call] of calls) assertUnavailable(await call(), 'postgres', what);
      const ready = await readyChecks();
      assert.equal(ready.status, 503);
      assert.equal(ready.checks.postgres, 'down');
      assert.equal((await api('GET', '/health')).status, 200, 'the process itself is alive');
    });
    await eventually(
      'get after PostgreSQL is back',
      () => api('GET', `/v1/intents/${id}`),
      (r) => r.status === 200,
    );
    await eventually('ready', readyChecks, (r) => r.status === 200);
    const resumed = await api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.body.status, 'COMPLETED');
    const created = await api('POST', '/v1/intents', { body: intentBody() });
    assert.equal(created.status, 200, created.text);
    assertSameGateway();
  });

  test('Redis down: SSE streams 503 before any header; intents are still created; back: streams again', async () => {
    const id = await deliveredIntent();
    let createdId = '';
    await outage('redis', async () => {
      assertUnavailable(
        await api('GET', `/v1/intents/${id}/events/stream?since=0&wait_seconds=1`),
        'redis',
        'intent stream',
      );
      assertUnavailable(
        await api('GET', '/v1/agents/default/default/deployer/intents/stream?since=0&wait_seconds=1'),
        'redis',
        'agent stream',
      );
      const created = await api('POST', '/v1/intents', {
        body: intentBody(),
        headers: { 'idempotency-key': randomUUID() },
      });
      assert.equal(created.status, 200, `create needs only PostgreSQL and Temporal: ${created.text}`);
      assert.equal(created.headers.get('x-ratelimit-limit'), null, 'the rate limiter fails open: no headers');
      createdId = created.body.intent_id as string;
      assert.equal((await api('GET', `/v1/intents/${id}`)).status, 200);
      const ready = await readyChecks();
      assert.equal(ready.status, 503);
      assert.equal(ready.checks.redis, 'down');
      assert.equal(ready.checks.postgres, 'up');
      assert.match(axle.output('gateway'), /fail-open/, 'the fail-open warning is logged');
    });
    const stream = await eventually(
      'intent stream after Redis is back',
      () => api('GET', `/v1/intents/${id}/events/stream?since=0&wait_seconds=1`),
      (r) => r.status === 200,
    );
    assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.match(stream.text, /intent\.delivered/);
    await eventually('ready', readyChecks, (r) => r.status === 200);
    // The created intent went on through the worker while Redis was away or after.
    await waitForStatus(createdId, 'DELIVERED');
    assertSameGateway();
  });

  test('Redis down: signed requests are 503 (the nonce cannot be checked), unsigned pass; back: signed again', async () => {
    const key = generateSigningKey();
    const registered = await api('PUT', '/v1/agents/default/default/admin/signing-key', {
      body: { public_key: key.publicKey },
    });
    assert.equal(registered.status, 200, registered.text);
    const path = '/v1/intents?limit=1';
    const signed = () => api('GET', path, { headers: signedHeaders({ ...key, method: 'GET', path }) });
    assert.equal((await signed()).status, 200);
    await outage('redis', async () => {
      // Accepting without the nonce check could let a captured request be replayed: fail closed.
      assertUnavailable(await signed(), 'redis', 'signed request');
      assert.equal((await api('GET', path)).status, 200, 'unsigned requests do not need Redis');
    });
    await eventually('signed request after Redis is back', signed, (r) => r.status === 200);
    assertSameGateway();
  });

  test('Temporal down: resume is 503 with Retry-After, create stays durable, reads work; back: 200', async () => {
    const id = await deliveredIntent();
    const createBody = intentBody();
    await outage('temporal', async () => {
      assertUnavailable(
        await api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } }),
        'temporal',
        'resume',
      );
      const keyed = await api('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'complete' },
        headers: { 'idempotency-key': 'outage-resume' },
      });
      assertUnavailable(keyed, 'temporal', 'resume with a key');
      // The intent is durable, so the create answers 200; its workflow starts once Temporal is back
      // (a replay of the key, or the worker's reconciler).
      const create = await api('POST', '/v1/intents', {
        body: createBody,
        headers: { 'idempotency-key': 'outage-create' },
      });
      assert.deepEqual([create.status, create.body.status], [200, 'SUBMITTED'], create.text);
      assert.equal((await api('GET', `/v1/intents/${id}`)).status, 200);
      const ready = await readyChecks();
      assert.equal(ready.status, 503);
      assert.equal(ready.checks.temporal, 'down');
    });
    // The 503 was not stored: the same key is tried again and succeeds.
    const resumed = await eventually(
      'resume after Temporal is back',
      () =>
        api('POST', `/v1/intents/${id}/resume`, {
          body: { action: 'complete' },
          headers: { 'idempotency-key': 'outage-resume' },
        }),
      (r) => r.status !== 503,
    );
    assert.equal(resumed.status, 200, resumed.text);
    assert.equal(resumed.body.status, 'COMPLETED');
    const created = await api('POST', '/v1/intents', {
      body: createBody,
      headers: { 'idempotency-key': 'outage-create' },
    });
    assert.equal(created.status, 200, created.text);
    await waitForStatus(created.body.intent_id as string, 'DELIVERED');
    await eventually('ready', readyChecks, (r) => r.status === 200);
    assertSameGateway();
  });

  // Found by the chaos scenario `restarts`: a request that claimed its key and then failed while
  // PostgreSQL was away could not release the key, so the client's retry after Retry-After got 409
  // idempotency_in_progress for a minute. Here the resume claims its key, waits for a worker that
  // is stopped, PostgreSQL goes away, and Temporal too, which ends the resume with a 503 that cannot
  // be written; once both are back, the retry with the same key runs (200), not 409.
  test('a 503 answered while PostgreSQL is down releases its Idempotency-Key once it is back', async () => {
    const id = await deliveredIntent();
    const key = `outage-release-${randomUUID()}`;
    await axle.stop('worker');
    const first = api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'complete' },
      headers: { 'idempotency-key': key },
    });
    // The claim is in the database and the resume waits for a worker to take the update.
    await eventually(
      'claim stored',
      () => claimsOf(key),
      (n) => n === 1,
    );
    await stack.stopService('postgres');
    let answer: ApiResponse | undefined;
    try {
      await outage('temporal', async () => {
        answer = await first;
      });
    } finally {
      await stack.startService('postgres');
    }
    assertUnavailable(answer!, 'temporal', 'the resume in flight');
    axle.start('worker');
    await axle.waitReady();
    const retried = await eventually(
      'resume retried with the same key',
      () =>
        api('POST', `/v1/intents/${id}/resume`, {
          body: { action: 'complete' },
          headers: { 'idempotency-key': key },
        }),
      (r) => r.status !== 503,
    );
    assert.equal(retried.status, 200, retried.text);
    assert.equal(retried.body.status, 'COMPLETED');
    assertSameGateway();
  });
});
