// Quotas and per-agent rate limits end to end (SPEC §2 "Rate limits and quotas"; reference §1.2
// quota_exceeded; docs/audit-and-limits.md), on real gateway and worker processes with real
// PostgreSQL, Redis and Temporal: daily intent and request quotas at their boundary (nothing is
// persisted for a refused create, reset_at is the next UTC midnight), the quota admin routes with
// unauthorized, malformed and out-of-order input, and the per-agent token bucket that all keys of
// one agent share.
import { hashSecret } from '@axle/auth';
import { PrismaService } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_ADDRESS,
  TEST_ADMIN_KEY,
  type TestAgent,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Agent = TestAgent & { api: Api };
type Quota = {
  quota_id: string;
  org_id: string;
  subject: string;
  dimension: string;
  limit: number;
  used: number | null;
  remaining: number | null;
  reset_at: string;
};

const AGENT_LIMIT = 4;

let axle: AxleProcesses;
let limited: AxleProcesses;
let prisma: PrismaService;
let admin: Api;
let anonymous: Api;

type Org = { slug: string; id: string; boss: Agent; sender: Agent; other: Agent; ops: Agent };

async function agent(org: string, name: string, role = 'member', baseUrl = axle.baseUrl): Promise<Agent> {
  const registered = await registerTestAgent(prisma, { org, name });
  if (role !== 'member')
    await prisma.client.serviceAccount.update({ where: { id: registered.id }, data: { role } });
  return { ...registered, api: apiClient(baseUrl, registered.key) };
}

async function newOrg(prefix: string): Promise<Org> {
  const slug = `${prefix}-${randomUUID().slice(0, 8)}`;
  const boss = await agent(slug, 'boss', 'admin');
  const sender = await agent(slug, 'sender');
  const other = await agent(slug, 'other');
  const ops = await agent(slug, 'ops', 'operator');
  const { id } = await prisma.client.organization.findUniqueOrThrow({ where: { slug } });
  return { slug, id, boss, sender, other, ops };
}

/** A second API key for an existing agent (the registry API's key create, done in the data layer). */
async function secondKey(a: TestAgent): Promise<string> {
  const sa = await prisma.client.serviceAccount.findUniqueOrThrow({ where: { id: a.id } });
  const secret = randomBytes(32).toString('hex');
  await prisma.client.apiKey.create({
    data: {
      orgId: sa.orgId,
      serviceAccountId: a.id,
      name: 'second',
      secretHash: await hashSecret(secret),
      hint: secret.slice(-4),
    },
  });
  return `axme_sa_${a.id}_${secret}`;
}

function intentBody(toAgent: string) {
  return { intent_type: 'ops.quota.v1', correlation_id: randomUUID(), to_agent: toAgent, payload: { n: 1 } };
}

async function putQuota(api: Api, body: Record<string, unknown>): Promise<Quota> {
  const res = await api('PUT', '/v1/quotas', { body });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.ok, true);
  return res.body.quota as Quota;
}

async function quotasOf(api: Api, query = ''): Promise<Quota[]> {
  const res = await api('GET', `/v1/quotas${query}`);
  assert.equal(res.status, 200, res.text);
  return res.body.quotas as Quota[];
}

function assertError(res: ApiResponse, status: number, code: string) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.ok, false, res.text);
  assert.equal((res.body.error as { code: string }).code, code, res.text);
}

function fieldPaths(res: ApiResponse): string[] {
  const error = res.body.error as { details?: { errors?: { path: string }[] } };
  return (error.details?.errors ?? []).map((e) => e.path);
}

function nextUtcMidnight(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

/** A quota_exceeded answer: details, Retry-After until the next UTC midnight. */
function assertQuotaExceeded(
  res: ApiResponse,
  expected: { dimension: string; subject: string; used: number; limit: number },
) {
  assertError(res, 429, 'quota_exceeded');
  const details = (res.body.error as { details: Record<string, unknown> }).details;
  assert.deepEqual(details, { ...expected, reset_at: nextUtcMidnight().toISOString() });
  const retryAfter = Number(res.headers.get('retry-after'));
  const untilMidnight = (nextUtcMidnight().getTime() - Date.now()) / 1000;
  assert.ok(retryAfter >= 1 && Math.abs(retryAfter - untilMidnight) < 120, `Retry-After ${retryAfter}`);
}

async function intentsFrom(address: string): Promise<number> {
  return prisma.client.intent.count({ where: { fromAgent: address } });
}

describe('quotas and per-agent rate limits end to end', () => {
  before(async () => {
    axle = await AxleProcesses.create();
    limited = await AxleProcesses.create({ AXLE_AGENT_RATE_LIMIT_PER_MINUTE: String(AGENT_LIMIT) });
    await Promise.all([axle.startAll(['gateway', 'worker']), limited.startAll(['gateway'])]);
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    const deadline = Date.now() + 20_000;
    while ((await admin('GET', '/v1/quotas')).status !== 200) {
      if (Date.now() > deadline) assert.fail('the admin key never worked');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    await Promise.all([axle.stopAll(), limited.stopAll()]);
    await prisma?.onModuleDestroy();
  });

  describe('intents_per_day', () => {
    test('limit 3 for an agent: three creates pass, the fourth is 429 quota_exceeded and nothing is persisted', async () => {
      const org = await newOrg('quota-i');
      const quota = await putQuota(org.boss.api, {
        subject: org.sender.address,
        dimension: 'intents_per_day',
        limit: 3,
      });
      assert.equal(quota.subject, org.sender.address);
      assert.equal(quota.used, 0);
      assert.equal(quota.reset_at, nextUtcMidnight().toISOString());

      for (let i = 0; i < 3; i++) {
        const res = await org.sender.api('POST', '/v1/intents', {
          body: intentBody(`agent://${org.slug}/default/worker`),
        });
        assert.equal(res.status, 200, res.text);
      }
      const key = randomUUID();
      const fourthBody = intentBody(`agent://${org.slug}/default/worker`);
      const fourth = await org.sender.api('POST', '/v1/intents', {
        body: fourthBody,
        headers: { 'idempotency-key': key },
      });
      assertQuotaExceeded(fourth, {
        dimension: 'intents_per_day',
        subject: org.sender.address,
        used: 3,
        limit: 3,
      });
      assert.equal(await intentsFrom(org.sender.address), 3);
      assert.equal(await prisma.client.idempotencyRecord.count({ where: { key } }), 0);
      // A refused create consumed nothing: still 3 used.
      const [listed] = await quotasOf(org.sender.api);
      assert.equal(listed?.used, 3);
      assert.equal(listed?.remaining, 0);

      // Another agent of the org has its own counter.
      const other = await org.other.api('POST', '/v1/intents', {
        body: intentBody(`agent://${org.slug}/default/worker`),
      });
      assert.equal(other.status, 200, other.text);

      // Raised by one: the same request with the same Idempotency-Key now creates (the 429 was not
      // stored under the key), and its replay is answered without counting again.
      await putQuota(org.boss.api, { subject: org.sender.address, dimension: 'intents_per_day', limit: 4 });
      const retried = await org.sender.api('POST', '/v1/intents', {
        body: fourthBody,
        headers: { 'idempotency-key': key },
      });
      assert.equal(retried.status, 200, retried.text);
      assert.equal(await intentsFrom(org.sender.address), 4);
      const replay = await org.sender.api('POST', '/v1/intents', {
        body: fourthBody,
        headers: { 'idempotency-key': key },
      });
      assert.equal(replay.status, 200, replay.text);
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.equal(replay.body.intent_id, retried.body.intent_id);
      const [after] = await quotasOf(org.sender.api);
      assert.equal(after?.used, 4);
    });

    test('an org quota counts every agent of the org', async () => {
      const org = await newOrg('quota-o');
      await putQuota(org.boss.api, { subject: 'org', dimension: 'intents_per_day', limit: 2 });
      const to = `agent://${org.slug}/default/worker`;
      assert.equal((await org.sender.api('POST', '/v1/intents', { body: intentBody(to) })).status, 200);
      assert.equal((await org.other.api('POST', '/v1/intents', { body: intentBody(to) })).status, 200);
      const third = await org.sender.api('POST', '/v1/intents', { body: intentBody(to) });
      assertQuotaExceeded(third, { dimension: 'intents_per_day', subject: 'org', used: 2, limit: 2 });
      assert.equal(await intentsFrom(org.sender.address), 1);
      // Another org is not affected.
      const elsewhere = await newOrg('quota-o2');
      const res = await elsewhere.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${elsewhere.slug}/default/worker`),
      });
      assert.equal(res.status, 200, res.text);
    });

    test('cross-org intents count against the sender, not the receiving org', async () => {
      const receiving = await newOrg('quota-x');
      // The receiving org allows no intents of its own today; that does not stop a sender elsewhere.
      await putQuota(receiving.boss.api, { subject: 'org', dimension: 'intents_per_day', limit: 0 });
      const own = await receiving.sender.api('POST', '/v1/intents', {
        body: intentBody(`agent://${receiving.slug}/default/worker`),
      });
      assertQuotaExceeded(own, { dimension: 'intents_per_day', subject: 'org', used: 0, limit: 0 });
      // The platform admin (org default) may send across orgs: its own counter is what counts.
      const probe = await putQuota(admin, {
        subject: TEST_ADMIN_ADDRESS,
        dimension: 'intents_per_day',
        limit: 1_000_000,
      });
      try {
        const used = probe.used ?? 0;
        await putQuota(admin, { subject: TEST_ADMIN_ADDRESS, dimension: 'intents_per_day', limit: used + 1 });
        const to = receiving.sender.address;
        assert.equal((await admin('POST', '/v1/intents', { body: intentBody(to) })).status, 200);
        assertQuotaExceeded(await admin('POST', '/v1/intents', { body: intentBody(to) }), {
          dimension: 'intents_per_day',
          subject: TEST_ADMIN_ADDRESS,
          used: used + 1,
          limit: used + 1,
        });
      } finally {
        assert.equal((await admin('DELETE', `/v1/quotas/${probe.quota_id}`)).status, 200);
      }
    });

    test('deleting the quota lifts it at once', async () => {
      const org = await newOrg('quota-d');
      const quota = await putQuota(org.boss.api, {
        subject: org.sender.address,
        dimension: 'intents_per_day',
        limit: 0,
      });
      const to = `agent://${org.slug}/default/worker`;
      assertError(
        await org.sender.api('POST', '/v1/intents', { body: intentBody(to) }),
        429,
        'quota_exceeded',
      );
      const deleted = await org.boss.api('DELETE', `/v1/quotas/${quota.quota_id}`);
      assert.equal(deleted.status, 200, deleted.text);
      assert.deepEqual(deleted.body, { ok: true, quota_id: quota.quota_id, deleted: true });
      assert.equal((await org.sender.api('POST', '/v1/intents', { body: intentBody(to) })).status, 200);
    });
  });

  describe('requests_per_day', () => {
    test('limit 5 for an agent: five requests pass, the sixth is 429; the quota routes stay open', async () => {
      const org = await newOrg('quota-r');
      await putQuota(org.boss.api, { subject: org.sender.address, dimension: 'requests_per_day', limit: 5 });
      for (let i = 0; i < 5; i++)
        assert.equal((await org.sender.api('GET', '/v1/intents?limit=1')).status, 200);
      const sixth = await org.sender.api('GET', '/v1/intents?limit=1');
      assertQuotaExceeded(sixth, {
        dimension: 'requests_per_day',
        subject: org.sender.address,
        used: 5,
        limit: 5,
      });
      // POSTs count too.
      assertError(
        await org.sender.api('POST', '/v1/intents', { body: intentBody(`agent://${org.slug}/default/w`) }),
        429,
        'quota_exceeded',
      );
      assert.equal(await intentsFrom(org.sender.address), 0);
      // Reading the quota is still possible, and shows the refused requests were not counted.
      const [quota] = await quotasOf(org.sender.api);
      assert.equal(quota?.used, 5);
      // Another agent of the org is not limited.
      assert.equal((await org.other.api('GET', '/v1/intents?limit=1')).status, 200);
    });

    test('an org request quota: the admin can still raise it after the org used it up', async () => {
      const org = await newOrg('quota-ro');
      // The org's agents have made no requests yet; the PUT itself is not counted.
      await putQuota(org.boss.api, { subject: 'org', dimension: 'requests_per_day', limit: 2 });
      assert.equal((await org.sender.api('GET', '/v1/intents?limit=1')).status, 200);
      assert.equal((await org.other.api('GET', '/v1/intents?limit=1')).status, 200);
      assertError(await org.boss.api('GET', '/v1/intents?limit=1'), 429, 'quota_exceeded');
      await putQuota(org.boss.api, { subject: 'org', dimension: 'requests_per_day', limit: 3 });
      assert.equal((await org.boss.api('GET', '/v1/intents?limit=1')).status, 200);
    });
  });

  describe('quota routes', () => {
    test('GET lists the caller org only, with usage; a platform admin may name an org', async () => {
      const a = await newOrg('quota-l');
      const b = await newOrg('quota-l2');
      await putQuota(a.boss.api, { subject: 'org', dimension: 'intents_per_day', limit: 10 });
      await putQuota(b.boss.api, { subject: 'org', dimension: 'intents_per_day', limit: 20 });
      const seenByA = await quotasOf(a.sender.api);
      assert.deepEqual(
        seenByA.map((q) => [q.org_id, q.limit]),
        [[a.id, 10]],
      );
      const res = await a.sender.api('GET', '/v1/quotas');
      assert.equal(res.body.org_id, a.id);
      assertError(await a.boss.api('GET', `/v1/quotas?org_id=${b.id}`), 403, 'org_scope_violation');
      assert.deepEqual(
        (await quotasOf(admin, `?org_id=${b.id}`)).map((q) => q.limit),
        [20],
      );
      assertError(await admin('GET', `/v1/quotas?org_id=${randomUUID()}`), 404, 'org_not_found');
      const bad = await admin('GET', '/v1/quotas?org_id=nope');
      assertError(bad, 422, 'validation_error');
      assert.deepEqual(fieldPaths(bad), ['org_id']);
    });

    test('PUT creates, then replaces the same quota; a platform admin may set one for any org', async () => {
      const org = await newOrg('quota-p');
      const first = await org.boss.api('PUT', '/v1/quotas', {
        body: { subject: org.sender.address, dimension: 'requests_per_day', limit: 100 },
      });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.created, true);
      const second = await org.boss.api('PUT', '/v1/quotas', {
        // Any accepted address form; the canonical one is stored.
        body: { subject: `${org.slug}/default/sender`, dimension: 'requests_per_day', limit: 50 },
      });
      assert.equal(second.status, 200, second.text);
      assert.equal(second.body.created, false);
      const [a, b] = [first.body.quota as Quota, second.body.quota as Quota];
      assert.equal(b.quota_id, a.quota_id);
      assert.equal(b.limit, 50);
      assert.equal(b.subject, org.sender.address);

      const byPlatform = await putQuota(admin, {
        org_id: org.id,
        subject: 'org',
        dimension: 'intents_per_day',
        limit: 7,
      });
      assert.equal(byPlatform.org_id, org.id);
      assert.equal((await quotasOf(org.boss.api)).length, 2);
    });

    test('unauthorized: no credential 401; member and operator 403; another org 403', async () => {
      const org = await newOrg('quota-u');
      const other = await newOrg('quota-u2');
      const body = { subject: 'org', dimension: 'intents_per_day', limit: 1 };
      assertError(await anonymous('GET', '/v1/quotas'), 401, 'missing_platform_api_key');
      assertError(await anonymous('PUT', '/v1/quotas', { body }), 401, 'missing_platform_api_key');
      assertError(await anonymous('DELETE', `/v1/quotas/${randomUUID()}`), 401, 'missing_platform_api_key');
      assertError(await org.sender.api('PUT', '/v1/quotas', { body }), 403, 'insufficient_role');
      assertError(await org.ops.api('PUT', '/v1/quotas', { body }), 403, 'insufficient_role');
      assertError(
        await org.boss.api('PUT', '/v1/quotas', { body: { ...body, org_id: other.id } }),
        403,
        'org_scope_violation',
      );
      const theirs = await putQuota(other.boss.api, body);
      assertError(await org.sender.api('DELETE', `/v1/quotas/${theirs.quota_id}`), 403, 'insufficient_role');
      // Another org's quota is unknown here, and is left alone.
      assertError(await org.boss.api('DELETE', `/v1/quotas/${theirs.quota_id}`), 404, 'quota_not_found');
      assert.equal((await quotasOf(other.boss.api)).length, 1);
      assert.deepEqual(await quotasOf(org.boss.api), []);
    });

    test('malformed and oversized input: 422 per field, 400, 413; nothing stored', async () => {
      const org = await newOrg('quota-m');
      const cases: [unknown, string[]][] = [
        [{}, ['subject', 'dimension', 'limit']],
        [{ subject: 'org', dimension: 'bytes_per_day', limit: 1 }, ['dimension']],
        [{ subject: 'org', dimension: 'intents_per_day', limit: -1 }, ['limit']],
        [{ subject: 'org', dimension: 'intents_per_day', limit: 1.5 }, ['limit']],
        [{ subject: 'org', dimension: 'intents_per_day', limit: '3' }, ['limit']],
        [{ subject: 'org', dimension: 'intents_per_day', limit: 1e10 }, ['limit']],
        [{ subject: 'nobody', dimension: 'intents_per_day', limit: 1 }, ['subject']],
        [{ subject: 'a'.repeat(400), dimension: 'intents_per_day', limit: 1 }, ['subject']],
        [{ subject: 'agent://elsewhere/default/x', dimension: 'intents_per_day', limit: 1 }, ['subject']],
        [{ subject: 'org', dimension: 'intents_per_day', limit: 1, org_id: 'nope' }, ['org_id']],
        [[], ['']],
      ];
      for (const [body, paths] of cases) {
        const res = await org.boss.api('PUT', '/v1/quotas', { body });
        assert.equal(res.status, 422, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
        assert.deepEqual([...new Set(fieldPaths(res))].sort(), [...paths].sort(), res.text);
      }
      assertError(await org.boss.api('PUT', '/v1/quotas', { rawBody: '{"subject":' }), 400, 'malformed_json');
      const huge = await org.boss.api('PUT', '/v1/quotas', {
        body: { subject: 'org', dimension: 'intents_per_day', limit: 1, pad: 'x'.repeat(2 * 1024 * 1024) },
      });
      assertError(huge, 413, 'payload_too_large');
      assert.deepEqual(await quotasOf(org.boss.api), []);
    });

    test('DELETE: malformed or unknown id 404; twice is 404 the second time', async () => {
      const org = await newOrg('quota-x2');
      assertError(await org.boss.api('DELETE', '/v1/quotas/not-a-uuid'), 404, 'quota_not_found');
      assertError(await org.boss.api('DELETE', `/v1/quotas/${randomUUID()}`), 404, 'quota_not_found');
      const quota = await putQuota(org.boss.api, { subject: 'org', dimension: 'intents_per_day', limit: 1 });
      assert.equal((await org.boss.api('DELETE', `/v1/quotas/${quota.quota_id}`)).status, 200);
      assertError(await org.boss.api('DELETE', `/v1/quotas/${quota.quota_id}`), 404, 'quota_not_found');
    });

    test('quota changes are audited with the request id', async () => {
      const org = await newOrg('quota-a');
      const res = await org.boss.api('PUT', '/v1/quotas', {
        body: { subject: 'org', dimension: 'intents_per_day', limit: 9 },
      });
      const rows = await prisma.client.auditEvent.findMany({
        where: { requestId: res.headers.get('x-request-id')! },
      });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.action, 'quota.create');
      assert.equal(rows[0]!.orgId, org.id);
      assert.deepEqual(rows[0]!.details, { subject: 'org', dimension: 'intents_per_day', limit: 9 });
    });
  });

  describe(`per-agent rate limit (AXLE_AGENT_RATE_LIMIT_PER_MINUTE=${AGENT_LIMIT})`, () => {
    test('two keys of one agent share its bucket across routes: N pass, the N+1th is 429 scope agent', async () => {
      const slug = `rate-${randomUUID().slice(0, 8)}`;
      const one = await agent(slug, 'shared', 'member', limited.baseUrl);
      const two = apiClient(limited.baseUrl, await secondKey(one));
      const calls: [Api, string][] = [
        [one.api, '/v1/intents?limit=1'],
        [two, `/v1/intents/${randomUUID()}`],
        [one.api, '/v1/inbox'],
        [two, '/v1/intents?limit=1'],
      ];
      const answers: ApiResponse[] = [];
      for (const [call, path] of calls) answers.push(await call('GET', path));
      for (const [i, res] of answers.entries()) {
        assert.ok(res.status === 200 || res.status === 404, res.text);
        assert.equal(res.headers.get('x-ratelimit-limit'), String(AGENT_LIMIT));
        assert.equal(res.headers.get('x-ratelimit-remaining'), String(AGENT_LIMIT - 1 - i));
        assert.match(res.headers.get('x-ratelimit-reset') ?? '', /^\d+$/);
      }
      const refused = await two('GET', '/v1/inbox');
      assertError(refused, 429, 'rate_limit_exceeded');
      const details = (refused.body.error as { details: Record<string, unknown> }).details;
      assert.equal(details.scope, 'agent');
      assert.equal(details.limit, AGENT_LIMIT);
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60 / AGENT_LIMIT, String(retryAfter));
      assert.equal(refused.headers.get('x-ratelimit-limit'), String(AGENT_LIMIT));
      assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
      assertError(await one.api('GET', '/v1/intents?limit=1'), 429, 'rate_limit_exceeded');

      // Another agent has its own bucket.
      const stranger = await agent(slug, 'stranger', 'member', limited.baseUrl);
      const own = await stranger.api('GET', '/v1/intents?limit=1');
      assert.equal(own.status, 200, own.text);
      assert.equal(own.headers.get('x-ratelimit-remaining'), String(AGENT_LIMIT - 1));
    });

    test("an agent's own rate_limit_per_minute replaces the default, smaller or larger", async () => {
      const slug = `rate-${randomUUID().slice(0, 8)}`;
      for (const limit of [2, 6]) {
        const a = await agent(slug, `own-${limit}`, 'member', limited.baseUrl);
        await prisma.client.serviceAccount.update({
          where: { id: a.id },
          data: { rateLimitPerMinute: limit },
        });
        const statuses: number[] = [];
        let last: ApiResponse | undefined;
        for (let i = 0; i <= limit; i++) {
          last = await a.api('GET', '/v1/intents?limit=1');
          statuses.push(last.status);
        }
        assert.deepEqual(statuses, [...Array<number>(limit).fill(200), 429]);
        assert.equal(last!.headers.get('x-ratelimit-limit'), String(limit));
        assert.equal((last!.body.error as { details: { scope: string } }).details.scope, 'agent');
      }
    });
  });
});
