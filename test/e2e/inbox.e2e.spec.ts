// The inbox and approvals end to end: real gateway and worker processes, real PostgreSQL and
// Temporal. reply_to completions and human tasks arrive through the intent workflow; reads, replies,
// deletes, delegation and decisions go through the routes; a local node:http receiver (the one
// external edge) records the inbox webhook events.
import { generateApiKey, hashSecret } from '@axle/auth';
import { orgScope, PrismaService, RegistryRepository } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  requireEnv,
  TEST_ADMIN_ADDRESS,
  TEST_ADMIN_KEY,
  until,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Timeline = {
  event_id: string;
  event_type: string;
  actor: string;
  at: string;
  details: Record<string, unknown>;
};
type Message = {
  message_id: string;
  role: string;
  author: string;
  content: Record<string, unknown>;
  text: string | null;
};
type Thread = {
  thread_id: string;
  intent_id: string;
  kind: string;
  status: string;
  owner_agent: string;
  from_agent: string;
  to_agent: string;
  subject: string | null;
  intent_type: string | null;
  read_at: string | null;
  created_at: string;
  updated_at: string;
  messages: Message[];
  timeline: Timeline[];
};
type Change = { cursor: string; thread: Thread };

/** The integrator's endpoint: records every webhook POST. */
class Receiver {
  readonly received: { path: string; body: Record<string, unknown> }[] = [];
  private readonly server: Server;
  private port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          // recorded empty; the assertions fail
        }
        this.received.push({ path: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ack":true}');
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string) {
    return this.received.filter((r) => r.path === path).map((r) => r.body);
  }
}

let axle: AxleProcesses;
let admin: Api;
let anonymous: Api;
let prisma: PrismaService;
let receiver: Receiver;

const q = (owner: string) => `owner_agent=${encodeURIComponent(owner)}`;
const address = (prefix: string) => `agent://default/default/${prefix}-${randomUUID().slice(0, 8)}`;

/** A registered, non-admin agent with its own key. */
async function createAgent(name: string, orgSlug = 'default'): Promise<{ api: Api; address: string }> {
  const registry = new RegistryRepository(prisma);
  let org = await registry.findOrgBySlug(orgSlug);
  let workspaceId: string;
  if (org) {
    workspaceId = (
      await prisma.client.workspace.findFirstOrThrow({ where: { orgId: org.id, slug: 'default' } })
    ).id;
  } else {
    const created = await registry.createOrganization({ slug: orgSlug });
    org = created.org;
    workspaceId = created.workspaceId;
  }
  const { key, serviceAccountId, secret } = generateApiKey();
  const agentAddress = `agent://${orgSlug}/default/${name}`;
  await registry.registerAgent(
    orgScope(org.id),
    { workspaceId, name, address: agentAddress },
    { secretHash: await hashSecret(secret), hint: secret.slice(-4), agentId: serviceAccountId },
  );
  return { api: apiClient(axle.baseUrl, key), address: agentAddress };
}

async function createIntent(body: Record<string, unknown>): Promise<string> {
  const res = await admin('POST', '/v1/intents', {
    body: { intent_type: 'ops.review.v1', payload: { change: 'CHG-1' }, ...body },
  });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function getIntent(id: string): Promise<Record<string, unknown>> {
  const res = await admin('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.intent as Record<string, unknown>;
}

async function waitForStatus(id: string, status: string): Promise<Record<string, unknown>> {
  return until(`intent ${id} ${status}`, async () => {
    const intent = await getIntent(id);
    return intent.status === status ? intent : undefined;
  });
}

async function events(id: string): Promise<{ event_type: string; details: Record<string, unknown> }[]> {
  const res = await admin('GET', `/v1/intents/${id}/events?since=0`);
  assert.equal(res.status, 200, res.text);
  return res.body.events as { event_type: string; details: Record<string, unknown> }[];
}

/** An intent that completes at once, with its completion delivered to `replyTo`'s inbox. */
async function completedIntent(
  replyTo: string,
  result: Record<string, unknown> = { rows: 3 },
): Promise<string> {
  const toAgent = address('worker');
  const id = await createIntent({ to_agent: toAgent, reply_to: replyTo });
  await waitForStatus(id, 'DELIVERED');
  const res = await admin('POST', `/v1/intents/${id}/resume?${q(toAgent)}`, {
    body: { action: 'complete', result },
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.status, 'COMPLETED');
  return id;
}

/** A human-task intent to `handler`, WAITING_FOR_HUMAN, with the id of its task thread. */
async function humanTask(
  handler: string,
  task: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<{ intentId: string; threadId: string }> {
  const intentId = await createIntent({
    to_agent: handler,
    human_task: { title: 'Approve change CHG-1', allowed_outcomes: ['approved', 'rejected'], ...task },
    ...extra,
  });
  const intent = await waitForStatus(intentId, 'WAITING');
  assert.equal(intent.waiting_reason, 'WAITING_FOR_HUMAN');
  const assigned = (await events(intentId)).find((e) => e.event_type === 'intent.human_task_assigned');
  assert.ok(assigned, 'no intent.human_task_assigned event');
  const threadId = assigned.details.thread_id as string;
  assert.match(threadId, /^[0-9a-f-]{36}$/);
  return { intentId, threadId };
}

async function thread(api: Api, id: string, owner?: string): Promise<Thread> {
  const res = await api('GET', `/v1/inbox/${id}${owner ? `?${q(owner)}` : ''}`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.ok, true);
  return res.body.thread as Thread;
}

async function inbox(api: Api, owner?: string, query = ''): Promise<Thread[]> {
  const params = [owner ? q(owner) : '', query].filter(Boolean).join('&');
  const res = await api('GET', `/v1/inbox${params ? `?${params}` : ''}`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.ok, true);
  return res.body.threads as Thread[];
}

async function waitForThread(owner: string, id: string): Promise<Thread> {
  return until(`thread ${id} in ${owner}'s inbox`, async () =>
    (await inbox(admin, owner)).find((t) => t.thread_id === id),
  );
}

async function changes(owner: string, query = '') {
  const res = await admin('GET', `/v1/inbox/changes?${q(owner)}${query ? `&${query}` : ''}`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.ok, true);
  return res.body as { changes: Change[]; next_cursor: string; has_more: boolean };
}

function assertError(
  res: { status: number; body: Record<string, unknown>; text: string },
  status: number,
  code?: string,
) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.ok, false);
  const error = res.body.error as { code: string; message: string };
  if (code) assert.equal(error.code, code, res.text);
  assert.equal(typeof res.body.detail, 'string');
}

function fieldPaths(res: { body: Record<string, unknown> }): string[] {
  const error = res.body.error as { details?: { errors?: { path: string }[] } };
  return (error.details?.errors ?? []).map((e) => e.path);
}

async function subscribe(owner: string, eventTypes: string[]): Promise<string> {
  const path = `/hooks/${randomUUID()}`;
  const res = await admin('POST', `/v1/webhooks/subscriptions?${q(owner)}`, {
    body: { callback_url: receiver.url(path), event_types: eventTypes },
  });
  assert.equal(res.status, 200, res.text);
  return path;
}

describe('inbox and approvals end to end', () => {
  before(async () => {
    receiver = new Receiver();
    await receiver.start();
    axle = await AxleProcesses.create({
      AXLE_WEBHOOK_MAX_ATTEMPTS: '3',
      AXLE_WEBHOOK_BACKOFF_MS: '50',
      AXLE_WEBHOOK_BACKOFF_MAX_MS: '200',
    });
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway', 'worker']);
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    // The first-boot bootstrap (org default, admin key) runs after the gateway listens.
    await until('the admin key', async () =>
      (await admin('GET', '/v1/inbox')).status === 200 ? true : undefined,
    );
  });
  after(async () => {
    await axle.stopAll();
    await receiver.stop();
    await prisma?.onModuleDestroy();
  });

  test('reply_to: the completion is a thread in the reply_to inbox with thread_id = intent_id', async () => {
    const caller = address('caller');
    const hook = await subscribe(caller, ['inbox.thread_created']);
    const id = await completedIntent(caller, { rows: 7 });

    const listed = await waitForThread(caller, id);
    assert.equal(listed.intent_id, id);
    assert.equal(listed.kind, 'completion');
    assert.equal(listed.status, 'pending');
    assert.equal(listed.owner_agent, caller);
    assert.equal(listed.to_agent, caller);
    assert.equal(listed.from_agent, 'agent://axle.intent-protocol');
    assert.equal(listed.intent_type, 'ops.review.v1');
    assert.equal(listed.subject, 'ops.review.v1 COMPLETED');
    assert.ok(listed.timeline.length >= 1);
    const delivered = listed.timeline.find((t) => t.event_type === 'intent_completion_delivered');
    assert.ok(delivered, JSON.stringify(listed.timeline));
    assert.match(delivered.event_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(delivered.details.status, 'COMPLETED');
    assert.equal(listed.messages.length, 1);
    assert.equal(listed.messages[0]!.role, 'system');
    assert.equal(listed.messages[0]!.content.status, 'COMPLETED');
    assert.deepEqual(listed.messages[0]!.content.result, { rows: 7 });
    assert.match(listed.messages[0]!.text ?? '', /ended COMPLETED/);

    // The same thread by id, with the owner in the query or in x-owner-agent.
    assert.deepEqual(await thread(admin, id, caller), listed);
    const byHeader = await admin('GET', `/v1/inbox/${id}`, { headers: { 'x-owner-agent': caller } });
    assert.equal(byHeader.status, 200, byHeader.text);
    assert.equal((byHeader.body.thread as Thread).thread_id, id);
    // Status filter.
    assert.ok((await inbox(admin, caller, 'status=pending')).some((t) => t.thread_id === id));
    assert.ok(!(await inbox(admin, caller, 'status=done')).some((t) => t.thread_id === id));

    // The owner's subscriber hears about the new thread once.
    const created = await until('inbox.thread_created', () => receiver.at(hook)[0]);
    assert.equal(created.event_type, 'inbox.thread_created');
    assert.equal(created.owner_agent, caller);
    const payload = created.payload as Record<string, unknown>;
    assert.equal(payload.thread_id, id);
    assert.equal(payload.intent_id, id);
    assert.equal((payload.change as Record<string, unknown>).event_type, 'intent_completion_delivered');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(receiver.at(hook).length, 1, 'the creation is announced once');
  });

  test('changes feed: cursor paging misses nothing and repeats nothing; a change moves a thread to the end', async () => {
    const owner = address('feed');
    const ids = [await completedIntent(owner), await completedIntent(owner), await completedIntent(owner)];
    await Promise.all(ids.map((id) => waitForThread(owner, id)));

    const first = await changes(owner, 'limit=2');
    assert.equal(first.changes.length, 2);
    assert.equal(first.has_more, true);
    assert.ok(first.next_cursor.length >= 3);
    assert.equal(first.next_cursor, first.changes[1]!.cursor);
    const second = await changes(owner, `cursor=${first.next_cursor}&limit=2`);
    assert.equal(second.changes.length, 1);
    assert.equal(second.has_more, false);
    const seen = [...first.changes, ...second.changes];
    assert.deepEqual(seen.map((c) => c.thread.thread_id).sort(), [...ids].sort());
    const cursors = seen.map((c) => c.cursor);
    assert.deepEqual([...cursors].sort(), cursors, 'cursors increase');
    assert.equal(new Set(cursors).size, cursors.length);
    for (const change of seen) assert.ok(change.thread.timeline.length >= 1);

    // Nothing new: an empty page that keeps the cursor.
    const idle = await changes(owner, `cursor=${second.next_cursor}`);
    assert.deepEqual(idle.changes, []);
    assert.equal(idle.has_more, false);
    assert.equal(idle.next_cursor, second.next_cursor);

    // Reading the first thread changes it: it comes once more, after the cursor, and only it.
    const read = await admin('POST', `/v1/inbox/${ids[0]}/read?${q(owner)}`);
    assert.equal(read.status, 200, read.text);
    const after = await changes(owner, `cursor=${second.next_cursor}`);
    assert.deepEqual(
      after.changes.map((c) => c.thread.thread_id),
      [ids[0]],
    );
    assert.equal(after.changes[0]!.thread.status, 'active');
    assert.ok(after.changes[0]!.cursor > second.next_cursor);

    // Concurrent writers while a reader follows the feed: every thread's final change is seen.
    let cursor = after.next_cursor;
    const observed = new Set<string>();
    let writing = true;
    const writers = Promise.all(
      ids.flatMap((id) =>
        [1, 2, 3, 4].map((n) =>
          admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, { body: { message: `note ${n}` } }).then((r) =>
            assert.equal(r.status, 200, r.text),
          ),
        ),
      ),
    ).finally(() => (writing = false));
    const follow = async () => {
      for (;;) {
        const stillWriting = writing;
        const page = await changes(owner, `cursor=${cursor}&limit=2`);
        for (const c of page.changes) {
          assert.ok(c.cursor > cursor, 'nothing at or before the cursor');
          observed.add(`${c.thread.thread_id}@${c.cursor}`);
        }
        cursor = page.next_cursor;
        if (!stillWriting && !page.has_more) return;
      }
    };
    await Promise.all([writers, follow()]);
    const final = await changes(owner);
    assert.equal(final.changes.length, 3);
    for (const c of final.changes) {
      assert.ok(
        observed.has(`${c.thread.thread_id}@${c.cursor}`),
        `missed the last change of ${c.thread.thread_id}`,
      );
      assert.equal(c.thread.messages.filter((m) => m.role === 'owner').length, 4);
    }

    // Query validation.
    for (const bad of [
      'cursor=abc',
      'cursor=-1',
      'cursor=99999999999999999999',
      'limit=0',
      'limit=201',
      'limit=x',
    ]) {
      const res = await admin('GET', `/v1/inbox/changes?${q(owner)}&${bad}`);
      assertError(res, 422);
      assert.deepEqual(fieldPaths(res), [bad.split('=')[0]!], bad);
    }
    for (const bad of ['status=open', 'limit=0', 'limit=500']) {
      const res = await admin('GET', `/v1/inbox?${q(owner)}&${bad}`);
      assertError(res, 422);
      assert.deepEqual(fieldPaths(res), [bad.split('=')[0]!], bad);
    }
  });

  test('read, reply and messages delete; each write is a webhook event and an audit row', async () => {
    const owner = address('reader');
    const hook = await subscribe(owner, ['inbox.thread_updated', 'inbox.reply_received']);
    const id = await completedIntent(owner);
    await waitForThread(owner, id);

    const read = await admin('POST', `/v1/inbox/${id}/read?${q(owner)}`);
    assert.equal(read.status, 200, read.text);
    const readThread = read.body.thread as Thread;
    assert.equal(readThread.status, 'active');
    assert.ok(readThread.read_at);
    assert.equal(readThread.timeline.filter((t) => t.event_type === 'read').length, 1);
    // Reading again changes nothing.
    const again = await admin('POST', `/v1/inbox/${id}/read?${q(owner)}`);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body.thread, readThread);

    const text = await admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, {
      body: { message: 'thanks, received' },
    });
    assert.equal(text.status, 200, text.text);
    const afterText = text.body.thread as Thread;
    const reply = afterText.messages.at(-1)!;
    assert.equal(reply.role, 'owner');
    assert.equal(reply.author, owner);
    assert.equal(reply.text, 'thanks, received');
    assert.deepEqual(reply.content, { text: 'thanks, received' });
    assert.equal(afterText.timeline.at(-1)!.event_type, 'reply');
    assert.equal(afterText.timeline.at(-1)!.details.message_id, reply.message_id);

    const structured = await admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, {
      body: { message: { text: 'with data', data: { ticket: 42 } } },
    });
    assert.equal(structured.status, 200, structured.text);
    const object = (structured.body.thread as Thread).messages.at(-1)!;
    assert.deepEqual(object.content, { text: 'with data', data: { ticket: 42 } });
    assert.equal(object.text, 'with data');
    assert.equal((await thread(admin, id, owner)).messages.length, 3);

    // Bad replies change nothing.
    const cases: [unknown, number, string[]][] = [
      [{}, 422, ['message']],
      [{ message: '' }, 422, ['message']],
      [{ message: 'x'.repeat(10_001) }, 422, ['message']],
      [{ message: 42 }, 422, ['message']],
      [{ message: {} }, 422, ['message']],
    ];
    for (const [body, status, paths] of cases) {
      const res = await admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, { body });
      assertError(res, status);
      assert.deepEqual(fieldPaths(res), paths, JSON.stringify(body).slice(0, 60));
    }
    const huge = await admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, {
      body: { message: { blob: 'y'.repeat(140_000) } },
    });
    assertError(huge, 413, 'payload_too_large');
    const malformed = await admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, {
      rawBody: '{"message": "x"',
    });
    assertError(malformed, 400, 'malformed_json');
    assert.equal((await thread(admin, id, owner)).messages.length, 3);

    // Delete: self hides for the owner; both deletes the newest for everyone.
    const hide = await admin('POST', `/v1/inbox/${id}/messages/delete?${q(owner)}`, {
      body: { mode: 'self', message_ids: [reply.message_id] },
    });
    assert.equal(hide.status, 200, hide.text);
    assert.equal(hide.body.mode, 'self');
    assert.equal(hide.body.deleted_count, 1);
    assert.deepEqual(hide.body.message_ids, [reply.message_id]);
    const hidden = hide.body.thread as Thread;
    assert.ok(!hidden.messages.some((m) => m.message_id === reply.message_id));
    assert.equal(hidden.messages.length, 2);
    assert.equal(hidden.timeline.at(-1)!.event_type, 'messages_deleted');

    const again2 = await admin('POST', `/v1/inbox/${id}/messages/delete?${q(owner)}`, {
      body: { mode: 'self', message_ids: [reply.message_id, randomUUID()] },
    });
    assert.equal(again2.status, 200, again2.text);
    assert.equal(again2.body.deleted_count, 0);
    assert.deepEqual(again2.body.message_ids, []);

    const both = await admin('POST', `/v1/inbox/${id}/messages/delete?${q(owner)}`, {
      body: { mode: 'both', limit: 1 },
    });
    assert.equal(both.status, 200, both.text);
    assert.deepEqual(both.body.message_ids, [object.message_id]);
    assert.equal((both.body.thread as Thread).messages.length, 1);
    const row = await prisma.client.inboxMessage.findUniqueOrThrow({ where: { id: object.message_id } });
    assert.ok(row.deletedAt);
    assert.deepEqual(row.content, { deleted: true }, 'deleted for everyone: the content is gone');

    for (const [body, paths] of [
      [{}, ['mode']],
      [{ mode: 'all' }, ['mode']],
      [{ mode: 'self', message_ids: ['not-a-uuid'] }, ['message_ids.0']],
      [{ mode: 'self', message_ids: [] }, ['message_ids']],
      [{ mode: 'self', limit: 0 }, ['limit']],
      [{ mode: 'self', limit: 101 }, ['limit']],
    ] as [unknown, string[]][]) {
      const res = await admin('POST', `/v1/inbox/${id}/messages/delete?${q(owner)}`, { body });
      assertError(res, 422);
      assert.deepEqual(fieldPaths(res), paths, JSON.stringify(body));
    }

    // Webhooks: one thread_updated per changing write (read, delete, delete), one reply_received per reply.
    const updates = await until('webhook events', () => {
      const got = receiver.at(hook);
      return got.length >= 5 ? got : undefined;
    });
    const byType = (type: string) => updates.filter((e) => e.event_type === type);
    assert.equal(byType('inbox.reply_received').length, 2);
    const replyEvents = byType('inbox.reply_received').map((e) => e.payload as Record<string, unknown>);
    assert.ok(replyEvents.every((p) => p.thread_id === id));
    const replyEvent = replyEvents.find(
      (p) => (p.message as Record<string, unknown> | null)?.message_id === reply.message_id,
    );
    assert.ok(replyEvent, JSON.stringify(replyEvents));
    assert.deepEqual(replyEvent.message, {
      message_id: reply.message_id,
      role: 'owner',
      author: owner,
      text: 'thanks, received',
    });
    // Each delivery is its own workflow, so arrival order is not asserted.
    assert.deepEqual(
      byType('inbox.thread_updated')
        .map((e) => ((e.payload as Record<string, unknown>).change as Record<string, unknown>).event_type)
        .sort(),
      ['messages_deleted', 'messages_deleted', 'read'],
    );

    const audit = await prisma.client.auditEvent.findMany({
      // The use case rows (failed requests on the thread have generic http.* rows too).
      where: { targetType: 'inbox_thread', targetId: id, action: { startsWith: 'inbox.' } },
      orderBy: { id: 'asc' },
    });
    assert.deepEqual(
      audit.map((a) => a.action),
      ['inbox.read', 'inbox.reply', 'inbox.reply', 'inbox.messages.delete', 'inbox.messages.delete'],
    );
  });

  test('Idempotency-Key: a retried reply answers the same and adds one message; another body → 409', async () => {
    const owner = address('idem');
    const id = await completedIntent(owner);
    await waitForThread(owner, id);
    const key = `reply-${randomUUID()}`;
    const send = (message: string) =>
      admin('POST', `/v1/inbox/${id}/reply?${q(owner)}`, {
        body: { message },
        headers: { 'Idempotency-Key': key },
      });
    const [one, two] = await Promise.all([send('once'), send('once')]);
    assert.equal(one.status, 200, one.text);
    assert.equal(two.status, 200, two.text);
    assert.deepEqual(one.body, two.body);
    const three = await send('once');
    assert.deepEqual(three.body, one.body);
    assert.equal((await thread(admin, id, owner)).messages.filter((m) => m.role === 'owner').length, 1);
    assertError(await send('twice'), 409, 'idempotency_conflict');
  });

  test('human task: the thread is in the handler inbox; approve → COMPLETED with task_result, thread done', async () => {
    const handler = await createAgent(`approver-${randomUUID().slice(0, 8)}`);
    const caller = address('requester');
    const { intentId, threadId } = await humanTask(handler.address, {}, { reply_to: caller });

    // The handler reads its own inbox with its own key (no owner_agent).
    const own = await inbox(handler.api);
    const task = own.find((t) => t.thread_id === threadId);
    assert.ok(task, `no task thread in ${JSON.stringify(own)}`);
    assert.equal(task.kind, 'human_task');
    assert.equal(task.intent_id, intentId);
    assert.equal(task.owner_agent, handler.address);
    assert.equal(task.from_agent, TEST_ADMIN_ADDRESS);
    assert.equal(task.subject, 'Approve change CHG-1');
    assert.equal(task.status, 'pending');
    assert.equal(task.timeline[0]!.event_type, 'human_task_assigned');

    const approve = await handler.api('POST', `/v1/inbox/${threadId}/approve`, {
      body: { comment: 'looks good' },
    });
    assert.equal(approve.status, 200, approve.text);
    const decided = approve.body.thread as Thread;
    assert.equal(decided.status, 'done');
    const entry = decided.timeline.find((t) => t.event_type === 'approved');
    assert.ok(entry, JSON.stringify(decided.timeline));
    assert.equal(entry.actor, handler.address);
    assert.equal(entry.details.comment, 'looks good');
    assert.equal(entry.details.intent_status, 'COMPLETED');

    const intent = await getIntent(intentId);
    assert.equal(intent.status, 'COMPLETED');
    assert.deepEqual(intent.result, { task_result: { outcome: 'approved', comment: 'looks good' } });
    const types = (await events(intentId)).map((e) => e.event_type);
    assert.deepEqual(types.slice(-3), [
      'intent.human_task_assigned',
      'intent.in_progress',
      'intent.completed',
    ]);

    // Deciding again, either way, is a conflict and changes nothing.
    assertError(
      await handler.api('POST', `/v1/inbox/${threadId}/approve`, { body: {} }),
      409,
      'intent_terminal',
    );
    assertError(
      await handler.api('POST', `/v1/inbox/${threadId}/reject`, { body: {} }),
      409,
      'intent_terminal',
    );
    assert.equal((await getIntent(intentId)).status, 'COMPLETED');

    // reply_to still gets the completion; approve on that completion thread is a 409.
    await waitForThread(caller, intentId);
    assertError(
      await admin('POST', `/v1/inbox/${intentId}/approve?${q(caller)}`, { body: {} }),
      409,
      'not_a_human_task',
    );
  });

  test('human task: reject → FAILED; a missing required comment or a disallowed outcome is a 422 that changes nothing', async () => {
    const handler = address('reviewer');
    const { intentId, threadId } = await humanTask(handler);
    const reject = await admin('POST', `/v1/inbox/${threadId}/reject?${q(handler)}`, {
      body: { comment: 'no' },
    });
    assert.equal(reject.status, 200, reject.text);
    assert.equal((reject.body.thread as Thread).status, 'done');
    assert.ok((reject.body.thread as Thread).timeline.some((t) => t.event_type === 'rejected'));
    const failed = await getIntent(intentId);
    assert.equal(failed.status, 'FAILED');

    const strict = await humanTask(handler, { required_comment: true });
    const missing = await admin('POST', `/v1/inbox/${strict.threadId}/approve?${q(handler)}`, { body: {} });
    assertError(missing, 422, 'invalid_task_result');
    assert.deepEqual(fieldPaths(missing), ['task_result.comment']);
    const waiting = await getIntent(strict.intentId);
    assert.equal(waiting.status, 'WAITING');
    assert.equal(waiting.waiting_reason, 'WAITING_FOR_HUMAN');
    const untouched = await thread(admin, strict.threadId, handler);
    assert.equal(untouched.status, 'pending');
    assert.ok(!untouched.timeline.some((t) => t.event_type === 'approved'));
    const withComment = await admin('POST', `/v1/inbox/${strict.threadId}/approve?${q(handler)}`, {
      body: { comment: 'checked twice' },
    });
    assert.equal(withComment.status, 200, withComment.text);
    assert.equal((await getIntent(strict.intentId)).status, 'COMPLETED');

    const custom = await humanTask(handler, { allowed_outcomes: ['confirmed'] });
    const disallowed = await admin('POST', `/v1/inbox/${custom.threadId}/approve?${q(handler)}`, {
      body: {},
    });
    assertError(disallowed, 422, 'invalid_task_result');
    assert.deepEqual(fieldPaths(disallowed), ['task_result.outcome']);
    assert.equal((await getIntent(custom.intentId)).status, 'WAITING');

    // Body validation.
    for (const body of [{ comment: 5 }, { comment: 'x'.repeat(2001) }]) {
      const res = await admin('POST', `/v1/inbox/${custom.threadId}/reject?${q(handler)}`, { body });
      assertError(res, 422);
      assert.deepEqual(fieldPaths(res), ['comment']);
    }
    assertError(
      await admin('POST', `/v1/inbox/${custom.threadId}/reject?${q(handler)}`, { rawBody: '{' }),
      400,
      'malformed_json',
    );
    assert.equal((await getIntent(custom.intentId)).status, 'WAITING');
  });

  test('approvals decision: by thread id or intent id, same effect as approve/reject; deciding twice → 409', async () => {
    const handler = await createAgent(`decider-${randomUUID().slice(0, 8)}`);
    const byThread = await humanTask(handler.address);
    const res = await handler.api('POST', `/v1/approvals/${byThread.threadId}/decision`, {
      body: { decision: 'approve', comment: 'ship it' },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.ok, true);
    const approval = res.body.approval as Record<string, unknown>;
    assert.deepEqual(Object.keys(approval).sort(), ['approval_id', 'comment', 'decided_at', 'decision']);
    assert.equal(approval.approval_id, byThread.threadId);
    assert.equal(approval.decision, 'approve');
    assert.equal(approval.comment, 'ship it');
    assert.ok(!Number.isNaN(Date.parse(String(approval.decided_at))));
    const completed = await getIntent(byThread.intentId);
    assert.equal(completed.status, 'COMPLETED');
    assert.deepEqual(completed.result, { task_result: { outcome: 'approved', comment: 'ship it' } });
    const done = await thread(handler.api, byThread.threadId);
    assert.equal(done.status, 'done');
    assert.ok(done.timeline.some((t) => t.event_type === 'approved'));

    const twice = await handler.api('POST', `/v1/approvals/${byThread.threadId}/decision`, {
      body: { decision: 'reject' },
    });
    assertError(twice, 409, 'approval_already_decided');
    assert.equal((twice.body.error as { details: Record<string, unknown> }).details.decision, 'approve');

    // By intent id, as a platform admin without owner_agent.
    const byIntent = await humanTask(handler.address);
    const rejected = await admin('POST', `/v1/approvals/${byIntent.intentId}/decision`, {
      body: { decision: 'reject' },
    });
    assert.equal(rejected.status, 200, rejected.text);
    assert.equal((rejected.body.approval as Record<string, unknown>).approval_id, byIntent.threadId);
    assert.equal((rejected.body.approval as Record<string, unknown>).comment, null);
    assert.equal((await getIntent(byIntent.intentId)).status, 'FAILED');

    // Another agent may not decide it (it cannot even see it), and validation comes first.
    const other = await createAgent(`bystander-${randomUUID().slice(0, 8)}`);
    const pending = await humanTask(handler.address);
    assertError(
      await other.api('POST', `/v1/approvals/${pending.threadId}/decision`, {
        body: { decision: 'approve' },
      }),
      404,
      'approval_not_found',
    );
    for (const [body, paths] of [
      [{}, ['decision']],
      [{ decision: 'approved' }, ['decision']],
      [{ decision: 'approve', comment: 7 }, ['comment']],
    ] as [unknown, string[]][]) {
      const bad = await handler.api('POST', `/v1/approvals/${pending.threadId}/decision`, { body });
      assertError(bad, 422);
      assert.deepEqual(fieldPaths(bad), paths);
    }
    for (const id of [randomUUID(), 'not-an-id']) {
      assertError(
        await admin('POST', `/v1/approvals/${id}/decision`, { body: { decision: 'approve' } }),
        404,
        'approval_not_found',
      );
    }
    assert.equal((await getIntent(pending.intentId)).status, 'WAITING');
  });

  test('delegate: the intent handler changes (intent.transfer, cause delegate) and the thread moves inboxes', async () => {
    const owner = await createAgent(`lead-${randomUUID().slice(0, 8)}`);
    const delegate = await createAgent(`deputy-${randomUUID().slice(0, 8)}`);
    const { intentId, threadId } = await humanTask(owner.address);
    const hook = await subscribe(delegate.address, ['inbox.thread_created']);

    for (const [body, paths] of [
      [{}, ['delegate_to']],
      [{ delegate_to: 'not an address' }, ['delegate_to']],
      [{ delegate_to: delegate.address, note: 'x'.repeat(2001) }, ['note']],
    ] as [unknown, string[]][]) {
      const bad = await owner.api('POST', `/v1/inbox/${threadId}/delegate`, { body });
      assertError(bad, 422);
      assert.deepEqual(fieldPaths(bad), paths);
    }
    assertError(
      await owner.api('POST', `/v1/inbox/${threadId}/delegate`, { body: { delegate_to: owner.address } }),
      409,
      'already_owner',
    );

    const res = await owner.api('POST', `/v1/inbox/${threadId}/delegate`, {
      body: { delegate_to: delegate.address, note: 'on leave' },
    });
    assert.equal(res.status, 200, res.text);
    const moved = res.body.thread as Thread;
    assert.equal(moved.owner_agent, delegate.address);
    assert.equal(moved.status, 'pending');
    const entry = moved.timeline.at(-1)!;
    assert.equal(entry.event_type, 'delegated');
    assert.deepEqual(
      { from: entry.details.from_owner, to: entry.details.to_owner, note: entry.details.note },
      { from: owner.address, to: delegate.address, note: 'on leave' },
    );
    assert.equal(entry.details.intent_transferred, true);

    const intent = await getIntent(intentId);
    assert.equal(intent.handler, delegate.address);
    assert.equal(intent.status, 'WAITING');
    const transfer = (await events(intentId)).find((e) => e.event_type === 'intent.transfer');
    assert.ok(transfer, 'no intent.transfer event');
    assert.equal(transfer.details.cause, 'delegate');
    assert.equal(transfer.details.to_handler, delegate.address);

    // The old owner no longer sees it; the delegate does, and can decide it.
    assert.ok(!(await inbox(owner.api)).some((t) => t.thread_id === threadId));
    assertError(await owner.api('GET', `/v1/inbox/${threadId}`), 404, 'thread_not_found');
    assert.ok((await inbox(delegate.api)).some((t) => t.thread_id === threadId));
    const created = await until('inbox.thread_created for the delegate', () => receiver.at(hook)[0]);
    assert.equal((created.payload as Record<string, unknown>).thread_id, threadId);
    const approve = await delegate.api('POST', `/v1/inbox/${threadId}/approve`, { body: {} });
    assert.equal(approve.status, 200, approve.text);
    assert.equal((await getIntent(intentId)).status, 'COMPLETED');
  });

  test('owner scope: a non-admin reads only its own inbox (403); other owners and orgs get 404; no key → 401', async () => {
    const agent = await createAgent(`scoped-${randomUUID().slice(0, 8)}`);
    const stranger = address('stranger');
    const id = await completedIntent(stranger);
    await waitForThread(stranger, id);

    for (const path of ['/v1/inbox', '/v1/inbox/changes', `/v1/inbox/${id}`]) {
      const res = await agent.api('GET', `${path}?${q(stranger)}`);
      assertError(res, 403, 'owner_scope_violation');
      const header = await agent.api('GET', path, { headers: { 'x-owner-agent': stranger } });
      assertError(header, 403, 'owner_scope_violation');
    }
    assertError(
      await agent.api('POST', `/v1/inbox/${id}/reply?${q(stranger)}`, { body: { message: 'hi' } }),
      403,
      'owner_scope_violation',
    );
    // Its own owner_agent is fine; another owner's thread is simply not there.
    assert.equal((await agent.api('GET', `/v1/inbox?${q(agent.address)}`)).status, 200);
    assertError(await agent.api('GET', `/v1/inbox/${id}`), 404, 'thread_not_found');
    assertError(await agent.api('POST', `/v1/inbox/${id}/read`), 404, 'thread_not_found');
    // Query and header must agree; a malformed owner is a 422.
    assertError(
      await admin('GET', `/v1/inbox?${q(stranger)}`, { headers: { 'x-owner-agent': agent.address } }),
      422,
      'owner_agent_mismatch',
    );
    assertError(await admin('GET', '/v1/inbox?owner_agent=nobody'), 422, 'invalid_agent_address');

    // Another org cannot see a default-org thread even when it names the owner... its own address only.
    const outsider = await createAgent('outsider', `org-${randomUUID().slice(0, 8)}`);
    assertError(await outsider.api('GET', `/v1/inbox/${id}`), 404, 'thread_not_found');
    assert.deepEqual(await inbox(outsider.api), []);

    // Unknown threads on every route.
    const unknown = randomUUID();
    for (const [method, path] of [
      ['GET', `/v1/inbox/${unknown}`],
      ['GET', '/v1/inbox/not-a-uuid'],
      ['POST', `/v1/inbox/${unknown}/read`],
      ['POST', `/v1/inbox/${unknown}/reply`],
      ['POST', `/v1/inbox/${unknown}/delegate`],
      ['POST', `/v1/inbox/${unknown}/approve`],
      ['POST', `/v1/inbox/${unknown}/reject`],
      ['POST', `/v1/inbox/${unknown}/messages/delete`],
    ] as const) {
      const body = path.endsWith('reply')
        ? { message: 'x' }
        : path.endsWith('delegate')
          ? { delegate_to: agent.address }
          : path.endsWith('delete')
            ? { mode: 'self' }
            : {};
      assertError(
        await admin(method, `${path}?${q(stranger)}`, method === 'POST' ? { body } : {}),
        404,
        'thread_not_found',
      );
    }

    // No credential, or a wrong one: 401 everywhere.
    const forged = apiClient(axle.baseUrl, `axme_sa_${randomUUID()}_${'cd'.repeat(32)}`);
    for (const [method, path] of [
      ['GET', '/v1/inbox'],
      ['GET', '/v1/inbox/changes'],
      ['GET', `/v1/inbox/${id}`],
      ['POST', `/v1/inbox/${id}/read`],
      ['POST', `/v1/inbox/${id}/reply`],
      ['POST', `/v1/inbox/${id}/delegate`],
      ['POST', `/v1/inbox/${id}/approve`],
      ['POST', `/v1/inbox/${id}/reject`],
      ['POST', `/v1/inbox/${id}/messages/delete`],
      ['POST', `/v1/approvals/${id}/decision`],
    ] as const) {
      const body = method === 'POST' ? { body: {} } : {};
      assertError(await anonymous(method, path, body), 401, 'missing_platform_api_key');
      assertError(await forged(method, path, body), 401, 'invalid_platform_api_key');
    }
    // Nothing above changed the stranger's thread.
    const unchanged = await thread(admin, id, stranger);
    assert.equal(unchanged.status, 'pending');
    assert.equal(unchanged.messages.length, 1);
  });
});
