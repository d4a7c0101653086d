// Human tasks end to end (SPEC §6, docs/humans.md): real gateway and worker processes, real
// PostgreSQL and Temporal, and a local SMTP sink in this process (the one external edge). Every task
// type with a valid and an invalid result, form_schema (JSON Schema 2020-12), the four equivalent
// decision paths, the email magic links, GET /v1/me/tasks and reminder emails.
import { PrismaService } from '@axle/data';
import {
  type ApiResponse,
  apiClient,
  AxleProcesses,
  magicLinkOf,
  registerTestAgent,
  requireEnv,
  type SinkMessage,
  SmtpSink,
  TEST_ADMIN_KEY,
  until,
} from '@axle/testing';
import { SignJWT } from 'jose';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Event = {
  seq: number;
  event_type: string;
  status: string;
  actor: string;
  details: Record<string, unknown>;
};

const JWT_SECRET = 'humans-e2e-secret-0123456789abcdef0123456789';
const sfx = randomUUID().slice(0, 8);
const ACME = `acme-${sfx}`;
const GLOBEX = `globex-${sfx}`;
const email = (name: string) => `${name}-${sfx}@example.com`;

let axle: AxleProcesses;
let admin: Api;
let anonymous: Api;
let sink: SmtpSink;
const prisma = new PrismaService(requireEnv('DATABASE_URL'));

function assertError(res: ApiResponse, status: number, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.body.ok, false, res.text);
  if (code) assert.equal((res.body.error as { code: string }).code, code, res.text);
}

function fieldPaths(res: ApiResponse): string[] {
  const error = res.body.error as { details?: { errors?: { path: string }[] } };
  return (error.details?.errors ?? []).map((e) => e.path).sort();
}

async function intentOf(api: Api, id: string): Promise<Record<string, unknown>> {
  const res = await api('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.intent as Record<string, unknown>;
}

async function eventsOf(api: Api, id: string): Promise<Event[]> {
  const res = await api('GET', `/v1/intents/${id}/events?since=0`);
  assert.equal(res.status, 200, res.text);
  return res.body.events as Event[];
}

/** Creates an intent with a human task and waits until it is WAITING_FOR_HUMAN; returns the task id. */
async function humanIntent(
  humanTask: Record<string, unknown>,
  options: { api?: Api; extra?: Record<string, unknown>; toAgent?: string } = {},
): Promise<{ intentId: string; taskId: string }> {
  const api = options.api ?? admin;
  const res = await api('POST', '/v1/intents', {
    body: {
      intent_type: 'ops.review.v1',
      to_agent: options.toAgent ?? `agent://default/default/reviewer-${sfx}`,
      payload: { change: 'CHG-42' },
      human_task: humanTask,
      ...options.extra,
    },
  });
  assert.equal(res.status, 200, res.text);
  const intentId = res.body.intent_id as string;
  const assigned = await until(`human task of ${intentId}`, async () => {
    const intent = await intentOf(api, intentId);
    if (intent.status !== 'WAITING') return undefined;
    return (await eventsOf(api, intentId)).find((e) => e.event_type === 'intent.human_task_assigned');
  });
  return { intentId, taskId: assigned.details.thread_id as string };
}

async function resume(api: Api, intentId: string, taskResult: Record<string, unknown>): Promise<ApiResponse> {
  return api('POST', `/v1/intents/${intentId}/resume`, { body: { task_result: taskResult } });
}

async function userToken(org: string, mail: string, sub = mail): Promise<string> {
  return new SignJWT({ aud: 'axle', org, email: mail, roles: ['member'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

function asUser(token: string): Api {
  return (method, path, options = {}) =>
    anonymous(method, path, {
      ...options,
      headers: { ...options.headers, authorization: `Bearer ${token}` },
    });
}

/** A form post of the magic-link page. */
async function postForm(link: string, fields: Record<string, string>): Promise<Response> {
  return fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

function swapChar(token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  return `${token.slice(0, -1)}${last}`;
}

describe('human tasks end to end', () => {
  before(async () => {
    sink = new SmtpSink();
    await sink.start();
    axle = await AxleProcesses.create({ SMTP_URL: sink.url, AXLE_JWT_SECRET: JWT_SECRET });
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway', 'worker']);
    await until('the admin key', async () =>
      (await admin('GET', '/v1/inbox')).status === 200 ? true : undefined,
    );
  });
  after(async () => {
    await axle.stopAll();
  });

  test('each of the 14 task types: an invalid result is a 422 that changes nothing; a valid one ends the intent as its outcome says', async () => {
    const agent = 'agent://default/default/delegate-target';
    const cases: {
      type: string;
      invalid: Record<string, unknown>;
      invalidPaths: string[];
      valid: Record<string, unknown>;
      status: 'COMPLETED' | 'FAILED';
    }[] = [
      {
        type: 'approval',
        invalid: { outcome: 'confirmed' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'approved' },
        status: 'COMPLETED',
      },
      {
        type: 'review',
        invalid: { outcome: 'maybe' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'changes_requested', comment: 'rename it' },
        status: 'COMPLETED',
      },
      {
        type: 'clarification',
        invalid: { outcome: 'approved' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'provided', data: { answer: 'EU only' } },
        status: 'COMPLETED',
      },
      {
        type: 'provide_data',
        invalid: { outcome: 'done' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'declined' },
        status: 'FAILED',
      },
      {
        type: 'attach_file',
        invalid: { outcome: 'provided' },
        invalidPaths: ['task_result.data.evidence'],
        valid: { outcome: 'provided', data: { evidence: 'https://files.example.com/report.pdf' } },
        status: 'COMPLETED',
      },
      {
        type: 'manual_action',
        invalid: { outcome: 'approved' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'failed', comment: 'rack is locked' },
        status: 'FAILED',
      },
      {
        type: 'confirmation',
        invalid: { outcome: 'approved' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'confirmed' },
        status: 'COMPLETED',
      },
      {
        type: 'validate_real_world',
        invalid: { outcome: 'validated' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'rejected' },
        status: 'FAILED',
      },
      {
        type: 'validate_output',
        invalid: { outcome: 'invalid' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'approved' },
        status: 'COMPLETED',
      },
      {
        type: 'assignment',
        invalid: { outcome: 'approved' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'declined' },
        status: 'FAILED',
      },
      {
        type: 'delegation',
        invalid: { outcome: 'assigned' },
        invalidPaths: ['task_result.data.delegate_to'],
        valid: { outcome: 'assigned', data: { delegate_to: agent } },
        status: 'COMPLETED',
      },
      {
        type: 'reroute',
        invalid: { outcome: 'assigned', data: { delegate_to: agent } },
        invalidPaths: ['task_result.data.route_to'],
        valid: { outcome: 'assigned', data: { route_to: agent } },
        status: 'COMPLETED',
      },
      {
        type: 'override',
        invalid: { outcome: 'approved' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'override_approved' },
        status: 'COMPLETED',
      },
      {
        type: 'escalate',
        invalid: { outcome: 'escalated_now' },
        invalidPaths: ['task_result.outcome'],
        valid: { outcome: 'escalated' },
        status: 'COMPLETED',
      },
    ];
    assert.equal(cases.length, 14);
    const intents = await Promise.all(
      cases.map((c) => humanIntent({ title: `A ${c.type} task`, task_type: c.type })),
    );
    for (const [i, c] of cases.entries()) {
      const { intentId } = intents[i]!;
      const before = await eventsOf(admin, intentId);
      const invalid = await resume(admin, intentId, c.invalid);
      assertError(invalid, 422, 'invalid_task_result');
      assert.deepEqual(fieldPaths(invalid), c.invalidPaths, `${c.type}: ${invalid.text}`);
      assert.deepEqual(await eventsOf(admin, intentId), before, `${c.type}: the events changed`);
      assert.equal((await intentOf(admin, intentId)).status, 'WAITING');

      const valid = await resume(admin, intentId, c.valid);
      assert.equal(valid.status, 200, `${c.type}: ${valid.text}`);
      assert.equal(valid.body.status, c.status, c.type);
      const types = (await eventsOf(admin, intentId)).map((e) => e.event_type);
      const assigned = types.indexOf('intent.human_task_assigned');
      const ended = types.indexOf(c.status === 'COMPLETED' ? 'intent.completed' : 'intent.failed');
      assert.ok(assigned > 0 && ended > assigned, `${c.type}: ${types.join(', ')}`);
      const intent = await intentOf(admin, intentId);
      assert.equal(intent.status, c.status);
      if (c.status === 'COMPLETED')
        assert.deepEqual((intent.result as { task_result: unknown }).task_result, c.valid, c.type);
    }
  });

  test('form_schema is JSON Schema 2020-12: required, $defs/$ref, prefixItems, unevaluatedProperties, formats', async () => {
    const formSchema = {
      type: 'object',
      required: ['owner', 'window'],
      properties: {
        owner: { $ref: '#/$defs/email' },
        window: {
          type: 'array',
          prefixItems: [
            { type: 'string', format: 'date' },
            { type: 'integer', minimum: 1 },
          ],
          items: false,
        },
        risk: { enum: ['low', 'high'] },
      },
      unevaluatedProperties: false,
      $defs: { email: { type: 'string', format: 'email' } },
    };
    const { intentId } = await humanIntent({
      title: 'Plan the window',
      task_type: 'provide_data',
      form_schema: formSchema,
    });
    const before = await eventsOf(admin, intentId);
    const invalids: [Record<string, unknown>, string[]][] = [
      [{ outcome: 'provided', data: {} }, ['task_result.data.owner', 'task_result.data.window']],
      [
        { outcome: 'provided', data: { owner: 'not-an-email', window: ['2026-13-45', 0], extra: 1 } },
        [
          'task_result.data.extra',
          'task_result.data.owner',
          'task_result.data.window.0',
          'task_result.data.window.1',
        ],
      ],
      [
        { outcome: 'provided', data: { owner: 'ops@example.com', window: ['2026-12-01', 2, 'more'] } },
        ['task_result.data.window'],
      ],
      [
        {
          outcome: 'provided',
          data: { owner: 'ops@example.com', window: ['2026-12-01', 2], risk: 'medium' },
        },
        ['task_result.data.risk'],
      ],
      // Without `data`, the task_result's own fields (outcome and comment aside) are the instance.
      [{ outcome: 'provided', comment: 'see above', owner: 'ops@example.com' }, ['task_result.window']],
    ];
    for (const [taskResult, paths] of invalids) {
      const res = await resume(admin, intentId, taskResult);
      assertError(res, 422, 'invalid_task_result');
      assert.deepEqual(fieldPaths(res), paths, res.text);
    }
    assert.deepEqual(await eventsOf(admin, intentId), before);
    const ok = await resume(admin, intentId, {
      outcome: 'provided',
      comment: 'fine',
      owner: 'ops@example.com',
      window: ['2026-12-01', 2],
      risk: 'low',
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.status, 'COMPLETED');

    // The data form of the same schema.
    const second = await humanIntent({
      title: 'Plan again',
      task_type: 'provide_data',
      form_schema: formSchema,
    });
    const withData = await resume(admin, second.intentId, {
      outcome: 'provided',
      data: { owner: 'ops@example.com', window: ['2026-12-02', 1] },
    });
    assert.equal(withData.status, 200, withData.text);

    // A form_schema that is no valid JSON Schema is refused at create, and nothing is stored.
    for (const broken of [
      { type: 'nonsense' },
      { properties: { a: { minLength: -1 } } },
      { $ref: '#/$defs/missing' },
    ]) {
      const res = await admin('POST', '/v1/intents', {
        body: {
          intent_type: 'ops.review.v1',
          to_agent: `agent://default/default/reviewer-${sfx}`,
          payload: {},
          human_task: { title: 'x', form_schema: broken },
        },
      });
      assertError(res, 422, 'invalid_form_schema');
      assert.deepEqual(fieldPaths(res), ['human_task.form_schema'], res.text);
    }
  });

  test('required_comment and evidence_required; evidence may be task_result.data.evidence or task_result.evidence; title is optional', async () => {
    const { intentId } = await humanIntent({ required_comment: true, evidence_required: true });
    const intent = await intentOf(admin, intentId);
    assert.equal(
      (intent.human_task as { title: string }).title,
      'ops.review.v1',
      'the intent type stands in for the title',
    );
    const before = await eventsOf(admin, intentId);
    const bare = await resume(admin, intentId, { outcome: 'approved' });
    assertError(bare, 422, 'invalid_task_result');
    assert.deepEqual(fieldPaths(bare), ['task_result.comment', 'task_result.data.evidence']);
    const blank = await resume(admin, intentId, {
      outcome: 'approved',
      comment: '   ',
      data: { evidence: '' },
    });
    assert.deepEqual(fieldPaths(blank), ['task_result.comment', 'task_result.data.evidence']);
    assert.deepEqual(await eventsOf(admin, intentId), before);
    const ok = await resume(admin, intentId, {
      outcome: 'approved',
      comment: 'checked',
      evidence: 'photo-17.jpg',
    });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.status, 'COMPLETED');

    const second = await humanIntent({ title: 'With data', evidence_required: true });
    const viaData = await resume(admin, second.intentId, {
      outcome: 'rejected',
      data: { evidence: 'ticket-9' },
    });
    assert.equal(viaData.status, 200, viaData.text);
    assert.equal(viaData.body.status, 'FAILED');
  });

  test('decision paths are equivalent: resume, inbox approve, approvals decision and the magic link end the intent alike; a second decision is 409', async () => {
    const handler = `agent://default/default/paths-${sfx}`;
    const spec = (name: string) => ({ title: `Approve ${name}`, assignees: [email(name)] });
    const viaResume = await humanIntent(spec('resume'), { toAgent: handler });
    const viaInbox = await humanIntent(spec('inbox'), { toAgent: handler });
    const viaApproval = await humanIntent(spec('approval'), { toAgent: handler });
    const viaLink = await humanIntent(spec('link'), { toAgent: handler });

    assert.equal(
      (await resume(admin, viaResume.intentId, { outcome: 'approved', comment: 'ok' })).status,
      200,
    );
    const inbox = await admin(
      'POST',
      `/v1/inbox/${viaInbox.taskId}/approve?owner_agent=${encodeURIComponent(handler)}`,
      {
        body: { comment: 'ok' },
      },
    );
    assert.equal(inbox.status, 200, inbox.text);
    const approval = await admin('POST', `/v1/approvals/${viaApproval.taskId}/decision`, {
      body: { decision: 'approve', comment: 'ok' },
    });
    assert.equal(approval.status, 200, approval.text);
    assert.equal((approval.body.approval as { approval_id: string }).approval_id, viaApproval.taskId);
    const [mail] = await sink.waitFor(email('link'));
    const submitted = await postForm(magicLinkOf(mail!), { outcome: 'approved', comment: 'ok' });
    assert.equal(submitted.status, 200, await submitted.text());

    const shapes = await Promise.all(
      [viaResume, viaInbox, viaApproval, viaLink].map(async ({ intentId }) => {
        const intent = await intentOf(admin, intentId);
        const events = await eventsOf(admin, intentId);
        return { status: intent.status, types: events.map((e) => `${e.event_type}/${e.status}`) };
      }),
    );
    for (const shape of shapes.slice(1)) assert.deepEqual(shape, shapes[0]);
    assert.equal(shapes[0]!.status, 'COMPLETED');
    const linkEvents = await eventsOf(admin, viaLink.intentId);
    assert.equal(linkEvents.at(-1)!.actor, `human:${email('link')}`);

    // Deciding any of them again is a conflict, on every path.
    assertError(await resume(admin, viaResume.intentId, { outcome: 'approved' }), 409);
    assertError(
      await admin('POST', `/v1/inbox/${viaInbox.taskId}/reject?owner_agent=${encodeURIComponent(handler)}`, {
        body: {},
      }),
      409,
    );
    assertError(
      await admin('POST', `/v1/approvals/${viaApproval.taskId}/decision`, { body: { decision: 'reject' } }),
      409,
    );
    assertError(
      await admin('POST', `/v1/approvals/${viaLink.taskId}/decision`, { body: { decision: 'reject' } }),
      409,
    );
  });

  test('magic links: the email carries a link; GET shows the task without using it; a bad post is a 422 that keeps it; approve uses it; reuse is 410; a tampered token is 404', async () => {
    const reviewer = email('magic');
    const formSchema = {
      type: 'object',
      required: ['ticket'],
      properties: {
        ticket: { type: 'string', minLength: 3, title: 'Ticket' },
        hours: { type: 'integer', minimum: 1 },
        urgent: { type: 'boolean' },
        region: { enum: ['eu', 'us'] },
        notes: { type: 'array', items: { type: 'string' } },
      },
    };
    const { intentId, taskId } = await humanIntent({
      title: 'Approve <b>deploy</b> & "rollout"',
      description: 'Check the canary first.',
      assignees: [reviewer],
      required_comment: true,
      form_schema: formSchema,
    });
    const [mail] = await sink.waitFor(reviewer);
    assert.match(mail!.subject, /Approve <b>deploy<\/b>/);
    const link = magicLinkOf(mail!);
    assert.ok(link.startsWith(`${axle.baseUrl}/h/`), link);
    assert.ok(mail!.html.includes('href='), 'an HTML part with the link');
    const token = link.slice(link.lastIndexOf('/') + 1);
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    const stored = await prisma.client.magicLink.findFirstOrThrow({ where: { taskId } });
    assert.notEqual(stored.tokenHash, token, 'only the hash is stored');
    assert.equal(stored.recipient, reviewer);

    for (let i = 0; i < 2; i++) {
      const page = await fetch(link);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const html = await page.text();
      assert.ok(
        html.includes('Approve &lt;b&gt;deploy&lt;/b&gt; &amp; &quot;rollout&quot;'),
        'the title is escaped',
      );
      assert.ok(!html.includes('<b>deploy</b>'));
      assert.ok(html.includes('Check the canary first.'));
      assert.ok(html.includes('CHG-42'), 'the payload summary');
      for (const outcome of ['approved', 'rejected']) assert.ok(html.includes(`value="${outcome}"`), outcome);
      for (const field of [
        'field.ticket',
        'field.hours',
        'field.urgent',
        'field.region',
        'data_json',
        'comment',
        'evidence',
      ])
        assert.ok(html.includes(`name="${field}"`), field);
      assert.ok(!html.includes('<script'), 'no scripts');
    }
    const json = await fetch(link, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 200);
    assert.deepEqual(
      ((await json.json()) as { task: { allowed_outcomes: string[] } }).task.allowed_outcomes,
      ['approved', 'rejected'],
    );

    // Invalid posts: 422 with the form and its errors again; nothing changes; the link still works.
    const before = await eventsOf(admin, intentId);
    const invalid = await postForm(link, {
      outcome: 'approved',
      'field.ticket': 'ab',
      'field.hours': '0',
      comment: '',
    });
    assert.equal(invalid.status, 422);
    const invalidHtml = await invalid.text();
    for (const path of ['task_result.comment', 'task_result.data.ticket', 'task_result.data.hours'])
      assert.ok(invalidHtml.includes(path), path);
    assert.ok(invalidHtml.includes('value="ab"'), 'the values are shown again');
    const badJson = await postForm(link, {
      outcome: 'approved',
      comment: 'x',
      'field.ticket': 'T-100',
      data_json: '{nope',
    });
    assert.equal(badJson.status, 422);
    const noOutcome = await postForm(link, { comment: 'x' });
    assert.equal(noOutcome.status, 422);
    const wrongOutcome = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'maybe', comment: 'x', data: { ticket: 'T-100' } }),
    });
    assert.equal(wrongOutcome.status, 422);
    assert.equal(
      ((await wrongOutcome.json()) as { error: { code: string } }).error.code,
      'invalid_task_result',
    );
    assert.deepEqual(await eventsOf(admin, intentId), before);
    assert.equal((await fetch(link)).status, 200, 'the link still works');

    const approved = await postForm(link, {
      outcome: 'approved',
      comment: 'canary is green',
      'field.ticket': 'T-100',
      'field.hours': '2',
      'field.urgent': 'true',
      'field.region': 'eu',
      data_json: '{"notes":["first"]}',
    });
    assert.equal(approved.status, 200, await approved.text());
    const intent = await intentOf(admin, intentId);
    assert.equal(intent.status, 'COMPLETED');
    assert.deepEqual((intent.result as { task_result: unknown }).task_result, {
      outcome: 'approved',
      comment: 'canary is green',
      data: { notes: ['first'], ticket: 'T-100', hours: 2, urgent: true, region: 'eu' },
    });
    const task = await prisma.client.humanTask.findUniqueOrThrow({ where: { id: taskId } });
    assert.equal(task.status, 'decided');
    assert.equal(task.outcome, 'approved');
    assert.equal(task.decidedBy, `human:${reviewer}`);

    const again = await postForm(link, { outcome: 'approved', comment: 'again', 'field.ticket': 'T-100' });
    assert.equal(again.status, 410);
    assert.match(await again.text(), /already used/);
    assert.equal((await fetch(link)).status, 410);
    for (const bad of [swapChar(token), randomUUID(), 'x'.repeat(43), '%3Cscript%3E']) {
      const res = await fetch(`${axle.baseUrl}/h/${bad}`);
      assert.equal(res.status, 404, bad);
      const posted = await postForm(`${axle.baseUrl}/h/${bad}`, { outcome: 'approved' });
      assert.equal(posted.status, 404, bad);
    }
  });

  test('magic links: two recipients get their own link; after one decides, the other link answers 409 and a JSON post works', async () => {
    const [first, second] = [email('first'), email('second')];
    const { intentId } = await humanIntent({
      title: 'Two people',
      task_type: 'confirmation',
      assignees: [first, 'some-member-id'],
      notify_email: second,
    });
    const [a] = await sink.waitFor(first);
    const [b] = await sink.waitFor(second);
    assert.notEqual(magicLinkOf(a!), magicLinkOf(b!));
    const res = await fetch(magicLinkOf(a!), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'confirmed' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.ok, true);
    assert.equal(body.status, 'COMPLETED');
    assert.equal(body.outcome, 'confirmed');
    assert.equal((await intentOf(admin, intentId)).status, 'COMPLETED');
    const late = await postForm(magicLinkOf(b!), { outcome: 'confirmed' });
    assert.equal(late.status, 409);
    assert.match(await late.text(), /decided already/);
    assert.equal(sink.to(first).length, 1, 'one email per recipient');
  });

  test('GET /v1/me/tasks: each person sees only their own tasks, in their org; status filter; cursor; 401 and 422', async () => {
    assert.equal((await admin('POST', '/v1/organizations', { body: { slug: ACME } })).status, 200);
    assert.equal((await admin('POST', '/v1/organizations', { body: { slug: GLOBEX } })).status, 200);
    const [alice, bob, carol] = [email('alice'), email('bob'), email('carol')];
    const aliceMember = await admin('POST', `/v1/organizations/${ACME}/members`, { body: { email: alice } });
    assert.equal(aliceMember.status, 200, aliceMember.text);
    const aliceMemberId = (aliceMember.body.member as { member_id: string }).member_id;
    assert.equal(
      (await admin('POST', `/v1/organizations/${ACME}/members`, { body: { email: bob } })).status,
      200,
    );
    assert.equal(
      (await admin('POST', `/v1/organizations/${GLOBEX}/members`, { body: { email: carol } })).status,
      200,
    );
    const sender = await registerTestAgent(prisma, { org: ACME, name: 'requester' });
    const asSender = apiClient(axle.baseUrl, sender.key);
    const toAgent = `agent://${ACME}/default/desk`;

    const aliceTasks = [
      await humanIntent({ title: 'Alice 1', assignees: [alice.toUpperCase()] }, { api: asSender, toAgent }),
      await humanIntent({ title: 'Alice 2', assignees: [aliceMemberId] }, { api: asSender, toAgent }),
      await humanIntent({ title: 'Alice 3', assignees: [alice, bob] }, { api: asSender, toAgent }),
    ];
    const bobOnly = await humanIntent({ title: 'Bob 1', assignees: [bob] }, { api: asSender, toAgent });
    // Assigned to carol's email, but in acme: carol (globex) does not see it.
    await humanIntent({ title: 'Carol elsewhere', assignees: [carol] }, { api: asSender, toAgent });

    const asAlice = asUser(await userToken(ACME, alice));
    const asBob = asUser(await userToken(ACME, bob));
    const asCarol = asUser(await userToken(GLOBEX, carol));
    const titles = async (api: Api, query = '') => {
      const res = await api('GET', `/v1/me/tasks${query}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.ok, true);
      return (res.body.tasks as { human_task: { title: string } }[]).map((t) => t.human_task.title);
    };
    assert.deepEqual(await titles(asAlice), ['Alice 3', 'Alice 2', 'Alice 1']);
    assert.deepEqual(await titles(asBob), ['Bob 1', 'Alice 3']);
    assert.deepEqual(await titles(asCarol), []);

    const listed = await asAlice('GET', '/v1/me/tasks?limit=1');
    const [task] = listed.body.tasks as Record<string, unknown>[];
    assert.ok(task);
    assert.equal(task.task_id, aliceTasks[2]!.taskId);
    assert.equal(task.approval_id, task.task_id);
    assert.equal(task.thread_id, task.task_id);
    assert.equal(task.intent_id, aliceTasks[2]!.intentId);
    assert.equal(task.intent_type, 'ops.review.v1');
    assert.equal(task.status, 'WAITING');
    assert.equal(task.from_agent, sender.address);
    assert.equal(task.step_id, null);
    assert.equal(task.due_at, null);
    assert.deepEqual(task.allowed_outcomes, ['approved', 'rejected']);
    assert.ok(!Number.isNaN(Date.parse(String(task.assigned_at))));
    // Cursor paging: every task once, in order.
    const seen: string[] = [];
    let cursor = listed.body.next_cursor as string | null;
    seen.push(task.task_id);
    while (cursor) {
      const page = await asAlice('GET', `/v1/me/tasks?limit=1&cursor=${cursor}`);
      assert.equal(page.status, 200, page.text);
      seen.push(...(page.body.tasks as { task_id: string }[]).map((t) => t.task_id));
      cursor = page.body.next_cursor as string | null;
    }
    assert.deepEqual(seen, aliceTasks.map((t) => t.taskId).reverse());

    // An assignee decides with their own token; the task moves to decided.
    const decided = await resume(asAlice, aliceTasks[0]!.intentId, { outcome: 'approved', comment: 'mine' });
    assert.equal(decided.status, 200, decided.text);
    const lastEvent = (await eventsOf(asSender, aliceTasks[0]!.intentId)).at(-1)!;
    assert.equal(lastEvent.actor, `human:${alice}`);
    // Bob is no assignee of Alice 1: he may not decide it.
    assertError(await resume(asBob, aliceTasks[1]!.intentId, { outcome: 'approved' }), 403);
    assert.deepEqual(await titles(asAlice), ['Alice 3', 'Alice 2']);
    assert.deepEqual(await titles(asAlice, '?status=decided'), ['Alice 1']);
    assert.deepEqual(await titles(asAlice, '?status=all'), ['Alice 3', 'Alice 2', 'Alice 1']);
    const decidedTask = (
      (await asAlice('GET', '/v1/me/tasks?status=decided')).body.tasks as Record<string, unknown>[]
    )[0]!;
    assert.equal(decidedTask.status, 'DECIDED');
    assert.equal(decidedTask.outcome, 'approved');
    assert.equal(decidedTask.decided_by, `human:${alice}`);
    // An intent that ends without a decision closes its task.
    assert.equal(
      (
        await asSender('POST', `/v1/intents/${bobOnly.intentId}/resolve`, {
          body: { status: 'CANCELED', reason: 'moot' },
        })
      ).status,
      200,
    );
    assert.deepEqual(await titles(asBob), ['Alice 3']);
    assert.deepEqual(await titles(asBob, '?status=all'), ['Bob 1', 'Alice 3']);

    // A service-account key sees the tasks assigned to its own address.
    const agentTask = await humanIntent(
      { title: 'For the agent', assignees: [sender.address] },
      { api: asSender, toAgent },
    );
    const agentList = await asSender('GET', '/v1/me/tasks');
    assert.deepEqual(
      (agentList.body.tasks as { task_id: string }[]).map((t) => t.task_id),
      [agentTask.taskId],
    );

    assertError(await anonymous('GET', '/v1/me/tasks'), 401);
    assertError(await asUser('not.a.jwt')('GET', '/v1/me/tasks'), 401);
    for (const [query, path] of [
      ['?status=maybe', 'status'],
      ['?limit=0', 'limit'],
      ['?limit=201', 'limit'],
      ['?limit=abc', 'limit'],
      ['?cursor=%2A%2A', 'cursor'],
      ['?cursor=bm9wZQ', 'cursor'],
      [`?cursor=${'a'.repeat(300)}`, 'cursor'],
    ] as const) {
      const res = await asAlice('GET', `/v1/me/tasks${query}`);
      assertError(res, 422);
      assert.deepEqual(fieldPaths(res), [path], `${query}: ${res.text}`);
    }
  });

  test('reminders email the assignee: exactly max_reminders reminder emails and intent.reminder events', async () => {
    const reviewer = email('remind');
    const { intentId } = await humanIntent(
      { title: 'Please look', assignees: [reviewer] },
      { extra: { remind_after_seconds: 1, remind_interval_seconds: 1, max_reminders: 2 } },
    );
    const reminders = await sink.waitFor(reviewer, {
      count: 2,
      filter: (m) => m.subject.startsWith('Reminder'),
    });
    await until('two intent.reminder events', async () => {
      const n = (await eventsOf(admin, intentId)).filter((e) => e.event_type === 'intent.reminder').length;
      return n >= 2 ? n : undefined;
    });
    // Time for a third one, which must not come.
    await new Promise((r) => setTimeout(r, 2_500));
    const mails = sink.to(reviewer);
    assert.equal(
      mails.filter((m) => m.subject.startsWith('Reminder')).length,
      2,
      mails.map((m) => m.subject).join(' | '),
    );
    assert.equal(mails.filter((m) => m.subject.startsWith('Task:')).length, 1);
    assert.equal(
      (await eventsOf(admin, intentId)).filter((e) => e.event_type === 'intent.reminder').length,
      2,
    );
    // Each reminder carries its own working link.
    const links = new Set(reminders.map(magicLinkOf));
    assert.equal(links.size, 2);
    const page = await fetch([...links][1]!);
    assert.equal(page.status, 200);
    assert.equal(
      (
        await admin('POST', `/v1/intents/${intentId}/resolve`, {
          body: { status: 'CANCELED', reason: 'done' },
        })
      ).status,
      200,
    );
  });

  test('a reminder retried after one recipient refused it reaches each recipient once', async () => {
    const [first, busy] = [email('first'), email('busy')];
    // The busy mailbox takes the task email, then refuses the first reminder once: the activity
    // fails after mailing the other recipient, and its retry must not mail that one again.
    sink.refuse(busy, { accept: 1, refuse: 1 });
    const { intentId } = await humanIntent(
      { title: 'Two reviewers', assignees: [first, busy] },
      { extra: { remind_after_seconds: 1, max_reminders: 1 } },
    );
    const reminder = (m: SinkMessage) => m.subject.startsWith('Reminder');
    await sink.waitFor(busy, { filter: reminder });
    // Time for a repeated one, which must not come.
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(sink.to(first).filter(reminder).length, 1, 'the first recipient got the reminder once');
    assert.equal(sink.to(busy).filter(reminder).length, 1);
    const resolved = await admin('POST', `/v1/intents/${intentId}/resolve`, {
      body: { status: 'CANCELED', reason: 'done' },
    });
    assert.equal(resolved.status, 200, resolved.text);
  });

  test('oversized and malformed page posts', async () => {
    const reviewer = email('sizes');
    await humanIntent({ title: 'Sizes', assignees: [reviewer] });
    const [mail] = await sink.waitFor(reviewer);
    const link = magicLinkOf(mail!);
    const huge = await postForm(link, { outcome: 'approved', comment: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(huge.status, 413);
    const long = await postForm(link, { outcome: 'approved', comment: 'x'.repeat(2001) });
    assert.equal(long.status, 422);
    const broken = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    assert.equal(broken.status, 400);
    assert.equal((await fetch(link)).status, 200, 'still usable');
  });
});

describe('magic links expire', () => {
  let short: AxleProcesses;
  before(async () => {
    short = await AxleProcesses.create({ SMTP_URL: sink.url, AXLE_MAGIC_LINK_TTL_SECONDS: '1' });
    admin = apiClient(short.baseUrl, TEST_ADMIN_KEY);
    await short.startAll(['gateway', 'worker']);
  });
  after(async () => {
    await short.stopAll();
    await sink.stop();
    await prisma.onModuleDestroy();
  });

  test('an expired link is 410 and changes nothing', async () => {
    const reviewer = email('expiry');
    const { intentId } = await humanIntent({ title: 'Too late', assignees: [reviewer] });
    const [mail] = await sink.waitFor(reviewer);
    const link = magicLinkOf(mail!);
    await new Promise((r) => setTimeout(r, 2_000));
    const before = await eventsOf(admin, intentId);
    const page = await fetch(link);
    assert.equal(page.status, 410);
    assert.match(await page.text(), /expired/);
    const posted = await postForm(link, { outcome: 'approved' });
    assert.equal(posted.status, 410);
    assert.deepEqual(await eventsOf(admin, intentId), before);
    assert.equal((await intentOf(admin, intentId)).status, 'WAITING');
    assert.equal(
      (
        await admin('POST', `/v1/intents/${intentId}/resolve`, {
          body: { status: 'CANCELED', reason: 'done' },
        })
      ).status,
      200,
    );
  });
});
