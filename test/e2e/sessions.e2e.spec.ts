// AXME sessions end to end (docs/sessions.md): real gateway process, PostgreSQL and Redis. A session's
// feed (created → messages → completed) with a gapless per-session seq, read as pages and as a
// long-poll SSE stream; completion rules, org scoping, idempotency, and the malformed, oversized,
// unauthorized and out-of-order edges.
import { PrismaService } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  parseSse,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
  type TestAgent,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const sfx = randomUUID().slice(0, 8);
const ORG = `sessions-${sfx}`;
const OTHER = `sessions-other-${sfx}`;

type Client = ReturnType<typeof apiClient>;

let axle: AxleProcesses;
let alice: TestAgent;
let asAlice: Client;
let asBob: Client;
let asOperator: Client;
let asOutsider: Client;
let asAdmin: Client;
let anonymous: Client;

async function createSession(client: Client, body: Record<string, unknown> = {}): Promise<string> {
  const res = await client('POST', '/v1/sessions', { body: { type: 'coding', ...body } });
  assert.equal(res.status, 200, res.text);
  return res.body.session_id as string;
}

async function post(client: Client, id: string, body: Record<string, unknown>, headers = {}) {
  return client('POST', `/v1/sessions/${id}/messages`, { body, headers });
}

function fieldPaths(res: { body: Record<string, unknown> }): string[] {
  return (res.body.error as { details: { errors: { path: string }[] } }).details.errors
    .map((e) => e.path)
    .sort();
}

function errorCode(res: { body: Record<string, unknown> }): string {
  return (res.body.error as { code: string }).code;
}

describe('sessions end to end', () => {
  before(async () => {
    axle = await AxleProcesses.create({ AXLE_SESSION_MESSAGE_MAX_BYTES: '4096' });
    await axle.startAll(['gateway']);
    alice = await registerTestAgent(prisma, { org: ORG, name: 'alice' });
    const bob = await registerTestAgent(prisma, { org: ORG, name: 'bob' });
    const operator = await registerTestAgent(prisma, { org: ORG, name: 'ops', role: 'operator' });
    const outsider = await registerTestAgent(prisma, { org: OTHER, name: 'eve', role: 'admin' });
    asAlice = apiClient(axle.baseUrl, alice.key);
    asBob = apiClient(axle.baseUrl, bob.key);
    asOperator = apiClient(axle.baseUrl, operator.key);
    asOutsider = apiClient(axle.baseUrl, outsider.key);
    asAdmin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
  });
  after(async () => {
    await axle.stopAll();
    await prisma.onModuleDestroy();
  });

  test('create → messages → feed → stream → complete, with a gapless seq', async () => {
    const create = await asAlice('POST', '/v1/sessions', {
      body: { type: 'coding', project_id: 'axle', depends_on: ['build'], metadata: { repo: 'axle' } },
    });
    assert.equal(create.status, 200, create.text);
    assert.equal(create.body.ok, true);
    assert.equal(create.body.status, 'ACTIVE');
    assert.equal(create.body.type, 'coding');
    assert.match(String(create.body.created_at), /^\d{4}-\d{2}-\d{2}T/);
    const id = create.body.session_id as string;

    const get = await asBob('GET', `/v1/sessions/${id}`);
    assert.equal(get.status, 200, get.text);
    const session = get.body.session as Record<string, unknown>;
    assert.equal(session.session_id, id);
    assert.equal(session.status, 'ACTIVE');
    assert.equal(session.project_id, 'axle');
    assert.equal(session.parent_session_id, null);
    assert.deepEqual(session.depends_on, ['build']);
    assert.deepEqual(session.metadata, { repo: 'axle' });
    assert.equal(session.created_by, alice.address);
    assert.equal(session.last_seq, 1);
    assert.equal(session.completed_at, null);

    // Two agents of the org post to the same session: seq 2, 3.
    const first = await post(asAlice, id, { role: 'user', content: 'fix the build' });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.seq, 2);
    assert.match(String(first.body.message_id), /^[0-9a-f-]{36}$/);
    const second = await post(asBob, id, { role: 'assistant', content: { patch: 'diff --git' } });
    assert.equal(second.body.seq, 3, second.text);

    const all = await asAlice('GET', `/v1/sessions/${id}/messages`);
    const messages = all.body.messages as Record<string, unknown>[];
    assert.deepEqual(
      messages.map((m) => [m.seq, m.role, m.content, m.content_type]),
      [
        [2, 'user', 'fix the build', 'text/plain'],
        [3, 'assistant', { patch: 'diff --git' }, 'application/json'],
      ],
    );
    assert.equal(messages[0]!.message_id, first.body.message_id);
    assert.equal(messages[0]!.actor, alice.address);
    const since = await asAlice('GET', `/v1/sessions/${id}/messages?since=2`);
    assert.deepEqual(
      (since.body.messages as { seq: number }[]).map((m) => m.seq),
      [3],
    );

    const feed = await asAlice('GET', `/v1/sessions/${id}/feed`);
    assert.equal(feed.status, 200, feed.text);
    assert.deepEqual(
      (feed.body.feed as { seq: number; event_type: string }[]).map((e) => [e.seq, e.event_type]),
      [
        [1, 'session.created'],
        [2, 'session.message'],
        [3, 'session.message'],
      ],
    );
    assert.equal(feed.body.next_seq, 3);
    const page = await asAlice('GET', `/v1/sessions/${id}/feed?since=1&limit=1`);
    assert.deepEqual(
      (page.body.feed as { seq: number }[]).map((e) => e.seq),
      [2],
    );
    assert.equal(page.body.next_seq, 2);

    // The stream replays after since, then closes with stream.timeout and the cursor.
    const replay = await asBob('GET', `/v1/sessions/${id}/feed/stream?since=1&wait_seconds=2`);
    assert.equal(replay.status, 200);
    assert.match(replay.headers.get('content-type') ?? '', /text\/event-stream/);
    const frames = parseSse(replay.text);
    assert.deepEqual(
      frames.map((f) => [f.id, f.event]),
      [
        ['2', 'session.message'],
        ['3', 'session.message'],
        [null, 'stream.timeout'],
      ],
    );
    assert.equal(frames[0]!.data.content, 'fix the build');
    assert.equal(frames[0]!.data.message_id, first.body.message_id);
    assert.deepEqual(frames[2]!.data, { ok: true, next_seq: 3 });

    // Last-Event-ID (a reconnecting EventSource) wins over since.
    const resumed = await asBob('GET', `/v1/sessions/${id}/feed/stream?since=0&wait_seconds=1`, {
      headers: { 'last-event-id': '2' },
    });
    assert.deepEqual(
      parseSse(resumed.text).map((f) => f.id),
      ['3', null],
    );

    // Idle: waits, then stream.timeout with next_seq.
    const idle = await asBob('GET', `/v1/sessions/${id}/feed/stream?since=3&wait_seconds=1`);
    assert.deepEqual(
      parseSse(idle.text).map((f) => [f.event, f.data]),
      [['stream.timeout', { ok: true, next_seq: 3 }]],
    );

    // A waiting stream gets a message posted while it waits.
    const waiting = asBob('GET', `/v1/sessions/${id}/feed/stream?since=3&wait_seconds=30`);
    await new Promise((r) => setTimeout(r, 300));
    const third = await post(asAlice, id, {
      role: 'tool',
      content: 'tests pass',
      content_type: 'text/markdown',
    });
    assert.equal(third.body.seq, 4);
    const woken = parseSse((await waiting).text);
    assert.equal(woken[0]?.id, '4');
    assert.equal(woken[0]?.event, 'session.message');
    assert.equal(woken[0]?.data.content_type, 'text/markdown');

    // Only the creator or an operator completes; a member who is not the creator is refused.
    const refused = await asBob('POST', `/v1/sessions/${id}/complete`, { body: {} });
    assert.equal(refused.status, 403, refused.text);

    // A stream open at completion delivers session.completed and ends there.
    const open = asBob('GET', `/v1/sessions/${id}/feed/stream?since=4&wait_seconds=30`);
    await new Promise((r) => setTimeout(r, 300));
    const done = await asAlice('POST', `/v1/sessions/${id}/complete`, { body: { result: { merged: true } } });
    assert.equal(done.status, 200, done.text);
    assert.deepEqual(done.body, { ok: true, session_id: id, status: 'COMPLETED' });
    const ending = parseSse((await open).text);
    assert.deepEqual(
      ending.map((f) => [f.id, f.event]),
      [
        ['5', 'session.completed'],
        [null, 'stream.timeout'],
      ],
    );
    assert.deepEqual(ending[0]!.data.result, { merged: true });
    assert.deepEqual(ending[1]!.data, { ok: true, next_seq: 5 });
    // Replaying a completed session's stream ends at session.completed without waiting.
    const replayAll = await asBob('GET', `/v1/sessions/${id}/feed/stream?since=0&wait_seconds=60`);
    assert.deepEqual(
      parseSse(replayAll.text).map((f) => f.id),
      ['1', '2', '3', '4', '5', null],
    );

    const again = await asAlice('POST', `/v1/sessions/${id}/complete`, { body: {} });
    assert.equal(again.status, 409, again.text);
    assert.equal(errorCode(again), 'session_completed');
    const late = await post(asBob, id, { role: 'user', content: 'one more thing' });
    assert.equal(late.status, 409, late.text);
    assert.equal(errorCode(late), 'session_completed');

    const final = (await asAlice('GET', `/v1/sessions/${id}`)).body.session as Record<string, unknown>;
    assert.equal(final.status, 'COMPLETED');
    assert.deepEqual(final.result, { merged: true });
    assert.equal(final.last_seq, 5);
    assert.match(String(final.completed_at), /^\d{4}-\d{2}-\d{2}T/);

    // Every write left an audit row naming the session.
    const audit = await asAdmin('GET', `/v1/audit/events?target=${id}&limit=50`);
    assert.equal(audit.status, 200, audit.text);
    const actions = (audit.body.events as { action: string; outcome: string }[]).map(
      (e) => `${e.action}:${e.outcome}`,
    );
    for (const expected of [
      'session.create:success',
      'session.message:success',
      'session.complete:denied',
      'session.complete:success',
    ])
      assert.ok(actions.includes(expected), `${expected} missing from ${actions.join(', ')}`);
    assert.equal(actions.filter((a) => a === 'session.message:success').length, 3);
  });

  test('an operator of the org may complete a session it did not create', async () => {
    const id = await createSession(asAlice);
    const res = await asOperator('POST', `/v1/sessions/${id}/complete`, { body: {} });
    assert.equal(res.status, 200, res.text);
    const session = (await asAlice('GET', `/v1/sessions/${id}`)).body.session as Record<string, unknown>;
    assert.equal(session.result, null);
  });

  test('twenty concurrent posts get seqs 2..21 with no gap or duplicate', async () => {
    const id = await createSession(asAlice);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(i % 2 ? asAlice : asBob, id, { role: 'agent', content: `m${i}` }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      Array(20).fill(200),
    );
    assert.deepEqual(
      results.map((r) => r.body.seq as number).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    const feed = await asAlice('GET', `/v1/sessions/${id}/feed?limit=1000`);
    assert.deepEqual(
      (feed.body.feed as { seq: number }[]).map((e) => e.seq),
      Array.from({ length: 21 }, (_, i) => i + 1),
    );
    const session = (await asAlice('GET', `/v1/sessions/${id}`)).body.session as { last_seq: number };
    assert.equal(session.last_seq, 21);
  });

  test('Idempotency-Key: a replay returns the same message and writes one entry; another body is 409', async () => {
    const id = await createSession(asAlice);
    const key = randomUUID();
    const body = { role: 'user', content: 'exactly once' };
    const first = await post(asAlice, id, body, { 'idempotency-key': key });
    const again = await post(asAlice, id, body, { 'idempotency-key': key });
    assert.equal(first.status, 200, first.text);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.message_id, first.body.message_id);
    assert.equal(again.body.seq, first.body.seq);
    const messages = (await asAlice('GET', `/v1/sessions/${id}/messages`)).body.messages as unknown[];
    assert.equal(messages.length, 1);
    const other = await post(
      asAlice,
      id,
      { role: 'user', content: 'something else' },
      { 'idempotency-key': key },
    );
    assert.equal(other.status, 409);
    assert.equal(errorCode(other), 'idempotency_conflict');

    const createKey = randomUUID();
    const created = await asAlice('POST', '/v1/sessions', {
      body: { type: 'review' },
      headers: { 'idempotency-key': createKey },
    });
    const createdAgain = await asAlice('POST', '/v1/sessions', {
      body: { type: 'review' },
      headers: { 'idempotency-key': createKey },
    });
    assert.equal(createdAgain.body.session_id, created.body.session_id);
  });

  test('parents: same org only; list filters by status and parent, newest first, with a cursor', async () => {
    const parent = await createSession(asAlice, { type: 'epic' });
    const children: string[] = [];
    for (let i = 0; i < 3; i++) children.push(await createSession(asBob, { parent_session_id: parent }));
    const child = (await asAlice('GET', `/v1/sessions/${children[0]!}`)).body.session as Record<
      string,
      unknown
    >;
    assert.equal(child.parent_session_id, parent);

    const foreignParent = await createSession(asOutsider);
    const foreign = await asAlice('POST', '/v1/sessions', {
      body: { type: 'coding', parent_session_id: foreignParent },
    });
    assert.equal(foreign.status, 404, foreign.text);
    assert.equal(errorCode(foreign), 'session_not_found');
    const missing = await asAlice('POST', '/v1/sessions', {
      body: { type: 'coding', parent_session_id: randomUUID() },
    });
    assert.equal(missing.status, 404);
    assert.equal(
      missing.text.replace(/"request_id":"[^"]+"/, ''),
      foreign.text.replace(/"request_id":"[^"]+"/, ''),
    );

    assert.equal((await asBob('POST', `/v1/sessions/${children[1]!}/complete`, { body: {} })).status, 200);
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<Client>> = await asAlice(
        'GET',
        `/v1/sessions?parent_session_id=${parent}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.equal(res.status, 200, res.text);
      pages.push((res.body.sessions as { session_id: string }[]).map((s) => s.session_id));
      cursor = res.body.next_cursor as string | null;
    } while (cursor);
    assert.deepEqual(pages, [[children[2]!, children[1]!], [children[0]!]]);
    const completed = await asAlice('GET', `/v1/sessions?parent_session_id=${parent}&status=completed`);
    assert.deepEqual(
      (completed.body.sessions as { session_id: string; status: string }[]).map((s) => [
        s.session_id,
        s.status,
      ]),
      [[children[1]!, 'COMPLETED']],
    );
    const active = await asAlice('GET', `/v1/sessions?parent_session_id=${parent}&status=ACTIVE`);
    assert.deepEqual(
      (active.body.sessions as { session_id: string }[]).map((s) => s.session_id),
      [children[2]!, children[0]!],
    );
    const everything = (await asAlice('GET', '/v1/sessions?limit=200')).body.sessions as {
      session_id: string;
    }[];
    assert.ok(!everything.some((s) => s.session_id === foreignParent), 'another org’s session is not listed');
    assert.ok(everything.some((s) => s.session_id === parent));
  });

  test('another org gets 404 for everything, as for a session that does not exist', async () => {
    const id = await createSession(asAlice);
    await post(asAlice, id, { role: 'user', content: 'private' });
    const routes: [string, string, unknown?][] = [
      ['GET', ''],
      ['GET', '/messages'],
      ['GET', '/feed'],
      ['GET', '/feed/stream?wait_seconds=1'],
      ['POST', '/messages', { role: 'user', content: 'hi' }],
      ['POST', '/complete', {}],
    ];
    for (const [method, suffix, body] of routes) {
      const options = body === undefined ? {} : { body };
      const res = await asOutsider(method, `/v1/sessions/${id}${suffix}`, options);
      const probe = await asOutsider(method, `/v1/sessions/${randomUUID()}${suffix}`, options);
      assert.equal(res.status, 404, `${method} ${suffix}: ${res.text}`);
      assert.equal(probe.status, 404);
      assert.equal(errorCode(res), 'session_not_found');
      assert.ok(!res.text.includes('private'));
    }
    const session = (await asAlice('GET', `/v1/sessions/${id}`)).body.session as {
      last_seq: number;
      status: string;
    };
    assert.deepEqual([session.last_seq, session.status], [2, 'ACTIVE']);
    const list = (await asOutsider('GET', '/v1/sessions')).body.sessions as { session_id: string }[];
    assert.ok(!list.some((s) => s.session_id === id));
  });

  test('no credentials → 401 on every route', async () => {
    const id = await createSession(asAlice);
    const routes: [string, string][] = [
      ['POST', '/v1/sessions'],
      ['GET', '/v1/sessions'],
      ['GET', `/v1/sessions/${id}`],
      ['POST', `/v1/sessions/${id}/messages`],
      ['GET', `/v1/sessions/${id}/messages`],
      ['GET', `/v1/sessions/${id}/feed`],
      ['GET', `/v1/sessions/${id}/feed/stream?wait_seconds=1`],
      ['POST', `/v1/sessions/${id}/complete`],
    ];
    for (const [method, path] of routes) {
      const res = await anonymous(
        method,
        path,
        method === 'POST' ? { body: { role: 'user', content: 'x' } } : {},
      );
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal(errorCode(res), 'missing_platform_api_key');
    }
    const wrong = await apiClient(axle.baseUrl, 'nonsense')('GET', `/v1/sessions/${id}`);
    assert.equal(wrong.status, 401);
  });

  test('malformed JSON → 400; wrong types → 422 with one entry per field path; oversized → 413', async () => {
    const id = await createSession(asAlice);
    for (const path of ['/v1/sessions', `/v1/sessions/${id}/messages`, `/v1/sessions/${id}/complete`]) {
      const res = await asAlice('POST', path, { rawBody: '{"type":' });
      assert.equal(res.status, 400, path);
      assert.equal(errorCode(res), 'malformed_json');
    }
    const create = await asAlice('POST', '/v1/sessions', {
      body: { type: 5, parent_session_id: 'nope', depends_on: 'build', metadata: [1], project_id: 7 },
    });
    assert.equal(create.status, 422, create.text);
    assert.deepEqual(fieldPaths(create), [
      'depends_on',
      'metadata',
      'parent_session_id',
      'project_id',
      'type',
    ]);
    assert.deepEqual(fieldPaths(await asAlice('POST', '/v1/sessions', { body: {} })), ['type']);
    assert.equal((await asAlice('POST', '/v1/sessions', { body: [1] })).status, 422);

    const message = await post(asAlice, id, { role: 'Not A Role!', content: null, content_type: 7 });
    assert.equal(message.status, 422, message.text);
    assert.deepEqual(fieldPaths(message), ['content', 'content_type', 'role']);
    assert.deepEqual(fieldPaths(await post(asAlice, id, { content: 'x' })), ['role']);
    assert.deepEqual(
      fieldPaths(await post(asAlice, id, { role: 'user', content: 'x', content_type: 'plain' })),
      ['content_type'],
    );
    const badQueries = [
      `/v1/sessions/${id}/messages?since=-1`,
      `/v1/sessions/${id}/feed?limit=0`,
      `/v1/sessions/${id}/feed/stream?wait_seconds=61`,
      '/v1/sessions?status=DONE',
      '/v1/sessions?parent_session_id=nope',
      '/v1/sessions?cursor=bm90LWEtY3Vyc29y',
    ];
    for (const path of badQueries) assert.equal((await asAlice('GET', path)).status, 422, path);

    // The cap is AXLE_SESSION_MESSAGE_MAX_BYTES (4096 in this file's gateway): content over it is 413.
    const big = await post(asAlice, id, { role: 'user', content: 'x'.repeat(4097) });
    assert.equal(big.status, 413, big.text);
    assert.equal(errorCode(big), 'payload_too_large');
    const bigJson = await post(asAlice, id, { role: 'user', content: { blob: 'é'.repeat(2100) } });
    assert.equal(bigJson.status, 413);
    const fits = await post(asAlice, id, { role: 'user', content: 'x'.repeat(4096) });
    assert.equal(fits.status, 200, fits.text);
    assert.equal(fits.body.seq, 2, 'refused messages took no seq');

    for (const missing of [randomUUID(), 'not-a-uuid']) {
      assert.equal((await asAlice('GET', `/v1/sessions/${missing}`)).status, 404);
      assert.equal((await post(asAlice, missing, { role: 'user', content: 'x' })).status, 404);
    }
  });
});
