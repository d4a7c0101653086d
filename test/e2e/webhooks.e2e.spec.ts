// Webhooks end to end: real gateway and worker processes, real PostgreSQL and Temporal, and a local
// node:http receiver (the integrator's endpoint, the one true external edge) that checks every
// signature. Retries are fast here: 3 attempts, 50-200 ms backoff.
import { PrismaService } from '@axle/data';
import { WEBHOOK_WORKFLOW } from '@axle/protocol';
import {
  apiClient,
  AxleProcesses,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_ADDRESS,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Received = {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  signatureValid: boolean;
};
/** What the receiver answers, request by request; the last entry repeats. */
type Answer = number | (() => Promise<number>);

/** The integrator's endpoint: verifies X-Axme-Signature with the secret it was given for a path. */
class Receiver {
  readonly received: Received[] = [];
  private readonly secrets = new Map<string, string>();
  private readonly plans = new Map<string, Answer[]>();
  private readonly server: Server;
  private port = 0;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '';
        const secret = this.secrets.get(path) ?? '';
        const expected = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          // recorded as received; the assertions on body fail
        }
        this.received.push({
          path,
          headers: req.headers,
          raw,
          body,
          signatureValid: req.headers['x-axme-signature'] === expected,
        });
        const plan = this.plans.get(path) ?? [200];
        const answer = plan.length > 1 ? plan.shift()! : plan[0]!;
        void (typeof answer === 'number' ? Promise.resolve(answer) : answer()).then((status) =>
          res.writeHead(status, { 'content-type': 'application/json' }).end('{"ack":true}'),
        );
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

  /** A fresh endpoint path with its secret and its answers. */
  endpoint(secret: string, plan: Answer[] = [200]): { url: string; path: string } {
    const path = `/hooks/${randomUUID()}`;
    this.secrets.set(path, secret);
    this.plans.set(path, plan);
    return { url: `http://127.0.0.1:${this.port}${path}`, path };
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
}

let axle: AxleProcesses;
let admin: Api;
let anonymous: Api;
let receiver: Receiver;
let prisma: PrismaService;
let temporal: Connection;

const secret = () => `test-secret-${randomUUID()}`;

/** An unregistered owner in org default that the admin acts for (open addressing): no shared subscriptions. */
function freshOwner(): { address: string; q: string } {
  const address = `agent://default/default/owner-${randomUUID().slice(0, 8)}`;
  return { address, q: `?owner_agent=${encodeURIComponent(address)}` };
}

async function subscribe(api: Api, body: Record<string, unknown>, query = '') {
  const res = await api('POST', `/v1/webhooks/subscriptions${query}`, { body });
  assert.equal(res.status, 200, res.text);
  return res.body.subscription as Record<string, unknown> & { subscription_id: string };
}

async function publish(api: Api, body: Record<string, unknown>, query = '') {
  const res = await api('POST', `/v1/webhooks/events${query}`, { body });
  assert.equal(res.status, 200, res.text);
  return res.body as Record<string, unknown> & { event_id: string };
}

type DeliveryView = {
  delivery_id: string;
  subscription_id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  delivered_at: string | null;
};

/** Polls the event until every delivery satisfies the predicate (no timing assertions: a deadline only). */
async function waitForDeliveries(
  eventId: string,
  done: (deliveries: DeliveryView[]) => boolean,
  api: Api = admin,
): Promise<DeliveryView[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await api('GET', `/v1/webhooks/events/${eventId}`);
    assert.equal(res.status, 200, res.text);
    const deliveries = res.body.deliveries as DeliveryView[];
    if (done(deliveries)) return deliveries;
    if (Date.now() > deadline) assert.fail(`deliveries of ${eventId} did not settle: ${res.text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const all = (status: string) => (ds: DeliveryView[]) => ds.length > 0 && ds.every((d) => d.status === status);

async function waitUntil(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A non-admin agent with its own key. */
async function createAgent(orgSlug: string, name: string): Promise<{ api: Api; address: string }> {
  const agent = await registerTestAgent(prisma, { org: orgSlug, name });
  return { api: apiClient(axle.baseUrl, agent.key), address: agent.address };
}

describe('webhooks end to end', () => {
  before(async () => {
    receiver = new Receiver();
    await receiver.start();
    axle = await AxleProcesses.create({
      LOG_LEVEL: 'info',
      AXLE_WEBHOOK_MAX_ATTEMPTS: '3',
      AXLE_WEBHOOK_BACKOFF_MS: '50',
      AXLE_WEBHOOK_BACKOFF_MAX_MS: '200',
    });
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway', 'worker']);
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    temporal = await Connection.connect({ address: requireEnv('TEMPORAL_ADDRESS') });
    // The first-boot bootstrap (org default, admin key) runs after the gateway listens.
    const deadline = Date.now() + 30_000;
    while ((await admin('GET', '/v1/webhooks/subscriptions')).status !== 200) {
      if (Date.now() > deadline) assert.fail('the gateway never accepted the admin key');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    await axle.stopAll();
    await receiver.stop();
    await prisma?.onModuleDestroy();
    await temporal?.close();
  });

  test('create: the subscription, its secret hint, and a generated secret shown once', async () => {
    const endpoint = receiver.endpoint('unused');
    const res = await admin('POST', '/v1/webhooks/subscriptions', {
      body: {
        callback_url: endpoint.url,
        event_types: ['inbox.thread_created', 'inbox.reply_received'],
        description: 'primary',
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.ok, true);
    const generated = res.body.secret as string;
    assert.match(generated, /^whsec_[0-9a-f]{48}$/);
    const sub = res.body.subscription as Record<string, unknown>;
    assert.deepEqual(Object.keys(sub).sort(), [
      'active',
      'callback_url',
      'created_at',
      'description',
      'event_types',
      'owner_agent',
      'revoked_at',
      'secret_hint',
      'subscription_id',
      'updated_at',
    ]);
    assert.equal(sub.owner_agent, TEST_ADMIN_ADDRESS);
    assert.equal(sub.callback_url, endpoint.url);
    assert.deepEqual(sub.event_types, ['inbox.thread_created', 'inbox.reply_received']);
    assert.equal(sub.active, true);
    assert.equal(sub.description, 'primary');
    assert.equal(sub.revoked_at, null);
    assert.equal(sub.secret_hint, generated.slice(-4));

    // The same callback URL again updates that subscription (SDK "upsert"); no secret is shown again.
    const again = await admin('POST', '/v1/webhooks/subscriptions', {
      body: { callback_url: endpoint.url, event_types: ['invite.accepted'] },
    });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.secret, undefined);
    const updated = again.body.subscription as Record<string, unknown>;
    assert.equal(updated.subscription_id, sub.subscription_id);
    assert.deepEqual(updated.event_types, ['invite.accepted']);
    assert.equal(updated.description, 'primary', 'fields left out keep their value');

    // A caller-chosen secret is never echoed.
    const own = await admin('POST', '/v1/webhooks/subscriptions', {
      body: { callback_url: receiver.endpoint('x').url, event_types: ['invite.accepted'], secret: secret() },
    });
    assert.equal(own.body.secret, undefined);

    const list = await admin('GET', '/v1/webhooks/subscriptions');
    assert.equal(list.status, 200);
    const listed = list.body.subscriptions as { subscription_id: string }[];
    assert.ok(listed.some((s) => s.subscription_id === sub.subscription_id));
    assert.ok(!list.text.includes(generated), 'the list never shows a secret');
  });

  test('an event is delivered on the first try, signed, with the documented body and headers', async () => {
    const owner = freshOwner();
    const key = secret();
    const endpoint = receiver.endpoint(key);
    const sub = await subscribe(
      admin,
      {
        callback_url: endpoint.url,
        event_types: ['inbox.thread_created'],
        secret: key,
      },
      owner.q,
    );
    const event = await publish(
      admin,
      {
        event_type: 'inbox.thread_created',
        source: 'e2e',
        payload: { thread_id: 'thread-1', n: 1 },
      },
      owner.q,
    );
    assert.equal(event.ok, true);
    assert.equal(event.event_type, 'inbox.thread_created');
    assert.equal(event.source, 'e2e');
    assert.equal(event.owner_agent, owner.address);
    assert.match(String(event.accepted_at), /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(event.queued_deliveries, 1);
    assert.equal(Number(event.processed_deliveries) + Number(event.pending), 1);
    assert.equal(Number(event.delivered) + Number(event.dead_lettered), event.processed_deliveries);

    const [delivery] = await waitForDeliveries(event.event_id, all('delivered'));
    assert.equal(delivery!.subscription_id, sub.subscription_id);
    assert.equal(delivery!.attempts, 1);
    assert.equal(delivery!.last_error, null);
    assert.match(String(delivery!.delivered_at), /^\d{4}-\d{2}-\d{2}T/);

    const [got] = receiver.at(endpoint.path);
    assert.ok(got, 'the receiver got the event');
    assert.equal(got.signatureValid, true, `bad signature ${String(got.headers['x-axme-signature'])}`);
    assert.match(String(got.headers['x-axme-signature']), /^sha256=[0-9a-f]{64}$/);
    assert.equal(got.headers['x-axme-event'], 'inbox.thread_created');
    assert.equal(got.headers['x-axme-delivery'], delivery!.delivery_id);
    assert.match(String(got.headers['content-type']), /^application\/json/);
    const sentAt = Number(got.headers['x-axme-timestamp']);
    assert.ok(Number.isInteger(sentAt) && Math.abs(sentAt - Date.now() / 1000) < 3600, 'unix seconds');
    assert.deepEqual(got.body, {
      event_id: event.event_id,
      event_type: 'inbox.thread_created',
      source: 'e2e',
      owner_agent: owner.address,
      payload: { thread_id: 'thread-1', n: 1 },
      accepted_at: event.accepted_at,
      delivery_id: delivery!.delivery_id,
      attempt: 1,
    });

    // Only the owner's subscriptions for that event type get it.
    const other = await publish(
      admin,
      { event_type: 'auth.session_revoked', source: 'e2e', payload: {} },
      owner.q,
    );
    assert.equal(other.queued_deliveries, 0);
  });

  test('500 twice, then 200: delivered with attempts = 3, one delivery id, attempts counted up', async () => {
    const owner = freshOwner();
    const key = secret();
    const endpoint = receiver.endpoint(key, [500, 500, 200]);
    await subscribe(
      admin,
      {
        callback_url: endpoint.url,
        event_types: ['inbox.thread_updated'],
        secret: key,
      },
      owner.q,
    );
    const event = await publish(
      admin,
      {
        event_type: 'inbox.thread_updated',
        source: 'e2e',
        payload: { n: 2 },
      },
      owner.q,
    );
    const [delivery] = await waitForDeliveries(event.event_id, all('delivered'));
    assert.equal(delivery!.attempts, 3);
    assert.equal(delivery!.last_error, null);
    const got = receiver.at(endpoint.path);
    assert.deepEqual(
      got.map((r) => r.body.attempt),
      [1, 2, 3],
    );
    assert.ok(got.every((r) => r.signatureValid && r.body.delivery_id === delivery!.delivery_id));
  });

  test('always 500: dead-lettered after the maximum attempts; replay delivers it again', async () => {
    const owner = freshOwner();
    const key = secret();
    const endpoint = receiver.endpoint(key, [500, 500, 500, 200]);
    const sub = await subscribe(
      admin,
      {
        callback_url: endpoint.url,
        event_types: ['invite.accepted'],
        secret: key,
      },
      owner.q,
    );
    const event = await publish(
      admin,
      { event_type: 'invite.accepted', source: 'e2e', payload: { n: 3 } },
      owner.q,
    );
    const [dead] = await waitForDeliveries(event.event_id, all('dead_lettered'));
    assert.equal(dead!.attempts, 3);
    assert.equal(dead!.last_error, 'HTTP 500');
    assert.equal(dead!.delivered_at, null);
    assert.equal(receiver.at(endpoint.path).length, 3, 'no attempt after the last one');

    const replay = await admin('POST', `/v1/webhooks/events/${event.event_id}/replay`);
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.body.ok, true);
    assert.equal(replay.body.event_id, event.event_id);
    assert.equal(replay.body.queued_deliveries, 1);
    assert.match(String(replay.body.replayed_at), /^\d{4}-\d{2}-\d{2}T/);
    for (const field of [
      'accepted_at',
      'event_type',
      'source',
      'owner_agent',
      'processed_deliveries',
      'pending',
    ])
      assert.ok(field in replay.body, field);

    const [again] = await waitForDeliveries(event.event_id, all('delivered'));
    assert.equal(again!.subscription_id, sub.subscription_id);
    assert.notEqual(again!.delivery_id, dead!.delivery_id, 'a replay round has its own delivery id');
    assert.equal(again!.attempts, 1);
    const last = receiver.at(endpoint.path).at(-1)!;
    assert.equal(last.body.delivery_id, again!.delivery_id);
    assert.equal(last.body.attempt, 1);
    assert.equal(last.signatureValid, true);
  });

  test('replay goes to the subscriptions that are active and match now, delivered ones included', async () => {
    const key1 = secret();
    const first = receiver.endpoint(key1);
    const { api, address } = await createAgent('default', `replayer-${randomUUID().slice(0, 8)}`);
    await subscribe(api, { callback_url: first.url, event_types: ['inbox.reply_received'], secret: key1 });
    const event = await publish(api, { event_type: 'inbox.reply_received', source: 'e2e', payload: {} });
    assert.equal(event.owner_agent, address);
    await waitForDeliveries(event.event_id, all('delivered'), api);

    const key2 = secret();
    const second = receiver.endpoint(key2);
    await subscribe(api, { callback_url: second.url, event_types: ['inbox.reply_received'], secret: key2 });
    // The official SDKs send content-type: application/json with no body on replay.
    const replay = await api('POST', `/v1/webhooks/events/${event.event_id}/replay`, {
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.body.queued_deliveries, 2);
    const deliveries = await waitForDeliveries(event.event_id, all('delivered'), api);
    assert.equal(deliveries.length, 2);
    assert.equal(receiver.at(first.path).length, 2, 'delivered again to the first subscription');
    assert.equal(receiver.at(second.path).length, 1);
    assert.ok(receiver.at(second.path)[0]!.signatureValid);
  });

  test('a replay during a retrying round supersedes it: the old round stops, the new one is delivered', async () => {
    const owner = freshOwner();
    let release: (status: number) => void = () => undefined;
    const held = new Promise<number>((resolve) => (release = resolve));
    const key = secret();
    const endpoint = receiver.endpoint(key, [() => held, 200]);
    await subscribe(
      admin,
      { callback_url: endpoint.url, event_types: ['invite.accepted'], secret: key },
      owner.q,
    );
    const event = await publish(
      admin,
      {
        event_type: 'invite.accepted',
        source: 'e2e-supersede',
        payload: {},
      },
      owner.q,
    );
    await waitUntil(() => receiver.at(endpoint.path).length === 1, 'the first attempt');
    const oldDeliveryId = receiver.at(endpoint.path)[0]!.body.delivery_id as string;

    const replay = await admin('POST', `/v1/webhooks/events/${event.event_id}/replay`);
    assert.equal(replay.status, 200, replay.text);
    release(500);
    const [delivery] = await waitForDeliveries(event.event_id, all('delivered'));
    assert.notEqual(delivery!.delivery_id, oldDeliveryId);
    const client = new Client({ connection: temporal, namespace: 'default' });
    const oldRound: unknown = await client.workflow
      .getHandle(WEBHOOK_WORKFLOW.workflowId(oldDeliveryId))
      .result();
    assert.deepEqual(oldRound, { outcome: 'superseded', attempts: 1 });
    const [settled] = await waitForDeliveries(event.event_id, all('delivered'));
    assert.equal(settled!.attempts, 1, 'the old round did not overwrite the new one');
  });

  test('revoked and inactive subscriptions get nothing; revoking twice answers the same', async () => {
    const owner = freshOwner();
    const revokedKey = secret();
    const revoked = receiver.endpoint(revokedKey);
    const inactive = receiver.endpoint(secret());
    const liveKey = secret();
    const live = receiver.endpoint(liveKey);
    const type = { event_types: ['auth.session_revoked'] };
    const gone = await subscribe(admin, { callback_url: revoked.url, ...type, secret: revokedKey }, owner.q);
    const off = await subscribe(admin, { callback_url: inactive.url, ...type, active: false }, owner.q);
    assert.equal(off.active, false);
    const kept = await subscribe(admin, { callback_url: live.url, ...type, secret: liveKey }, owner.q);

    const first = await admin('DELETE', `/v1/webhooks/subscriptions/${gone.subscription_id}`);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.ok, true);
    assert.equal(first.body.subscription_id, gone.subscription_id);
    assert.match(String(first.body.revoked_at), /^\d{4}-\d{2}-\d{2}T/);
    // DELETE is retried by the SDKs (with content-type and no body): the same answer again.
    const second = await admin('DELETE', `/v1/webhooks/subscriptions/${gone.subscription_id}`, {
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.revoked_at, first.body.revoked_at);

    const listed = (await admin('GET', `/v1/webhooks/subscriptions${owner.q}`)).body.subscriptions as {
      subscription_id: string;
    }[];
    assert.ok(!listed.some((s) => s.subscription_id === gone.subscription_id));

    const event = await publish(
      admin,
      { event_type: 'auth.session_revoked', source: 'e2e', payload: {} },
      owner.q,
    );
    assert.equal(event.queued_deliveries, 1);
    const deliveries = await waitForDeliveries(event.event_id, all('delivered'));
    assert.deepEqual(
      deliveries.map((d) => d.subscription_id),
      [kept.subscription_id],
    );
    const replay = await admin('POST', `/v1/webhooks/events/${event.event_id}/replay`);
    assert.equal(replay.body.queued_deliveries, 1);
    await waitForDeliveries(event.event_id, all('delivered'));
    await waitUntil(() => receiver.at(live.path).length === 2, 'the replay to the live subscription');
    assert.equal(receiver.at(revoked.path).length, 0);
    assert.equal(receiver.at(inactive.path).length, 0);
  });

  test('validation: 422 with one entry per field path; 413 for an oversized payload', async () => {
    const errorsOf = (res: { body: Record<string, unknown> }) =>
      ((res.body.error as { details: { errors: { path: string }[] } }).details.errors ?? [])
        .map((e) => e.path)
        .sort();
    const url = receiver.endpoint('x').url;
    const cases: [Record<string, unknown>, string[]][] = [
      [{ callback_url: 'ftp://example.com/hook', event_types: ['invite.accepted'] }, ['callback_url']],
      [{ callback_url: 'not a url', event_types: ['invite.accepted'] }, ['callback_url']],
      [
        { callback_url: `https://example.com/${'x'.repeat(2048)}`, event_types: ['invite.accepted'] },
        ['callback_url'],
      ],
      [{ callback_url: url, event_types: ['invite.accepted', 'intent.created'] }, ['event_types.1']],
      [{ callback_url: url, event_types: [] }, ['event_types']],
      [
        { callback_url: url, event_types: ['invite.accepted'], description: 'd'.repeat(501) },
        ['description'],
      ],
      [{ callback_url: url, event_types: ['invite.accepted'], secret: 'short' }, ['secret']],
      [{ callback_url: url, event_types: ['invite.accepted'], secret: 's'.repeat(257) }, ['secret']],
      [{ event_types: 'invite.accepted', active: 'yes' }, ['active', 'callback_url', 'event_types']],
    ];
    for (const [body, paths] of cases) {
      const res = await admin('POST', '/v1/webhooks/subscriptions', { body });
      assert.equal(res.status, 422, JSON.stringify(body).slice(0, 120));
      assert.equal(res.body.ok, false);
      assert.deepEqual(errorsOf(res), paths, JSON.stringify(body).slice(0, 120));
    }
    const arrayBody = await admin('POST', '/v1/webhooks/subscriptions', { body: [1, 2] });
    assert.equal(arrayBody.status, 422);

    const events: [Record<string, unknown>, string[]][] = [
      [{ event_type: 'intent.created', source: 'e2e', payload: {} }, ['event_type']],
      [{ event_type: 'invite.accepted', source: 'x', payload: [] }, ['payload', 'source']],
      [{ event_type: 'invite.accepted', source: 's'.repeat(101), payload: {} }, ['source']],
      [{}, ['event_type', 'payload', 'source']],
    ];
    for (const [body, paths] of events) {
      const res = await admin('POST', '/v1/webhooks/events', { body });
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.deepEqual(errorsOf(res), paths);
    }
    const big = await admin('POST', '/v1/webhooks/events', {
      body: { event_type: 'invite.accepted', source: 'e2e', payload: { blob: 'x'.repeat(131_072) } },
    });
    assert.equal(big.status, 413);
    assert.equal((big.body.error as { code: string }).code, 'payload_too_large');

    for (const owner of ['not an address', '', 'agent://Bad/Owner/x']) {
      const res = await admin('GET', `/v1/webhooks/subscriptions?owner_agent=${encodeURIComponent(owner)}`);
      assert.equal(res.status, 422, owner);
      assert.equal((res.body.error as { code: string }).code, 'invalid_agent_address');
    }
    const mismatch = await admin(
      'GET',
      `/v1/webhooks/subscriptions?owner_agent=${encodeURIComponent(TEST_ADMIN_ADDRESS)}`,
      {
        headers: { 'x-owner-agent': 'agent://default/default/someone-else' },
      },
    );
    assert.equal(mismatch.status, 422);
    const longKey = await admin('POST', '/v1/webhooks/events', {
      body: { event_type: 'invite.accepted', source: 'e2e', payload: {} },
      headers: { 'idempotency-key': 'k'.repeat(256) },
    });
    assert.equal(longKey.status, 422);
  });

  test('malformed JSON → 400 on every route with a body', async () => {
    for (const path of ['/v1/webhooks/subscriptions', '/v1/webhooks/events']) {
      for (const rawBody of ['{"callback_url":', '{]', 'not json']) {
        const res = await admin('POST', path, { rawBody });
        assert.equal(res.status, 400, `${path} ${rawBody}`);
        assert.equal((res.body.error as { code: string }).code, 'malformed_json');
      }
    }
  });

  test('no credential → 401 on every route', async () => {
    const id = randomUUID();
    for (const [method, path] of [
      ['POST', '/v1/webhooks/subscriptions'],
      ['GET', '/v1/webhooks/subscriptions'],
      ['DELETE', `/v1/webhooks/subscriptions/${id}`],
      ['POST', '/v1/webhooks/events'],
      ['GET', `/v1/webhooks/events/${id}`],
      ['POST', `/v1/webhooks/events/${id}/replay`],
    ] as const) {
      const res = await anonymous(method, path, method === 'POST' ? { body: {} } : {});
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal((res.body.error as { code: string }).code, 'missing_platform_api_key');
      const wrong = await apiClient(axle.baseUrl, `axme_sa_${randomUUID()}_${'cd'.repeat(32)}`)(method, path);
      assert.equal(wrong.status, 401, `${method} ${path}`);
    }
  });

  test('unknown ids → 404 in the error shape', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const del = await admin('DELETE', `/v1/webhooks/subscriptions/${id}`);
      assert.equal(del.status, 404);
      assert.equal((del.body.error as { code: string }).code, 'webhook_subscription_not_found');
      for (const [method, path] of [
        ['GET', `/v1/webhooks/events/${id}`],
        ['POST', `/v1/webhooks/events/${id}/replay`],
      ] as const) {
        const res = await admin(method, path);
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.body.ok, false);
        assert.equal((res.body.error as { code: string }).code, 'webhook_event_not_found');
      }
    }
    const unknownOrg = await admin(
      'GET',
      '/v1/webhooks/subscriptions?owner_agent=agent://no-such-org/default/x',
    );
    assert.equal(unknownOrg.status, 404);
  });

  test('owner_agent: an agent acts only for itself (403 otherwise); other orgs see 404; admins act for anyone', async () => {
    const alice = await createAgent('default', `alice-${randomUUID().slice(0, 8)}`);
    const otherOrg = `hooks-${randomUUID().slice(0, 8)}`;
    const mallory = await createAgent(otherOrg, 'mallory');

    const key = secret();
    const endpoint = receiver.endpoint(key);
    const body = { callback_url: endpoint.url, event_types: ['invite.accepted'], secret: key };
    const asAdmin = `?owner_agent=${encodeURIComponent(TEST_ADMIN_ADDRESS)}`;
    for (const [method, path] of [
      ['POST', `/v1/webhooks/subscriptions${asAdmin}`],
      ['GET', `/v1/webhooks/subscriptions${asAdmin}`],
      ['POST', `/v1/webhooks/events${asAdmin}`],
    ] as const) {
      const res = await alice.api(method, path, method === 'POST' ? { body } : {});
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal((res.body.error as { code: string }).code, 'owner_agent_mismatch');
    }
    const viaHeader = await alice.api('GET', '/v1/webhooks/subscriptions', {
      headers: { 'x-owner-agent': TEST_ADMIN_ADDRESS },
    });
    assert.equal(viaHeader.status, 403);

    const mine = await subscribe(alice.api, body, `?owner_agent=${encodeURIComponent(alice.address)}`);
    assert.equal(mine.owner_agent, alice.address);
    const event = await publish(alice.api, {
      event_type: 'invite.accepted',
      source: 'e2e',
      payload: { who: 'alice' },
    });
    assert.equal(event.owner_agent, alice.address);
    assert.equal(event.queued_deliveries, 1);
    await waitForDeliveries(event.event_id, all('delivered'), alice.api);
    assert.equal(receiver.at(endpoint.path)[0]?.body.owner_agent, alice.address);

    // Another org's ids do not exist for mallory; another agent's ids do not exist for alice.
    const adminSub = await subscribe(admin, {
      callback_url: receiver.endpoint('x').url,
      event_types: ['invite.accepted'],
    });
    for (const [api, subId] of [
      [mallory.api, mine.subscription_id],
      [alice.api, adminSub.subscription_id],
    ] as const) {
      const res = await api('DELETE', `/v1/webhooks/subscriptions/${subId}`);
      assert.equal(res.status, 404);
    }
    for (const [method, path] of [
      ['GET', `/v1/webhooks/events/${event.event_id}`],
      ['POST', `/v1/webhooks/events/${event.event_id}/replay`],
    ] as const) {
      assert.equal((await mallory.api(method, path)).status, 404, `${method} ${path}`);
    }
    const malloryList = await mallory.api('GET', '/v1/webhooks/subscriptions');
    assert.deepEqual(malloryList.body.subscriptions, []);
    const crossOrg = await mallory.api(
      'GET',
      `/v1/webhooks/subscriptions?owner_agent=${encodeURIComponent(alice.address)}`,
    );
    assert.equal(crossOrg.status, 403);

    // The platform admin may act for alice, and sees her resources.
    const forAlice = `?owner_agent=${encodeURIComponent(alice.address)}`;
    const adminList = await admin('GET', `/v1/webhooks/subscriptions${forAlice}`);
    assert.deepEqual(
      (adminList.body.subscriptions as { subscription_id: string }[]).map((s) => s.subscription_id),
      [mine.subscription_id],
    );
    const byAdmin = await publish(
      admin,
      { event_type: 'invite.accepted', source: 'admin', payload: {} },
      forAlice,
    );
    assert.equal(byAdmin.owner_agent, alice.address);
    assert.equal(byAdmin.queued_deliveries, 1);
    assert.equal((await admin('GET', `/v1/webhooks/events/${event.event_id}`)).status, 200);
    const adminForOther = await admin('GET', `/v1/webhooks/events/${event.event_id}${asAdmin}`);
    assert.equal(adminForOther.status, 404, 'with owner_agent, only that owner’s events');
    await waitForDeliveries(byAdmin.event_id, all('delivered'));
  });

  test('Idempotency-Key: a retried create or publish gets the first answer; another body → 409', async () => {
    const idem = randomUUID();
    const url = receiver.endpoint('x').url;
    const body = { callback_url: url, event_types: ['inbox.thread_created'] };
    const first = await admin('POST', '/v1/webhooks/subscriptions', {
      body,
      headers: { 'idempotency-key': idem },
    });
    const again = await admin('POST', '/v1/webhooks/subscriptions', {
      body,
      headers: { 'idempotency-key': idem },
    });
    assert.equal(first.status, 200);
    assert.deepEqual(again.body, first.body, 'same subscription, same (generated) secret');
    assert.match(String(again.body.secret), /^whsec_/);
    const conflict = await admin('POST', '/v1/webhooks/subscriptions', {
      body: { ...body, description: 'changed' },
      headers: { 'idempotency-key': idem },
    });
    assert.equal(conflict.status, 409);
    assert.equal((conflict.body.error as { code: string }).code, 'idempotency_conflict');

    const eventKey = randomUUID();
    const eventBody = { event_type: 'inbox.thread_created', source: 'idem', payload: { k: eventKey } };
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        admin('POST', '/v1/webhooks/events', { body: eventBody, headers: { 'idempotency-key': eventKey } }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 200],
    );
    assert.equal(new Set(results.map((r) => r.body.event_id)).size, 1, 'one event for one key');

    const replayKey = randomUUID();
    const eventId = results[0]!.body.event_id as string;
    await waitForDeliveries(eventId, (ds) => ds.every((d) => d.status !== 'pending'));
    const r1 = await admin('POST', `/v1/webhooks/events/${eventId}/replay`, {
      headers: { 'idempotency-key': replayKey },
    });
    const r2 = await admin('POST', `/v1/webhooks/events/${eventId}/replay`, {
      headers: { 'idempotency-key': replayKey },
    });
    assert.equal(r1.status, 200);
    assert.deepEqual(r2.body, r1.body, 'one replay round for one key');
  });

  test('secrets appear in no log line and no audit record', async () => {
    const key = secret();
    const endpoint = receiver.endpoint(key);
    const created = await admin('POST', '/v1/webhooks/subscriptions', {
      body: { callback_url: `${endpoint.url}?token=abc`, event_types: ['invite.accepted'], secret: key },
    });
    const generated = await admin('POST', '/v1/webhooks/subscriptions', {
      body: { callback_url: receiver.endpoint('x').url, event_types: ['invite.accepted'] },
    });
    const event = await publish(admin, { event_type: 'invite.accepted', source: 'e2e-secrets', payload: {} });
    await waitForDeliveries(event.event_id, (ds) => ds.every((d) => d.status !== 'pending'));
    const ids = [
      (created.body.subscription as { subscription_id: string }).subscription_id,
      (generated.body.subscription as { subscription_id: string }).subscription_id,
    ];
    const audit = await prisma.client.auditEvent.findMany({
      where: { targetId: { in: [...ids, event.event_id] } },
    });
    assert.ok(audit.some((a) => a.action === 'webhook.subscription.create'));
    assert.ok(audit.some((a) => a.action === 'webhook.event.publish'));
    const text = JSON.stringify(audit.map((a) => a.details)) + axle.output('gateway') + axle.output('worker');
    for (const s of [key, generated.body.secret as string]) assert.ok(!text.includes(s), 'a secret leaked');
    assert.ok(!text.includes('token=abc'), 'callback URLs are audited by origin only');
  });
});
