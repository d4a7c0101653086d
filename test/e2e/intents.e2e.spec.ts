// The thin slice end to end: real gateway and worker processes from dist/, real PostgreSQL, Redis
// and Temporal. Create → agent stream → resume → COMPLETED with ordered events, plus the edges.
import { type AppendEventInput, IntentRepository, orgScope, PrismaService } from '@axle/data';
import { Client, Connection } from '@temporalio/client';
import { SYSTEM_ACTOR } from '@axle/protocol';
import {
  apiClient,
  AxleProcesses,
  freePort,
  parseSse,
  registerTestAgent,
  requireEnv,
  runToExit,
  TEST_ADMIN_ADDRESS,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

let axle: AxleProcesses;
let api: ReturnType<typeof apiClient>;
let anonymous: ReturnType<typeof apiClient>;

function intentBody(overrides: Record<string, unknown> = {}) {
  return {
    intent_type: 'ops.deploy.v1',
    correlation_id: randomUUID(),
    to_agent: 'agent://default/default/deployer',
    payload: { service: 'api-gateway', version: '3.2.1' },
    ...overrides,
  };
}

async function createIntent(overrides: Record<string, unknown> = {}) {
  const res = await api('POST', '/v1/intents', { body: intentBody(overrides) });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function waitForStatus(id: string, status: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api('GET', `/v1/intents/${id}`);
    const intent = res.body.intent as Record<string, unknown>;
    if (intent.status === status) return intent;
    if (Date.now() > deadline) assert.fail(`intent ${id} is ${String(intent.status)}, expected ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('intent slice end to end', () => {
  before(async () => {
    axle = await AxleProcesses.create({ LOG_LEVEL: 'info' });
    api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway', 'worker']);
  });
  after(() => axle.stopAll());

  test('health routes answer ok without a credential and carry a request id', async () => {
    for (const path of ['/health', '/v1/health', '/ready']) {
      const res = await anonymous('GET', path);
      assert.equal(res.status, 200, path);
      assert.equal(res.body.ok, true);
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    }
  });

  test('happy path: create, agent stream, resume, COMPLETED with ordered events', async () => {
    const create = await api('POST', '/v1/intents', {
      body: intentBody({ payload: { service: 'api-gateway', version: '3.2.1', note: 'happy' } }),
    });
    assert.equal(create.status, 200);
    assert.equal(create.body.ok, true);
    assert.equal(create.body.status, 'SUBMITTED');
    assert.match(String(create.body.created_at), /^\d{4}-\d{2}-\d{2}T/);
    const id = create.body.intent_id as string;

    // Durable before the answer: events 1 and 2 exist already.
    const early = await api('GET', `/v1/intents/${id}/events?since=0`);
    assert.deepEqual(
      (early.body.events as { seq: number; event_type: string }[])
        .slice(0, 2)
        .map((e) => [e.seq, e.event_type]),
      [
        [1, 'intent.created'],
        [2, 'intent.submitted'],
      ],
    );

    // The agent's stream delivers it (admin may listen to any address).
    await waitForStatus(id, 'DELIVERED');
    const stream = await api(
      'GET',
      '/v1/agents/default/default/deployer/intents/stream?since=0&wait_seconds=5',
    );
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /text\/event-stream/);
    const frames = parseSse(stream.text);
    const delivery = frames.find((f) => f.data.intent_id === id);
    assert.ok(delivery, `no delivery for ${id} in ${stream.text}`);
    assert.equal(delivery.event, 'intent.delivered');
    assert.equal(delivery.data.status, 'DELIVERED');
    assert.deepEqual(delivery.data.payload, { service: 'api-gateway', version: '3.2.1', note: 'happy' });
    assert.equal(frames.at(-1)?.event, 'stream.timeout');

    const resume = await api(
      'POST',
      `/v1/intents/${id}/resume?owner_agent=${encodeURIComponent('agent://default/default/deployer')}`,
      {
        body: { action: 'complete', result: { deployed: true } },
      },
    );
    assert.equal(resume.status, 200, resume.text);
    assert.equal(resume.body.status, 'COMPLETED');

    const get = await api('GET', `/v1/intents/${id}`);
    const intent = get.body.intent as Record<string, unknown>;
    assert.equal(intent.status, 'COMPLETED');
    assert.equal(intent.lifecycle_status, 'COMPLETED');
    assert.deepEqual(intent.result, { deployed: true });
    assert.equal(intent.from_agent, TEST_ADMIN_ADDRESS);
    assert.equal(intent.to_agent, 'agent://default/default/deployer');

    const events = (await api('GET', `/v1/intents/${id}/events?since=0`)).body.events as {
      seq: number;
      event_type: string;
      status: string;
    }[];
    assert.deepEqual(
      events.map((e) => [e.seq, e.event_type, e.status]),
      [
        [1, 'intent.created', 'CREATED'],
        [2, 'intent.submitted', 'SUBMITTED'],
        [3, 'intent.delivered', 'DELIVERED'],
        [4, 'intent.in_progress', 'IN_PROGRESS'],
        [5, 'intent.completed', 'COMPLETED'],
      ],
    );
    const since3 = (await api('GET', `/v1/intents/${id}/events?since=3`)).body.events as { seq: number }[];
    assert.deepEqual(
      since3.map((e) => e.seq),
      [4, 5],
      'since is exclusive',
    );

    // The completed intent is no longer on the agent's default stream (no zombie intents).
    const after = await api(
      'GET',
      `/v1/agents/default/default/deployer/intents/stream?since=0&wait_seconds=1`,
    );
    assert.ok(!parseSse(after.text).some((f) => f.data.intent_id === id));
  });

  test('intent event stream replays after since, then long-polls and ends with stream.timeout', async () => {
    const id = await createIntent();
    await waitForStatus(id, 'DELIVERED');
    const replay = await api('GET', `/v1/intents/${id}/events/stream?since=1&wait_seconds=2`);
    const frames = parseSse(replay.text);
    assert.deepEqual(
      frames.map((f) => [f.id, f.event]),
      [
        ['2', 'intent.submitted'],
        ['3', 'intent.delivered'],
        [null, 'stream.timeout'],
      ],
    );
    assert.deepEqual(frames[2]!.data, { ok: true, next_seq: 3 });

    const started = Date.now();
    const idle = await api('GET', `/v1/intents/${id}/events/stream?since=3&wait_seconds=1`);
    assert.ok(Date.now() - started >= 900, 'an idle stream waits instead of answering at once');
    assert.deepEqual(
      parseSse(idle.text).map((f) => f.event),
      ['stream.timeout'],
    );

    // A waiting stream wakes up when the intent moves on.
    const waiting = api('GET', `/v1/intents/${id}/events/stream?since=3&wait_seconds=20`);
    await new Promise((r) => setTimeout(r, 300));
    await api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    const woken = parseSse((await waiting).text);
    assert.equal(woken[0]?.event, 'intent.in_progress');

    const lastEventId = await api('GET', `/v1/intents/${id}/events/stream?wait_seconds=1`, {
      headers: { 'last-event-id': '4' },
    });
    assert.deepEqual(
      parseSse(lastEventId.text).map((f) => f.id),
      ['5', null],
    );
  });

  test('an agent listening before the intent exists receives it', async () => {
    const agent = `listener-${randomUUID().slice(0, 8)}`;
    const head = await api('GET', `/v1/agents/default/default/${agent}/intents/stream?wait_seconds=1`);
    assert.deepEqual(
      parseSse(head.text).map((f) => f.event),
      ['stream.timeout'],
    );
    const listening = api(
      'GET',
      `/v1/agents/default/default/${agent}/intents/stream?since=0&wait_seconds=20`,
    );
    await new Promise((r) => setTimeout(r, 300));
    const id = await createIntent({ to_agent: `agent://default/default/${agent}` });
    const frames = parseSse((await listening).text);
    assert.equal(frames[0]?.data.intent_id, id);
    assert.equal(frames[0]?.id, '1', 'the agent cursor starts at 1');
    const next = await api(
      'GET',
      `/v1/agents/default/default/${agent}/intents/stream?since=1&wait_seconds=1`,
    );
    assert.ok(
      !parseSse(next.text).some((f) => f.data.intent_id === id),
      'passing the last seq gets nothing twice',
    );
  });

  test('idempotency: same key and body → same intent; another body → 409', async () => {
    const key = randomUUID();
    const body = intentBody();
    const first = await api('POST', '/v1/intents', { body, headers: { 'idempotency-key': key } });
    const again = await api('POST', '/v1/intents', {
      body: { ...body },
      headers: { 'idempotency-key': key },
    });
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    const changed = await api('POST', '/v1/intents', {
      body: { ...body, payload: { other: true } },
      headers: { 'idempotency-key': key },
    });
    assert.equal(changed.status, 409);
    assert.equal((changed.body.error as { code: string }).code, 'idempotency_conflict');
    assert.equal(changed.body.ok, false);
    const events = (await api('GET', `/v1/intents/${String(first.body.intent_id)}/events`)).body.events as {
      event_type: string;
    }[];
    assert.equal(events.filter((e) => e.event_type === 'intent.created').length, 1);
  });

  test('concurrent creates with one key make exactly one intent', async () => {
    const key = randomUUID();
    const body = intentBody();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        api('POST', '/v1/intents', { body, headers: { 'idempotency-key': key } }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.equal(new Set(results.map((r) => r.body.intent_id)).size, 1);
  });

  test('credentials: missing → 401, invalid → 401, Bearer api key accepted', async () => {
    const missing = await anonymous('POST', '/v1/intents', { body: intentBody() });
    assert.equal(missing.status, 401);
    assert.deepEqual(missing.body.error, {
      code: 'missing_platform_api_key',
      message: 'missing platform api key',
      details: { header: 'x-api-key' },
    });
    assert.equal(missing.body.detail, 'missing platform api key');
    for (const key of [
      'nonsense',
      TEST_ADMIN_KEY.slice(0, -2) + '00',
      `axme_sa_${randomUUID()}_${'cd'.repeat(32)}`,
    ]) {
      const wrong = await apiClient(axle.baseUrl, key)('GET', '/v1/intents/' + randomUUID());
      assert.equal(wrong.status, 401, key);
      assert.equal((wrong.body.error as { code: string }).code, 'invalid_platform_api_key');
    }
    const bearer = await anonymous('POST', '/v1/intents', {
      body: intentBody(),
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    assert.equal(bearer.status, 200);
  });

  test('malformed JSON → 400; a non-object body → 422; no 500s', async () => {
    for (const rawBody of ['{"intent_type":', '{]', 'not json']) {
      const res = await api('POST', '/v1/intents', { rawBody });
      assert.equal(res.status, 400, rawBody);
      assert.equal((res.body.error as { code: string }).code, 'malformed_json');
    }
    const text = await api('POST', '/v1/intents', {
      rawBody: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(text.status, 422);
    assert.equal(text.body.ok, false);
    const empty = await api('POST', '/v1/intents', {
      rawBody: '',
      headers: { 'content-type': 'application/json' },
    });
    assert.ok([400, 422].includes(empty.status), `empty body gave ${empty.status}`);
  });

  test('schema violations → 422 with one entry per field path', async () => {
    const res = await api('POST', '/v1/intents', {
      body: { intent_type: 'Deploy', to_agent: 'agent://x', payload: 'nope', max_delivery_attempts: 0 },
    });
    assert.equal(res.status, 422);
    const errors = (res.body.error as { details: { errors: { path: string; loc: string[] }[] } }).details
      .errors;
    assert.deepEqual(errors.map((e) => e.path).sort(), [
      'intent_type',
      'max_delivery_attempts',
      'payload',
      'to_agent',
    ]);
    assert.deepEqual(errors.find((e) => e.path === 'payload')?.loc, ['body', 'payload']);
    const array = await api('POST', '/v1/intents', { body: [1, 2] });
    assert.equal(array.status, 422);
    const bad = await api('POST', '/v1/intents', { body: intentBody({ to_agent: 'agent://Bad Address' }) });
    assert.equal((bad.body.error as { code: string }).code, 'invalid_agent_address');
    const longKey = await api('POST', '/v1/intents', {
      body: intentBody(),
      headers: { 'idempotency-key': 'k'.repeat(256) },
    });
    assert.equal(longKey.status, 422);
    const badQuery = await api('GET', `/v1/intents/${randomUUID()}/events?since=-1`);
    assert.equal(badQuery.status, 422);
  });

  test('a payload over 128 KiB → 413; a body over the request limit → 413', async () => {
    const big = await api('POST', '/v1/intents', {
      body: intentBody({ payload: { blob: 'x'.repeat(131_072) } }),
    });
    assert.equal(big.status, 413);
    assert.equal((big.body.error as { code: string }).code, 'payload_too_large');
    const huge = await api('POST', '/v1/intents', {
      rawBody: JSON.stringify(intentBody({ payload: { blob: 'x'.repeat(2_000_000) } })),
    });
    assert.equal(huge.status, 413);
  });

  test('unknown intent → 404; unknown route → 404 in the same error shape', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await api('GET', `/v1/intents/${id}`);
      assert.equal(res.status, 404);
      assert.equal((res.body.error as { code: string }).code, 'intent_not_found');
    }
    const resume = await api('POST', `/v1/intents/${randomUUID()}/resume`, { body: { action: 'complete' } });
    assert.equal(resume.status, 404);
    const route = await api('GET', '/v1/nothing-here');
    assert.equal(route.status, 404);
    assert.equal(route.body.ok, false);
  });

  test('resume of a terminal intent → 409 and changes nothing', async () => {
    const id = await createIntent();
    await waitForStatus(id, 'DELIVERED');
    const failed = await api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'fail', error: { message: 'checker failed' } },
    });
    assert.equal(failed.body.status, 'FAILED');
    const before = (await api('GET', `/v1/intents/${id}/events`)).body.events as unknown[];
    for (const action of ['complete', 'fail']) {
      const res = await api('POST', `/v1/intents/${id}/resume`, { body: { action } });
      assert.equal(res.status, 409);
      assert.equal((res.body.error as { code: string }).code, 'intent_terminal');
    }
    const afterEvents = (await api('GET', `/v1/intents/${id}/events`)).body.events as unknown[];
    assert.equal(afterEvents.length, before.length);
  });

  test('a resume or resolve retried after its answer was lost answers what it did, not 409', async () => {
    // Found by `npm run chaos -- kill`: the gateway applied the update and died before storing the
    // answer; after 60 s the retry took the claim over and met the terminal intent it had made.
    const prisma = new PrismaService(requireEnv('DATABASE_URL'));
    const loseAnswer = (key: string) =>
      prisma.client.$executeRaw`UPDATE idempotency_records SET response_status = NULL, response_body = NULL,
        created_at = now() - interval '2 minutes' WHERE key = ${key}`;
    try {
      for (const [route, body, status] of [
        ['resume', { action: 'complete', result: { ok: 1 } }, 'COMPLETED'],
        ['resolve', { status: 'CANCELED', reason: 'not needed' }, 'CANCELED'],
      ] as const) {
        const id = await createIntent();
        await waitForStatus(id, 'DELIVERED');
        const key = randomUUID();
        const headers = { 'Idempotency-Key': key };
        const first = await api('POST', `/v1/intents/${id}/${route}`, { body, headers });
        assert.equal(first.status, 200, first.text);
        const events = (await api('GET', `/v1/intents/${id}/events`)).body.events as unknown[];
        assert.equal(await loseAnswer(key), 1);
        const retry = await api('POST', `/v1/intents/${id}/${route}`, { body, headers });
        assert.equal(retry.status, 200, `${route}: ${retry.text}`);
        assert.equal(retry.body.status ?? (retry.body.intent as { status: string }).status, status);
        if (route === 'resume') assert.equal(retry.body.seq, first.body.seq);
        const after = (await api('GET', `/v1/intents/${id}/events`)).body.events as unknown[];
        assert.equal(after.length, events.length, `${route} ran twice`);
        // Another key is another request: the intent is terminal.
        const other = await api('POST', `/v1/intents/${id}/${route}`, {
          body,
          headers: { 'Idempotency-Key': randomUUID() },
        });
        assert.equal(other.status, 409);
        assert.equal((other.body.error as { code: string }).code, 'intent_terminal');
      }
    } finally {
      await prisma.onModuleDestroy();
    }
  });

  test('a workflow task lost after its event was stored does not take the next event for it', async () => {
    // Found by `npm run chaos -- kill` at 1,000 intents: the worker stored `delivered` (a local
    // activity, dedupe key step-1) and died before its workflow task completed. The retried task
    // counted from 0 again, so the resume's `in_progress` (step 1) was answered with the stored
    // `delivered`, and `complete` was refused: 409, the intent stuck DELIVERED.
    const prisma = new PrismaService(requireEnv('DATABASE_URL'));
    try {
      await axle.stop('worker');
      const id = await createIntent();
      const { orgId, handler } = await prisma.client.intent.findUniqueOrThrow({ where: { id } });
      await new IntentRepository(prisma).appendEvent(orgScope(orgId), id, {
        eventType: 'intent.delivered',
        status: 'DELIVERED',
        actor: SYSTEM_ACTOR,
        dedupeKey: 'step-1',
        deliverTo: handler!,
        details: { binding: 'stream', delivery_attempt: 1 },
      });
      axle.start('worker');
      await axle.waitReady();
      const done = await api('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'complete', result: { ok: 1 } },
      });
      assert.equal(done.status, 200, done.text);
      assert.equal(done.body.status, 'COMPLETED');
      const events = (await api('GET', `/v1/intents/${id}/events`)).body.events as {
        seq: number;
        event_type: string;
      }[];
      assert.deepEqual(
        events.map((e) => [e.seq, e.event_type]),
        [
          [1, 'intent.created'],
          [2, 'intent.submitted'],
          [3, 'intent.delivered'],
          [4, 'intent.in_progress'],
          [5, 'intent.completed'],
        ],
      );
    } finally {
      await prisma.onModuleDestroy();
    }
  });

  test('a step a lost workflow task took holds that event; the next one records after it', async () => {
    // A worker that dies after a local activity committed leaves that event on its step (step-N)
    // while the history lacks it, and the retried task may take its work in another order (an update
    // that came meanwhile before a timer). The next event met that step and was answered with the
    // stored one: a complete answered IN_PROGRESS and the run closed, the intent IN_PROGRESS for
    // good; a deadline failed the run. The run now adopts the ledger and records after the stored
    // event, or drops its own when the lifecycle no longer allows it.
    const prisma = new PrismaService(requireEnv('DATABASE_URL'));
    const temporal = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
    const events = async (id: string) =>
      (
        (await api('GET', `/v1/intents/${id}/events`)).body.events as { seq: number; event_type: string }[]
      ).map((e) => [e.seq, e.event_type]);
    try {
      // Delivered (step 1) and in progress (step 2): the run's step counter is 2 when the worker stops.
      const deadlineAt = Date.now() + 6_000;
      const [reminded, completed] = await Promise.all(
        [{}, { deadline_at: new Date(deadlineAt).toISOString() }].map(async (overrides) => {
          const id = await createIntent(overrides);
          await waitForStatus(id, 'DELIVERED');
          const started = await api('POST', `/v1/intents/${id}/resume`, { body: { action: 'in_progress' } });
          assert.equal(started.status, 200, started.text);
          return id;
        }),
      );
      await axle.stop('worker');
      const orphan = async (id: string, event: Omit<AppendEventInput, 'dedupeKey'>) => {
        const { orgId } = await prisma.client.intent.findUniqueOrThrow({ where: { id } });
        await new IntentRepository(prisma).appendEvent(orgScope(orgId), id, {
          ...event,
          dedupeKey: 'step-3',
        });
      };
      // A reminder whose task was lost; the handler's resume comes next.
      await orphan(reminded!, {
        eventType: 'intent.reminder',
        actor: SYSTEM_ACTOR,
        remindCount: 1,
        details: { remind_count: 1 },
      });
      // A completion whose task was lost; the deadline's timer fires next.
      await orphan(completed!, {
        eventType: 'intent.completed',
        status: 'COMPLETED',
        actor: TEST_ADMIN_ADDRESS,
        result: { by: 'the lost task' },
      });
      await new Promise((r) => setTimeout(r, Math.max(0, deadlineAt - Date.now())));
      axle.start('worker');
      await axle.waitReady();

      const done = await api('POST', `/v1/intents/${reminded}/resume`, {
        body: { action: 'complete', result: { ok: 1 } },
      });
      assert.equal(done.status, 200, done.text);
      assert.equal(done.body.status, 'COMPLETED');
      assert.equal(done.body.seq, 6);
      assert.deepEqual(await events(reminded!), [
        [1, 'intent.created'],
        [2, 'intent.submitted'],
        [3, 'intent.delivered'],
        [4, 'intent.in_progress'],
        [5, 'intent.reminder'],
        [6, 'intent.completed'],
      ]);

      // The deadline's run ends with the ledger's terminal status; no timeout after the completion.
      const client = new Client({ connection: temporal });
      const final = (await client.workflow.getHandle(completed!).result()) as { status: string };
      assert.equal(final.status, 'COMPLETED');
      assert.deepEqual((await events(completed!)).slice(3), [
        [4, 'intent.in_progress'],
        [5, 'intent.completed'],
      ]);
    } finally {
      await temporal.close();
      await prisma.onModuleDestroy();
    }
  });

  test('two callers sending one Idempotency-Key to one intent make two requests, not one', async () => {
    // Keys are per caller (SPEC §1): the agent's update must not be taken for the admin's replay,
    // neither by the gateway's records nor by Temporal's update ids (scoped to the caller).
    const prisma = new PrismaService(requireEnv('DATABASE_URL'));
    try {
      const agent = await registerTestAgent(prisma, { name: `handler-${randomUUID().slice(0, 8)}` });
      const asAgent = apiClient(axle.baseUrl, agent.key);
      const id = await createIntent({ to_agent: agent.address });
      await waitForStatus(id, 'DELIVERED');
      const headers = { 'Idempotency-Key': randomUUID() };
      const byAdmin = await api('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'in_progress' },
        headers,
      });
      assert.equal(byAdmin.status, 200, byAdmin.text);
      const byAgent = await asAgent('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'complete', result: { ok: 1 } },
        headers,
      });
      assert.equal(byAgent.status, 200, byAgent.text);
      assert.equal(byAgent.body.status, 'COMPLETED');
      assert.notEqual(byAgent.body.seq, byAdmin.body.seq);
      // Each caller's retry replays its own answer and changes nothing.
      const events = (await api('GET', `/v1/intents/${id}/events`)).body.events as unknown[];
      const adminRetry = await api('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'in_progress' },
        headers,
      });
      assert.deepEqual([adminRetry.status, adminRetry.body.seq], [200, byAdmin.body.seq]);
      const agentRetry = await asAgent('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'complete', result: { ok: 1 } },
        headers,
      });
      assert.deepEqual([agentRetry.status, agentRetry.body.seq], [200, byAgent.body.seq]);
      assert.equal(
        ((await api('GET', `/v1/intents/${id}/events`)).body.events as unknown[]).length,
        events.length,
      );
    } finally {
      await prisma.onModuleDestroy();
    }
  });

  test('X-Trace-Id is echoed; a request id is on every answer, errors included', async () => {
    const res = await api('GET', `/v1/intents/${randomUUID()}`, {
      headers: { 'x-trace-id': 'trace-abc-123' },
    });
    assert.equal(res.headers.get('x-trace-id'), 'trace-abc-123');
    assert.ok(res.headers.get('x-request-id'));
  });

  test('gateway logs carry the request and trace ids and never the API key', async () => {
    const res = await api('POST', '/v1/intents', {
      body: intentBody(),
      headers: { 'x-trace-id': 'trace-log-check' },
    });
    const requestId = res.headers.get('x-request-id');
    await new Promise((r) => setTimeout(r, 200));
    const lines = axle
      .output('gateway')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.request_id === requestId && l.msg === 'request');
    assert.ok(line, `no log line for request ${requestId}`);
    assert.equal(line.trace_id, 'trace-log-check');
    assert.equal(line.status, 200);
    assert.ok(
      !axle.output('gateway').includes(TEST_ADMIN_KEY.split('_').at(-1)!),
      'the key secret never reaches the logs',
    );
  });

  test('with PostgreSQL unreachable the gateway still answers: 503 with Retry-After, never a hang', async () => {
    const down = await AxleProcesses.create({
      DATABASE_URL: `postgresql://axle:axle@127.0.0.1:${await freePort()}/axle`,
    });
    try {
      down.start('gateway');
      const call = apiClient(down.baseUrl, TEST_ADMIN_KEY);
      let ready: Awaited<ReturnType<typeof call>> | null = null;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = await call('GET', '/ready').catch(() => null);
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(ready?.status, 503);
      assert.equal((ready?.body.checks as Record<string, string>).postgres, 'down');
      assert.equal(ready?.headers.get('retry-after'), '5');
      const create = await call('POST', '/v1/intents', { body: intentBody() });
      assert.equal(create.status, 503);
      assert.equal((create.body.error as { code: string }).code, 'dependency_unavailable');
      assert.ok(create.headers.get('retry-after'));
    } finally {
      await down.stopAll();
    }
  });

  test('a bad configuration value stops start-up with a message naming the key', async () => {
    const { code, output } = await runToExit('gateway', {
      ...axle.env,
      AXLE_PORT: 'eighty',
      TEMPORAL_ADDRESS: 'nowhere',
    });
    assert.equal(code, 1);
    assert.match(output, /AXLE_PORT/);
    assert.match(output, /TEMPORAL_ADDRESS/);
  });
});
