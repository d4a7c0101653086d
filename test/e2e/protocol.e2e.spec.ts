// The intent protocol beyond the happy path, end to end on real processes and stores: resolve,
// transfer, controls/policy compare-and-set, list and bulk-cancel, human tasks, deadlines,
// reminders, http delivery with signatures and retries, access rules, worker crash, two gateways
// and the reconciler.
import { PrismaService } from '@axle/data';
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
import { verifySignature } from '@axle/webhooks';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Event = { seq: number; event_type: string; status: string; details: Record<string, unknown> };

let axle: AxleProcesses;
let api: Api;
let prisma: PrismaService;
let sink: HttpSink;

function intentBody(overrides: Record<string, unknown> = {}) {
  return {
    intent_type: 'ops.deploy.v1',
    correlation_id: randomUUID(),
    to_agent: `agent://default/default/proto-${randomUUID().slice(0, 8)}`,
    payload: { service: 'api-gateway', version: '3.2.1' },
    ...overrides,
  };
}

async function create(overrides: Record<string, unknown> = {}, client: Api = api): Promise<string> {
  const res = await client('POST', '/v1/intents', { body: intentBody(overrides) });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function intentOf(id: string): Promise<Record<string, unknown>> {
  return (await api('GET', `/v1/intents/${id}`)).body.intent as Record<string, unknown>;
}

async function eventsOf(id: string): Promise<Event[]> {
  return (await api('GET', `/v1/intents/${id}/events`)).body.events as Event[];
}

async function until<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  what: string,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const statusIs = (status: string) => (intent: Record<string, unknown>) => intent.status === status;

function assertGapless(events: Event[]): void {
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    'seq is 1..N without gaps or duplicates',
  );
}

describe('intent protocol end to end', () => {
  before(async () => {
    sink = new HttpSink();
    await sink.start();
    axle = await AxleProcesses.create({
      AXLE_DELIVERY_BACKOFF_MS: '50',
      AXLE_DELIVERY_BACKOFF_MAX_MS: '200',
      AXLE_BREAKER_THRESHOLD: '100',
      AXLE_RECONCILE_INTERVAL_SECONDS: '1',
    });
    api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    await axle.startAll(['gateway', 'worker']);
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    await until(
      () => api('GET', '/v1/capabilities'),
      (r) => r.status === 200,
      'admin key accepted',
    );
  });
  after(async () => {
    await axle.stopAll();
    await prisma.onModuleDestroy?.();
    await sink.stop();
  });

  test('capabilities list what the server implements', async () => {
    const res = await api('GET', '/v1/capabilities');
    assert.equal(res.body.ok, true);
    assert.ok((res.body.capabilities as string[]).includes('intents.resolve'));
    assert.ok((res.body.capabilities as string[]).every((c) => c.length >= 3));
  });

  test('resolve: field rules, CANCELED with completion_delivery, a second resolve is 409', async () => {
    const id = await create();
    const missing = await api('POST', `/v1/intents/${id}/resolve`, { body: { status: 'COMPLETED' } });
    assert.equal(missing.status, 422);
    assert.equal(
      (missing.body.error as { details: { errors: { path: string }[] } }).details.errors[0]!.path,
      'result',
    );
    const bad = await api('POST', `/v1/intents/${id}/resolve`, { body: { status: 'DONE' } });
    assert.equal(bad.status, 422);
    const res = await api('POST', `/v1/intents/${id}/resolve`, {
      body: { status: 'CANCELED', reason: 'operator' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body.intent as Record<string, unknown>).status, 'CANCELED');
    assert.equal((res.body.event as Event).event_type, 'intent.canceled');
    assert.deepEqual(res.body.completion_delivery, { delivered: false, reason: 'reply_to_not_set' });
    const again = await api('POST', `/v1/intents/${id}/resolve`, {
      body: { status: 'COMPLETED', result: {} },
    });
    assert.equal(again.status, 409);
    assert.equal((again.body.error as { code: string }).code, 'intent_terminal');
    const events = await eventsOf(id);
    assertGapless(events);
    assert.equal(events.filter((e) => e.event_type === 'intent.canceled').length, 1);
  });

  test('resolve with reply_to delivers the completion into the reply_to inbox thread (id = intent id)', async () => {
    const id = await create({ reply_to: 'agent://default/default/proto-caller' });
    const res = await api('POST', `/v1/intents/${id}/resolve`, {
      body: { status: 'COMPLETED', result: { deployed: true } },
    });
    assert.equal(res.status, 200, res.text);
    const delivery = res.body.completion_delivery as Record<string, unknown>;
    assert.equal(delivery.delivered, true);
    assert.equal(delivery.thread_id, id);
    assert.equal(delivery.reply_to, 'agent://default/default/proto-caller');
    assert.equal((delivery.completion as Record<string, unknown>).status, 'COMPLETED');
  });

  test('resume flavours: acknowledge, wait with a reason, in_progress, complete', async () => {
    const id = await create();
    await until(() => intentOf(id), statusIs('DELIVERED'), 'delivered');
    const step = async (body: Record<string, unknown>) => {
      const res = await api('POST', `/v1/intents/${id}/resume`, { body });
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    assert.equal((await step({ action: 'acknowledge' })).status, 'ACKNOWLEDGED');
    const waiting = await step({ action: 'wait', waiting_reason: 'WAITING_FOR_TOOL' });
    assert.equal((waiting.intent as Record<string, unknown>).waiting_reason, 'WAITING_FOR_TOOL');
    assert.equal((await step({ action: 'in_progress', progress: 50 })).status, 'IN_PROGRESS');
    assert.equal((await step({ action: 'complete', result: { ok: true } })).status, 'COMPLETED');
    const bad = await api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'wait', waiting_reason: 'NAP' },
    });
    assert.equal(bad.status, 409, 'terminal first: nothing is validated on a finished intent');
    assertGapless(await eventsOf(id));
  });

  test('controls and policy: compare-and-set on policy_generation; stale answers applied:false', async () => {
    const id = await create();
    const first = await api('POST', `/v1/intents/${id}/controls`, {
      body: { controls_patch: { timeout_seconds: 3600 }, expected_policy_generation: 0 },
    });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual([first.body.applied, first.body.policy_generation], [true, 1]);
    const stale = await api('POST', `/v1/intents/${id}/policy`, {
      body: {
        grants_patch: { 'delegate:agent://default/default/ops': { allow: ['resume'] } },
        expected_policy_generation: 0,
      },
    });
    assert.deepEqual(
      [stale.status, stale.body.applied, stale.body.reason, stale.body.policy_generation],
      [200, false, 'stale_policy_generation', 1],
    );
    const resumeStale = await api('POST', `/v1/intents/${id}/resume`, {
      body: { approve_current_step: true, expected_policy_generation: 0 },
    });
    assert.deepEqual([resumeStale.status, resumeStale.body.applied], [200, false]);
    const ok = await api('POST', `/v1/intents/${id}/policy`, {
      body: { envelope_patch: { ttl_seconds: 7200 }, expected_policy_generation: 1 },
    });
    assert.deepEqual([ok.body.applied, ok.body.policy_generation], [true, 2]);
    const intent = await intentOf(id);
    assert.equal(intent.policy_generation, 2);
    assert.ok(intent.deadline_at, 'the ttl became the deadline');
    for (const body of [{ controls_patch: {} }, { controls_patch: { timeout_seconds: -1 } }, {}])
      assert.equal(
        (await api('POST', `/v1/intents/${id}/controls`, { body })).status,
        422,
        JSON.stringify(body),
      );
    assert.equal(
      (await api('POST', `/v1/intents/${id}/policy`, { body: { grants_patch: { x: null } } })).status,
      422,
    );
  });

  test('a controls timeout that passes ends the intent TIMED_OUT', async () => {
    const id = await create();
    await api('POST', `/v1/intents/${id}/controls`, { body: { controls_patch: { timeout_seconds: 1 } } });
    await until(() => intentOf(id), statusIs('TIMED_OUT'), 'timed out by controls');
  });

  test('deadline_at → intent.timeout then TIMED_OUT; reminders count up to max_reminders', async () => {
    const id = await create({
      deadline_at: new Date(Date.now() + 3_500).toISOString(),
      remind_after_seconds: 1,
      remind_interval_seconds: 1,
      max_reminders: 2,
    });
    const intent = await until(() => intentOf(id), statusIs('TIMED_OUT'), 'timed out', 20_000);
    assert.equal(intent.remind_count, 2);
    const events = await eventsOf(id);
    assertGapless(events);
    assert.deepEqual(
      events.map((e) => e.event_type),
      [
        'intent.created',
        'intent.submitted',
        'intent.delivered',
        'intent.reminder',
        'intent.reminder',
        'intent.timeout',
        'intent.timed_out',
      ],
    );
    assert.deepEqual(
      events.filter((e) => e.event_type === 'intent.reminder').map((e) => e.details.remind_count),
      [1, 2],
    );
  });

  test('escalate_to without a reminder schedule is refused', async () => {
    const res = await api('POST', '/v1/intents', {
      body: intentBody({ escalate_to: 'agent://default/default/oncall' }),
    });
    assert.equal(res.status, 422);
  });

  test('human task: WAITING_FOR_HUMAN; a task_result breaking the spec is 422 and changes nothing', async () => {
    const id = await create({
      human_task: {
        title: 'Approve deploy',
        allowed_outcomes: ['approved', 'rejected'],
        required_comment: true,
      },
    });
    const waiting = await until(() => intentOf(id), statusIs('WAITING'), 'waiting for a human');
    assert.equal(waiting.waiting_reason, 'WAITING_FOR_HUMAN');
    assert.equal((waiting.pending_with as Record<string, unknown>).type, 'human');
    const before = (await eventsOf(id)).length;
    for (const task_result of [{ outcome: 'maybe', comment: 'x' }, { outcome: 'approved' }]) {
      const res = await api('POST', `/v1/intents/${id}/resume`, { body: { task_result } });
      assert.equal(res.status, 422, res.text);
    }
    assert.equal((await eventsOf(id)).length, before);
    assert.equal((await intentOf(id)).status, 'WAITING');
    const ok = await api('POST', `/v1/intents/${id}/resume`, {
      body: { task_result: { outcome: 'approved', comment: 'ship it' } },
    });
    assert.equal(ok.body.status, 'COMPLETED', ok.text);
    const done = await intentOf(id);
    assert.deepEqual((done.result as { task_result: unknown }).task_result, {
      outcome: 'approved',
      comment: 'ship it',
    });
  });

  test('transfer: intent.transfer with the new handler; the old handler stream drops it, the new one gets it', async () => {
    const first = `agent://default/default/proto-first-${randomUUID().slice(0, 6)}`;
    const second = `agent://default/default/proto-second-${randomUUID().slice(0, 6)}`;
    const id = await create({ to_agent: first });
    await until(() => intentOf(id), statusIs('DELIVERED'), 'delivered');
    const path = (address: string) =>
      `/v1/agents/${address.slice('agent://'.length)}/intents/stream?wait_seconds=1`;
    const ids = async (address: string) =>
      parseSse((await api('GET', path(address))).text)
        .filter((f) => f.event.startsWith('intent.'))
        .map((f) => f.data.intent_id);
    assert.deepEqual(await ids(first), [id]);
    const res = await api('POST', `/v1/intents/${id}/transfer`, {
      body: { to_agent: second, reason: 'shift change' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal((res.body.intent as Record<string, unknown>).handler, second);
    assert.equal((res.body.event as Event).event_type, 'intent.transfer');
    assert.equal((res.body.event as Event).status, 'DELIVERED', 'no status change');
    assert.deepEqual(await ids(first), []);
    assert.deepEqual(await ids(second), [id]);
    assert.equal(
      (await api('POST', `/v1/intents/${id}/transfer`, { body: { to_agent: 'nope' } })).status,
      422,
    );
    assert.equal(
      (await api('POST', `/v1/intents/${id}/transfer`, { body: { to_agent: second } })).status,
      409,
    );
  });

  test('who may act: a stranger is 403, a delegate grant lets it resume, owner_agent must be the caller', async () => {
    const stranger: TestAgent = await registerTestAgent(prisma, {
      name: `stranger-${randomUUID().slice(0, 6)}`,
    });
    const strangerApi = apiClient(axle.baseUrl, stranger.key);
    const id = await create();
    const denied = await strangerApi('POST', `/v1/intents/${id}/resolve`, {
      body: { status: 'CANCELED', reason: 'x' },
    });
    assert.equal(denied.status, 403, denied.text);
    const spoof = await strangerApi(
      'POST',
      `/v1/intents/${id}/resume?owner_agent=agent://default/default/admin`,
      {
        body: {},
      },
    );
    assert.equal(spoof.status, 403);
    await api('POST', `/v1/intents/${id}/policy`, {
      body: { grants_patch: { [`delegate:${stranger.address}`]: { allow: ['resume'] } } },
    });
    await until(() => intentOf(id), statusIs('DELIVERED'), 'delivered');
    const allowed = await strangerApi('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'complete', result: {} },
    });
    assert.equal(allowed.status, 200, allowed.text);
    assert.equal((await intentOf(id)).status, 'COMPLETED');
  });

  test('list: filters and cursor paging walk every intent once; bad input is 422', async () => {
    const toAgent = `agent://default/default/proto-list-${randomUUID().slice(0, 6)}`;
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await create({ to_agent: toAgent }));
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/intents?to_agent=${encodeURIComponent(toAgent)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await api('GET', query);
      assert.equal(page.status, 200, page.text);
      seen.push(...(page.body.intents as { intent_id: string }[]).map((i) => i.intent_id));
      cursor = page.body.next_cursor as string | null;
    } while (cursor);
    assert.deepEqual([...seen].sort(), [...created].sort());
    assert.equal(new Set(seen).size, 5);
    const filtered = await api('GET', `/v1/intents?to_agent=${encodeURIComponent(toAgent)}&status=COMPLETED`);
    assert.deepEqual(filtered.body.intents, []);
    for (const q of [
      'status=DONE',
      'cursor=garbage',
      'limit=0',
      'limit=1000',
      'to_agent=x',
      'created_after=yesterday',
    ])
      assert.equal((await api('GET', `/v1/intents?${q}`)).status, 422, q);
  });

  test('bulk-cancel: dry run lists, the real run cancels each through its workflow', async () => {
    const stale = `agent://default/default/proto-bulk-${randomUUID().slice(0, 6)}`;
    const owner = await registerTestAgent(prisma, { name: `bulk-${randomUUID().slice(0, 6)}` });
    const ownerApi = apiClient(axle.baseUrl, owner.key);
    const ids = [await create({ to_agent: stale }, ownerApi), await create({ to_agent: stale }, ownerApi)];
    const dry = await ownerApi('POST', '/v1/intents/bulk-cancel', { body: { dry_run: true } });
    assert.deepEqual([dry.status, dry.body.would_cancel], [200, 2], dry.text);
    assert.deepEqual([...(dry.body.intent_ids as string[])].sort(), [...ids].sort());
    const run = await ownerApi('POST', '/v1/intents/bulk-cancel', { body: { reason: 'cleanup' } });
    assert.equal(run.body.canceled, 2, run.text);
    for (const id of ids) assert.equal((await intentOf(id)).status, 'CANCELED');
    const bad = await ownerApi('POST', '/v1/intents/bulk-cancel', { body: { status_filter: ['NOPE'] } });
    assert.equal(bad.status, 422);
  });

  test('http binding: signed POSTs, retries with backoff, DELIVERED on a 2xx', async () => {
    const secret = 'whsec_' + randomUUID();
    const agent = await registerTestAgent(prisma, {
      name: `hook-${randomUUID().slice(0, 6)}`,
      deliveryMode: 'http',
      callbackUrl: `${sink.url}/ok`,
      webhookSecret: secret,
    });
    sink.answer('/ok', [500, 503, 200]);
    const id = await create({ to_agent: agent.address });
    const intent = await until(() => intentOf(id), statusIs('DELIVERED'), 'delivered over http');
    assert.equal(intent.delivery_attempt, 3);
    const posts = sink.for('/ok');
    assert.equal(posts.length, 3);
    for (const post of posts) {
      assert.ok(
        verifySignature(secret, post.raw, String(post.headers['x-axme-signature'])),
        'valid signature',
      );
      assert.match(String(post.headers['x-axme-timestamp']), /^\d{10}$/);
      assert.equal((JSON.parse(post.raw) as { intent_id: string }).intent_id, id);
    }
    assert.deepEqual(
      posts.map((p) => (JSON.parse(p.raw) as { delivery_attempt: number }).delivery_attempt),
      [1, 2, 3],
    );
  });

  test('http binding: after max_delivery_attempts the intent is FAILED with intent.delivery_failed', async () => {
    const agent = await registerTestAgent(prisma, {
      name: `dead-${randomUUID().slice(0, 6)}`,
      deliveryMode: 'http',
      callbackUrl: `${sink.url}/dead`,
      webhookSecret: 's3cret-s3cret-s3cret',
    });
    sink.answer('/dead', [500, 500, 500, 500]);
    const id = await create({ to_agent: agent.address, max_delivery_attempts: 2 });
    await until(() => intentOf(id), statusIs('FAILED'), 'failed delivery');
    const events = await eventsOf(id);
    const last = events.at(-1)!;
    assert.equal(last.event_type, 'intent.delivery_failed');
    assert.equal(last.details.delivery_attempt, 2);
    assert.equal(sink.for('/dead').length, 2);
  });

  test('a worker killed mid-flight: the intent still ends, with no gap or duplicate in its events', async () => {
    const id = await create({ remind_after_seconds: 1, remind_interval_seconds: 1, max_reminders: 3 });
    await until(() => intentOf(id), statusIs('DELIVERED'), 'delivered');
    await axle.stop('worker', 'SIGKILL');
    axle.start('worker');
    await axle.waitReady();
    await until(
      () => intentOf(id),
      (i) => i.remind_count === 3,
      'reminders continue after the restart',
      30_000,
    );
    const res = await api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete', result: {} } });
    assert.equal(res.status, 200, res.text);
    const events = await eventsOf(id);
    assertGapless(events);
    assert.equal(events.filter((e) => e.event_type === 'intent.reminder').length, 3);
    assert.equal(events.at(-1)!.event_type, 'intent.completed');
  });

  test('two gateways side by side: a stream on one sees an intent created through the other', async () => {
    const second = await AxleProcesses.create({});
    second.start('gateway');
    try {
      await second.waitReady();
      const other = apiClient(second.baseUrl, TEST_ADMIN_KEY);
      const agent = `default/default/proto-twin-${randomUUID().slice(0, 6)}`;
      const listening = other('GET', `/v1/agents/${agent}/intents/stream?wait_seconds=20`);
      await new Promise((r) => setTimeout(r, 500));
      const started = Date.now();
      const id = await create({ to_agent: `agent://${agent}` });
      const res = await listening;
      const frames = parseSse(res.text).filter((f) => f.event.startsWith('intent.'));
      assert.deepEqual(
        frames.map((f) => f.data.intent_id),
        [id],
      );
      assert.ok(Date.now() - started < 15_000, 'woken by the fan-out, not by the long-poll timeout');
    } finally {
      await second.stopAll();
    }
  });

  test('the reconciler starts the workflow of an intent whose start was interrupted', async () => {
    const org = await prisma.client.organization.findFirstOrThrow({ where: { slug: 'default' } });
    const ws = await prisma.client.workspace.findFirstOrThrow({ where: { orgId: org.id, slug: 'default' } });
    const id = randomUUID();
    const toAgent = 'agent://default/default/proto-stranded';
    // What a gateway leaves behind when Temporal is down at create: the intent, no workflow.
    await prisma.client.intent.create({
      data: {
        id,
        orgId: org.id,
        workspaceId: ws.id,
        intentType: 'ops.deploy.v1',
        correlationId: randomUUID(),
        fromAgent: 'agent://default/default/admin',
        toAgent,
        handler: toAgent,
        status: 'SUBMITTED',
        payload: {},
        lastSeq: 2,
        createdAt: new Date(Date.now() - 60_000),
      },
    });
    await prisma.client.intentEvent.createMany({
      data: [
        {
          intentId: id,
          orgId: org.id,
          seq: 1,
          eventType: 'intent.created',
          status: 'CREATED',
          dedupeKey: 'created',
        },
        {
          intentId: id,
          orgId: org.id,
          seq: 2,
          eventType: 'intent.submitted',
          status: 'SUBMITTED',
          dedupeKey: 'submitted',
        },
      ],
    });
    await until(() => intentOf(id), statusIs('DELIVERED'), 'delivered after reconciliation', 30_000);
    assertGapless(await eventsOf(id));
  });
});
