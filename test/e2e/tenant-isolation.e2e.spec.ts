// The tenant-isolation matrix (issue #4): for every route of the gateway, callers of another org
// (a member key, an org-admin key and an admin user token) aimed at a victim org's objects get
// 403/404 and learn nothing: the answer for a real victim id is the answer for an id that does not
// exist, lists and filters return none of the victim's objects, and no row of the victim's changes.
// A route without a case here fails the coverage test, so new routes cannot skip the matrix.
import { PrismaService } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  generateSigningKey,
  registerTestAgent,
  requireEnv,
  type TestAgent,
  gatewayRouteKeys,
} from '@axle/testing';
import { SignJWT } from 'jose';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';

const JWT_SECRET = 'isolation-e2e-secret-0123456789abcdef01234567';
const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const db = new pg.Client({ connectionString: requireEnv('DATABASE_URL') });
const sfx = randomUUID().slice(0, 8);
const VICTIM = `victim-${sfx}`;
const ATTACKER = `attacker-${sfx}`;

/** Tables whose victim rows must not change (audit rows are the attacker's own denials). */
const VICTIM_TABLES = [
  'organizations',
  'workspaces',
  'org_members',
  'service_accounts',
  'api_keys',
  'intents',
  'intent_events',
  'agent_stream_entries',
  'inbox_threads',
  'inbox_messages',
  'inbox_timeline_events',
  'webhook_subscriptions',
  'webhook_events',
  'webhook_deliveries',
  'idempotency_records',
  'policy_entries',
  'mesh_events',
  'quotas',
  'sessions',
  'session_events',
  'human_tasks',
  'magic_links',
  'exec_sessions',
  'exec_tokens',
  'exec_jobs',
  'mcp_servers',
];

type Victim = {
  orgId: string;
  workspaceId: string;
  sender: TestAgent;
  handler: TestAgent;
  openIntent: string;
  doneIntent: string;
  threadId: string;
  subscriptionId: string;
  eventId: string;
  keyId: string;
  memberId: string;
  quotaId: string;
  sessionId: string;
  /** An exec session of the victim's sender, its capability token and a job (pending: no runner runs). */
  exec: { sessionId: string; token: string; jobId: string };
  /** An MCP server registered by the victim's admin. */
  mcpServerId: string;
  /** Entry ids of the victim's org receive policy, its handler's receive override and send policy. */
  entries: Record<'org' | 'receive-override' | 'policy', string>;
  /** When the victim's setup ended: audit rows after it are the attackers' own requests. */
  setupDoneAt: string;
};

/**
 * One route, aimed at the victim. `path` builds the victim request and, with `probe`, the same
 * request for objects that do not exist; both must get the same answer. `list` routes must answer
 * without any victim object.
 */
type Case = {
  route: string;
  path: (v: Victim) => string;
  probe?: (v: Victim) => string;
  body?: (v: Victim) => unknown;
  /** `rpc-same-as-missing`: the same request about objects that do not exist. */
  probeBody?: (v: Victim) => unknown;
  /**
   * `rpc-same-as-missing`: a JSON-RPC route answering HTTP 200 with UNAUTHORIZED (-32004) in every
   * response of the body, exactly as for `probeBody`.
   */
  expect: 'same-as-missing' | 'denied' | 'list' | 'rpc-same-as-missing';
};

/** A batch of every AXP method but session.open, aimed at one exec session (the victim's or none). */
const axpBatch = (sessionId: string, token: string, jobId: string) =>
  [
    ['axp.index', {}],
    ['axp.describe', { name: 'run_command' }],
    ['job.start', { command: ['true'] }],
    ['job.status', { job_id: jobId }],
    ['job.cancel', { job_id: jobId }],
    ['session.close', {}],
  ].map(([method, params], i) => ({
    jsonrpc: '2.0',
    id: i + 1,
    method,
    params: { session_id: sessionId, cap_token: token, ...(params as object) },
  }));

const missingAddress = () => `agent://${VICTIM}/default/nobody-${randomUUID().slice(0, 6)}`;
const enc = encodeURIComponent;

const scenarioProbe = (v: Victim) => ({
  scenario_id: 'probe.scenario',
  agents: [{ role: 'worker', address: v.handler.address, create_if_missing: true }],
  intent: { type: 'ops.probe.v1' },
});

const CASES: Case[] = [
  // Intents
  {
    route: 'POST /v1/intents',
    path: () => '/v1/intents',
    body: (v) => ({ intent_type: 'ops.probe.v1', to_agent: v.handler.address, payload: {} }),
    expect: 'denied',
  },
  {
    route: 'GET /v1/intents',
    path: (v) => `/v1/intents?to_agent=${enc(v.handler.address)}&from_agent=${enc(v.sender.address)}`,
    expect: 'list',
  },
  {
    route: 'POST /v1/intents/bulk-cancel',
    path: () => '/v1/intents/bulk-cancel',
    body: () => ({ older_than_hours: 0 }),
    expect: 'list',
  },
  {
    route: 'GET /v1/intents/:id',
    path: (v) => `/v1/intents/${v.openIntent}`,
    probe: () => `/v1/intents/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/intents/:id/events',
    path: (v) => `/v1/intents/${v.openIntent}/events`,
    probe: () => `/v1/intents/${randomUUID()}/events`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/intents/:id/events/stream',
    path: (v) => `/v1/intents/${v.openIntent}/events/stream?wait_seconds=1`,
    probe: () => `/v1/intents/${randomUUID()}/events/stream?wait_seconds=1`,
    expect: 'same-as-missing',
  },
  ...(['resume', 'resolve', 'transfer', 'controls', 'policy'] as const).map<Case>((action) => ({
    route: `POST /v1/intents/:id/${action}`,
    path: (v) => `/v1/intents/${v.openIntent}/${action}`,
    probe: () => `/v1/intents/${randomUUID()}/${action}`,
    body: (v) =>
      ({
        resume: { action: 'complete', result: {} },
        resolve: { status: 'CANCELED', reason: 'attack' },
        transfer: { to_agent: v.sender.address },
        controls: { controls_patch: { max_reminders: 1 }, expected_policy_generation: 0 },
        policy: { grants_patch: {}, expected_policy_generation: 0 },
      })[action],
    expect: 'same-as-missing',
  })),
  { route: 'GET /v1/capabilities', path: () => '/v1/capabilities', expect: 'list' },
  {
    route: 'GET /v1/agents/:org/:ws/:name/intents/stream',
    path: (v) => `/v1/agents/${v.handler.address.slice(8)}/intents/stream?wait_seconds=1`,
    probe: () => `/v1/agents/${missingAddress().slice(8)}/intents/stream?wait_seconds=1`,
    expect: 'same-as-missing',
  },
  // Webhooks
  {
    route: 'POST /v1/webhooks/subscriptions',
    path: (v) => `/v1/webhooks/subscriptions?owner_agent=${enc(v.sender.address)}`,
    probe: () => `/v1/webhooks/subscriptions?owner_agent=${enc(missingAddress())}`,
    body: () => ({ callback_url: 'https://attacker.example.com/h', event_types: ['inbox.thread_created'] }),
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/webhooks/subscriptions',
    path: (v) => `/v1/webhooks/subscriptions?owner_agent=${enc(v.sender.address)}`,
    probe: () => `/v1/webhooks/subscriptions?owner_agent=${enc(missingAddress())}`,
    expect: 'same-as-missing',
  },
  {
    route: 'DELETE /v1/webhooks/subscriptions/:id',
    path: (v) => `/v1/webhooks/subscriptions/${v.subscriptionId}`,
    probe: () => `/v1/webhooks/subscriptions/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/webhooks/events',
    path: (v) => `/v1/webhooks/events?owner_agent=${enc(v.sender.address)}`,
    probe: () => `/v1/webhooks/events?owner_agent=${enc(missingAddress())}`,
    body: () => ({ event_type: 'inbox.thread_created', source: 'attacker', payload: {} }),
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/webhooks/events/:id',
    path: (v) => `/v1/webhooks/events/${v.eventId}`,
    probe: () => `/v1/webhooks/events/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/webhooks/events/:id/replay',
    path: (v) => `/v1/webhooks/events/${v.eventId}/replay`,
    probe: () => `/v1/webhooks/events/${randomUUID()}/replay`,
    expect: 'same-as-missing',
  },
  // Inbox and approvals
  {
    route: 'GET /v1/inbox',
    path: (v) => `/v1/inbox?owner_agent=${enc(v.sender.address)}`,
    probe: () => `/v1/inbox?owner_agent=${enc(missingAddress())}`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/inbox/changes',
    path: (v) => `/v1/inbox/changes?owner_agent=${enc(v.sender.address)}`,
    probe: () => `/v1/inbox/changes?owner_agent=${enc(missingAddress())}`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/inbox/:id',
    path: (v) => `/v1/inbox/${v.threadId}`,
    probe: () => `/v1/inbox/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  ...(['read', 'reply', 'delegate', 'approve', 'reject', 'messages/delete'] as const).map<Case>((action) => ({
    route: `POST /v1/inbox/:id/${action}`,
    path: (v) => `/v1/inbox/${v.threadId}/${action}`,
    probe: () => `/v1/inbox/${randomUUID()}/${action}`,
    body: (v) =>
      ({
        read: {},
        reply: { message: 'pwned' },
        delegate: { delegate_to: v.handler.address },
        approve: {},
        reject: {},
        'messages/delete': { mode: 'both' },
      })[action],
    expect: 'same-as-missing',
  })),
  {
    route: 'POST /v1/approvals/:id/decision',
    path: (v) => `/v1/approvals/${v.threadId}/decision`,
    probe: () => `/v1/approvals/${randomUUID()}/decision`,
    body: () => ({ decision: 'approve' }),
    expect: 'same-as-missing',
  },
  // Human tasks: the victim's task is assigned to the attacker's own email, yet stays invisible; the
  // public magic-link pages answer a random token as they answer any unknown one.
  { route: 'GET /v1/me/tasks', path: () => '/v1/me/tasks?status=all&limit=200', expect: 'list' },
  ...(['GET', 'POST'] as const).map<Case>((method) => ({
    route: `${method} /h/:token`,
    path: () => `/h/${randomBytes(32).toString('base64url')}`,
    probe: () => `/h/${randomBytes(32).toString('base64url')}`,
    ...(method === 'POST' ? { body: () => ({ outcome: 'approved', comment: 'pwned' }) } : {}),
    expect: 'same-as-missing',
  })),
  // Registry
  {
    route: 'POST /v1/organizations',
    path: () => '/v1/organizations',
    body: () => ({ slug: VICTIM }),
    expect: 'denied',
  },
  { route: 'GET /v1/organizations', path: () => '/v1/organizations', expect: 'list' },
  {
    route: 'GET /v1/organizations/:orgId',
    path: (v) => `/v1/organizations/${v.orgId}`,
    probe: () => `/v1/organizations/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  {
    route: 'PATCH /v1/organizations/:orgId',
    path: () => `/v1/organizations/${VICTIM}`,
    probe: () => `/v1/organizations/nope-${sfx}`,
    body: () => ({ name: 'pwned' }),
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/organizations/:orgId/workspaces',
    path: (v) => `/v1/organizations/${v.orgId}/workspaces`,
    probe: () => `/v1/organizations/${randomUUID()}/workspaces`,
    body: () => ({ slug: 'evil' }),
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/organizations/:orgId/workspaces',
    path: () => `/v1/organizations/${VICTIM}/workspaces`,
    probe: () => `/v1/organizations/nope-${sfx}/workspaces`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/organizations/:orgId/workspaces/:workspaceId',
    path: (v) => `/v1/organizations/${v.orgId}/workspaces/${v.workspaceId}`,
    probe: () => `/v1/organizations/${randomUUID()}/workspaces/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/organizations/:orgId/members',
    path: (v) => `/v1/organizations/${v.orgId}/members`,
    probe: () => `/v1/organizations/${randomUUID()}/members`,
    body: () => ({ email: 'evil@attacker.example', role: 'admin' }),
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/organizations/:orgId/members',
    path: (v) => `/v1/organizations/${v.orgId}/members`,
    probe: () => `/v1/organizations/${randomUUID()}/members`,
    expect: 'same-as-missing',
  },
  ...(['GET', 'PATCH', 'DELETE'] as const).map<Case>((method) => ({
    route: `${method} /v1/organizations/:orgId/members/:memberId`,
    path: (v) => `/v1/organizations/${v.orgId}/members/${v.memberId}`,
    probe: () => `/v1/organizations/${randomUUID()}/members/${randomUUID()}`,
    ...(method === 'PATCH' ? { body: () => ({ role: 'admin' }) } : {}),
    expect: 'same-as-missing',
  })),
  {
    route: 'POST /v1/service-accounts',
    path: () => '/v1/service-accounts',
    probe: () => '/v1/service-accounts',
    body: (v) => ({ org_id: v.orgId, name: 'implant' }),
    expect: 'denied',
  },
  {
    route: 'GET /v1/service-accounts',
    path: (v) => `/v1/service-accounts?org_id=${v.orgId}`,
    expect: 'list',
  },
  ...(['GET', 'PATCH', 'DELETE'] as const).map<Case>((method) => ({
    route: `${method} /v1/service-accounts/:id`,
    path: (v) => `/v1/service-accounts/${v.sender.id}`,
    probe: () => `/v1/service-accounts/${randomUUID()}`,
    ...(method === 'PATCH' ? { body: () => ({ status: 'suspended' }) } : {}),
    expect: 'same-as-missing',
  })),
  {
    route: 'POST /v1/service-accounts/:id/webhook-secret/rotate',
    path: (v) => `/v1/service-accounts/${v.sender.id}/webhook-secret/rotate`,
    probe: () => `/v1/service-accounts/${randomUUID()}/webhook-secret/rotate`,
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/service-accounts/:id/keys',
    path: (v) => `/v1/service-accounts/${v.sender.id}/keys`,
    probe: () => `/v1/service-accounts/${randomUUID()}/keys`,
    body: () => ({ name: 'backdoor' }),
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/service-accounts/:id/keys',
    path: (v) => `/v1/service-accounts/${v.sender.id}/keys`,
    probe: () => `/v1/service-accounts/${randomUUID()}/keys`,
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/service-accounts/:id/keys/:keyId/revoke',
    path: (v) => `/v1/service-accounts/${v.sender.id}/keys/${v.keyId}/revoke`,
    probe: () => `/v1/service-accounts/${randomUUID()}/keys/${randomUUID()}/revoke`,
    expect: 'same-as-missing',
  },
  { route: 'GET /v1/agents', path: (v) => `/v1/agents?org_id=${v.orgId}`, expect: 'list' },
  {
    route: 'GET /v1/agents/:org/:ws/:name',
    path: (v) => `/v1/agents/${v.sender.address.slice(8)}`,
    probe: () => `/v1/agents/${missingAddress().slice(8)}`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/agents/:address',
    path: (v) => `/v1/agents/${enc(v.sender.address)}`,
    probe: () => `/v1/agents/${enc(missingAddress())}`,
    expect: 'same-as-missing',
  },
  ...(['GET', 'PUT', 'DELETE'] as const).map<Case>((method) => ({
    route: `${method} /v1/agents/:org/:ws/:name/signing-key`,
    path: (v) => `/v1/agents/${v.sender.address.slice(8)}/signing-key`,
    probe: () => `/v1/agents/${missingAddress().slice(8)}/signing-key`,
    ...(method === 'PUT' ? { body: () => ({ require_signature: false }) } : {}),
    expect: 'same-as-missing',
  })),
  // Mesh
  { route: 'POST /v1/mesh/heartbeat', path: () => '/v1/mesh/heartbeat', body: () => ({}), expect: 'list' },
  { route: 'GET /v1/mesh/agents', path: () => '/v1/mesh/agents?limit=500', expect: 'list' },
  { route: 'GET /v1/mesh/events', path: () => '/v1/mesh/events?limit=500', expect: 'list' },
  {
    route: 'GET /v1/mesh/agents/:addressId',
    path: (v) => `/v1/mesh/agents/${v.handler.id}`,
    probe: () => `/v1/mesh/agents/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  ...(['kill', 'resume'] as const).map<Case>((action) => ({
    route: `POST /v1/mesh/agents/:addressId/${action}`,
    path: (v) => `/v1/mesh/agents/${v.handler.id}/${action}`,
    probe: () => `/v1/mesh/agents/${randomUUID()}/${action}`,
    body: () => (action === 'kill' ? { reason: 'attack' } : {}),
    expect: 'same-as-missing',
  })),
  // Audit and quotas
  {
    route: 'GET /v1/audit/events',
    path: (v) => `/v1/audit/events?org_id=${v.orgId}&until=${v.setupDoneAt}&limit=500`,
    expect: 'list',
  },
  { route: 'GET /v1/quotas', path: (v) => `/v1/quotas?org_id=${v.orgId}`, expect: 'list' },
  {
    route: 'PUT /v1/quotas',
    path: () => '/v1/quotas',
    body: (v) => ({ subject: v.sender.address, dimension: 'intents_per_day', limit: 0, org_id: v.orgId }),
    expect: 'list',
  },
  {
    route: 'DELETE /v1/quotas/:id',
    path: (v) => `/v1/quotas/${v.quotaId}`,
    probe: () => `/v1/quotas/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  // Scenarios: another org's agent can neither be used nor created
  {
    route: 'POST /v1/scenarios/apply',
    path: () => '/v1/scenarios/apply',
    body: (v) => scenarioProbe(v),
    expect: 'denied',
  },
  {
    route: 'POST /v1/scenarios/validate',
    path: () => '/v1/scenarios/validate',
    body: (v) => scenarioProbe(v),
    expect: 'list',
  },
  // Sessions
  {
    route: 'POST /v1/sessions',
    path: () => '/v1/sessions',
    probe: () => '/v1/sessions',
    body: (v) => ({ type: 'probe', parent_session_id: v.sessionId }),
    expect: 'same-as-missing',
  },
  { route: 'GET /v1/sessions', path: () => '/v1/sessions?limit=200', expect: 'list' },
  ...(['', '/messages', '/feed', '/feed/stream?wait_seconds=1'] as const).map<Case>((suffix) => ({
    route: `GET /v1/sessions/:id${suffix.split('?')[0]}`,
    path: (v) => `/v1/sessions/${v.sessionId}${suffix}`,
    probe: () => `/v1/sessions/${randomUUID()}${suffix}`,
    expect: 'same-as-missing',
  })),
  ...(['messages', 'complete'] as const).map<Case>((action) => ({
    route: `POST /v1/sessions/:id/${action}`,
    path: (v) => `/v1/sessions/${v.sessionId}/${action}`,
    probe: () => `/v1/sessions/${randomUUID()}/${action}`,
    body: () => (action === 'messages' ? { role: 'user', content: 'pwned' } : { result: 'pwned' }),
    expect: 'same-as-missing',
  })),
  // Exec: even with the victim's capability token, another org's caller gets what a missing id gets
  {
    route: 'POST /v1/exec/sessions',
    path: () => '/v1/exec/sessions',
    body: () => ({ sandbox_tier: 'none', capabilities: ['proc.spawn', 'fs.read(/)'] }),
    expect: 'list',
  },
  {
    route: 'GET /v1/exec/sessions/:id',
    path: (v) => `/v1/exec/sessions/${v.exec.sessionId}?cap_token=${v.exec.token}`,
    probe: (v) => `/v1/exec/sessions/${randomUUID()}?cap_token=${v.exec.token}`,
    expect: 'same-as-missing',
  },
  ...(['close', 'attenuate'] as const).map<Case>((action) => ({
    route: `POST /v1/exec/sessions/:id/${action}`,
    path: (v) => `/v1/exec/sessions/${v.exec.sessionId}/${action}`,
    probe: () => `/v1/exec/sessions/${randomUUID()}/${action}`,
    body: (v) =>
      action === 'close'
        ? { cap_token: v.exec.token }
        : { cap_token: v.exec.token, capabilities: ['proc.spawn'], ttl_seconds: 600 },
    expect: 'same-as-missing',
  })),
  {
    route: 'POST /v1/exec/jobs',
    path: () => '/v1/exec/jobs',
    body: (v) => ({ session_id: v.exec.sessionId, command: ['true'], cap_token: v.exec.token }),
    expect: 'denied',
  },
  ...(['', '/attach'] as const).map<Case>((suffix) => ({
    route: `GET /v1/exec/jobs/:id${suffix}`,
    path: (v) => `/v1/exec/jobs/${v.exec.jobId}${suffix}?cap_token=${v.exec.token}`,
    probe: (v) => `/v1/exec/jobs/${randomUUID()}${suffix}?cap_token=${v.exec.token}`,
    expect: 'same-as-missing',
  })),
  {
    route: 'POST /v1/exec/jobs/:id/cancel',
    path: (v) => `/v1/exec/jobs/${v.exec.jobId}/cancel`,
    probe: () => `/v1/exec/jobs/${randomUUID()}/cancel`,
    body: (v) => ({ cap_token: v.exec.token }),
    expect: 'same-as-missing',
  },
  // Exec tools and MCP servers
  ...(['index', 'describe/run_command'] as const).map<Case>((suffix) => ({
    route: `GET /v1/exec/sessions/:id/${suffix === 'index' ? 'index' : 'describe/:name'}`,
    path: (v) => `/v1/exec/sessions/${v.exec.sessionId}/${suffix}?cap_token=${v.exec.token}`,
    probe: (v) => `/v1/exec/sessions/${randomUUID()}/${suffix}?cap_token=${v.exec.token}`,
    expect: 'same-as-missing',
  })),
  {
    route: 'POST /v1/exec/sessions/:id/tools/:name/call',
    path: (v) => `/v1/exec/sessions/${v.exec.sessionId}/tools/run_command/call`,
    probe: () => `/v1/exec/sessions/${randomUUID()}/tools/run_command/call`,
    body: (v) => ({ cap_token: v.exec.token, input: { argv: ['true'] } }),
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/exec/mcp-servers',
    path: () => '/v1/exec/mcp-servers',
    body: () => ({ name: `probe-${randomUUID().slice(0, 6)}`, url: 'http://127.0.0.1:9/mcp' }),
    expect: 'list',
  },
  { route: 'GET /v1/exec/mcp-servers', path: () => '/v1/exec/mcp-servers', expect: 'list' },
  {
    route: 'DELETE /v1/exec/mcp-servers/:id',
    path: (v) => `/v1/exec/mcp-servers/${v.mcpServerId}`,
    probe: () => `/v1/exec/mcp-servers/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  {
    route: 'POST /axp',
    path: () => '/axp',
    body: (v) => axpBatch(v.exec.sessionId, v.exec.token, v.exec.jobId),
    probeBody: (v) => axpBatch(randomUUID(), v.exec.token, randomUUID()),
    expect: 'rpc-same-as-missing',
  },
  // Policies: the org receive policy, and each agent policy under all three address forms
  {
    route: 'GET /v1/organizations/:org/receive-policy',
    path: (v) => `/v1/organizations/${v.orgId}/receive-policy`,
    probe: () => `/v1/organizations/${randomUUID()}/receive-policy`,
    expect: 'same-as-missing',
  },
  {
    route: 'GET /v1/organizations/:org/receive-policy/entries',
    path: () => `/v1/organizations/${VICTIM}/receive-policy/entries`,
    probe: () => `/v1/organizations/nope-${sfx}/receive-policy/entries`,
    expect: 'same-as-missing',
  },
  {
    route: 'PUT /v1/organizations/:org/receive-policy',
    path: (v) => `/v1/organizations/${v.orgId}/receive-policy`,
    probe: () => `/v1/organizations/${randomUUID()}/receive-policy`,
    body: () => ({ policy_type: 'open' }),
    expect: 'same-as-missing',
  },
  {
    route: 'POST /v1/organizations/:org/receive-policy/entries',
    path: (v) => `/v1/organizations/${v.orgId}/receive-policy/entries`,
    probe: () => `/v1/organizations/${randomUUID()}/receive-policy/entries`,
    body: () => ({ sender_pattern: `agent://${ATTACKER}/*` }),
    expect: 'same-as-missing',
  },
  {
    route: 'DELETE /v1/organizations/:org/receive-policy/entries/:entryId',
    path: (v) => `/v1/organizations/${v.orgId}/receive-policy/entries/${v.entries.org}`,
    probe: () => `/v1/organizations/${randomUUID()}/receive-policy/entries/${randomUUID()}`,
    expect: 'same-as-missing',
  },
  ...(['receive-override', 'policy'] as const).flatMap((kind) =>
    (
      [
        [':address', (a: string) => enc(a)],
        [':org/:ws/:name', (a: string) => a.slice('agent://'.length)],
        ['agent:://:org/:ws/:name', (a: string) => a],
      ] as const
    ).flatMap(([form, url]) => {
      const base = (a: string) => `/v1/agents/${url(a)}/${kind}`;
      const typeBody = kind === 'policy' ? { policy_type: 'open' } : { override_type: 'open' };
      return [
        {
          route: `GET /v1/agents/${form}/${kind}`,
          path: (v: Victim) => base(v.handler.address),
          probe: () => base(missingAddress()),
          expect: 'same-as-missing',
        },
        {
          route: `GET /v1/agents/${form}/${kind}/entries`,
          path: (v: Victim) => `${base(v.handler.address)}/entries`,
          probe: () => `${base(missingAddress())}/entries`,
          expect: 'same-as-missing',
        },
        {
          route: `PUT /v1/agents/${form}/${kind}`,
          path: (v: Victim) => base(v.handler.address),
          probe: () => base(missingAddress()),
          body: () => typeBody,
          expect: 'same-as-missing',
        },
        {
          route: `POST /v1/agents/${form}/${kind}/entries`,
          path: (v: Victim) => `${base(v.handler.address)}/entries`,
          probe: () => `${base(missingAddress())}/entries`,
          body: () => ({ sender_pattern: `agent://${ATTACKER}/*` }),
          expect: 'same-as-missing',
        },
        {
          route: `DELETE /v1/agents/${form}/${kind}/entries/:entryId`,
          path: (v: Victim) => `${base(v.handler.address)}/entries/${v.entries[kind]}`,
          probe: () => `${base(missingAddress())}/entries/${randomUUID()}`,
          expect: 'same-as-missing',
        },
      ] satisfies Case[];
    }),
  ),
];

/** The routes that carry tenant data: all but the probes and /metrics. */
async function apiRouteKeys(): Promise<string[]> {
  return (await gatewayRouteKeys()).filter((r) => !/ \/(health|v1\/health|ready|metrics)$/.test(r));
}

async function victimSnapshot(orgId: string): Promise<Record<string, string>> {
  const snapshot: Record<string, string> = {};
  for (const table of VICTIM_TABLES) {
    const column = table === 'organizations' ? 'id' : 'org_id';
    const { rows } = await db.query<{ digest: string | null; n: string }>(
      `SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS digest, count(*) AS n FROM ${table} t WHERE ${column} = $1`,
      [orgId],
    );
    snapshot[table] = `${rows[0]?.n}:${rows[0]?.digest ?? ''}`;
  }
  return snapshot;
}

/** The answer with the requested id(s) taken out, so two answers can be compared. */
function normalized(res: ApiResponse, path: string): string {
  let text = res.text.replace(/agent:\/\/[a-z0-9-]+\/[a-z0-9-]+\/[a-z0-9._-]+/g, '<addr>');
  for (const part of path.split(/[/?&=]/).filter((p) => p.length >= 8))
    text = text.split(part).join('<id>').split(decodeURIComponent(part)).join('<id>');
  return `${res.status} ${text}`;
}

describe('tenant isolation matrix', () => {
  let axle: AxleProcesses;
  let victim: Victim;
  const attackers: { name: string; call: ReturnType<typeof apiClient> }[] = [];
  const victimMarkers: string[] = [];

  before(async () => {
    await db.connect();
    axle = await AxleProcesses.create({ AXLE_JWT_SECRET: JWT_SECRET, AXLE_EXEC_ALLOW_NONE: 'true' });
    await axle.startAll(['gateway', 'worker']);

    const sender = await registerTestAgent(prisma, { org: VICTIM, name: 'sender' });
    const handler = await registerTestAgent(prisma, { org: VICTIM, name: 'handler' });
    const victimAdmin = await registerTestAgent(prisma, { org: VICTIM, name: 'boss', role: 'admin' });
    const asSender = apiClient(axle.baseUrl, sender.key);
    const asHandler = apiClient(axle.baseUrl, handler.key);
    const asVictimAdmin = apiClient(axle.baseUrl, victimAdmin.key);
    const org = await prisma.client.organization.findUniqueOrThrow({ where: { slug: VICTIM } });
    const workspace = await prisma.client.workspace.findFirstOrThrow({
      where: { orgId: org.id, slug: 'default' },
    });

    const body = {
      intent_type: 'ops.deploy.v1',
      to_agent: handler.address,
      reply_to: sender.address,
      payload: { v: 1 },
    };
    const open = await asSender('POST', '/v1/intents', { body });
    const done = await asSender('POST', '/v1/intents', { body });
    const task = await asSender('POST', '/v1/intents', {
      body: {
        ...body,
        human_task: { title: 'Victim approval', assignees: ['eve@attacker.example', 'ceo@victim.example'] },
      },
    });
    assert.equal(task.status, 200, task.text);
    assert.equal(done.status, 200, done.text);
    const doneId = done.body.intent_id as string;
    assert.equal(
      (
        await asHandler('POST', `/v1/intents/${doneId}/resolve`, {
          body: { status: 'COMPLETED', result: { ok: 1 } },
        })
      ).status,
      200,
    );
    const sub = await asSender('POST', '/v1/webhooks/subscriptions', {
      body: {
        callback_url: 'https://victim.example.com/hook',
        event_types: ['inbox.thread_created'],
        active: false,
      },
    });
    assert.equal(sub.status, 200, sub.text);
    const event = await asSender('POST', '/v1/webhooks/events', {
      body: { event_type: 'inbox.thread_created', source: 'victim', payload: {} },
    });
    assert.equal(event.status, 200, event.text);
    const member = await asVictimAdmin('POST', `/v1/organizations/${VICTIM}/members`, {
      body: { email: 'ceo@victim.example' },
    });
    assert.equal(member.status, 200, member.text);
    const key = await prisma.client.apiKey.findFirstOrThrow({ where: { serviceAccountId: sender.id } });
    const signing = await asSender('PUT', `/v1/agents/${sender.address.slice(8)}/signing-key`, {
      body: { public_key: generateSigningKey().publicKey },
    });
    assert.equal(signing.status, 200, signing.text);
    assert.equal((await asHandler('POST', '/v1/mesh/heartbeat', { body: {} })).status, 200);
    const quota = await asVictimAdmin('PUT', '/v1/quotas', {
      body: { subject: sender.address, dimension: 'intents_per_day', limit: 1000 },
    });
    assert.equal(quota.status, 200, quota.text);
    const entries = {} as Victim['entries'];
    const policies = [
      [
        'org',
        `/v1/organizations/${VICTIM}/receive-policy`,
        { policy_type: 'allowlist' },
        'agent://partner-org/*',
      ],
      [
        'receive-override',
        `/v1/agents/${handler.address.slice(8)}/receive-override`,
        { override_type: 'allowlist' },
        'agent://partner-org/*',
      ],
      [
        'policy',
        `/v1/agents/${handler.address.slice(8)}/policy`,
        { policy_type: 'denylist' },
        'agent://evil-org/*',
      ],
    ] as const;
    for (const [kind, base, type, pattern] of policies) {
      assert.equal((await asVictimAdmin('PUT', base, { body: type })).status, 200);
      const entry = await asVictimAdmin('POST', `${base}/entries`, { body: { sender_pattern: pattern } });
      assert.equal(entry.status, 200, entry.text);
      entries[kind] = (entry.body.entry as { entry_id: string }).entry_id;
    }

    const session = await asSender('POST', '/v1/sessions', { body: { type: 'coding', metadata: { v: 1 } } });
    assert.equal(session.status, 200, session.text);
    const sessionId = session.body.session_id as string;
    const said = await asHandler('POST', `/v1/sessions/${sessionId}/messages`, {
      body: { role: 'assistant', content: 'secret plan' },
    });
    assert.equal(said.status, 200, said.text);

    const execSession = await asSender('POST', '/v1/exec/sessions', {
      body: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    assert.equal(execSession.status, 200, execSession.text);
    const exec = {
      sessionId: execSession.body.session_id as string,
      token: execSession.body.cap_token as string,
      jobId: '',
    };
    const execJob = await asSender('POST', '/v1/exec/jobs', {
      body: { session_id: exec.sessionId, command: ['true'] },
      headers: { 'x-axp-cap-token': exec.token },
    });
    assert.equal(execJob.status, 200, execJob.text);
    exec.jobId = execJob.body.job_id as string;
    const mcp = await asVictimAdmin('POST', '/v1/exec/mcp-servers', {
      body: {
        name: 'victim-tools',
        url: 'http://127.0.0.1:9/mcp',
        headers: { authorization: 'Bearer victim' },
      },
    });
    assert.equal(mcp.status, 200, mcp.text);
    const mcpServerId = (mcp.body.mcp_server as { mcp_server_id: string }).mcp_server_id;

    // Settle: the completion reached the sender's inbox and the open intent was delivered.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const thread = await asSender('GET', `/v1/inbox/${doneId}`);
      const intent = await asSender('GET', `/v1/intents/${open.body.intent_id as string}`);
      const waiting = await asSender('GET', `/v1/intents/${task.body.intent_id as string}`);
      if (
        thread.status === 200 &&
        (intent.body.intent as { status: string }).status === 'DELIVERED' &&
        (waiting.body.intent as { waiting_reason: string | null }).waiting_reason === 'WAITING_FOR_HUMAN'
      )
        break;
      if (Date.now() > deadline) assert.fail(`victim setup did not settle: ${thread.text} ${intent.text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    victim = {
      orgId: org.id,
      workspaceId: workspace.id,
      sender,
      handler,
      openIntent: open.body.intent_id as string,
      doneIntent: doneId,
      threadId: doneId,
      subscriptionId: (sub.body.subscription as { subscription_id: string }).subscription_id,
      eventId: event.body.event_id as string,
      keyId: key.id,
      memberId: (member.body.member as { member_id: string }).member_id,
      quotaId: (quota.body.quota as { quota_id: string }).quota_id,
      sessionId,
      exec,
      mcpServerId,
      entries,
      setupDoneAt: new Date().toISOString(),
    };
    victimMarkers.push(
      org.id,
      workspace.id,
      sender.id,
      handler.id,
      victimAdmin.id,
      victim.openIntent,
      victim.doneIntent,
      task.body.intent_id as string,
      'Victim approval',
      victim.subscriptionId,
      victim.eventId,
      key.id,
      victim.memberId,
      victim.sessionId,
      exec.sessionId,
      exec.jobId,
      mcpServerId,
      'victim-tools',
      sender.address,
      handler.address,
    );

    const member1 = await registerTestAgent(prisma, { org: ATTACKER, name: 'mallory' });
    const admin1 = await registerTestAgent(prisma, { org: ATTACKER, name: 'trudy', role: 'admin' });
    const token = await new SignJWT({
      aud: 'axle',
      org: ATTACKER,
      roles: ['admin'],
      email: 'eve@attacker.example',
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('eve')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(JWT_SECRET));
    const anonymous = apiClient(axle.baseUrl);
    attackers.push(
      { name: 'member key', call: apiClient(axle.baseUrl, member1.key) },
      { name: 'org-admin key', call: apiClient(axle.baseUrl, admin1.key) },
      {
        name: 'admin user token',
        call: (method, path, options = {}) =>
          anonymous(method, path, {
            ...options,
            headers: { ...options.headers, authorization: `Bearer ${token}` },
          }),
      },
    );
  });

  after(async () => {
    await axle.stopAll();
    await db.end();
    await prisma.onModuleDestroy();
  });

  test('every route of the gateway has a case in the matrix', async () => {
    const covered = new Set(CASES.map((c) => c.route));
    const missing = (await apiRouteKeys()).filter((route) => !covered.has(route));
    assert.deepEqual(missing, [], `routes without an isolation case: ${missing.join(', ')}`);
  });

  test('callers of another org learn nothing and change nothing', async () => {
    const before = await victimSnapshot(victim.orgId);
    const failures: string[] = [];
    for (const attacker of attackers) {
      for (const c of CASES) {
        const [method] = c.route.split(' ') as [string];
        const path = c.path(victim);
        const body = c.body?.(victim);
        const res = await attacker.call(method, path, body === undefined ? {} : { body });
        const where = `${attacker.name}: ${method} ${path}`;
        if (res.status >= 500) failures.push(`${where} → ${res.status} ${res.text}`);
        // What the attacker sent may come back in a message ("agent … not found"); that is no leak.
        const sent = `${decodeURIComponent(path).replace('/v1/agents/', 'agent://')} ${JSON.stringify(body ?? null)}`;
        const leaked = victimMarkers.filter((m) => res.text.includes(m) && !sent.includes(m));
        if (leaked.length) failures.push(`${where} leaked ${leaked.join(', ')}`);
        if (c.expect === 'denied' && res.status !== 403 && res.status !== 404)
          failures.push(`${where} → ${res.status}, expected 403/404: ${res.text}`);
        if (c.expect === 'rpc-same-as-missing') {
          const answers = ([] as { error?: { code?: number } }[]).concat(
            res.body as unknown as { error?: { code?: number } },
          );
          if (res.status !== 200 || answers.some((a) => a.error?.code !== -32004))
            failures.push(`${where} → ${res.status}, expected UNAUTHORIZED (-32004) only: ${res.text}`);
          const probe = await attacker.call(method, path, { body: c.probeBody!(victim) });
          if (normalized(res, path) !== normalized(probe, path))
            failures.push(
              `${where} differs from a missing object:\n  ${normalized(res, path)}\n  ${normalized(probe, path)}`,
            );
        }
        if (c.expect === 'same-as-missing') {
          if (res.status !== 403 && res.status !== 404)
            failures.push(`${where} → ${res.status}, expected 403/404: ${res.text}`);
          const probePath = c.probe!(victim);
          const probe = await attacker.call(method, probePath, body === undefined ? {} : { body });
          if (normalized(res, path) !== normalized(probe, probePath))
            failures.push(
              `${where} differs from a missing object:\n  ${normalized(res, path)}\n  ${normalized(probe, probePath)}`,
            );
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(await victimSnapshot(victim.orgId), before, 'no victim row changed');
  });
});
