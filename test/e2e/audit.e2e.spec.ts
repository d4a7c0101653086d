// The audit trail end to end (SPEC §2 "Audit"; docs/audit-and-limits.md): real gateway and worker
// processes, real PostgreSQL/Redis/Temporal. Every write request leaves exactly one row carrying its
// request id (a use case's own row, an auth failure, or the gateway's generic row for a write that
// ended without one); GET /v1/audit/events filters, pages and confines by role and org; and no
// secret (API keys, user JWTs, the JWT secret, webhook and delivery secrets) appears in any audit row
// or in anything the gateway and worker write to stdout/stderr.
import { PrismaService } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
  type TestAgent,
  until,
} from '@axle/testing';
import { SignJWT } from 'jose';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type AuditEvent = {
  event_id: string;
  org_id: string | null;
  actor_type: string;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: string;
  request_id: string | null;
  details: Record<string, unknown>;
  at: string;
};

const JWT_SECRET = `jwt-secret-${randomBytes(24).toString('hex')}`;
const SUBSCRIPTION_SECRET = `whsec_known_${randomBytes(16).toString('hex')}`;
const DELIVERY_SECRET = `agent-hook-secret-${randomBytes(16).toString('hex')}`;

let axle: AxleProcesses;
let prisma: PrismaService;
let admin: Api;
let anonymous: Api;

/** Records every POST the gateway's worker makes to it, with its headers. */
class Receiver {
  readonly received: { path: string; headers: IncomingHttpHeaders; raw: string }[] = [];
  private readonly server: Server;
  private port = 0;
  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({
          path: req.url ?? '',
          headers: req.headers,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ack":true}');
      });
    });
  }
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }
  url(path: string) {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
let receiver: Receiver;

type Org = {
  slug: string;
  id: string;
  sender: TestAgent & { api: Api };
  stranger: TestAgent & { api: Api };
  ops: TestAgent & { api: Api };
};

async function withRole(agent: TestAgent, role: string): Promise<TestAgent & { api: Api }> {
  if (role !== 'member')
    await prisma.client.serviceAccount.update({ where: { id: agent.id }, data: { role } });
  return { ...agent, api: apiClient(axle.baseUrl, agent.key) };
}

async function newOrg(prefix: string): Promise<Org> {
  const slug = `${prefix}-${randomUUID().slice(0, 8)}`;
  const sender = await withRole(await registerTestAgent(prisma, { org: slug, name: 'sender' }), 'member');
  const stranger = await withRole(await registerTestAgent(prisma, { org: slug, name: 'stranger' }), 'member');
  const ops = await withRole(await registerTestAgent(prisma, { org: slug, name: 'ops' }), 'operator');
  const org = await prisma.client.organization.findUniqueOrThrow({ where: { slug } });
  return { slug, id: org.id, sender, stranger, ops };
}

function intentBody(toAgent: string, extra: Record<string, unknown> = {}) {
  return {
    intent_type: 'ops.audit.v1',
    correlation_id: randomUUID(),
    to_agent: toAgent,
    payload: { n: 1 },
    ...extra,
  };
}

function requestIdOf(res: ApiResponse): string {
  const id = res.headers.get('x-request-id');
  assert.ok(id, 'every answer has x-request-id');
  return id;
}

async function events(api: Api, query: Record<string, string> = {}): Promise<AuditEvent[]> {
  const res = await api('GET', `/v1/audit/events?${new URLSearchParams(query).toString()}`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.ok, true);
  return res.body.events as AuditEvent[];
}

/** The rows of one request (as a platform admin, who sees every org and the org-less rows). */
async function rowsOf(res: ApiResponse): Promise<AuditEvent[]> {
  return events(admin, { request_id: requestIdOf(res) });
}

async function onlyRowOf(res: ApiResponse): Promise<AuditEvent> {
  const rows = await rowsOf(res);
  assert.equal(rows.length, 1, `one audit row for the request: ${JSON.stringify(rows)}`);
  return rows[0]!;
}

function fieldPaths(res: ApiResponse): string[] {
  const error = res.body.error as { details?: { errors?: { path: string }[] } };
  return (error.details?.errors ?? []).map((e) => e.path);
}

let orgA: Org;
let orgB: Org;

describe('audit trail end to end', () => {
  before(async () => {
    receiver = new Receiver();
    await receiver.start();
    axle = await AxleProcesses.create(
      { LOG_LEVEL: 'trace', AXLE_JWT_SECRET: JWT_SECRET, AXLE_WEBHOOK_BACKOFF_MS: '50' },
      { keepAllOutput: true },
    );
    await axle.startAll(['gateway', 'worker']);
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    // The first-boot bootstrap (org default, admin key) runs after the gateway listens.
    await until('the admin key', async () =>
      (await admin('GET', '/v1/audit/events?limit=1')).status === 200 ? true : undefined,
    );
    orgA = await newOrg('audit-a');
    orgB = await newOrg('audit-b');
  });
  after(async () => {
    await axle.stopAll();
    await receiver.stop();
    await prisma?.onModuleDestroy();
  });

  describe('every write request leaves its rows with its request id, a generic one only when no other', () => {
    test('intent create and resolve: the use case rows, with actor, target and outcome', async () => {
      const created = await orgA.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${orgA.slug}/default/worker`),
      });
      assert.equal(created.status, 200, created.text);
      const intentId = created.body.intent_id as string;
      const row = await onlyRowOf(created);
      assert.equal(row.action, 'intent.create');
      assert.equal(row.org_id, orgA.id);
      assert.equal(row.actor_type, 'service_account');
      assert.equal(row.actor_id, orgA.sender.id);
      assert.equal(row.target_type, 'intent');
      assert.equal(row.target_id, intentId);
      assert.equal(row.outcome, 'success');
      assert.equal(row.request_id, requestIdOf(created));
      assert.ok(Math.abs(Date.parse(row.at) - Date.now()) < 10 * 60_000, row.at);

      const resolved = await orgA.sender.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'CANCELED', reason: 'audit test' },
      });
      assert.equal(resolved.status, 200, resolved.text);
      const resolveRow = await onlyRowOf(resolved);
      assert.equal(resolveRow.action, 'intent.resolve');
      assert.equal(resolveRow.target_id, intentId);
      assert.equal(resolveRow.details.status, 'CANCELED');
    });

    test('inbox writes and webhook writes: their rows carry the request id', async () => {
      // A completion in the sender's reply_to inbox, then a read of that thread.
      const created = await orgA.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${orgA.slug}/default/worker`, { reply_to: orgA.sender.address }),
      });
      assert.equal(created.status, 200, created.text);
      const intentId = created.body.intent_id as string;
      const resolved = await orgA.sender.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'COMPLETED', result: { ok: 1 } },
      });
      assert.equal(resolved.status, 200, resolved.text);
      await until('the completion thread', async () =>
        (await orgA.sender.api('GET', `/v1/inbox/${intentId}`)).status === 200 ? true : undefined,
      );
      const read = await orgA.sender.api('POST', `/v1/inbox/${intentId}/read`);
      assert.equal(read.status, 200, read.text);
      // The read, and the inbox.thread_updated webhook event it emitted (a system row), share the
      // request id; no generic row besides them.
      const readRows = await rowsOf(read);
      assert.deepEqual(
        readRows.map((r) => r.action).sort(),
        ['inbox.read', 'webhook.event.emit'],
        JSON.stringify(readRows),
      );
      const readRow = readRows.find((r) => r.action === 'inbox.read')!;
      const emitted = readRows.find((r) => r.action === 'webhook.event.emit')!;
      assert.equal(emitted.actor_type, 'system');
      assert.equal(emitted.details.event_type, 'inbox.thread_updated');
      assert.equal(readRow.target_type, 'inbox_thread');
      assert.equal(readRow.target_id, intentId);
      assert.equal(readRow.actor_id, orgA.sender.id);

      const subscribed = await orgA.sender.api('POST', '/v1/webhooks/subscriptions', {
        body: { callback_url: receiver.url('/unused'), event_types: ['invite.accepted'] },
      });
      assert.equal(subscribed.status, 200, subscribed.text);
      const subscriptionId = (subscribed.body.subscription as { subscription_id: string }).subscription_id;
      const subRow = await onlyRowOf(subscribed);
      assert.equal(subRow.action, 'webhook.subscription.create');
      assert.equal(subRow.target_id, subscriptionId);

      const published = await orgA.sender.api('POST', '/v1/webhooks/events', {
        body: { event_type: 'invite.accepted', source: 'audit-test', payload: { n: 1 } },
      });
      assert.equal(published.status, 200, published.text);
      const publishRow = await onlyRowOf(published);
      assert.equal(publishRow.action, 'webhook.event.publish');
      assert.equal(publishRow.request_id, requestIdOf(published));

      const revoked = await orgA.sender.api('DELETE', `/v1/webhooks/subscriptions/${subscriptionId}`);
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal((await onlyRowOf(revoked)).action, 'webhook.subscription.revoke');
    });

    test('an idempotent replay is a write request too: one generic success row, marked as a replay', async () => {
      const key = randomUUID();
      const body = intentBody(`agent://${orgA.slug}/default/worker`);
      const first = await orgA.sender.api('POST', '/v1/intents', {
        body,
        headers: { 'idempotency-key': key },
      });
      assert.equal(first.status, 200, first.text);
      const again = await orgA.sender.api('POST', '/v1/intents', {
        body,
        headers: { 'idempotency-key': key },
      });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal((await onlyRowOf(first)).action, 'intent.create');
      const replay = await onlyRowOf(again);
      assert.equal(replay.action, 'http.POST /v1/intents');
      assert.equal(replay.outcome, 'success');
      assert.equal(replay.details.idempotent_replay, true);
    });

    test('403, 422, 404, 409 answers: one generic row each, denied or failure, with the route and target', async () => {
      const created = await orgA.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${orgA.slug}/default/worker`),
      });
      const intentId = created.body.intent_id as string;

      // 403: another member of the org may not resolve the sender's intent.
      const forbidden = await orgA.stranger.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'CANCELED', reason: 'not mine' },
      });
      assert.equal(forbidden.status, 403, forbidden.text);
      const denied = await onlyRowOf(forbidden);
      assert.equal(denied.action, 'http.POST /v1/intents/:id/resolve');
      assert.equal(denied.outcome, 'denied');
      assert.equal(denied.actor_id, orgA.stranger.id);
      assert.equal(denied.org_id, orgA.id);
      assert.equal(denied.target_type, 'intent');
      assert.equal(denied.target_id, intentId);
      assert.equal(denied.details.status, 403);

      // 403: a member may not set quotas.
      const quota = await orgA.sender.api('PUT', '/v1/quotas', {
        body: { subject: 'org', dimension: 'intents_per_day', limit: 1 },
      });
      assert.equal(quota.status, 403, quota.text);
      const quotaRow = await onlyRowOf(quota);
      assert.equal(quotaRow.action, 'http.PUT /v1/quotas');
      assert.equal(quotaRow.outcome, 'denied');

      // 422: an invalid create.
      const invalid = await orgA.sender.api('POST', '/v1/intents', { body: { intent_type: 'nope' } });
      assert.equal(invalid.status, 422, invalid.text);
      const failed = await onlyRowOf(invalid);
      assert.equal(failed.action, 'http.POST /v1/intents');
      assert.equal(failed.outcome, 'failure');
      assert.equal(failed.details.status, 422);
      assert.equal(failed.actor_id, orgA.sender.id);

      // 404: resume of an unknown intent.
      const unknown = randomUUID();
      const missing = await orgA.sender.api('POST', `/v1/intents/${unknown}/resume`, {
        body: { action: 'complete' },
      });
      assert.equal(missing.status, 404, missing.text);
      const notFound = await onlyRowOf(missing);
      assert.equal(notFound.outcome, 'failure');
      assert.equal(notFound.target_id, unknown);

      // 409: a second resolve of a terminal intent.
      await orgA.sender.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'CANCELED', reason: 'first' },
      });
      const conflict = await orgA.sender.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'CANCELED', reason: 'second' },
      });
      assert.equal(conflict.status, 409, conflict.text);
      const conflictRow = await onlyRowOf(conflict);
      assert.equal(conflictRow.outcome, 'failure');
      assert.equal(conflictRow.details.status, 409);
    });

    test('401: one auth failure row with the request id and route, never the presented key', async () => {
      const wrongKey = `axme_sa_${orgA.sender.id}_${'0'.repeat(64)}`;
      const bad = await apiClient(axle.baseUrl, wrongKey)('POST', '/v1/intents', {
        body: intentBody(`agent://${orgA.slug}/default/worker`),
      });
      assert.equal(bad.status, 401, bad.text);
      const row = await onlyRowOf(bad);
      assert.equal(row.action, 'auth.authenticate');
      assert.equal(row.outcome, 'failure');
      assert.equal(row.actor_type, 'anonymous');
      assert.equal(row.request_id, requestIdOf(bad));
      assert.equal(row.details.reason, 'invalid_api_key');
      assert.equal(row.details.route, 'POST /v1/intents');

      const none = await anonymous('DELETE', `/v1/webhooks/subscriptions/${randomUUID()}`);
      assert.equal(none.status, 401);
      const noneRow = await onlyRowOf(none);
      assert.equal(noneRow.details.reason, 'missing_credential');
      assert.equal(noneRow.details.route, 'DELETE /v1/webhooks/subscriptions/:id');

      // A GET's failed authentication is audited too (every auth failure is).
      const get = await apiClient(axle.baseUrl, wrongKey)('GET', '/v1/intents');
      assert.equal(get.status, 401);
      assert.equal((await onlyRowOf(get)).details.route, 'GET /v1/intents');
    });

    test('answers produced before authentication (malformed JSON, unknown route) are audited as anonymous', async () => {
      const malformed = await orgA.sender.api('POST', '/v1/intents', { rawBody: '{"a":' });
      assert.equal(malformed.status, 400, malformed.text);
      const row = await onlyRowOf(malformed);
      assert.equal(row.action, 'http.POST /v1/intents');
      assert.equal(row.outcome, 'failure');
      assert.equal(row.details.status, 400);

      const nowhere = await orgA.sender.api('POST', '/v1/no-such-route?token=abc', { body: {} });
      assert.equal(nowhere.status, 404);
      const nowhereRow = await onlyRowOf(nowhere);
      assert.equal(nowhereRow.action, 'http.POST (no route)');
      assert.equal(nowhereRow.details.path, '/v1/no-such-route');
    });

    test('reads are not write requests: a GET that succeeds leaves no row', async () => {
      const res = await orgA.sender.api('GET', '/v1/intents?limit=1');
      assert.equal(res.status, 200);
      assert.deepEqual(await rowsOf(res), []);
    });
  });

  describe('GET /v1/audit/events', () => {
    test('filters: actor, exact action, action prefix, target, outcome, since/until, request_id', async () => {
      const org = await newOrg('audit-q');
      const created = await org.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${org.slug}/default/worker`),
      });
      const intentId = created.body.intent_id as string;
      await org.sender.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'CANCELED', reason: 'q' },
      });
      await org.stranger.api('POST', `/v1/intents/${intentId}/resolve`, {
        body: { status: 'CANCELED', reason: 'q' },
      });
      await org.stranger.api('POST', '/v1/intents', { body: {} });

      const all = await events(org.ops.api);
      assert.equal(all.length, 4, JSON.stringify(all));
      assert.ok(all.every((e) => e.org_id === org.id));

      const bySender = await events(org.ops.api, { actor: org.sender.id });
      assert.deepEqual(bySender.map((e) => e.action).sort(), ['intent.create', 'intent.resolve']);
      assert.deepEqual(
        (await events(org.ops.api, { action: 'intent.create' })).map((e) => e.target_id),
        [intentId],
      );
      const prefixed = await events(org.ops.api, { action: 'intent.*' });
      assert.deepEqual(prefixed.map((e) => e.action).sort(), ['intent.create', 'intent.resolve']);
      const http = await events(org.ops.api, { action: 'http.POST *' });
      assert.equal(http.length, 2);
      assert.equal((await events(org.ops.api, { action: '*' })).length, 4);
      const onTarget = await events(org.ops.api, { target: intentId });
      assert.equal(onTarget.length, 3, JSON.stringify(onTarget));
      const denied = await events(org.ops.api, { outcome: 'denied' });
      assert.deepEqual(
        denied.map((e) => e.actor_id),
        [org.stranger.id],
      );
      assert.deepEqual(
        (await events(org.ops.api, { outcome: 'failure' })).map((e) => e.details.status),
        [422],
      );
      const byRequest = await events(org.ops.api, { request_id: requestIdOf(created) });
      assert.deepEqual(
        byRequest.map((e) => e.action),
        ['intent.create'],
      );
      const combined = await events(org.ops.api, {
        actor: org.stranger.id,
        outcome: 'denied',
        target: intentId,
      });
      assert.equal(combined.length, 1);

      // since/until: inclusive bounds on `at`.
      const oldest = all[all.length - 1]!;
      const newest = all[0]!;
      assert.equal((await events(org.ops.api, { since: newest.at })).at(-1)?.at, newest.at);
      assert.deepEqual(
        (await events(org.ops.api, { until: oldest.at })).map((e) => e.event_id),
        all.filter((e) => e.at === oldest.at).map((e) => e.event_id),
      );
      assert.equal((await events(org.ops.api, { since: oldest.at, until: newest.at })).length, all.length);
      assert.deepEqual(
        await events(org.ops.api, { since: new Date(Date.now() + 3_600_000).toISOString() }),
        [],
      );
    });

    test('newest first; the keyset cursor pages through every row once', async () => {
      const org = await newOrg('audit-p');
      for (let i = 0; i < 7; i++) {
        const res = await org.sender.api('POST', '/v1/intents', {
          body: intentBody(`agent://${org.slug}/default/worker`),
        });
        assert.equal(res.status, 200, res.text);
      }
      const whole = await events(org.ops.api, { limit: '500' });
      assert.equal(whole.length, 7);
      for (let i = 1; i < whole.length; i++) {
        const [a, b] = [whole[i - 1]!, whole[i]!];
        assert.ok(a.at > b.at || (a.at === b.at && BigInt(a.event_id) > BigInt(b.event_id)), 'newest first');
      }
      const paged: AuditEvent[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: ApiResponse = await org.ops.api(
          'GET',
          `/v1/audit/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        );
        assert.equal(res.status, 200, res.text);
        paged.push(...(res.body.events as AuditEvent[]));
        cursor = res.body.next_cursor as string | null;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(
        paged.map((e) => e.event_id),
        whole.map((e) => e.event_id),
      );
      // The last page says there is no more.
      const last = await org.ops.api('GET', '/v1/audit/events?limit=7');
      assert.equal(last.body.next_cursor, null);
    });

    test('roles: a member is 403; an operator and an admin see their own org only', async () => {
      const member = await orgA.sender.api('GET', '/v1/audit/events');
      assert.equal(member.status, 403, member.text);
      assert.equal((member.body.error as { code: string }).code, 'insufficient_role');

      const admins = await withRole(
        await registerTestAgent(prisma, { org: orgA.slug, name: `admin-${randomUUID().slice(0, 6)}` }),
        'admin',
      );
      const seenByAdmin = await events(admins.api, { limit: '500' });
      assert.ok(seenByAdmin.length > 0);
      assert.ok(seenByAdmin.every((e) => e.org_id === orgA.id));
      const seenByOps = await events(orgA.ops.api, { limit: '500' });
      assert.ok(seenByOps.every((e) => e.org_id === orgA.id));
    });

    test('cross-org isolation: another org never sees the rows; only a platform admin may name an org', async () => {
      const created = await orgA.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${orgA.slug}/default/worker`),
      });
      const requestId = requestIdOf(created);
      const intentId = created.body.intent_id as string;
      assert.deepEqual(await events(orgB.ops.api, { request_id: requestId }), []);
      assert.deepEqual(await events(orgB.ops.api, { target: intentId }), []);
      assert.deepEqual(await events(orgB.ops.api, { actor: orgA.sender.id }), []);
      assert.ok((await events(orgB.ops.api, { limit: '500' })).every((e) => e.org_id === orgB.id));
      const named = await orgB.ops.api('GET', `/v1/audit/events?org_id=${orgA.id}`);
      assert.equal(named.status, 403, named.text);
      // Its own org by id is fine.
      assert.equal((await orgB.ops.api('GET', `/v1/audit/events?org_id=${orgB.id}`)).status, 200);

      // The platform admin sees every org, and can narrow to one.
      assert.equal((await events(admin, { request_id: requestId })).length, 1);
      assert.equal((await events(admin, { request_id: requestId, org_id: orgA.id })).length, 1);
      assert.deepEqual(await events(admin, { request_id: requestId, org_id: orgB.id }), []);
    });

    test('a user token with the operator role may query its org', async () => {
      const token = await new SignJWT({ email: 'ops@example.com', org: orgA.slug, roles: ['operator'] })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`ops-${randomUUID().slice(0, 8)}`)
        .setAudience('axle')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(JWT_SECRET));
      const asUser = apiClient(axle.baseUrl);
      const res = await asUser('GET', '/v1/audit/events?limit=5', {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.status, 200, res.text);
      assert.ok((res.body.events as AuditEvent[]).every((e) => e.org_id === orgA.id));
    });

    test('malformed queries are 422 naming the parameter; no credential is 401', async () => {
      const cases: [string, string][] = [
        ['limit=0', 'limit'],
        ['limit=501', 'limit'],
        ['limit=many', 'limit'],
        ['limit=1.5', 'limit'],
        ['limit=1&limit=2', 'limit'],
        ['since=yesterday', 'since'],
        ['until=2026-13-01T00:00:00Z', 'until'],
        ['since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z', 'until'],
        ['outcome=maybe', 'outcome'],
        ['action=intent.*.create', 'action'],
        [`action=${'a'.repeat(300)}`, 'action'],
        [`actor=${'a'.repeat(300)}`, 'actor'],
        ['target=', 'target'],
        ['org_id=not-a-uuid', 'org_id'],
        ['cursor=garbage', 'cursor'],
        [
          `cursor=${Buffer.from('{"a":"2026-01-01T00:00:00Z","i":"99999999999999999999"}').toString('base64url')}`,
          'cursor',
        ],
        [`cursor=${'x'.repeat(300)}`, 'cursor'],
      ];
      for (const [query, field] of cases) {
        const res = await orgA.ops.api('GET', `/v1/audit/events?${query}`);
        assert.equal(res.status, 422, `${query}: ${res.text}`);
        assert.ok(fieldPaths(res).includes(field), `${query}: ${res.text}`);
      }
      assert.equal((await anonymous('GET', '/v1/audit/events')).status, 401);
    });
  });

  describe('secrets never appear in audit rows or logs', () => {
    test('API keys, user tokens, the JWT secret, webhook and delivery secrets', async () => {
      const org = await newOrg('audit-s');
      // A user token signed with the gateway's secret, one signed with another, and an expired one.
      const sign = (secret: string, exp: string | number) =>
        new SignJWT({ email: 'alice@example.com', org: org.slug, roles: ['operator'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setAudience('axle')
          .setIssuedAt()
          .setExpirationTime(exp)
          .sign(new TextEncoder().encode(secret));
      const userToken = await sign(JWT_SECRET, '5m');
      const forgedToken = await sign(`other-${JWT_SECRET}`, '5m');
      const expiredToken = await sign(JWT_SECRET, Math.floor(Date.now() / 1000) - 3600);
      const wrongKey = `axme_sa_${org.sender.id}_${randomBytes(32).toString('hex')}`;
      const [, , , keySecret] = org.sender.key.split('_');

      // Requests with the key in x-api-key and in Authorization, with the user token, and failures.
      const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
      const asKeyBearer = await anonymous('POST', '/v1/intents', {
        body: intentBody(`agent://${org.slug}/default/worker`),
        ...bearer(org.sender.key),
      });
      assert.equal(asKeyBearer.status, 200, asKeyBearer.text);
      assert.equal((await org.sender.api('GET', '/v1/intents?limit=1')).status, 200);
      assert.equal((await anonymous('GET', '/v1/audit/events', bearer(userToken))).status, 200);
      assert.equal(
        (
          await anonymous('POST', '/v1/intents', {
            body: intentBody(org.sender.address),
            ...bearer(userToken),
          })
        ).status,
        200,
      );
      for (const token of [forgedToken, expiredToken, wrongKey])
        assert.equal((await anonymous('POST', '/v1/intents', { body: {}, ...bearer(token) })).status, 401);
      assert.equal((await apiClient(axle.baseUrl, wrongKey)('GET', '/v1/intents')).status, 401);

      // A webhook subscription with a caller-chosen secret, and an event it is delivered with.
      const hookPath = `/hooks/${randomUUID()}`;
      const subscribed = await org.sender.api('POST', '/v1/webhooks/subscriptions', {
        body: {
          callback_url: receiver.url(hookPath),
          event_types: ['invite.accepted'],
          secret: SUBSCRIPTION_SECRET,
        },
      });
      assert.equal(subscribed.status, 200, subscribed.text);
      assert.equal(
        (
          await org.sender.api('POST', '/v1/webhooks/events', {
            body: { event_type: 'invite.accepted', source: 'audit-test', payload: { x: 1 } },
          })
        ).status,
        200,
      );
      const hook = await until('the signed webhook', () =>
        receiver.received.find((r) => r.path === hookPath),
      );
      const expected = `sha256=${createHmac('sha256', SUBSCRIPTION_SECRET).update(hook.raw).digest('hex')}`;
      assert.equal(hook.headers['x-axme-signature'], expected, 'the worker signed with the known secret');

      // An http-binding agent with a webhook secret, and an intent delivered to it.
      const deliveryPath = `/agent/${randomUUID()}`;
      const hooked = await registerTestAgent(prisma, {
        org: org.slug,
        name: 'hooked',
        deliveryMode: 'http',
        callbackUrl: receiver.url(deliveryPath),
        webhookSecret: DELIVERY_SECRET,
      });
      const sent = await org.sender.api('POST', '/v1/intents', { body: intentBody(hooked.address) });
      assert.equal(sent.status, 200, sent.text);
      const delivery = await until('the http delivery', () =>
        receiver.received.find((r) => r.path === deliveryPath),
      );
      assert.equal(
        delivery.headers['x-axme-signature'],
        `sha256=${createHmac('sha256', DELIVERY_SECRET).update(delivery.raw).digest('hex')}`,
      );

      // Everything the processes wrote, and every audit row.
      await new Promise((r) => setTimeout(r, 500));
      const output = axle.output('gateway') + axle.output('worker');
      assert.ok(output.length > 0);
      // The requests that carried the secrets were logged (the search below is not vacuous).
      assert.match(output, new RegExp(`"request_id":"${requestIdOf(asKeyBearer)}"`));
      const rows = await prisma.client.auditEvent.findMany({});
      const trail = JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      assert.match(trail, new RegExp(requestIdOf(asKeyBearer)), 'the trail saw the requests');

      const secrets: Record<string, string> = {
        'API key': org.sender.key,
        'API key secret part': keySecret!,
        'wrong API key': wrongKey,
        'user JWT': userToken,
        'user JWT signature': userToken.split('.')[2]!,
        'forged JWT': forgedToken,
        'expired JWT': expiredToken,
        'JWT secret': JWT_SECRET,
        'admin key': TEST_ADMIN_KEY,
        'webhook subscription secret': SUBSCRIPTION_SECRET,
        'agent delivery secret': DELIVERY_SECRET,
      };
      for (const [name, secret] of Object.entries(secrets)) {
        assert.equal(output.includes(secret), false, `${name} appears in the gateway or worker output`);
        assert.equal(trail.includes(secret), false, `${name} appears in an audit row`);
      }
    });
  });
});
