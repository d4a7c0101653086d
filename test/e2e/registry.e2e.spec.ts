// The registry API and credentials of SPEC §1–§2 on real gateway processes: orgs, workspaces,
// members, service accounts and keys (shown once, revoked on the next request), the agents view,
// roles, and user JWTs (HS256 and JWKS) with the usual attacks.
import { PrismaService } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

const JWT_SECRET = 'registry-e2e-secret-0123456789abcdef0123456789';
const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const suffix = randomUUID().slice(0, 8);
const ORG = `acme-${suffix}`;
const OTHER = `globex-${suffix}`;

let axle: AxleProcesses;
let admin: ReturnType<typeof apiClient>;
let anonymous: ReturnType<typeof apiClient>;
let jwks: Server;
let jwksKeys: JWK[] = [];
let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
let jwksUp = true;

function assertError(res: ApiResponse, status: number, code: string) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.ok, false, res.text);
  assert.equal((res.body.error as { code: string }).code, code, res.text);
}

function hs256(claims: Record<string, unknown>, options: { exp?: string | number; iat?: number } = {}) {
  const jwt = new SignJWT({ aud: 'axle', ...claims })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(typeof claims.sub === 'string' ? claims.sub : 'user-1')
    .setExpirationTime(options.exp ?? '5m');
  if (options.iat !== undefined) jwt.setIssuedAt(options.iat);
  else jwt.setIssuedAt();
  return jwt.sign(new TextEncoder().encode(JWT_SECRET));
}

async function asUser(token: string, method: string, path: string, body?: unknown) {
  return anonymous(method, path, {
    headers: { authorization: `Bearer ${token}` },
    ...(body ? { body } : {}),
  });
}

describe('registry, keys and tokens', () => {
  before(async () => {
    rsa = await generateKeyPair('RS256');
    jwksKeys = [{ ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }];
    jwks = createServer((req, res) => {
      if (!jwksUp) {
        res.statusCode = 503;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: jwksKeys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as AddressInfo).port;
    axle = await AxleProcesses.create({
      AXLE_JWT_SECRET: JWT_SECRET,
      AXLE_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    });
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway']);
  });
  after(async () => {
    await axle.stopAll();
    jwks.close();
    await prisma.onModuleDestroy();
  });

  test('a platform admin creates organizations; slugs are validated and unique', async () => {
    const created = await admin('POST', '/v1/organizations', { body: { slug: ORG, name: 'Acme Inc' } });
    assert.equal(created.status, 200, created.text);
    const org = created.body.organization as Record<string, unknown>;
    assert.equal(org.slug, ORG);
    assert.equal(org.receive_policy, 'closed');
    assertError(
      await admin('POST', '/v1/organizations', { body: { slug: ORG } }),
      409,
      'organization_exists',
    );
    assertError(await admin('POST', '/v1/organizations', { body: { slug: 'X' } }), 422, 'validation_error');
    assertError(
      await admin('POST', '/v1/organizations', { body: { slug: 'ok-slug', extra: 1 } }),
      422,
      'validation_error',
    );
    assertError(await admin('POST', '/v1/organizations', { rawBody: '{"slug":' }), 400, 'malformed_json');
    assertError(
      await anonymous('POST', '/v1/organizations', { body: { slug: 'nope-org' } }),
      401,
      'missing_platform_api_key',
    );
    assert.equal((await admin('POST', '/v1/organizations', { body: { slug: OTHER } })).status, 200);

    const byId = await admin('GET', `/v1/organizations/${org.org_id as string}`);
    assert.equal((byId.body.organization as { slug: string }).slug, ORG);
    const workspaces = await admin('GET', `/v1/organizations/${ORG}/workspaces`);
    assert.deepEqual(
      (workspaces.body.workspaces as { slug: string }[]).map((w) => w.slug),
      ['default'],
    );
  });

  test('service accounts get an address, keys are shown once and work at once', async () => {
    const sa = await admin('POST', '/v1/service-accounts', {
      body: { org_id: ORG, name: 'deployer', display_name: 'Deployer', role: 'admin' },
    });
    assert.equal(sa.status, 200, sa.text);
    const account = sa.body.service_account as Record<string, unknown>;
    assert.equal(account.agent_address, `agent://${ORG}/default/deployer`);
    assert.equal(sa.body.webhook_secret, undefined);
    assertError(
      await admin('POST', '/v1/service-accounts', { body: { org_id: ORG, name: 'deployer' } }),
      409,
      'agent_exists',
    );
    assertError(
      await admin('POST', '/v1/service-accounts', {
        body: { org_id: ORG, name: 'hooky', delivery_mode: 'http' },
      }),
      422,
      'validation_error',
    );
    assertError(
      await admin('POST', '/v1/service-accounts', { body: { org_id: ORG, name: 'Bad Name' } }),
      422,
      'validation_error',
    );
    assertError(
      await admin('POST', '/v1/service-accounts', { body: { org_id: 'no-such-org', name: 'x1' } }),
      404,
      'organization_not_found',
    );

    const idem = { 'idempotency-key': randomUUID() };
    const key = await admin('POST', `/v1/service-accounts/${account.service_account_id as string}/keys`, {
      body: { name: 'ci' },
      headers: idem,
    });
    assert.equal(key.status, 200, key.text);
    const token = (key.body.key as { token: string }).token;
    assert.match(token, new RegExp(`^axme_sa_${account.service_account_id as string}_[0-9a-f]{64}$`));
    // A replay of the create does not hand the secret out again.
    const replay = await admin('POST', `/v1/service-accounts/${account.service_account_id as string}/keys`, {
      body: { name: 'ci' },
      headers: idem,
    });
    assert.equal(replay.status, 200);
    assert.equal((replay.body.key as { token: unknown }).token, null);
    assert.equal(replay.body.secrets_redacted, true);
    assert.ok(!replay.text.includes(token.split('_')[3]!));

    const deployer = apiClient(axle.baseUrl, token);
    const self = await deployer('GET', `/v1/agents/${ORG}/default/deployer`);
    assert.equal(self.status, 200, self.text);
    assert.equal((self.body.agent as { address: string }).address, `agent://${ORG}/default/deployer`);
    const encoded = await deployer(
      'GET',
      `/v1/agents/${encodeURIComponent(`agent://${ORG}/default/deployer`)}`,
    );
    assert.equal(encoded.status, 200, encoded.text);

    const keys = await deployer('GET', `/v1/service-accounts/${account.service_account_id as string}/keys`);
    assert.equal(keys.status, 200, keys.text);
    assert.ok(!keys.text.includes(token.split('_')[3]!), 'listing never contains a secret');
    assert.equal((keys.body.keys as unknown[]).length, 1);

    // Revocation is effective on the very next request.
    const keyId = (key.body.key as { key_id: string }).key_id;
    const revoked = await admin(
      'POST',
      `/v1/service-accounts/${account.service_account_id as string}/keys/${keyId}/revoke`,
    );
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal((revoked.body.key as { status: string }).status, 'revoked');
    assertError(await deployer('GET', '/v1/agents'), 401, 'invalid_platform_api_key');
    assertError(
      await admin(
        'POST',
        `/v1/service-accounts/${account.service_account_id as string}/keys/${randomUUID()}/revoke`,
      ),
      404,
      'api_key_not_found',
    );
    assertError(
      await admin('POST', `/v1/service-accounts/not-a-uuid/keys/x/revoke`),
      404,
      'service_account_not_found',
    );
  });

  test('http agents get a webhook secret once; suspended and deleted agents lose access', async () => {
    const sa = await admin('POST', '/v1/service-accounts', {
      body: {
        org_id: ORG,
        name: 'hooky',
        delivery_mode: 'http',
        callback_url: 'https://hooks.example.com/axle',
      },
      headers: { 'idempotency-key': randomUUID() },
    });
    assert.equal(sa.status, 200, sa.text);
    assert.match(sa.body.webhook_secret as string, /^whsec_[0-9a-f]{64}$/);
    const id = (sa.body.service_account as { service_account_id: string }).service_account_id;
    const key = (await admin('POST', `/v1/service-accounts/${id}/keys`, { body: {} })).body.key as {
      token: string;
    };
    const hooky = apiClient(axle.baseUrl, key.token);
    assert.equal((await hooky('GET', '/v1/agents')).status, 200);

    const suspended = await admin('PATCH', `/v1/service-accounts/${id}`, { body: { status: 'suspended' } });
    assert.equal((suspended.body.service_account as { status: string }).status, 'suspended');
    assertError(await hooky('GET', '/v1/agents'), 401, 'invalid_platform_api_key');
    await admin('PATCH', `/v1/service-accounts/${id}`, { body: { status: 'active' } });
    assert.equal((await hooky('GET', '/v1/agents')).status, 200);
    assertError(
      await admin('PATCH', `/v1/service-accounts/${id}`, { body: { status: 'gone' } }),
      422,
      'validation_error',
    );
    assertError(
      await admin('PATCH', `/v1/service-accounts/${id}`, { body: { callback_url: null } }),
      422,
      'validation_error',
    );

    const deleted = await admin('DELETE', `/v1/service-accounts/${id}`);
    assert.equal(deleted.status, 200, deleted.text);
    assertError(await hooky('GET', '/v1/agents'), 401, 'invalid_platform_api_key');
    assertError(await admin('GET', `/v1/service-accounts/${id}`), 404, 'service_account_not_found');
  });

  test('roles: an org admin manages its own org only; a member reads but does not write', async () => {
    const orgAdmin = await registerTestAgent(prisma, { org: ORG, name: 'ops-admin', role: 'admin' });
    const member = await registerTestAgent(prisma, { org: ORG, name: 'worker-1' });
    const outsider = await registerTestAgent(prisma, { org: OTHER, name: 'spy' });
    const asAdmin = apiClient(axle.baseUrl, orgAdmin.key);
    const asMember = apiClient(axle.baseUrl, member.key);
    const asOutsider = apiClient(axle.baseUrl, outsider.key);

    const created = await asAdmin('POST', '/v1/service-accounts', { body: { name: 'made-by-admin' } });
    assert.equal(created.status, 200, created.text);
    assert.equal(
      (created.body.service_account as { agent_address: string }).agent_address,
      `agent://${ORG}/default/made-by-admin`,
    );
    assertError(
      await asAdmin('POST', '/v1/service-accounts', { body: { org_id: 'default', name: 'sneaky' } }),
      404,
      'organization_not_found',
    );
    assertError(
      await asAdmin('POST', '/v1/organizations', { body: { slug: `new-${suffix}` } }),
      403,
      'insufficient_role',
    );
    const orgs = await asAdmin('GET', '/v1/organizations');
    assert.deepEqual(
      (orgs.body.organizations as { slug: string }[]).map((o) => o.slug),
      [ORG],
    );
    assertError(await asAdmin('GET', `/v1/organizations/${OTHER}`), 404, 'organization_not_found');
    assertError(await asAdmin('GET', '/v1/organizations/default'), 404, 'organization_not_found');

    assertError(
      await asMember('POST', '/v1/service-accounts', { body: { name: 'nope' } }),
      403,
      'insufficient_role',
    );
    assertError(
      await asMember('POST', `/v1/organizations/${ORG}/workspaces`, { body: { slug: 'staging' } }),
      403,
      'insufficient_role',
    );
    assertError(await asMember('GET', `/v1/organizations/${ORG}/members`), 403, 'insufficient_role');
    const agents = await asMember('GET', '/v1/agents');
    const addresses = (agents.body.agents as { address: string }[]).map((a) => a.address);
    assert.ok(addresses.includes(member.address));
    assert.ok(
      addresses.every((a) => a.startsWith(`agent://${ORG}/`)),
      addresses.join(),
    );
    assert.equal(((await asMember('GET', `/v1/agents?org_id=${OTHER}`)).body.agents as unknown[]).length, 0);
    assertError(await asMember('GET', `/v1/agents/${OTHER}/default/spy`), 404, 'agent_not_found');
    assertError(await asOutsider('GET', `/v1/agents/${ORG}/default/worker-1`), 404, 'agent_not_found');
    assertError(await asMember('GET', '/v1/agents/not-an-address'), 422, 'invalid_agent_address');
    assertError(await asMember('GET', '/v1/agents?limit=0'), 422, 'validation_error');

    // A member may list and revoke its own keys, not another agent's.
    assert.equal((await asMember('GET', `/v1/service-accounts/${member.id}/keys`)).status, 200);
    assertError(await asMember('GET', `/v1/service-accounts/${orgAdmin.id}/keys`), 403, 'insufficient_role');
    assertError(
      await asOutsider('GET', `/v1/service-accounts/${member.id}/keys`),
      404,
      'service_account_not_found',
    );

    const ws = await asAdmin('POST', `/v1/organizations/${ORG}/workspaces`, { body: { slug: 'staging' } });
    assert.equal(ws.status, 200, ws.text);
    assertError(
      await asAdmin('POST', `/v1/organizations/${ORG}/workspaces`, { body: { slug: 'staging' } }),
      409,
      'workspace_exists',
    );
    const inWs = await asAdmin('POST', '/v1/service-accounts', {
      body: { name: 'stager', workspace_id: 'staging' },
    });
    assert.equal(
      (inWs.body.service_account as { agent_address: string }).agent_address,
      `agent://${ORG}/staging/stager`,
    );
    const filtered = await asAdmin('GET', '/v1/agents?workspace_id=staging');
    assert.deepEqual(
      (filtered.body.agents as { address: string }[]).map((a) => a.address),
      [`agent://${ORG}/staging/stager`],
    );
  });

  test('members: created by an admin, validated, listed by operators', async () => {
    const created = await admin('POST', `/v1/organizations/${ORG}/members`, {
      body: { email: 'Alice@Acme.example', role: 'operator', address: `agent://${ORG}/default/alice` },
    });
    assert.equal(created.status, 200, created.text);
    const member = created.body.member as Record<string, string>;
    assert.equal(member.email, 'alice@acme.example');
    assertError(
      await admin('POST', `/v1/organizations/${ORG}/members`, { body: { email: 'alice@acme.example' } }),
      409,
      'member_exists',
    );
    assertError(
      await admin('POST', `/v1/organizations/${ORG}/members`, { body: { email: 'not-an-email' } }),
      422,
      'validation_error',
    );
    assertError(
      await admin('POST', `/v1/organizations/${ORG}/members`, { body: { email: 'b@x.io', role: 'root' } }),
      422,
      'validation_error',
    );
    assertError(
      await admin('POST', `/v1/organizations/${ORG}/members`, {
        body: { email: 'c@x.io', address: `agent://${OTHER}/default/c` },
      }),
      422,
      'invalid_agent_address',
    );
    const updated = await admin('PATCH', `/v1/organizations/${ORG}/members/${member.member_id}`, {
      body: { role: 'admin' },
    });
    assert.equal((updated.body.member as { role: string }).role, 'admin');
    assertError(
      await admin('GET', `/v1/organizations/${ORG}/members/${randomUUID()}`),
      404,
      'member_not_found',
    );
    const bob = await admin('POST', `/v1/organizations/${ORG}/members`, {
      body: { email: 'bob@acme.example' },
    });
    const bobId = (bob.body.member as { member_id: string }).member_id;
    assert.equal((await admin('DELETE', `/v1/organizations/${ORG}/members/${bobId}`)).status, 200);
    assertError(await admin('DELETE', `/v1/organizations/${ORG}/members/${bobId}`), 404, 'member_not_found');
  });

  test('user tokens: a valid HS256 token acts with its role in its org', async () => {
    const token = await hs256({ sub: 'alice', email: 'alice@acme.example', org: ORG, roles: ['operator'] });
    const members = await asUser(token, 'GET', `/v1/organizations/${ORG}/members`);
    assert.equal(members.status, 200, members.text);
    const orgs = await asUser(token, 'GET', '/v1/organizations');
    assert.deepEqual(
      (orgs.body.organizations as { slug: string }[]).map((o) => o.slug),
      [ORG],
    );
    assertError(
      await asUser(token, 'POST', `/v1/organizations/${ORG}/workspaces`, { slug: 'prod' }),
      403,
      'insufficient_role',
    );
    // The member row gives alice her address when the token names none.
    const intent = await asUser(token, 'POST', '/v1/intents', {
      intent_type: 'ops.note.v1',
      to_agent: `agent://${ORG}/default/deployer`,
      payload: {},
    });
    assert.equal(intent.status, 200, intent.text);
    const got = await asUser(token, 'GET', `/v1/intents/${intent.body.intent_id as string}`);
    assert.equal((got.body.intent as { from_agent: string }).from_agent, `agent://${ORG}/default/alice`);
    // AXME's scope instead of the audience is accepted too.
    const axme = await new SignJWT({ scope: 'axme.api', org: ORG })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('svc')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    assert.equal((await asUser(axme, 'GET', '/v1/agents')).status, 200);
  });

  test('user tokens: alg none, expired, future-dated, wrong audience, tampered, unknown org are 401', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        sub: 'mallory',
        aud: 'axle',
        org: ORG,
        roles: ['admin'],
        exp: Math.floor(Date.now() / 1000) + 300,
      }),
    ).toString('base64url');
    assertError(await asUser(`${header}.${payload}.`, 'GET', '/v1/agents'), 401, 'invalid_actor_token');

    const now = Math.floor(Date.now() / 1000);
    assertError(
      await asUser(await hs256({ org: ORG }, { exp: now - 600, iat: now - 900 }), 'GET', '/v1/agents'),
      401,
      'invalid_actor_token',
    );
    assertError(
      await asUser(await hs256({ org: ORG }, { exp: now + 7200, iat: now + 3600 }), 'GET', '/v1/agents'),
      401,
      'invalid_actor_token',
    );
    assertError(
      await asUser(await hs256({ org: ORG, aud: 'someone-else' }), 'GET', '/v1/agents'),
      401,
      'invalid_actor_token',
    );
    const good = await hs256({ org: ORG, roles: ['member'] });
    const [h, p] = good.split('.');
    const escalated = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), roles: ['admin'] }),
    ).toString('base64url');
    assertError(
      await asUser(`${h}.${escalated}.${good.split('.')[2]}`, 'GET', '/v1/agents'),
      401,
      'invalid_actor_token',
    );
    const wrongKey = await new SignJWT({ aud: 'axle', org: ORG })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    assertError(await asUser(wrongKey, 'GET', '/v1/agents'), 401, 'invalid_actor_token');
    assertError(
      await asUser(await hs256({ org: 'no-such-org-here' }), 'GET', '/v1/agents'),
      401,
      'invalid_actor_token',
    );
    assertError(await asUser(await hs256({}), 'GET', '/v1/agents'), 401, 'invalid_actor_token');
    assertError(await asUser('garbage.token.here', 'GET', '/v1/agents'), 401, 'invalid_actor_token');
    // Each failure left an audit row, and none of them holds the token.
    const rows = await prisma.client.auditEvent.findMany({
      where: { action: 'auth.authenticate', outcome: 'failure' },
      orderBy: { id: 'desc' },
      take: 9,
    });
    assert.equal(rows.length, 9);
    assert.ok(rows.every((r) => !JSON.stringify(r.details).includes(good)));
  });

  test('user tokens from a JWKS: valid, unknown key id, and an unreachable JWKS fails closed', async () => {
    const sign = (kid: string, key = rsa.privateKey) =>
      new SignJWT({ aud: 'axle', org: ORG, roles: ['admin'] })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setSubject('sso-user')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    const ok = await asUser(await sign('k1'), 'GET', `/v1/organizations/${ORG}/members`);
    assert.equal(ok.status, 200, ok.text);
    assertError(await asUser(await sign('k-unknown'), 'GET', '/v1/agents'), 401, 'invalid_actor_token');
    const other = await generateKeyPair('RS256');
    assertError(
      await asUser(await sign('k1', other.privateKey), 'GET', '/v1/agents'),
      401,
      'invalid_actor_token',
    );
    // A key id the gateway has not seen while the JWKS cannot be fetched: refused, not waved through.
    jwksUp = false;
    assertError(await asUser(await sign('k2'), 'GET', '/v1/agents'), 401, 'invalid_actor_token');
    jwksUp = true;
  });

  test('an API key plus an actor token of another org is refused', async () => {
    const member = await registerTestAgent(prisma, { org: OTHER, name: `mixer-${suffix}` });
    const token = await hs256({ org: ORG, roles: ['admin'] });
    const res = await anonymous('GET', '/v1/agents', {
      headers: { 'x-api-key': member.key, authorization: `Bearer ${token}` },
    });
    assertError(res, 403, 'invalid_actor_scope');
  });
});
