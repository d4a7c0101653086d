// Signed agents end to end (SPEC §2, docs/signed-agents.md): real gateway and worker, real
// PostgreSQL and Redis. Registration of Ed25519 keys and who may do it, signed requests accepted,
// every kind of bad or missing signature refused with its own code, nothing persisted for a
// refused request, and an audit row for each refusal that holds neither the signature nor the key.
import { PrismaService } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  generateSigningKey,
  registerTestAgent,
  requireEnv,
  signedHeaders,
  type SigningKeyPair,
  signRequest,
  TEST_ADMIN_KEY,
  type TestAgent,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

let axle: AxleProcesses;
let prisma: PrismaService;
let admin: ReturnType<typeof apiClient>;

const run = randomUUID().slice(0, 8);
const ORG = `sig-${run}`;
const OTHER_ORG = `sig-other-${run}`;

/** Agents of this file (registered in `before`). */
let signer: TestAgent;
let signerKey: SigningKeyPair;
let peer: TestAgent;
let peerKey: SigningKeyPair;
let orgAdmin: TestAgent;
let stranger: TestAgent;
let strangerAdmin: TestAgent;

function as(agent: TestAgent | string) {
  return apiClient(axle.baseUrl, typeof agent === 'string' ? agent : agent.key);
}

function keyPath(address: string): string {
  return `/v1/agents/${address.slice('agent://'.length)}/signing-key`;
}

function assertError(res: ApiResponse, status: number, code: string, what = '') {
  assert.equal(res.status, status, `${what} ${res.status} ${res.text}`);
  assert.equal(res.body.ok, false, what);
  assert.equal((res.body.error as { code: string }).code, code, `${what} ${res.text}`);
  assert.equal(typeof res.body.detail, 'string', what);
}

function intentBody(correlationId: string): string {
  return JSON.stringify({
    intent_type: 'ops.deploy.v1',
    correlation_id: correlationId,
    to_agent: `agent://${ORG}/default/deployer`,
    payload: { service: 'api-gateway', marker: correlationId },
  });
}

/** A create-intent request by `agent`, signed over exactly what is sent unless told otherwise. */
async function signedCreate(
  agent: TestAgent,
  key: { privateKey: SigningKeyPair['privateKey']; keyId: string },
  options: {
    correlationId?: string;
    sendPath?: string;
    signPath?: string;
    sendBody?: string;
    signBody?: string;
    timestamp?: number;
    nonce?: string;
    extraHeaders?: Record<string, string>;
  } = {},
): Promise<ApiResponse & { correlationId: string }> {
  const correlationId = options.correlationId ?? randomUUID();
  const body = intentBody(correlationId);
  const sendPath = options.sendPath ?? '/v1/intents';
  const headers = signedHeaders({
    privateKey: key.privateKey,
    keyId: key.keyId,
    method: 'POST',
    path: options.signPath ?? sendPath,
    body: options.signBody ?? body,
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
    ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
  });
  const res = await as(agent)('POST', sendPath, {
    rawBody: options.sendBody ?? body,
    headers: { ...headers, ...options.extraHeaders },
  });
  return { ...res, correlationId };
}

/** Correlation ids of the intents `address` has sent (read by the platform admin). */
async function sentCorrelationIds(address: string): Promise<Set<string>> {
  const res = await admin('GET', `/v1/intents?from_agent=${encodeURIComponent(address)}&limit=200`);
  assert.equal(res.status, 200, res.text);
  return new Set((res.body.intents as { correlation_id: string }[]).map((i) => i.correlation_id));
}

async function registerKey(agent: TestAgent, key: SigningKeyPair, requireSignature?: boolean) {
  const res = await as(agent)('PUT', keyPath(agent.address), {
    body: {
      public_key: key.publicKey,
      ...(requireSignature !== undefined ? { require_signature: requireSignature } : {}),
    },
  });
  assert.equal(res.status, 200, res.text);
  return res;
}

async function signatureAudit(actorId: string) {
  return prisma.client.auditEvent.findMany({
    where: { action: 'auth.signature', actorId },
    orderBy: { id: 'asc' },
  });
}

const now = () => Math.floor(Date.now() / 1000);

describe('signed agents end to end', () => {
  before(async () => {
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    axle = await AxleProcesses.create();
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    await axle.startAll(['gateway', 'worker']);
    signer = await registerTestAgent(prisma, { org: ORG, name: 'signer' });
    peer = await registerTestAgent(prisma, { org: ORG, name: 'peer' });
    orgAdmin = await registerTestAgent(prisma, { org: ORG, name: 'org-admin' });
    stranger = await registerTestAgent(prisma, { org: OTHER_ORG, name: 'stranger' });
    strangerAdmin = await registerTestAgent(prisma, { org: OTHER_ORG, name: 'stranger-admin' });
    await prisma.client.serviceAccount.updateMany({
      where: { id: { in: [orgAdmin.id, strangerAdmin.id] } },
      data: { role: 'admin' },
    });
    signerKey = generateSigningKey();
    peerKey = generateSigningKey();
  });
  after(async () => {
    await axle?.stopAll();
    await prisma?.onModuleDestroy();
  });

  test('an agent registers its key; the id is ed25519. + hex of SHA-256(raw key)[0..16]; GET shows it', async () => {
    const res = await registerKey(signer, signerKey);
    const agent = res.body.agent as Record<string, unknown>;
    const raw = Buffer.from(signerKey.publicKey, 'base64');
    assert.equal(raw.length, 32);
    const expectedId = `ed25519.${createHash('sha256').update(raw).digest().subarray(0, 16).toString('hex')}`;
    assert.deepEqual(res.body, {
      ok: true,
      agent: {
        address: signer.address,
        signing_key_id: expectedId,
        public_key: signerKey.publicKey,
        require_signature: false,
      },
    });
    assert.match(String(agent.signing_key_id), /^ed25519\.[0-9a-f]{32}$/);
    const get = await as(signer)('GET', keyPath(signer.address));
    assert.equal(get.status, 200, get.text);
    assert.deepEqual(get.body, res.body);
    const audit = await prisma.client.auditEvent.findMany({
      where: { action: 'agent.signing_key.set', targetId: signer.id },
    });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.outcome, 'success');
    assert.equal((audit[0]!.details as Record<string, unknown>).signing_key_id, expectedId);
    assert.ok(!JSON.stringify(audit[0]!.details).includes(signerKey.publicKey), 'no key in the audit row');
  });

  test('a PEM (SPKI) key registers under the same id as its raw form; base64url is accepted too', async () => {
    const res = await as(peer)('PUT', keyPath(peer.address), { body: { public_key: peerKey.publicKeyPem } });
    assert.equal(res.status, 200, res.text);
    const agent = res.body.agent as Record<string, unknown>;
    assert.equal(agent.signing_key_id, peerKey.keyId);
    assert.equal(agent.public_key, peerKey.publicKey);
    const again = await as(peer)('PUT', keyPath(peer.address), {
      body: { public_key: Buffer.from(peerKey.publicKey, 'base64').toString('base64url') },
    });
    assert.equal(again.status, 200, again.text);
    assert.equal((again.body.agent as Record<string, unknown>).signing_key_id, peerKey.keyId);
  });

  test('a signed create succeeds, and so does a signed GET with a query string', async () => {
    const created = await signedCreate(signer, signerKey);
    assert.equal(created.status, 200, created.text);
    assert.equal(created.body.ok, true);
    const id = created.body.intent_id as string;
    const path = `/v1/intents/${id}?view=full&a=%2F`;
    const get = await as(signer)('GET', path, {
      headers: signedHeaders({ ...signerKey, method: 'GET', path }),
    });
    assert.equal(get.status, 200, get.text);
    assert.equal((get.body.intent as Record<string, unknown>).correlation_id, created.correlationId);
    assert.ok((await sentCorrelationIds(signer.address)).has(created.correlationId));
    // An unsigned request of an agent that does not require signatures still works.
    assert.equal((await as(signer)('GET', `/v1/intents/${id}`)).status, 200);
  });

  test('bad signatures are 401 with their own code, persist nothing, and are audited', async () => {
    const otherPair = generateSigningKey();
    const refused: string[] = [];
    const expect = async (
      what: string,
      code: string,
      res: Promise<ApiResponse & { correlationId: string }>,
    ) => {
      const answer = await res;
      assertError(answer, 401, code, what);
      refused.push(answer.correlationId);
    };
    const before = (await signatureAudit(signer.id)).length;

    await expect(
      'tampered body',
      'invalid_signature',
      signedCreate(signer, signerKey, {
        signBody: intentBody('something-else'),
      }),
    );
    await expect(
      'tampered path',
      'invalid_signature',
      signedCreate(signer, signerKey, {
        signPath: `/v1/intents?owner_agent=${encodeURIComponent(signer.address)}`,
        sendPath: '/v1/intents',
      }),
    );
    await expect(
      'tampered query',
      'invalid_signature',
      signedCreate(signer, signerKey, {
        signPath: '/v1/intents?a=1',
        sendPath: '/v1/intents?a=2',
      }),
    );
    await expect(
      'signed by another private key under the registered id',
      'invalid_signature',
      signedCreate(signer, { privateKey: otherPair.privateKey, keyId: signerKey.keyId }),
    );
    await expect('an unregistered key id', 'invalid_signature', signedCreate(signer, otherPair));
    await expect("another agent's registered key", 'invalid_signature', signedCreate(signer, peerKey));
    await expect(
      'stale timestamp (past)',
      'signature_expired',
      signedCreate(signer, signerKey, { timestamp: now() - 400 }),
    );
    await expect(
      'stale timestamp (future)',
      'signature_expired',
      signedCreate(signer, signerKey, { timestamp: now() + 400 }),
    );
    await expect(
      'x-owner-agent is not covered by the signature',
      'invalid_signature',
      signedCreate(signer, signerKey, { extraHeaders: { 'x-owner-agent': signer.address } }),
    );
    await expect(
      'malformed header',
      'invalid_signature',
      signedCreate(signer, signerKey, { extraHeaders: { 'x-axle-signature': 'keyId=ed25519.zz,ts=now' } }),
    );
    await expect(
      'oversized header',
      'invalid_signature',
      signedCreate(signer, signerKey, {
        extraHeaders: { 'x-axle-signature': `keyId=${signerKey.keyId},nonce=${'a'.repeat(8000)}` },
      }),
    );

    // Replay: the same signed request twice; the first is accepted, the exact copy refused.
    const first = { correlationId: randomUUID() };
    const replayBody = intentBody(first.correlationId);
    const replayHeaders = signedHeaders({
      ...signerKey,
      method: 'POST',
      path: '/v1/intents',
      body: replayBody,
    });
    const original = await as(signer)('POST', '/v1/intents', { rawBody: replayBody, headers: replayHeaders });
    assert.equal(original.status, 200, original.text);
    const copy = await as(signer)('POST', '/v1/intents', { rawBody: replayBody, headers: replayHeaders });
    assertError(copy, 401, 'signature_replayed', 'exact replay');
    // The nonce is spent for the key, whatever else changes.
    const nonce = /nonce=([^,]+)/.exec(replayHeaders['x-axle-signature']!)![1]!;
    await expect(
      'nonce reused with a new body and time',
      'signature_replayed',
      signedCreate(signer, signerKey, { nonce, timestamp: now() + 1 }),
    );

    // The header twice (Node joins the values): malformed.
    const correlationId = randomUUID();
    const body = intentBody(correlationId);
    const twice = new Headers({ 'x-api-key': signer.key, 'content-type': 'application/json' });
    twice.append(
      'x-axle-signature',
      signRequest({ ...signerKey, method: 'POST', path: '/v1/intents', body }),
    );
    twice.append(
      'x-axle-signature',
      signRequest({ ...signerKey, method: 'POST', path: '/v1/intents', body }),
    );
    const twiceRes = await fetch(`${axle.baseUrl}/v1/intents`, { method: 'POST', headers: twice, body });
    assert.equal(twiceRes.status, 401);
    assert.equal(((await twiceRes.json()) as { error: { code: string } }).error.code, 'invalid_signature');
    refused.push(correlationId);

    const sent = await sentCorrelationIds(signer.address);
    for (const id of refused) assert.ok(!sent.has(id), `a refused request persisted intent ${id}`);
    assert.ok(sent.has(first.correlationId), 'the original of the replayed request was accepted');

    const rows = (await signatureAudit(signer.id)).slice(before);
    assert.equal(rows.length, refused.length + 1, 'one audit row per refusal (the replayed copy included)');
    for (const row of rows) {
      assert.equal(row.outcome, 'failure');
      assert.equal(row.actorType, 'service_account');
      const details = row.details as Record<string, unknown>;
      assert.match(String(details.reason), /^(invalid_signature|signature_expired|signature_replayed)$/);
      const text = JSON.stringify(row.details);
      assert.ok(!text.includes(signerKey.publicKey), 'no public key in audit');
      assert.ok(!/sig=/.test(text) && !text.includes(nonce), 'no signature or nonce in audit');
    }
    const reasons = new Set(rows.map((r) => (r.details as Record<string, unknown>).reason));
    assert.deepEqual([...reasons].sort(), ['invalid_signature', 'signature_expired', 'signature_replayed']);
  });

  test('a platform admin without a key, or any caller without one, cannot send a signature', async () => {
    const path = '/v1/intents?limit=1';
    const res = await admin('GET', path, { headers: signedHeaders({ ...signerKey, method: 'GET', path }) });
    assertError(res, 401, 'invalid_signature');
  });

  test('require_signature: needs a key (409), then unsigned requests are 401 signature_required', async () => {
    const strict = await registerTestAgent(prisma, { org: ORG, name: `strict-${run}` });
    const strictKey = generateSigningKey();
    assertError(
      await as(strict)('PUT', keyPath(strict.address), { body: { require_signature: true } }),
      409,
      'signing_key_missing',
    );
    const res = await registerKey(strict, strictKey, true);
    assert.equal((res.body.agent as Record<string, unknown>).require_signature, true);

    const unsigned = await as(strict)('POST', '/v1/intents', { rawBody: intentBody(randomUUID()) });
    assertError(unsigned, 401, 'signature_required', 'unsigned create');
    assertError(await as(strict)('GET', '/v1/intents?limit=1'), 401, 'signature_required', 'unsigned GET');
    assertError(
      await as(strict)('GET', keyPath(strict.address)),
      401,
      'signature_required',
      'unsigned key GET',
    );
    assert.equal((await sentCorrelationIds(strict.address)).size, 0);
    const audit = await signatureAudit(strict.id);
    assert.equal(audit.length, 3);
    assert.ok(audit.every((r) => (r.details as Record<string, unknown>).reason === 'signature_required'));

    const signed = await signedCreate(strict, strictKey);
    assert.equal(signed.status, 200, signed.text);
    const path = keyPath(strict.address);
    const get = await as(strict)('GET', path, {
      headers: signedHeaders({ ...strictKey, method: 'GET', path }),
    });
    assert.equal(get.status, 200, get.text);
    assert.equal((get.body.agent as Record<string, unknown>).require_signature, true);
  });

  test('a protected key changes only by a signed request, whoever asks', async () => {
    const guarded = await registerTestAgent(prisma, { org: ORG, name: `guarded-${run}` });
    const guardedKey = generateSigningKey();
    await registerKey(guarded, guardedKey, true);
    const path = keyPath(guarded.address);
    const swap = generateSigningKey();
    const swapBody = JSON.stringify({ public_key: swap.publicKey });

    // A stolen API key of the agent itself: refused by the guard.
    assertError(await as(guarded)('PUT', path, { rawBody: swapBody }), 401, 'signature_required', 'self');
    // An org admin's or the platform admin's stolen key: refused by the rule on protected agents.
    assertError(
      await as(orgAdmin)('PUT', path, { rawBody: swapBody }),
      401,
      'signature_required',
      'org admin',
    );
    assertError(await admin('PUT', path, { rawBody: swapBody }), 401, 'signature_required', 'platform admin');
    assertError(await admin('DELETE', path), 401, 'signature_required', 'platform admin delete');
    assertError(
      await admin('PUT', path, { body: { require_signature: false } }),
      401,
      'signature_required',
      'platform admin turning the requirement off',
    );
    const unchanged = await prisma.client.serviceAccount.findUniqueOrThrow({ where: { id: guarded.id } });
    assert.equal(unchanged.signingKeyId, guardedKey.keyId);
    assert.equal(unchanged.requireSignature, true);
    const refusals = await prisma.client.auditEvent.findMany({
      where: { action: 'auth.signature', targetId: guarded.id, actorId: { in: [orgAdmin.id] } },
    });
    assert.equal(refusals.length, 1, 'the refused admin change is audited');

    // The org admin signs with its own registered key: allowed.
    const adminKey = generateSigningKey();
    await registerKey(orgAdmin, adminKey);
    const byAdmin = await as(orgAdmin)('PUT', path, {
      rawBody: swapBody,
      headers: signedHeaders({ ...adminKey, method: 'PUT', path, body: swapBody }),
    });
    assert.equal(byAdmin.status, 200, byAdmin.text);
    assert.equal((byAdmin.body.agent as Record<string, unknown>).signing_key_id, swap.keyId);
    assert.equal((byAdmin.body.agent as Record<string, unknown>).require_signature, true);

    // The old key no longer signs; the new one does, and removes itself (require goes off with it).
    assertError(await signedCreate(guarded, guardedKey), 401, 'invalid_signature', 'old key');
    const removed = await as(guarded)('DELETE', path, {
      headers: signedHeaders({ ...swap, method: 'DELETE', path }),
    });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.agent, {
      address: guarded.address,
      signing_key_id: null,
      public_key: null,
      require_signature: false,
    });
    assert.equal((await as(guarded)('GET', '/v1/intents?limit=1')).status, 200, 'unsigned works again');
    // Deleting again is a no-op.
    const again = await as(guarded)('DELETE', path);
    assert.equal(again.status, 200, again.text);
  });

  test('who may register: itself, an org admin, a platform admin; others 403, another org 404', async () => {
    const target = await registerTestAgent(prisma, { org: ORG, name: `target-${run}` });
    const path = keyPath(target.address);
    const key = generateSigningKey();
    const body = { body: { public_key: key.publicKey } };
    assertError(await as(peer)('PUT', path, body), 403, 'owner_scope_violation', 'same-org member');
    assertError(await as(peer)('DELETE', path), 403, 'owner_scope_violation', 'same-org member delete');
    assertError(await as(peer)('GET', path), 403, 'owner_scope_violation', 'same-org member read');
    for (const outsider of [stranger, strangerAdmin]) {
      assertError(await as(outsider)('PUT', path, body), 404, 'agent_not_found', 'other org');
      assertError(await as(outsider)('GET', path), 404, 'agent_not_found', 'other org read');
      assertError(await as(outsider)('DELETE', path), 404, 'agent_not_found', 'other org delete');
    }
    assertError(
      await as('axme_sa_00000000-0000-0000-0000-000000000000_' + 'ab'.repeat(32))('PUT', path, body),
      401,
      'invalid_platform_api_key',
    );
    assertError(await apiClient(axle.baseUrl)('GET', path), 401, 'missing_platform_api_key');
    assert.equal(
      (await prisma.client.serviceAccount.findUniqueOrThrow({ where: { id: target.id } })).signingKeyId,
      null,
    );

    const byOrgAdmin = await as(orgAdmin)('PUT', path, body);
    assert.equal(byOrgAdmin.status, 200, byOrgAdmin.text);
    const byPlatform = await admin('PUT', path, { body: { public_key: generateSigningKey().publicKey } });
    assert.equal(byPlatform.status, 200, byPlatform.text);
    assert.equal((await as(target)('GET', path)).status, 200);
    assertError(await admin('GET', keyPath(`agent://${ORG}/default/nobody-${run}`)), 404, 'agent_not_found');
  });

  test('malformed, oversized and conflicting registrations are refused, never 500', async () => {
    const agent = await registerTestAgent(prisma, { org: ORG, name: `bad-${run}` });
    const path = keyPath(agent.address);
    const call = as(agent);
    const privatePem = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const invalidKeys = [
      'not a key',
      Buffer.alloc(31, 7).toString('base64'),
      privatePem,
      generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    ];
    for (const publicKey of invalidKeys) {
      const res = await call('PUT', path, { body: { public_key: publicKey } });
      assertError(res, 422, 'invalid_public_key', publicKey.slice(0, 30));
      const errors = (res.body.error as { details: { errors: { path: string }[] } }).details.errors;
      assert.deepEqual(
        errors.map((e) => e.path),
        ['public_key'],
      );
      assert.ok(!res.text.includes('PRIVATE KEY'), 'a private key is not echoed');
    }
    assertError(await call('PUT', path, { body: { public_key: 'A'.repeat(5000) } }), 422, 'validation_error');
    assertError(await call('PUT', path, { body: {} }), 422, 'validation_error', 'empty body');
    assertError(await call('PUT', path), 422, 'validation_error', 'no body');
    assertError(await call('PUT', path, { body: [1, 2] }), 422, 'validation_error', 'array');
    assertError(await call('PUT', path, { body: { public_key: 42 } }), 422, 'validation_error', 'number');
    assertError(await call('PUT', path, { body: { require_signature: 'yes' } }), 422, 'validation_error');
    assertError(await call('PUT', path, { rawBody: '{"public_key":' }), 400, 'malformed_json');
    assertError(
      await call('PUT', path, { rawBody: JSON.stringify({ public_key: 'x'.repeat(2 * 1024 * 1024) }) }),
      413,
      'payload_too_large',
    );
    assertError(
      await call('PUT', '/v1/agents/Not_An_Org/x/y/signing-key', { body: { require_signature: false } }),
      422,
      'invalid_agent_address',
    );
    // Another agent's key: key ids are unique.
    assertError(
      await call('PUT', path, { body: { public_key: signerKey.publicKey } }),
      409,
      'signing_key_in_use',
    );
    // Nothing was stored by any of these.
    const row = await prisma.client.serviceAccount.findUniqueOrThrow({ where: { id: agent.id } });
    assert.deepEqual([row.signingKeyId, row.signingPublicKey, row.requireSignature], [null, null, false]);
    // Out of order: the flag off with no key, and a delete with no key, are harmless no-ops.
    const off = await call('PUT', path, { body: { require_signature: false } });
    assert.equal(off.status, 200, off.text);
    assert.equal((await call('DELETE', path)).status, 200);
  });
});
