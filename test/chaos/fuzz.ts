// Scenario fuzz: fast-check generates requests across every gateway route (read from the
// controllers' Nest metadata, so new routes are covered without touching this file): malformed and
// deeply nested JSON, wrongly typed and out-of-range fields, oversized bodies and strings, unicode and
// control characters, path parameters that are no UUIDs or addresses, bad query strings, duplicate and
// odd headers, missing, invalid and other-org credentials, wrong methods. The property: an HTTP answer
// below 500 within the timeout. Afterwards every app must still run and answer /ready with 200.
// A failure prints fast-check's shrunk counterexample and the seed that reproduces it.
import { PrismaService } from '@axle/data';
import {
  gatewayRoutes,
  registerTestAgent,
  requireEnv,
  type Route,
  TEST_ADMIN_KEY,
  type TestAgent,
} from '@axle/testing';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import { type ChaosContext, appsAlive, type ScenarioResult } from './harness';
import { jsonOf, type RawRequest, type RawResponse, send } from './http';

export const FUZZ_JWT_SECRET = 'chaos-fuzz-jwt-secret-0123456789abcdef0123456789';

/** Field names the protocol's schemas use, so generated objects reach validation of real fields. */
const FIELDS = [
  'intent_type',
  'to_agent',
  'from_agent',
  'reply_to',
  'payload',
  'correlation_id',
  'deadline_at',
  'remind_after_seconds',
  'remind_interval_seconds',
  'max_reminders',
  'escalate_to',
  'human_task',
  'max_delivery_attempts',
  'action',
  'result',
  'error',
  'status',
  'reason',
  'to_agent',
  'controls_patch',
  'grants_patch',
  'expected_policy_generation',
  'older_than_hours',
  'callback_url',
  'event_types',
  'event_type',
  'source',
  'name',
  'slug',
  'display_name',
  'role',
  'email',
  'description',
  'delivery_mode',
  'webhook_secret',
  'scopes',
  'expires_at',
  'address',
  'public_key',
  'key_id',
  'entries',
  'mode',
  'kind',
  'pattern',
  'decision',
  'comment',
  'message',
  'body',
  'text',
  'content',
  'participants',
  'metadata',
  'capabilities',
  'command',
  'argv',
  'code',
  'language',
  'timeout_ms',
  'limits',
  'fs_read',
  'fs_write',
  'net',
  'tier',
  'url',
  'headers',
  'intent',
  'agents',
  'scenario_id',
  'workflow',
  'steps',
  'values',
  'form_schema',
  'title',
  'assignee',
  'intents_per_day',
  'dimension',
  'limit',
  'scope',
  'scope_id',
  'jsonrpc',
  'id',
  'method',
  'params',
  'session_id',
  'cap_token',
  'job_id',
  'cursor',
  'since',
  'thread_id',
  'message_ids',
  'owner_agent',
  'org',
  'workspace',
  'workspace_id',
  'org_id',
  'member_id',
  'user_id',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
];

/** Query parameters the routes read. */
const QUERY_KEYS = [
  'limit',
  'cursor',
  'since',
  'after',
  'before',
  'wait_seconds',
  'status',
  'to_agent',
  'from_agent',
  'owner_agent',
  'intent_type',
  'correlation_id',
  'older_than_hours',
  'page',
  'page_size',
  'event_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'org',
  'workspace',
  'scope',
  'role',
  'q',
  'kind',
  'last_event_id',
  'include',
  'from',
  'to',
  'order',
  'include_terminal',
  '__proto__',
];

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\u0000\u0001\u001f',
  '\t\n\r',
  '\u202e\u200b\ufeff',
  '\ud800',
  '\udfff',
  '💥🔥',
  'null',
  'undefined',
  'NaN',
  '-1',
  '0',
  '1e309',
  '-1e309',
  '9007199254740993',
  '0x10',
  '1.5',
  'true',
  '[]',
  '{}',
  '%',
  '%zz',
  '%00',
  '%2F',
  '..',
  '../../etc/passwd',
  '/',
  '//',
  '\\',
  "'; DROP TABLE intents; --",
  '<script>alert(1)</script>',
  '${7*7}',
  '{{7*7}}',
  'agent://',
  'agent://a/b',
  'agent://a/b/c/d',
  'agent://DEFAULT/DEFAULT/ADMIN',
  'agent://default/default/admin',
  'http://127.0.0.1:1/',
  'file:///etc/passwd',
  'javascript:alert(1)',
  '2026-13-45T99:99:99Z',
  '1970-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'COMPLETED',
  'complete',
  'admin',
  'operator',
  'member',
  'platform_admin',
  'ops.deploy.v1',
  'a'.repeat(256),
  'é'.repeat(300),
];

const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  -0.5,
  2 ** 31,
  -(2 ** 31),
  2 ** 53 + 1,
  -(2 ** 53) - 1,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  1e308,
  -1e308,
  3600 * 24 * 365 * 100,
];

type Creds = {
  admin: string;
  owner: TestAgent;
  member: TestAgent;
  outsider: TestAgent;
  userJwt: string;
  otherOrgJwt: string;
  forgedJwt: string;
  noneJwt: string;
};

type Fixtures = { creds: Creds; intentId: string; target: TestAgent; orgId: string; orgSlug: string };

const CRED_KINDS = [
  'admin',
  'owner',
  'member',
  'outsider',
  'user-jwt',
  'other-org-jwt',
  'forged-jwt',
  'alg-none-jwt',
  'invalid-key',
  'garbage-key',
  'bearer-garbage',
  'basic-auth',
  'key-and-bearer',
  'two-keys',
  'none',
] as const;
type CredKind = (typeof CRED_KINDS)[number];

function credentialHeaders(kind: CredKind, c: Creds): [string, string][] {
  switch (kind) {
    case 'admin':
      return [['x-api-key', c.admin]];
    case 'owner':
      return [['x-api-key', c.owner.key]];
    case 'member':
      return [['authorization', `Bearer ${c.member.key}`]];
    case 'outsider':
      return [['x-api-key', c.outsider.key]];
    case 'user-jwt':
      return [['authorization', `Bearer ${c.userJwt}`]];
    case 'other-org-jwt':
      return [['authorization', `Bearer ${c.otherOrgJwt}`]];
    case 'forged-jwt':
      return [['authorization', `Bearer ${c.forgedJwt}`]];
    case 'alg-none-jwt':
      return [['authorization', `Bearer ${c.noneJwt}`]];
    case 'invalid-key':
      return [['x-api-key', `axme_sa_${randomUUID()}_${'cd'.repeat(32)}`]];
    case 'garbage-key':
      return [['x-api-key', 'axme_sa_not-a-uuid_x']];
    case 'bearer-garbage':
      return [['authorization', 'Bearer a.b.c']];
    case 'basic-auth':
      return [['authorization', 'Basic YWRtaW46YWRtaW4=']];
    case 'key-and-bearer':
      return [
        ['x-api-key', c.member.key],
        ['authorization', `Bearer ${c.admin}`],
      ];
    case 'two-keys':
      return [
        ['x-api-key', c.member.key],
        ['x-api-key', c.outsider.key],
      ];
    case 'none':
      return [];
  }
}

/**
 * Percent-encodes a string's UTF-8 bytes (lone surrogates become U+FFFD, where encodeURIComponent
 * would throw), leaving unreserved characters as they are.
 */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8'))
    out += /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
      ? String.fromCharCode(b)
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** A value for one path parameter: real ids sometimes, mostly things that are not ids at all. */
function paramArb(f: Fixtures): fc.Arbitrary<string> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(f.intentId, f.target.id, f.orgId, f.orgSlug, 'default', 'target'),
    },
    { weight: 2, arbitrary: fc.uuid().map(String) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS).map(pct) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('%', '%zz', '%00', '%2F', '..', '%2e%2e', ';', '*', '~', '%E0%A4%A'),
    },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map(pct) },
    { weight: 1, arbitrary: fc.integer({ min: 200, max: 8_000 }).map((n) => 'x'.repeat(n)) },
  );
}

/** A JSON-ish value with nasty leaves. */
const nastyValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...NASTY_STRINGS),
    fc.constantFrom(...NASTY_NUMBERS),
    fc.constantFrom(null, true, false),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.double(),
    fc.integer(),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom(...FIELDS), tie('v'), { maxKeys: 4 }),
  ),
})).v;

/** A request body: structured objects with real field names, raw malformed text, or sheer size. */
function bodyArb(f: Fixtures): fc.Arbitrary<{ text: string | undefined; label: string }> {
  const obj = fc.dictionary(fc.constantFrom(...FIELDS), nastyValue, { maxKeys: 8 });
  // A plausible intent (fields right, values perhaps not), so deep validation paths run.
  const intentish = fc
    .record({
      intent_type: fc.oneof(fc.constant('chaos.fuzz.v1'), fc.constantFrom(...NASTY_STRINGS)),
      to_agent: fc.oneof(fc.constant(f.target.address), fc.constantFrom(...NASTY_STRINGS)),
      payload: fc.oneof(fc.constant({}), nastyValue),
      deadline_at: fc.option(fc.constantFrom(...NASTY_STRINGS, new Date(Date.now() + 60_000).toISOString())),
      remind_after_seconds: fc.option(fc.constantFrom(...NASTY_NUMBERS)),
      human_task: fc.option(nastyValue),
    })
    .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)));
  return fc.oneof(
    { weight: 4, arbitrary: obj.map((o) => ({ text: JSON.stringify(o), label: 'object' })) },
    { weight: 2, arbitrary: intentish.map((o) => ({ text: JSON.stringify(o), label: 'intent-ish' })) },
    { weight: 1, arbitrary: nastyValue.map((v) => ({ text: JSON.stringify(v) ?? 'null', label: 'value' })) },
    { weight: 1, arbitrary: fc.constant({ text: undefined, label: 'none' }) },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          '',
          '{',
          '}',
          '{"a":',
          '{"a":1,}',
          "{'a':1}",
          'nul',
          '[1,2',
          '{"a":1}garbage',
          '\ufeff{}',
          '\u0000',
          '{"__proto__":{"polluted":true}}',
          '{"constructor":{"prototype":{"polluted":true}}}',
          '{"a":"\\ud800"}',
          '{"a":1e99999}',
          '"just a string"',
          '123',
          'true',
          'null',
          '[]',
          '{"payload":{"a":1},"payload":{"b":2}}',
          '{"a":"\\u0000"}',
        )
        .map((text) => ({ text, label: 'malformed' })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100, max: 20_000 }).map((depth) => ({
        text: `${'['.repeat(depth)}${']'.repeat(depth)}`,
        label: `nested-array-${depth}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100, max: 5_000 }).map((depth) => ({
        text: `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
        label: `nested-object-${depth}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(140 * 1024, 900 * 1024, 1100 * 1024, 3 * 1024 * 1024).map((size) => ({
        text: JSON.stringify({
          intent_type: 'chaos.big.v1',
          to_agent: f.target.address,
          payload: { blob: 'x'.repeat(size) },
        }),
        label: `oversized-${size}`,
      })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1_000, max: 50_000 }).map((n) => ({
        text: JSON.stringify({ items: Array.from({ length: n }, (_, i) => i) }),
        label: `wide-array-${n}`,
      })),
    },
  );
}

const queryArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  {
    weight: 4,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.constantFrom(...QUERY_KEYS),
          fc.oneof(
            fc.constantFrom(...NASTY_STRINGS),
            fc.constantFrom(...NASTY_NUMBERS).map(String),
            fc.string({ maxLength: 20 }),
          ),
        ),
        { minLength: 1, maxLength: 5 },
      )
      .map((pairs) => `?${pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '?',
      '?&&&',
      '?a',
      '?=x',
      '?limit=1&limit=2',
      '?limit[]=1',
      '?limit[a]=1',
      '?%',
      '?a=%zz',
      '?since=-1',
      '?wait_seconds=99999999',
      '?wait_seconds=-5',
      '?limit=1e309',
      `?cursor=${'x'.repeat(5000)}`,
      '?__proto__[x]=1',
      '?constructor[prototype][x]=1',
      '?status=COMPLETED&status=FAILED',
    ),
  },
);

/** Header values node:http will send (it refuses control characters and code points above 0xff). */
const headerValue = fc
  .oneof(
    fc.constantFrom(...NASTY_STRINGS),
    fc.string({ maxLength: 80 }),
    fc.integer({ min: 256, max: 9_000 }).map((n) => 'k'.repeat(n)),
  )
  .map((s) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?'));

const ODD_HEADERS = [
  'idempotency-key',
  'x-trace-id',
  'x-request-id',
  'last-event-id',
  'accept',
  'accept-encoding',
  'content-type',
  'x-axle-signature',
  'x-axp-cap-token',
  'x-forwarded-for',
  'x-forwarded-proto',
  'origin',
  'if-none-match',
  'range',
  'expect',
  'transfer-encoding-x',
  'traceparent',
  'tracestate',
];

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/xml',
  'application/octet-stream',
  '',
  'application/json, text/plain',
  'APPLICATION/JSON',
];

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'];

/** The path of a route with its parameters replaced (Fastify's `::` is a literal colon). */
function fillPath(template: string, params: string[]): string {
  let i = 0;
  return template.replace(/::|:([A-Za-z][A-Za-z0-9_]*)/g, (m) =>
    m === '::' ? ':' : (params[i++ % params.length] ?? 'x'),
  );
}

type FuzzCase = {
  route: Route;
  method: string;
  path: string;
  cred: CredKind;
  headers: [string, string][];
  body: { text: string | undefined; label: string };
};

/**
 * A value one time in `n`, else null. (`fc.option`'s `freq` is the other way round: null one time in
 * `freq + 1`. Used here before, it sent ~90 % of requests to a wrong method or path suffix, so 73 % of
 * them ended at routing with 404.)
 */
function rarely<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}

/** The credentials that authenticate weigh twice as much, so more requests reach the handlers. */
const AUTHENTIC: readonly CredKind[] = ['admin', 'owner', 'member', 'user-jwt'];
const credentialArb = fc.oneof(
  ...CRED_KINDS.map((kind) => ({ weight: AUTHENTIC.includes(kind) ? 2 : 1, arbitrary: fc.constant(kind) })),
);

function caseArb(routes: Route[], f: Fixtures): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      route: fc.constantFrom(...routes),
      otherMethod: rarely(fc.constantFrom(...METHODS), 8),
      params: fc.array(paramArb(f), { minLength: 4, maxLength: 4 }),
      query: queryArb,
      extraPath: rarely(fc.constantFrom('/', '/x', '/..', '//', '.json', '%2F..'), 12),
      cred: credentialArb,
      contentType: fc.constantFrom(...CONTENT_TYPES),
      odd: fc.array(fc.tuple(fc.constantFrom(...ODD_HEADERS), headerValue), { maxLength: 3 }),
      body: bodyArb(f),
    })
    .map((r) => {
      const method = r.otherMethod ?? r.route.method;
      const headers: [string, string][] = [...credentialHeaders(r.cred, f.creds)];
      if (r.body.text !== undefined && r.contentType) headers.push(['content-type', r.contentType]);
      // Headers past the server's limit get Node's bare 431 with a body, which an HTTP client
      // cannot parse as the answer to a HEAD: oversized headers are sent with other methods only.
      headers.push(
        ...(method === 'HEAD' ? r.odd.map(([k, v]): [string, string] => [k, v.slice(0, 200)]) : r.odd),
      );
      return {
        route: r.route,
        method,
        path: `${fillPath(r.route.path, r.params)}${r.extraPath ?? ''}${r.query}`,
        cred: r.cred,
        headers,
        // GET/HEAD with a body is legal on the wire and odd: keep it sometimes, as generated.
        body: r.body,
      };
    });
}

function describeCase(c: FuzzCase): string {
  const body =
    c.body.text === undefined
      ? '(no body)'
      : c.body.text.length > 300
        ? `${c.body.text.slice(0, 300)}… (${c.body.text.length} bytes, ${c.body.label})`
        : c.body.text;
  return `${c.method} ${c.path.length > 300 ? `${c.path.slice(0, 300)}…` : c.path}\n  route: ${c.route.method} ${c.route.path}, credential: ${c.cred}\n  headers: ${JSON.stringify(c.headers.map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v]))}\n  body: ${body}`;
}

async function fixtures(): Promise<Fixtures> {
  const prisma = new PrismaService(requireEnv('DATABASE_URL'));
  try {
    const sfx = randomUUID().slice(0, 8);
    const orgSlug = `chaos-fuzz-${sfx}`;
    const owner = await registerTestAgent(prisma, { org: orgSlug, name: 'owner', role: 'admin' });
    const member = await registerTestAgent(prisma, { org: orgSlug, name: 'member' });
    const target = await registerTestAgent(prisma, { org: orgSlug, name: 'target' });
    const outsider = await registerTestAgent(prisma, {
      org: `chaos-other-${sfx}`,
      name: 'outsider',
      role: 'admin',
    });
    const orgId = (await prisma.client.organization.findFirstOrThrow({ where: { slug: orgSlug } })).id;
    const secret = new TextEncoder().encode(FUZZ_JWT_SECRET);
    const jwt = (org: string, key = secret) =>
      new SignJWT({ aud: 'axle', org, roles: ['admin'], email: 'fuzz@chaos.example' })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('fuzz')
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(key);
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    return {
      creds: {
        admin: TEST_ADMIN_KEY,
        owner,
        member,
        outsider,
        userJwt: await jwt(orgSlug),
        otherOrgJwt: await jwt(`chaos-other-${sfx}`),
        forgedJwt: await jwt(orgSlug, new TextEncoder().encode('not-the-secret-0123456789abcdef0123')),
        noneJwt: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: 'axle', sub: 'x', org: orgSlug, roles: ['admin'], exp: 9_999_999_999 })}.`,
      },
      intentId: '',
      target,
      orgId,
      orgSlug,
    };
  } finally {
    await prisma.onModuleDestroy();
  }
}

/** A JSON-RPC 2.0 response or batch of responses (the `/axp` facade answers in that shape). */
function isJsonRpcAnswer(body: unknown): boolean {
  const isResponse = (r: unknown) => (r as { jsonrpc?: unknown } | null)?.jsonrpc === '2.0';
  return Array.isArray(body) ? body.length > 0 && body.every(isResponse) : isResponse(body);
}

/** The gateway's default body limit (AXLE_MAX_BODY_BYTES). */
const BODY_LIMIT = 1024 * 1024;

/**
 * What makes a run fail: a 5xx or no answer (reset, timeout). One exception: an upload past the
 * body limit, which the gateway answers with 413 and a close while the client still writes; the
 * client then often sees EPIPE/ECONNRESET instead of the 413 (a race of TCP, as in
 * test/e2e/edges.e2e.spec.ts). Counted apart; the apps' liveness is checked at the end.
 */
function verdict(res: RawResponse, c: FuzzCase): string | null {
  if (
    res.kind === 'error' &&
    /^(EPIPE|ECONNRESET)$/.test(res.error) &&
    Buffer.byteLength(c.body.text ?? '') > BODY_LIMIT
  )
    return null;
  if (res.kind === 'error') return `no HTTP answer: ${res.error}`;
  if (res.status >= 500) return `HTTP ${res.status}: ${res.text.slice(0, 500)}`;
  return null;
}

export async function fuzz(ctx: ChaosContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const routes = await gatewayRoutes();
  const f = await fixtures();
  // A real intent, so parameterised intent routes sometimes reach an existing object.
  const created = await send(ctx.baseUrl, {
    method: 'POST',
    path: '/v1/intents',
    headers: [
      ['x-api-key', f.creds.member.key],
      ['content-type', 'application/json'],
    ],
    body: JSON.stringify({ intent_type: 'chaos.fuzz.v1', to_agent: f.target.address, payload: {} }),
  });
  f.intentId =
    created.kind === 'response'
      ? String((jsonOf(created.text) as { intent_id?: string } | undefined)?.intent_id)
      : randomUUID();

  const statuses = new Map<number | string, number>();
  const perRoute = new Set<string>();
  const shapeProblems: string[] = [];
  let shapeProblemCount = 0;
  let sent = 0;
  const seen = new Set<string>();
  const property = fc.asyncProperty(caseArb(routes, f), async (c) => {
    const req: RawRequest = {
      method: c.method,
      path: c.path,
      headers: c.headers,
      ...(c.body.text !== undefined ? { body: c.body.text } : {}),
    };
    const res = await send(ctx.baseUrl, req, 20_000, { fresh: true });
    sent++;
    if (process.env.AXLE_CHAOS_VERBOSE)
      ctx.log(
        `${c.method} ${c.path.slice(0, 120)} [${c.cred}] → ${res.kind === 'response' ? `${res.status} ${res.text.slice(0, 160)}` : res.error}`,
      );
    if (sent % 1000 === 0) ctx.log(`fuzz: ${sent} requests`);
    const key = res.kind === 'response' ? res.status : res.error;
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
    perRoute.add(`${c.route.method} ${c.route.path}`);
    // SPEC: every JSON answer is an object with `ok`, except the JSON-RPC facades' answers (their
    // protocol's own shape). Reported, not a property failure.
    if (
      res.kind === 'response' &&
      String(res.headers['content-type'] ?? '').includes('application/json') &&
      c.method !== 'HEAD'
    ) {
      const body = jsonOf(res.text) as { ok?: unknown } | undefined;
      if (typeof body?.ok !== 'boolean' && !isJsonRpcAnswer(body)) {
        shapeProblemCount++;
        const sig = `${c.route.method} ${c.route.path} ${res.status}`;
        if (!seen.has(sig) && shapeProblems.length < 10) {
          seen.add(sig);
          shapeProblems.push(`JSON answer without \`ok\`: ${sig}: ${res.text.slice(0, 200)}`);
        }
      }
    }
    const problem = verdict(res, c);
    if (problem) throw new Error(`${problem}\n${describeCase(c)}`);
  });
  ctx.log(`fuzz: ${ctx.args.fuzzRuns} requests over ${routes.length} routes, seed ${ctx.args.seed}`);
  const result = await fc.check(property, {
    seed: ctx.args.seed,
    numRuns: ctx.args.fuzzRuns,
    endOnFailure: false,
    maxSkipsPerRun: 0,
  });
  const findings: string[] = [];
  if (result.failed) {
    const error =
      result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    const report = `after ${result.numRuns} runs, shrunk ${result.numShrinks} times (seed ${result.seed}, path ${result.counterexamplePath ?? '-'}):\n${error}`;
    findings.push(
      `property failed (reproduce: \`npm run chaos -- fuzz --seed ${ctx.args.seed}\`) ${report.slice(0, 4000)}`,
    );
    ctx.log(`fuzz FAILED:\n${report}`);
  }
  const alive = await appsAlive(ctx);
  findings.push(...alive);
  const count = (pred: (s: number | string) => boolean) =>
    [...statuses].filter(([s]) => pred(s)).reduce((n, [, c]) => n + c, 0);
  const fivexx = count((s) => typeof s === 'number' && s >= 500);
  const noAnswer = count((s) => typeof s !== 'number');
  const counts: ScenarioResult['counts'] = [
    ['seed', ctx.args.seed],
    ['requests sent (incl. shrinking)', sent],
    ['routes in the gateway (from Nest metadata)', routes.length],
    ['routes hit', perRoute.size],
    [
      'answers by status',
      [...statuses]
        .sort(([a], [b]) => String(a).localeCompare(String(b)))
        .map(([s, n]) => `${s}×${n}`)
        .join(', '),
    ],
    ['5xx answers', fivexx],
    [
      'no HTTP answer (EPIPE/ECONNRESET: uploads past the 1 MiB body limit, answered 413 and closed)',
      noAnswer,
    ],
    ['JSON answers without `ok`', shapeProblemCount],
    ['apps alive and /ready 200 afterwards', alive.length === 0 ? 'yes' : 'no'],
  ];
  return {
    name: 'fuzz',
    passed: !result.failed && alive.length === 0,
    what: `fast-check (seed ${ctx.args.seed}) generated ${ctx.args.fuzzRuns} requests over every route read from the gateway's controllers (${routes.length}), with 15 credential kinds (admin, org admin, member, other org, user JWT, other-org JWT, forged and alg-none JWTs, invalid and garbage keys, duplicate credentials, none), wrong methods, non-UUID and oversized path parameters, malformed/deep/oversized/wrongly-typed bodies, odd content types, bad query strings and odd headers. Pass: no 5xx, an answer to every request, every app alive with /ready 200 at the end.`,
    counts,
    findings: [...findings, ...shapeProblems],
    seconds: (Date.now() - t0) / 1000,
  };
}
