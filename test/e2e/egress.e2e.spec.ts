// Egress end to end (docs/operations.md "Egress"): with AXLE_EGRESS_ALLOW_PRIVATE=false, as in
// production, Axle does not call a user-given URL on a non-public address (SSRF) unless its network
// is in AXLE_EGRESS_ALLOWED_CIDRS. Real gateway and worker; two local sinks are the external edges:
// 127.0.0.1 (not allowed) and 127.0.0.2 (allowed), so a refusal is Axle's and never a dead port.
import { PrismaService } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  HttpSink,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
  until,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
let axle: AxleProcesses;
let admin: ReturnType<typeof apiClient>;
const outside = new HttpSink(); // 127.0.0.1: private and not allowed
const allowed = new HttpSink(); // 127.0.0.2: in AXLE_EGRESS_ALLOWED_CIDRS

async function httpAgent(callbackUrl: string) {
  return registerTestAgent(prisma, {
    name: `hook-${randomUUID().slice(0, 8)}`,
    deliveryMode: 'http',
    callbackUrl,
    webhookSecret: 's3cret-s3cret-s3cret',
  });
}

async function send(toAgent: string): Promise<string> {
  const res = await admin('POST', '/v1/intents', {
    body: { intent_type: 'egress.check.v1', to_agent: toAgent, payload: {}, max_delivery_attempts: 2 },
  });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function intent(id: string) {
  const res = await admin('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.intent as { status: string };
}

describe('egress to user-given URLs', () => {
  before(async () => {
    await Promise.all([outside.start('127.0.0.1'), allowed.start('127.0.0.2')]);
    axle = await AxleProcesses.create({
      AXLE_EGRESS_ALLOW_PRIVATE: 'false',
      AXLE_EGRESS_ALLOWED_CIDRS: '127.0.0.2/32',
      AXLE_DELIVERY_BACKOFF_MS: '50',
    });
    await axle.startAll(['gateway', 'worker']);
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
  });
  after(async () => {
    await axle?.stopAll();
    await Promise.all([outside.stop(), allowed.stop()]);
    await prisma.onModuleDestroy();
  });

  test('an http agent whose callback is a private address is never called; its intent fails saying why', async () => {
    for (const callback of [
      `${outside.url}/agent`,
      outside.url.replace('127.0.0.1', 'localhost') + '/agent',
    ]) {
      const agent = await httpAgent(callback);
      const id = await send(agent.address);
      await until(`intent ${id} FAILED`, async () =>
        (await intent(id)).status === 'FAILED' ? true : undefined,
      );
      const events = await admin('GET', `/v1/intents/${id}/events?since=0`);
      const last = (events.body.events as { event_type: string; details: { error: string } }[]).at(-1);
      assert.equal(last?.event_type, 'intent.delivery_failed');
      assert.match(last.details.error, /^callback refused: .* is not a public address/);
    }
    assert.equal(outside.received.length, 0, 'nothing reached the private address');
  });

  test('an allowed network is called as usual', async () => {
    const agent = await httpAgent(`${allowed.url}/agent`);
    const id = await send(agent.address);
    await until(`intent ${id} DELIVERED`, async () =>
      (await intent(id)).status === 'DELIVERED' ? true : undefined,
    );
    assert.equal(allowed.for('/agent').length, 1);
  });

  test('a webhook subscription to a private address records the refusal on its delivery', async () => {
    const sub = await admin('POST', '/v1/webhooks/subscriptions', {
      body: { callback_url: `${outside.url}/hook`, event_types: ['auth.session_revoked'] },
    });
    assert.equal(sub.status, 200, sub.text);
    const subscriptionId = (sub.body.subscription as { subscription_id: string }).subscription_id;
    const published = await admin('POST', '/v1/webhooks/events', {
      body: { event_type: 'auth.session_revoked', source: 'e2e', payload: {} },
    });
    assert.equal(published.status, 200, published.text);
    const eventId = published.body.event_id as string;
    const delivery = await until('a refused attempt', async () => {
      const res = await admin('GET', `/v1/webhooks/events/${eventId}`);
      const deliveries = res.body.deliveries as {
        subscription_id: string;
        attempts: number;
        last_error: string | null;
      }[];
      const d = deliveries.find((x) => x.subscription_id === subscriptionId);
      return d && d.attempts > 0 ? d : undefined;
    });
    assert.match(delivery.last_error ?? '', /^refused: 127\.0\.0\.1 is not a public address/);
    assert.equal(outside.for('/hook').length, 0);
  });
});
