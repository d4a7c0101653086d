// The request edges of SPEC §1 on real gateway processes: Idempotency-Key on every POST (replay,
// conflict, bad keys, 4xx answers, concurrency, expiry), 413 for oversized bodies and 400 for
// malformed JSON in the standard error shape, and per-key rate limits with their headers.
import { generateApiKey, hashSecret } from '@axle/auth';
import { IdempotencyRepository, orgScope, PrismaService, RegistryRepository, requestHash } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  axleGrpcClients,
  parseSse,
  requireEnv,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import { status as grpcStatus } from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

let axle: AxleProcesses;
let strict: AxleProcesses;
let limited: AxleProcesses;
let api: ReturnType<typeof apiClient>;
const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const registry = new RegistryRepository(prisma);
const records = new IdempotencyRepository(prisma);
/** The service account of TEST_ADMIN_KEY (axme_sa_<id>_<secret>). */
const ADMIN_ID = TEST_ADMIN_KEY.split('_')[2]!;
const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });

const CONFLICT_DETAIL = 'idempotency key reused with different payload';

function intentBody(overrides: Record<string, unknown> = {}) {
  return {
    intent_type: 'ops.deploy.v1',
    correlation_id: randomUUID(),
    to_agent: 'agent://default/default/deployer',
    payload: { service: 'api-gateway', version: '3.2.1' },
    ...overrides,
  };
}

/** The standard error body (SPEC §1), whatever produced the error. */
function assertErrorShape(res: ApiResponse, status: number, errorCode: string) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.ok, false, res.text);
  const error = res.body.error as { code: string; message: string };
  assert.equal(error.code, errorCode, res.text);
  assert.equal(typeof error.message, 'string');
  assert.equal(res.body.detail, error.message);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  assert.ok(res.headers.get('x-request-id'));
}

async function createIntent(call = api) {
  const res = await call('POST', '/v1/intents', { body: intentBody() });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function waitForStatus(id: string, status: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const intent = (await api('GET', `/v1/intents/${id}`)).body.intent as Record<string, unknown>;
    if (intent.status === status) return intent;
    if (Date.now() > deadline) assert.fail(`intent ${id} is ${String(intent.status)}, expected ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function eventTypes(id: string): Promise<string[]> {
  const res = await api('GET', `/v1/intents/${id}/events?since=0`);
  return (res.body.events as { event_type: string }[]).map((e) => e.event_type);
}

/** A new org with a registered agent `target` and its API key, as identity management will make. */
async function newOrg() {
  const slug = `edges-${randomUUID().slice(0, 8)}`;
  const { org, workspaceId } = await registry.createOrganization({ slug });
  const address = `agent://${slug}/default/target`;
  const register = async () => {
    const { key, serviceAccountId, secret } = generateApiKey();
    await registry.registerAgent(
      orgScope(org.id),
      { workspaceId, name: 'target', address },
      { secretHash: await hashSecret(secret), hint: secret.slice(-4), agentId: serviceAccountId },
    );
    return key;
  };
  return { slug, address, register };
}

/**
 * POSTs `size` bytes of JSON with chunked encoding (no Content-Length). Resolves with the answer,
 * even one sent before the upload ended, or with the socket error when the gateway's close after
 * its early answer reset the connection before the answer could be read (a race of TCP, not ours).
 */
function postChunked(
  url: string,
  size: number,
): Promise<{ status: number; text: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, {
      method: 'POST',
      headers: { 'x-api-key': TEST_ADMIN_KEY, 'content-type': 'application/json' },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    // Writing after the early answer fails (EPIPE/ECONNRESET); the answer, when it came, is what counts.
    req.on('error', (err) => setTimeout(() => answered || resolve({ error: err.message }), 1_000));
    const chunk = 'x'.repeat(64 * 1024);
    req.write('{"blob":"');
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end('"}');
    };
    pump();
  });
}

/** Makes every idempotency record with this key expired, as if AXLE_IDEMPOTENCY_TTL_HOURS had passed. */
async function expireKey(key: string) {
  const { rowCount } = await db.query(
    `UPDATE idempotency_records SET expires_at = now() - interval '1 second' WHERE key = $1`,
    [key],
  );
  assert.ok((rowCount ?? 0) > 0, `no record for key ${key}`);
}

describe('request edges end to end', () => {
  before(async () => {
    axle = await AxleProcesses.create();
    strict = await AxleProcesses.create({ AXLE_ADDRESSING: 'strict' });
    limited = await AxleProcesses.create({ AXLE_RATE_LIMIT_PER_MINUTE: '5' });
    api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    await db.connect();
    await Promise.all([
      axle.startAll(['gateway', 'worker']),
      strict.startAll(['gateway']),
      limited.startAll(['gateway']),
    ]);
  });
  after(async () => {
    await Promise.all([axle.stopAll(), strict.stopAll(), limited.stopAll()]);
    await db.end();
    await prisma.onModuleDestroy();
  });

  describe('Idempotency-Key', () => {
    test('create: a replay answers the same status and body, marked as replayed; another body → 409', async () => {
      const key = randomUUID();
      const body = intentBody();
      const first = await api('POST', '/v1/intents', { body, headers: { 'idempotency-key': key } });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.headers.get('idempotent-replayed'), null);
      // Same body with its keys in another order is the same request.
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      const again = await api('POST', '/v1/intents', {
        body: reordered,
        headers: { 'idempotency-key': key },
      });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');

      const other = await api('POST', '/v1/intents', {
        body: { ...body, payload: { other: true } },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(other, 409, 'idempotency_conflict');
      assert.equal(other.body.detail, CONFLICT_DETAIL);
      // A known key answers before the body is validated, like every other POST.
      const invalid = await api('POST', '/v1/intents', {
        body: { nope: 1 },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(invalid, 409, 'idempotency_conflict');
    });

    test('resume: the same key twice → the same 200 and one effect; without a key the second is 409', async () => {
      const id = await createIntent();
      await waitForStatus(id, 'DELIVERED');
      const key = randomUUID();
      const body = { action: 'complete', result: { deployed: true } };
      const first = await api('POST', `/v1/intents/${id}/resume`, {
        body,
        headers: { 'idempotency-key': key },
      });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.status, 'COMPLETED');
      const again = await api('POST', `/v1/intents/${id}/resume`, {
        body,
        headers: { 'idempotency-key': key },
      });
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal((await eventTypes(id)).filter((t) => t === 'intent.completed').length, 1);

      const unkeyed = await api('POST', `/v1/intents/${id}/resume`, { body });
      assertErrorShape(unkeyed, 409, 'intent_terminal');

      const changed = await api('POST', `/v1/intents/${id}/resume`, {
        body: { action: 'fail' },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(changed, 409, 'idempotency_conflict');
      assert.equal(changed.body.detail, CONFLICT_DETAIL);
    });

    test('resume: the same key on another intent is a conflict, never another intent’s answer', async () => {
      const [a, b] = [await createIntent(), await createIntent()];
      await waitForStatus(a, 'DELIVERED');
      await waitForStatus(b, 'DELIVERED');
      const key = randomUUID();
      const body = { action: 'complete' };
      const first = await api('POST', `/v1/intents/${a}/resume`, {
        body,
        headers: { 'idempotency-key': key },
      });
      assert.equal(first.status, 200, first.text);
      const other = await api('POST', `/v1/intents/${b}/resume`, {
        body,
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(other, 409, 'idempotency_conflict');
      const untouched = (await api('GET', `/v1/intents/${b}`)).body.intent as { status: string };
      assert.equal(untouched.status, 'DELIVERED', 'the other intent was not resumed');
    });

    test('a 4xx answer is stored and replayed like a success (resume of an unknown intent)', async () => {
      const key = randomUUID();
      const path = `/v1/intents/${randomUUID()}/resume`;
      const first = await api('POST', path, {
        body: { action: 'complete' },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(first, 404, 'intent_not_found');
      const again = await api('POST', path, {
        body: { action: 'complete' },
        headers: { 'idempotency-key': key },
      });
      assert.equal(again.status, 404);
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const other = await api('POST', path, {
        body: { action: 'fail' },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(other, 409, 'idempotency_conflict');
    });

    test('a 4xx answer of create is stored: the same request keeps its answer after the world changed', async () => {
      const call = apiClient(strict.baseUrl, TEST_ADMIN_KEY);
      const org = await newOrg();
      const key = randomUUID();
      const body = intentBody({ to_agent: org.address });
      const first = await call('POST', '/v1/intents', { body, headers: { 'idempotency-key': key } });
      assertErrorShape(first, 404, 'agent_not_found');
      await org.register();
      const again = await call('POST', '/v1/intents', { body, headers: { 'idempotency-key': key } });
      assert.equal(again.status, 404, 'the same input gives the same answer');
      assert.deepEqual(again.body, first.body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      const conflict = await call('POST', '/v1/intents', {
        body: { ...body, payload: { changed: true } },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(conflict, 409, 'idempotency_conflict');
      const fresh = await call('POST', '/v1/intents', { body, headers: { 'idempotency-key': randomUUID() } });
      assert.equal(fresh.status, 200, `a new key is a new request: ${fresh.text}`);
    });

    test('a key longer than 255 characters or empty → 422 on every POST, and nothing happens', async () => {
      const id = await createIntent();
      for (const key of ['k'.repeat(256), '']) {
        for (const path of ['/v1/intents', `/v1/intents/${id}/resume`]) {
          const body = path === '/v1/intents' ? intentBody() : { action: 'complete' };
          const res = await api('POST', path, { body, headers: { 'idempotency-key': key } });
          assertErrorShape(res, 422, 'validation_error');
          const errors = (res.body.error as { details: { errors: { loc: string[] }[] } }).details.errors;
          assert.deepEqual(errors[0]?.loc, ['header', 'idempotency-key']);
        }
      }
      const ok = await api('POST', '/v1/intents', {
        body: intentBody(),
        headers: { 'idempotency-key': 'k'.repeat(255) },
      });
      assert.equal(ok.status, 200, '255 characters are allowed');
      assert.ok(!(await eventTypes(id)).includes('intent.in_progress'), 'the refused resumes did nothing');
    });

    test('10 concurrent resumes with one key: one effect, ten identical 200s', async () => {
      const id = await createIntent();
      await waitForStatus(id, 'DELIVERED');
      const key = randomUUID();
      const body = { action: 'complete', result: { n: 1 } };
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          api('POST', `/v1/intents/${id}/resume`, { body, headers: { 'idempotency-key': key } }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(10).fill(200),
        results.map((r) => r.text).join('\n'),
      );
      for (const r of results) assert.deepEqual(r.body, results[0]!.body);
      assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 9);
      const types = await eventTypes(id);
      assert.equal(types.filter((t) => t === 'intent.in_progress').length, 1);
      assert.equal(types.filter((t) => t === 'intent.completed').length, 1);
    });

    test('200 concurrent creates with one key and a key never used before: one intent, 200 identical 200s', async () => {
      // Found by `npm run chaos` (idempotency-storm): a burst like this answered 500 (P2028, no
      // pooled connection for the transaction in time) and 503s, as every request ran scrypt for
      // the unmatched key and the whole create; now they wait for the first and replay its answer.
      const org = await newOrg();
      const call = apiClient(axle.baseUrl, await org.register());
      const key = randomUUID();
      const body = intentBody({ to_agent: org.address });
      const results = await Promise.all(
        Array.from({ length: 200 }, () =>
          call('POST', '/v1/intents', { body, headers: { 'idempotency-key': key } }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        Array(200).fill(200),
        results.find((r) => r.status !== 200)?.text,
      );
      for (const r of results) assert.deepEqual(r.body, results[0]!.body);
      assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, 199);
      const { rows } = await db.query<{ n: string }>(
        'SELECT count(*) AS n FROM intents WHERE correlation_id = $1::uuid',
        [body.correlation_id],
      );
      assert.equal(rows[0]?.n, '1');
    });

    test('an expired key is accepted as new (create and resume)', async () => {
      const key = randomUUID();
      const first = await api('POST', '/v1/intents', {
        body: intentBody(),
        headers: { 'idempotency-key': key },
      });
      assert.equal(first.status, 200);
      await expireKey(key);
      const second = await api('POST', '/v1/intents', {
        body: intentBody(),
        headers: { 'idempotency-key': key },
      });
      assert.equal(second.status, 200, second.text);
      assert.notEqual(second.body.intent_id, first.body.intent_id);
      assert.equal(second.headers.get('idempotent-replayed'), null);

      const resumeKey = randomUUID();
      const path = `/v1/intents/${randomUUID()}/resume`;
      assert.equal(
        (await api('POST', path, { body: { action: 'complete' }, headers: { 'idempotency-key': resumeKey } }))
          .status,
        404,
      );
      await expireKey(resumeKey);
      const renewed = await api('POST', path, {
        body: { action: 'fail' },
        headers: { 'idempotency-key': resumeKey },
      });
      assertErrorShape(renewed, 404, 'intent_not_found');
      assert.equal(renewed.headers.get('idempotent-replayed'), null, 'processed as new, not a conflict');
    });

    test('a request while the first with its key still runs waits for its answer and replays it', async () => {
      // The first request is simulated by a claim the test holds, then completes.
      const { id: orgId } = (await registry.findOrgBySlug('default'))!;
      const intentId = randomUUID();
      const body = { action: 'complete' };
      const key = randomUUID();
      const claim = await records.claim(orgScope(orgId), {
        callerId: ADMIN_ID,
        route: 'POST /v1/intents/:id/resume',
        key,
        requestHash: requestHash(body, { params: { id: intentId } }),
        expiresAt: new Date(Date.now() + 86_400_000),
        staleAfterMs: 60_000,
      });
      assert.ok(claim.claimed);
      const waiting = api('POST', `/v1/intents/${intentId}/resume`, {
        body,
        headers: { 'idempotency-key': key },
      });
      await new Promise((r) => setTimeout(r, 300));
      await records.complete(orgScope(orgId), claim.token, { status: 200, body: { ok: true, first: true } });
      const res = await waiting;
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { ok: true, first: true });
      assert.equal(res.headers.get('idempotent-replayed'), 'true');
    });

    test('a first request that never answers: 409 idempotency_in_progress with Retry-After', async () => {
      const { id: orgId } = (await registry.findOrgBySlug('default'))!;
      const intentId = randomUUID();
      const body = { action: 'complete' };
      const key = randomUUID();
      const claim = await records.claim(orgScope(orgId), {
        callerId: ADMIN_ID,
        route: 'POST /v1/intents/:id/resume',
        key,
        requestHash: requestHash(body, { params: { id: intentId } }),
        expiresAt: new Date(Date.now() + 86_400_000),
        staleAfterMs: 60_000,
      });
      assert.ok(claim.claimed);
      const res = await api('POST', `/v1/intents/${intentId}/resume`, {
        body,
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(res, 409, 'idempotency_in_progress');
      assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
      // Another body with that key is a conflict at once, in progress or not.
      const other = await api('POST', `/v1/intents/${intentId}/resume`, {
        body: { action: 'fail' },
        headers: { 'idempotency-key': key },
      });
      assertErrorShape(other, 409, 'idempotency_conflict');
    });

    test('without a credential the key is not looked at: 401', async () => {
      const res = await apiClient(axle.baseUrl)('POST', '/v1/intents', {
        body: intentBody(),
        headers: { 'idempotency-key': randomUUID() },
      });
      assertErrorShape(res, 401, 'missing_platform_api_key');
    });
  });

  describe('path parameters no row can have', () => {
    test('an organization or workspace key with a NUL character → 404, not 500 (chaos fuzz)', async () => {
      const org = await api('GET', '/v1/organizations/%00');
      assertErrorShape(org, 404, 'organization_not_found');
      const ws = await api('GET', '/v1/organizations/default/workspaces/a%00b');
      assertErrorShape(ws, 404, 'workspace_not_found');
    });
  });

  describe('body size and malformed bodies', () => {
    test('a 2 MiB body → 413 payload_too_large in the standard error shape on every POST route', async () => {
      const id = await createIntent();
      const blob = 'x'.repeat(2 * 1024 * 1024);
      for (const path of ['/v1/intents', `/v1/intents/${id}/resume`]) {
        const res = await api('POST', path, {
          rawBody: JSON.stringify({ ...intentBody(), action: 'complete', blob }),
          headers: { 'idempotency-key': randomUUID() },
        });
        assertErrorShape(res, 413, 'payload_too_large');
      }
    });

    test('a chunked body over the limit is cut off with 413 (or a closed connection), never a 500', async () => {
      // The gateway counts the body as it arrives, answers once the limit is crossed and closes
      // the connection, as the client may still be sending; a client that reads while it writes
      // sees our 413.
      for (let i = 0; i < 3; i++) {
        const res = await postChunked(`${axle.baseUrl}/v1/intents`, 2 * 1024 * 1024);
        if ('error' in res) {
          assert.match(res.error, /EPIPE|ECONNRESET|socket hang up/);
          continue;
        }
        assert.equal(res.status, 413, res.text);
        const body = JSON.parse(res.text) as { ok: boolean; error: { code: string }; detail: string };
        assert.equal(body.ok, false);
        assert.equal(body.error.code, 'payload_too_large');
        assert.equal(typeof body.detail, 'string');
      }
      assert.ok(!axle.output('gateway').includes('"level":50'), 'no error was logged (no 500)');
      assert.equal((await api('GET', '/health')).status, 200);
    });

    test('a body under the request limit but a payload over 128 KiB → 413 with the limit', async () => {
      const res = await api('POST', '/v1/intents', {
        body: intentBody({ payload: { blob: 'x'.repeat(200_000) } }),
      });
      assertErrorShape(res, 413, 'payload_too_large');
      assert.equal((res.body.error as { details: { limit_bytes: number } }).details.limit_bytes, 131_072);
    });

    test('malformed JSON → 400 malformed_json on every POST route, also with an Idempotency-Key', async () => {
      const id = await createIntent();
      for (const path of ['/v1/intents', `/v1/intents/${id}/resume`]) {
        for (const rawBody of ['{"a":', '{]', 'not json']) {
          const res = await api('POST', path, { rawBody, headers: { 'idempotency-key': randomUUID() } });
          assertErrorShape(res, 400, 'malformed_json');
        }
      }
    });
    test('a body nested deeper than 128 levels → 400 json_too_deep, never a 500 (chaos fuzz)', async () => {
      const id = await createIntent();
      const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const nestedArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
      // 3,000 levels overflowed the request fingerprint's recursion before; 100,000 is 200 KB.
      for (const path of ['/v1/intents', `/v1/intents/${id}/resume`, '/v1/mesh/heartbeat'])
        for (const rawBody of [nestedObject(129), nestedObject(3_000), nestedArray(100_000)]) {
          const res = await api('POST', path, { rawBody, headers: { 'idempotency-key': randomUUID() } });
          assertErrorShape(res, 400, 'json_too_deep');
          assert.deepEqual((res.body.error as { details: unknown }).details, { max_depth: 128 });
        }
      // The body is refused as it is parsed, before the credential is looked at, as malformed JSON is.
      const anonymous = apiClient(axle.baseUrl);
      assertErrorShape(
        await anonymous('POST', '/v1/intents', { rawBody: nestedArray(129) }),
        400,
        'json_too_deep',
      );
      // 128 levels is the limit, not past it: the body, its payload and 126 arrays are created as sent.
      let payload: unknown = 'leaf';
      for (let i = 0; i < 126; i++) payload = [payload];
      const res = await api('POST', '/v1/intents', { body: intentBody({ payload: { deep: payload } }) });
      assert.equal(res.status, 200, res.text);
      const stored = await api('GET', `/v1/intents/${res.body.intent_id as string}`);
      assert.deepEqual((stored.body.intent as { payload: unknown }).payload, { deep: payload });
      // The JSON-RPC facade answers in its own shape: a parse error in the body with HTTP 200.
      const rpc = await api('POST', '/axp', { rawBody: nestedArray(129) });
      assert.equal(rpc.status, 200, rpc.text);
      assert.equal((rpc.body.error as { code: number }).code, -32700);
      assert.ok(!axle.output('gateway').includes('"level":50'), 'no error was logged (no 500)');
    });
  });

  describe('strict addressing (AXLE_ADDRESSING=strict)', () => {
    test("a scenario's later agent must exist like an intent's recipient, or be one the apply creates", async () => {
      const call = apiClient(strict.baseUrl, TEST_ADMIN_KEY);
      const made = () => `made-${randomUUID().slice(0, 8)}`;
      const apply = (name: string, laterAgent: string) =>
        call('POST', '/v1/scenarios/apply', {
          body: {
            scenario_id: `edges.scenario_${randomUUID().slice(0, 8)}`,
            agents: [
              { role: 'made', address: name, create_if_missing: true },
              { role: 'also_made', address: `also-${name}`, create_if_missing: true },
            ],
            workflow: {
              steps: [
                { step_id: 'build', assigned_to: 'made' },
                { step_id: 'ship', assigned_to: laterAgent },
              ],
            },
            intent: { type: 'deploy.release.v1' },
          },
        });
      const refused = made();
      const missing = await apply(refused, `agent://edges-${randomUUID().slice(0, 8)}/default/ghost`);
      assertErrorShape(missing, 404, 'agent_not_found');
      const provisioned = await prisma.client.serviceAccount.count({
        where: { name: { endsWith: refused } },
      });
      assert.equal(provisioned, 0, 'nothing is provisioned for a refused apply');
      const created = await apply(made(), 'also_made');
      assert.equal(created.status, 200, created.text);
    });
  });

  describe('rate limits (AXLE_RATE_LIMIT_PER_MINUTE=5)', () => {
    test('five requests pass with X-RateLimit-* headers; the sixth is 429 with Retry-After', async () => {
      const call = apiClient(limited.baseUrl, TEST_ADMIN_KEY);
      const path = `/v1/intents/${randomUUID()}`;
      const answers: ApiResponse[] = [];
      for (let i = 0; i < 6; i++) answers.push(await call('GET', path));
      for (const [i, res] of answers.slice(0, 5).entries()) {
        assert.equal(res.status, 404, res.text);
        assert.equal(res.headers.get('x-ratelimit-limit'), '5');
        assert.equal(res.headers.get('x-ratelimit-remaining'), String(4 - i));
        assert.match(res.headers.get('x-ratelimit-reset') ?? '', /^\d+$/);
      }
      const refused = answers[5]!;
      assertErrorShape(refused, 429, 'rate_limit_exceeded');
      const retryAfter = refused.headers.get('retry-after') ?? '';
      assert.match(retryAfter, /^\d+$/);
      assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 12, retryAfter);
      assert.equal(refused.headers.get('x-ratelimit-limit'), '5');
      assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
      assert.match(refused.headers.get('x-ratelimit-reset') ?? '', /^\d+$/);

      // Another route pattern has its own bucket.
      const events = await call('GET', `${path}/events`);
      assert.equal(events.status, 404);
      assert.equal(events.headers.get('x-ratelimit-remaining'), '4');
    });

    test('gRPC calls draw from the same buckets: the sixth is RESOURCE_EXHAUSTED with retry-after', async () => {
      const grpc = axleGrpcClients(limited.env.AXLE_GRPC_PORT!);
      try {
        const get = () => grpc.failure('GetIntent', { intent_id: randomUUID() }, TEST_ADMIN_KEY);
        for (let i = 0; i < 5; i++) assert.equal((await get()).code, grpcStatus.NOT_FOUND);
        const refused = await get();
        assert.deepEqual(
          [refused.code, refused.error],
          [grpcStatus.RESOURCE_EXHAUSTED, 'rate_limit_exceeded'],
        );
        assert.match(String(refused.retryAfter), /^\d+$/);
        assert.equal(refused.details?.scope, 'key');
      } finally {
        grpc.close();
      }
    });

    test('health routes are exempt and carry no rate-limit headers', async () => {
      const anonymous = apiClient(limited.baseUrl);
      for (let i = 0; i < 8; i++) {
        for (const path of ['/health', '/v1/health']) {
          const res = await anonymous('GET', path);
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('x-ratelimit-limit'), null);
        }
      }
    });

    test('another API key has its own bucket; streams carry the headers too', async () => {
      const org = await newOrg();
      const key = await org.register();
      const call = apiClient(limited.baseUrl, key);
      const path = `/v1/intents/${randomUUID()}`;
      const admin = apiClient(limited.baseUrl, TEST_ADMIN_KEY);
      for (let i = 0; i < 6; i++) await admin('GET', path);
      assert.equal((await admin('GET', path)).status, 429);
      const own = await call('GET', path);
      assert.equal(own.status, 404, own.text);
      assert.equal(own.headers.get('x-ratelimit-remaining'), '4');

      const [, , name] = org.address.replace('agent://', '').split('/');
      const stream = await call(
        'GET',
        `/v1/agents/${org.slug}/default/${name}/intents/stream?wait_seconds=1`,
      );
      assert.equal(stream.status, 200, stream.text);
      assert.deepEqual(
        parseSse(stream.text).map((f) => f.event),
        ['stream.timeout'],
      );
      assert.equal(stream.headers.get('x-ratelimit-limit'), '5');
      assert.equal(stream.headers.get('x-ratelimit-remaining'), '4');
      assert.ok(stream.headers.get('x-request-id'));
    });

    test('POSTs are limited too, and a refused POST stores nothing under its key', async () => {
      const org = await newOrg();
      const key = await org.register();
      const call = apiClient(limited.baseUrl, key);
      const idem = randomUUID();
      const path = `/v1/intents/${randomUUID()}/resume`;
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++)
        statuses.push(
          (
            await call('POST', path, {
              body: { action: 'complete' },
              headers: { 'idempotency-key': `${idem}-${i}` },
            })
          ).status,
        );
      assert.deepEqual(statuses, [404, 404, 404, 404, 404, 429]);
      const { rowCount } = await db.query('SELECT 1 FROM idempotency_records WHERE key = $1', [`${idem}-5`]);
      assert.equal(rowCount, 0);
    });
  });
});
