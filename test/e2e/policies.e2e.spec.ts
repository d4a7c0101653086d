// Send and receive policies end to end (SPEC §2 "Policies", docs/policies.md): real gateway and worker
// processes, real PostgreSQL and Temporal. Each test makes its own orgs, so the shared `default` org's
// policy is never touched. Agents are registered through the data lib (the registry API is #4's).
import { PrismaService, RegistryRepository } from '@axle/data';
import {
  apiClient,
  type ApiResponse,
  AxleProcesses,
  HttpSink,
  parseSse,
  registerTestAgent,
  requireEnv,
  TEST_ADMIN_KEY,
  until,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Agent = { api: Api; address: string; id: string; org: string };
type Org = { id: string; slug: string };
type Entry = { entry_id: string; sender_pattern: string; decision: string; approver: string | null };
type Thread = {
  thread_id: string;
  intent_id: string;
  kind: string;
  status: string;
  owner_agent: string;
  messages: { content: Record<string, unknown> }[];
  timeline: { event_type: string; details: Record<string, unknown> }[];
};

let axle: AxleProcesses;
let admin: Api;
let anonymous: Api;
let prisma: PrismaService;

const short = () => randomUUID().slice(0, 8);

async function newOrg(prefix = 'pol'): Promise<Org> {
  const { org } = await new RegistryRepository(prisma).createOrganization({ slug: `${prefix}-${short()}` });
  return org;
}

async function agent(
  org: Org,
  name: string,
  role: 'admin' | 'operator' | 'member' = 'member',
): Promise<Agent> {
  const registered = await registerTestAgent(prisma, { org: org.slug, name });
  if (role !== 'member')
    await prisma.client.serviceAccount.update({ where: { id: registered.id }, data: { role } });
  return {
    api: apiClient(axle.baseUrl, registered.key),
    address: registered.address,
    id: registered.id,
    org: org.slug,
  };
}

/** The agent route forms: one URL-encoded segment, or org/ws/name. */
const enc = (address: string) => encodeURIComponent(address);
const segs = (address: string) => address.slice('agent://'.length);

function send(from: Agent | Api, to: string, extra: Record<string, unknown> = {}): Promise<ApiResponse> {
  const api = typeof from === 'function' ? from : from.api;
  return api('POST', '/v1/intents', {
    body: { intent_type: 'ops.review.v1', to_agent: to, payload: { change: 'CHG-7' }, ...extra },
  });
}

function expectDenied(res: ApiResponse, code: string): void {
  assert.equal(res.status, 403, res.text);
  assert.equal(res.body.ok, false);
  assert.equal((res.body.error as { code: string }).code, code, res.text);
}

function expectCreated(res: ApiResponse): string {
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

/** The policy.decision audit rows a request wrote. */
async function decisions(res: ApiResponse) {
  const requestId = res.headers.get('x-request-id');
  assert.ok(requestId);
  const rows = await prisma.client.auditEvent.findMany({
    where: { requestId, action: 'policy.decision' },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => ({ ...r, details: r.details as Record<string, unknown> }));
}

async function intent(id: string): Promise<Record<string, unknown>> {
  const res = await admin('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.intent as Record<string, unknown>;
}

const waitFor = (id: string, status: string, reason?: string) =>
  until(`intent ${id} ${status}`, async () => {
    const current = await intent(id);
    return current.status === status && (reason === undefined || current.waiting_reason === reason)
      ? current
      : undefined;
  });

async function eventsOf(id: string) {
  const res = await admin('GET', `/v1/intents/${id}/events?since=0`);
  assert.equal(res.status, 200, res.text);
  return res.body.events as {
    event_type: string;
    status: string;
    waiting_reason: string | null;
    details: Record<string, unknown>;
  }[];
}

/** The approval thread in the approver's inbox (asked as the approver itself). */
async function approvalThread(approver: Agent, intentId: string): Promise<Thread> {
  return until(`approval of ${intentId} in ${approver.address}'s inbox`, async () => {
    const res = await approver.api('GET', '/v1/inbox');
    assert.equal(res.status, 200, res.text);
    return (res.body.threads as Thread[]).find((t) => t.intent_id === intentId && t.kind === 'approval');
  });
}

/** What an agent's delivery stream holds for one intent. */
async function streamed(handler: Agent, intentId: string) {
  const res = await handler.api(
    'GET',
    `/v1/agents/${segs(handler.address)}/intents/stream?since=0&wait_seconds=1`,
  );
  assert.equal(res.status, 200, res.text);
  return parseSse(res.text).filter((f) => f.data.intent_id === intentId);
}

describe('send and receive policies end to end', () => {
  before(async () => {
    prisma = new PrismaService(requireEnv('DATABASE_URL'));
    axle = await AxleProcesses.create();
    admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    anonymous = apiClient(axle.baseUrl);
    await axle.startAll(['gateway', 'worker']);
  });
  after(async () => {
    await axle?.stopAll();
    await prisma?.onModuleDestroy();
  });

  test('across orgs the default is closed; nothing is stored; the denial is audited on both sides', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const sender = await agent(a, 'sender');
    const peer = await agent(a, 'peer');
    const recipient = await agent(b, 'inbox');

    const denied = await send(sender, recipient.address);
    expectDenied(denied, 'receiver_org_closed');
    assert.equal(await prisma.client.intent.count({ where: { toAgent: recipient.address } }), 0);
    const rows = await decisions(denied);
    assert.deepEqual(rows.map((r) => r.orgId).sort(), [a.id, b.id].sort());
    for (const row of rows) {
      assert.equal(row.outcome, 'denied');
      assert.equal(row.actorId, sender.id);
      assert.equal(row.details.decision, 'deny');
      assert.equal(row.details.code, 'receiver_org_closed');
      assert.equal(row.details.sender, sender.address);
      assert.equal(row.details.recipient, recipient.address);
      assert.deepEqual(row.details.policy, { kind: 'org_receive', type: 'closed' });
    }

    // A well-formed address nobody registered in that org follows the org's policy too.
    expectDenied(await send(sender, `agent://${b.slug}/default/ghost`), 'receiver_org_closed');

    // Within the org: allowed, and no policy took part, so no decision row.
    const inside = await send(sender, peer.address);
    expectCreated(inside);
    assert.deepEqual(await decisions(inside), []);

    // A platform admin goes past the policy and is audited for it.
    const bypass = await send(admin, recipient.address);
    const id = expectCreated(bypass);
    const [adminRow] = (await decisions(bypass)).filter((r) => r.orgId === b.id);
    assert.ok(adminRow);
    assert.equal(adminRow.outcome, 'success');
    assert.equal(adminRow.targetId, id);
    assert.equal(adminRow.details.bypassed, true);
    assert.equal(adminRow.details.decision, 'allow');
    assert.equal(adminRow.details.policy_decision, 'deny');
  });

  test('org allowlist with exact and * patterns; entries listed and deleted; open and closed', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const sender = await agent(a, 'sender');
    const other = await agent(a, 'other');
    const recipient = await agent(b, 'inbox');
    const boss = await agent(b, 'boss', 'admin');
    const path = `/v1/organizations/${b.id}/receive-policy`;

    const initial = await boss.api('GET', path);
    assert.equal(initial.status, 200, initial.text);
    assert.deepEqual(initial.body, {
      ok: true,
      org_id: b.id,
      org_slug: b.slug,
      policy: { policy_type: 'closed', entries: [] },
    });
    const set = await boss.api('PUT', path, { body: { policy_type: 'allowlist' } });
    assert.equal(set.status, 200, set.text);
    assert.equal((set.body.policy as { policy_type: string }).policy_type, 'allowlist');
    expectDenied(await send(sender, recipient.address), 'sender_not_in_receive_allowlist');

    const exact = await boss.api('POST', `${path}/entries`, { body: { sender_pattern: sender.address } });
    assert.equal(exact.status, 200, exact.text);
    const exactEntry = exact.body.entry as Entry;
    assert.match(exactEntry.entry_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual([exactEntry.sender_pattern, exactEntry.decision], [sender.address, 'allow']);

    const allowed = await send(sender, recipient.address);
    const allowedId = expectCreated(allowed);
    const [row] = (await decisions(allowed)).filter((r) => r.orgId === b.id);
    assert.ok(row);
    assert.equal(row.outcome, 'success');
    assert.equal(row.targetId, allowedId);
    assert.equal((row.details.rule as { entry_id: string }).entry_id, exactEntry.entry_id);
    expectDenied(await send(other, recipient.address), 'sender_not_in_receive_allowlist');

    // By slug this time, and a prefix pattern for the whole sender org.
    const bySlug = `/v1/organizations/${b.slug}/receive-policy`;
    const wildcard = await boss.api('POST', `${bySlug}/entries`, {
      body: { sender_pattern: `agent://${a.slug}/*` },
    });
    assert.equal(wildcard.status, 200, wildcard.text);
    expectCreated(await send(other, recipient.address));

    const listed = await boss.api('GET', `${bySlug}/entries`);
    assert.equal(listed.status, 200, listed.text);
    const entries = (listed.body.policy as { entries: Entry[] }).entries;
    assert.deepEqual(
      entries.map((e) => e.sender_pattern),
      [sender.address, `agent://${a.slug}/*`],
    );

    const duplicate = await boss.api('POST', `${path}/entries`, { body: { sender_pattern: sender.address } });
    assert.equal(duplicate.status, 409, duplicate.text);
    assert.equal((duplicate.body.error as { code: string }).code, 'policy_entry_exists');

    for (const e of entries) {
      const del = await boss.api('DELETE', `${path}/entries/${e.entry_id}`);
      assert.equal(del.status, 200, del.text);
      assert.equal(del.body.deleted, true);
      const again = await boss.api('DELETE', `${path}/entries/${e.entry_id}`);
      assert.equal(again.status, 404, again.text);
      assert.equal((again.body.error as { code: string }).code, 'policy_entry_not_found');
    }
    expectDenied(await send(sender, recipient.address), 'sender_not_in_receive_allowlist');

    await boss.api('PUT', path, { body: { policy_type: 'open' } });
    const open = await send(other, recipient.address);
    expectCreated(open);
    assert.equal((await decisions(open)).length, 2, 'a cross-org allow is a policy decision');
    await boss.api('PUT', path, { body: { policy_type: 'closed' } });
    expectDenied(await send(other, recipient.address), 'receiver_org_closed');
  });

  test('an allowed cross-org intent reaches the recipient: its stream, its reads, its resolve', async () => {
    const [a, b, c] = [await newOrg(), await newOrg(), await newOrg()];
    const sender = await agent(a, 'sender');
    const recipient = await agent(b, 'worker');
    const boss = await agent(b, 'boss', 'admin');
    const outsider = await agent(c, 'outsider', 'admin');
    const open = await boss.api('PUT', `/v1/organizations/${b.id}/receive-policy`, {
      body: { policy_type: 'open' },
    });
    assert.equal(open.status, 200, open.text);

    const id = expectCreated(await send(sender, recipient.address));
    const frames = await until('the delivery on the recipient stream', async () => {
      const found = await streamed(recipient, id);
      return found.length ? found : undefined;
    });
    assert.equal(frames[0]!.data.intent_id, id);
    const seen = await recipient.api('GET', `/v1/intents/${id}`);
    assert.equal(seen.status, 200, seen.text);
    assert.equal((await recipient.api('GET', `/v1/intents/${id}/events?since=0`)).status, 200);
    const listed = await recipient.api('GET', `/v1/intents?to_agent=${enc(recipient.address)}`);
    assert.deepEqual(
      (listed.body.intents as { intent_id: string }[]).map((i) => i.intent_id),
      [id],
    );

    const done = await recipient.api('POST', `/v1/intents/${id}/resolve`, {
      body: { status: 'COMPLETED', result: { ok: true } },
    });
    assert.equal(done.status, 200, done.text);
    await waitFor(id, 'COMPLETED');
    const theSender = await sender.api('GET', `/v1/intents/${id}`);
    assert.equal((theSender.body.intent as { status: string }).status, 'COMPLETED');
    // A third org still sees nothing of it.
    assert.equal((await outsider.api('GET', `/v1/intents/${id}`)).status, 404);
    assert.equal((await outsider.api('GET', `/v1/intents/${id}/events?since=0`)).status, 404);
    const theirs = await outsider.api('GET', '/v1/intents');
    assert.ok(!theirs.text.includes(id));
  });

  test('an allowed cross-org intent to an http agent is POSTed to its callback, registered in its own org', async () => {
    // The binding was looked up in the sender's org, found nothing there and fell back to stream:
    // the http agent of the other org was never called.
    const sink = new HttpSink();
    await sink.start();
    try {
      const [a, b] = [await newOrg(), await newOrg()];
      const sender = await agent(a, 'sender');
      const boss = await agent(b, 'boss', 'admin');
      const hook = await registerTestAgent(prisma, {
        org: b.slug,
        name: 'hook',
        deliveryMode: 'http',
        callbackUrl: `${sink.url}/hook`,
      });
      const open = await boss.api('PUT', `/v1/organizations/${b.id}/receive-policy`, {
        body: { policy_type: 'open' },
      });
      assert.equal(open.status, 200, open.text);

      const id = expectCreated(await send(sender, hook.address));
      const [post] = await until('the POST to the recipient callback', () => {
        const posts = sink.for('/hook');
        return posts.length ? posts : undefined;
      });
      assert.equal(post!.body?.intent_id, id);
      // Recorded once the callback answered 2xx, so just after the POST.
      const delivered = await until('intent.delivered', async () =>
        (await eventsOf(id)).find((e) => e.event_type === 'intent.delivered'),
      );
      assert.equal(delivered.details.binding, 'http');
    } finally {
      await sink.stop();
    }
  });

  test('an agent receive override decides before the org policy', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const sender = await agent(a, 'sender');
    const other = await agent(a, 'other');
    const target = await agent(b, 'target');
    const neighbour = await agent(b, 'neighbour');
    const boss = await agent(b, 'boss', 'admin');
    const override = `/v1/agents/${enc(target.address)}/receive-override`;

    const initial = await boss.api('GET', override);
    assert.equal(initial.status, 200, initial.text);
    assert.deepEqual(initial.body, {
      ok: true,
      address: target.address,
      override: { override_type: 'use_org_default', entries: [] },
    });

    // Org closed, agent open: only this agent receives.
    assert.equal((await boss.api('PUT', override, { body: { override_type: 'open' } })).status, 200);
    expectCreated(await send(sender, target.address));
    expectDenied(await send(sender, neighbour.address), 'receiver_org_closed');

    // Org open, agent closed.
    await boss.api('PUT', `/v1/organizations/${b.id}/receive-policy`, { body: { policy_type: 'open' } });
    await boss.api('PUT', override, { body: { override_type: 'closed' } });
    expectDenied(await send(sender, target.address), 'receiver_agent_closed');
    expectCreated(await send(sender, neighbour.address));

    // An allowlist of its own, through the three-segment form of the address.
    const threeSeg = `/v1/agents/${segs(target.address)}/receive-override`;
    assert.equal((await boss.api('PUT', threeSeg, { body: { override_type: 'allowlist' } })).status, 200);
    const added = await boss.api('POST', `${threeSeg}/entries`, { body: { sender_pattern: sender.address } });
    assert.equal(added.status, 200, added.text);
    expectCreated(await send(sender, target.address));
    expectDenied(await send(other, target.address), 'sender_not_in_receive_allowlist');

    // The AXME CLI puts the address into the path as it is: /v1/agents/agent://org/ws/name/….
    const raw = await boss.api('PUT', `/v1/agents/${target.address}/receive-override`, {
      body: { override_type: 'use_org_default' },
    });
    assert.equal(raw.status, 200, raw.text);
    assert.equal(raw.body.address, target.address);
    expectCreated(await send(other, target.address));
    const rawGet = await boss.api('GET', `/v1/agents/${target.address}/receive-override/entries`);
    assert.equal((rawGet.body.override as { entries: Entry[] }).entries.length, 1);
  });

  test('an agent send policy applies to every sender, its own org included', async () => {
    const [c, a] = [await newOrg(), await newOrg()];
    const boss = await agent(c, 'boss', 'admin');
    const target = await agent(c, 'target');
    const first = await agent(c, 'first');
    const second = await agent(c, 'second');
    const outsider = await agent(a, 'outsider');
    const policy = `/v1/agents/${enc(target.address)}/policy`;

    const initial = await boss.api('GET', policy);
    assert.deepEqual(initial.body, {
      ok: true,
      address: target.address,
      policy: { policy_type: 'open', entries: [] },
    });

    assert.equal((await boss.api('PUT', policy, { body: { policy_type: 'denylist' } })).status, 200);
    const deny = await boss.api('POST', `${policy}/entries`, { body: { sender_pattern: first.address } });
    assert.equal(deny.status, 200, deny.text);
    assert.equal((deny.body.entry as Entry).decision, 'deny', 'an entry in a denylist denies by default');
    const denied = await send(first, target.address);
    expectDenied(denied, 'policy_denied');
    const [row] = await decisions(denied);
    assert.ok(row);
    assert.equal(row.orgId, c.id);
    assert.equal(row.details.cross_org, false);
    assert.deepEqual(row.details.policy, { kind: 'agent_send', type: 'denylist' });
    expectCreated(await send(second, target.address));

    // Allowlist: the explicit deny stays a deny; an unlisted sender is refused; listing admits it.
    await boss.api('PUT', policy, { body: { policy_type: 'allowlist' } });
    expectDenied(await send(first, target.address), 'policy_denied');
    expectDenied(await send(second, target.address), 'policy_denied');
    const listed = await boss.api('POST', `/v1/agents/${segs(target.address)}/policy/entries`, {
      body: { sender_pattern: `agent://${c.slug}/default/sec*`, decision: 'allow' },
    });
    assert.equal(listed.status, 200, listed.text);
    expectCreated(await send(second, target.address));

    // Across orgs both stages apply: the org lets the outsider in, the send policy still refuses it.
    await boss.api('PUT', `/v1/organizations/${c.slug}/receive-policy`, { body: { policy_type: 'open' } });
    expectDenied(await send(outsider, target.address), 'policy_denied');
  });

  test("a scenario's later agents are handovers from its submitter: a deny or an escalate refuses the apply", async () => {
    const [e, f] = [await newOrg(), await newOrg()];
    const boss = await agent(e, 'boss', 'admin');
    const first = await agent(e, 'first');
    const guarded = await agent(e, 'guarded');
    const held = await agent(e, 'held');
    const free = await agent(e, 'free');
    const foreign = await agent(f, 'foreign');
    for (const [target, decision] of [
      [guarded, 'deny'],
      [held, 'escalate'],
    ] as const) {
      const res = await boss.api('POST', `/v1/agents/${enc(target.address)}/policy/entries`, {
        body: {
          sender_pattern: boss.address,
          decision,
          ...(decision === 'escalate' ? { approver: first.address } : {}),
        },
      });
      assert.equal(res.status, 200, res.text);
    }
    type Later = { step?: string; escalation?: string };
    const apply = (later: Later) => {
      const scenarioId = `pol.scenario_${short()}`;
      const steps = [
        {
          step_id: 'build',
          assigned_to: first.address,
          ...(later.escalation ? { remind_after_seconds: 60, escalate_to: later.escalation } : {}),
        },
        ...(later.step ? [{ step_id: 'ship', assigned_to: later.step }] : []),
      ];
      const body = {
        scenario_id: scenarioId,
        agents: [{ role: 'made', address: `made-${short()}`, create_if_missing: true }],
        workflow: { steps },
        intent: { type: 'deploy.release.v1' },
      };
      return { scenarioId, res: boss.api('POST', '/v1/scenarios/apply', { body }) };
    };
    const refused: [Later, string][] = [
      [{ step: guarded.address }, 'policy_denied'],
      [{ step: held.address }, 'policy_denied'],
      [{ escalation: foreign.address }, 'receiver_org_closed'],
    ];
    for (const [later, code] of refused) {
      const { scenarioId, res } = apply(later);
      const answer = await res;
      expectDenied(answer, code);
      assert.equal(await prisma.client.intent.count({ where: { scenarioId } }), 0, JSON.stringify(later));
      assert.equal(
        await prisma.client.serviceAccount.count({ where: { orgId: e.id, name: { startsWith: 'made-' } } }),
        0,
        'nothing is provisioned for a refused apply',
      );
      const [row] = await decisions(answer);
      assert.ok(row, JSON.stringify(later));
      assert.deepEqual(
        [row.details.operation, row.details.decision, row.details.recipient],
        ['scenario_step', 'deny', later.step ?? later.escalation],
      );
    }

    // Allowed later agents apply, the bundle's own create_if_missing one among them.
    const { scenarioId, res } = apply({ step: 'made', escalation: free.address });
    const applied = await res;
    assert.equal(applied.status, 200, applied.text);
    assert.equal(await prisma.client.intent.count({ where: { scenarioId } }), 1);
  });

  test('escalate: held WAITING_FOR_APPROVAL, approved in the approver inbox, delivered, completed', async () => {
    const d = await newOrg();
    const boss = await agent(d, 'boss', 'admin');
    const handler = await agent(d, 'handler');
    const sender = await agent(d, 'sender');
    const lead = await agent(d, 'lead');
    const added = await boss.api('POST', `/v1/agents/${enc(handler.address)}/policy/entries`, {
      body: { sender_pattern: sender.address, decision: 'escalate', approver: lead.address },
    });
    assert.equal(added.status, 200, added.text);
    const entry = added.body.entry as Entry;
    assert.equal(entry.approver, lead.address);

    const created = await send(sender, handler.address, { reply_to: sender.address });
    const id = expectCreated(created);
    assert.equal(created.body.status, 'SUBMITTED');
    const [row] = await decisions(created);
    assert.ok(row);
    assert.deepEqual([row.outcome, row.details.decision, row.targetId], ['success', 'escalate', id]);
    assert.equal(row.details.approver, lead.address);

    const held = await waitFor(id, 'WAITING', 'WAITING_FOR_APPROVAL');
    assert.deepEqual(held.pending_with, { type: 'human', ref: lead.address, name: 'policy approval' });
    assert.deepEqual(held.policy_decision, {
      decision: 'escalate',
      code: 'escalated',
      approver: lead.address,
      rule: {
        entry_id: entry.entry_id,
        kind: 'agent_send',
        sender_pattern: sender.address,
        decision: 'escalate',
        approver: lead.address,
      },
    });
    assert.deepEqual(await streamed(handler, id), [], 'the handler does not have it yet');
    const early = await handler.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    assert.equal(early.status, 409, early.text);
    assert.equal((early.body.error as { code: string }).code, 'approval_pending');

    const thread = await approvalThread(lead, id);
    assert.equal(thread.status, 'pending');
    assert.equal(thread.owner_agent, lead.address);
    const task = thread.messages[0]!.content;
    assert.deepEqual((task.intent as { payload: unknown }).payload, { change: 'CHG-7' });
    assert.equal(thread.timeline[0]!.event_type, 'approval_requested');

    // Only the approver (or an admin acting for it) decides.
    const stranger = await handler.api('POST', `/v1/inbox/${thread.thread_id}/approve`, { body: {} });
    assert.equal(stranger.status, 404, stranger.text);

    const approve = await lead.api('POST', `/v1/inbox/${thread.thread_id}/approve`, {
      body: { comment: 'known change' },
    });
    assert.equal(approve.status, 200, approve.text);
    const decided = approve.body.thread as Thread;
    assert.equal(decided.status, 'done');
    const approvedEntry = decided.timeline.find((t) => t.event_type === 'approved');
    assert.equal(approvedEntry?.details.intent_status, 'DELIVERED');

    await waitFor(id, 'DELIVERED');
    const frames = await streamed(handler, id);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.data.status, 'DELIVERED');
    const twice = await lead.api('POST', `/v1/inbox/${thread.thread_id}/approve`, { body: {} });
    assert.equal(twice.status, 409, twice.text);

    const done = await handler.api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'complete', result: { reviewed: true } },
    });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.status, 'COMPLETED');
    const events = await eventsOf(id);
    assert.deepEqual(
      events.map((e) => [e.event_type, e.status, e.waiting_reason]),
      [
        ['intent.created', 'CREATED', null],
        ['intent.submitted', 'SUBMITTED', null],
        ['intent.waiting', 'WAITING', 'WAITING_FOR_APPROVAL'],
        ['intent.delivered', 'DELIVERED', null],
        ['intent.in_progress', 'IN_PROGRESS', null],
        ['intent.completed', 'COMPLETED', null],
      ],
    );
    assert.deepEqual(events[3]!.details.approval, {
      decision: 'approved',
      approver: lead.address,
      comment: 'known change',
      approval_id: thread.thread_id,
    });
    const audit = await prisma.client.auditEvent.findMany({
      where: { targetId: id, action: 'intent.policy_approval' },
    });
    assert.equal(audit.length, 1);
    assert.equal((audit[0]!.details as { decision: string }).decision, 'approved');
  });

  test('escalate across orgs: the recipient decides in its own inbox; reject ends FAILED policy_denied', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const sender = await agent(a, 'sender');
    const recipient = await agent(b, 'desk');
    const boss = await agent(b, 'boss', 'admin');
    const org = `/v1/organizations/${b.id}/receive-policy`;
    await boss.api('PUT', org, { body: { policy_type: 'open' } });
    const added = await boss.api('POST', `${org}/entries`, {
      body: { sender_pattern: `agent://${a.slug}/*`, decision: 'escalate' },
    });
    assert.equal(added.status, 200, added.text);

    // Rejected through /v1/approvals/{intent_id}/decision, by the recipient (the default approver).
    const rejectedId = expectCreated(await send(sender, recipient.address));
    const held = await sender.api('GET', `/v1/intents/${rejectedId}`);
    assert.equal(held.status, 200, held.text);
    await waitFor(rejectedId, 'WAITING', 'WAITING_FOR_APPROVAL');
    const thread = await approvalThread(recipient, rejectedId);
    const rejected = await recipient.api('POST', `/v1/approvals/${rejectedId}/decision`, {
      body: { decision: 'reject', comment: 'unknown vendor' },
    });
    assert.equal(rejected.status, 200, rejected.text);
    assert.equal((rejected.body.approval as { approval_id: string }).approval_id, thread.thread_id);
    const failed = await waitFor(rejectedId, 'FAILED');
    const error = failed.error as { code: string; message: string; details: Record<string, unknown> };
    assert.equal(error.code, 'policy_denied');
    assert.match(error.message, /unknown vendor/);
    assert.equal(error.details.comment, 'unknown vendor');
    assert.ok(!(await eventsOf(rejectedId)).some((e) => e.event_type === 'intent.delivered'));
    const again = await recipient.api('POST', `/v1/approvals/${thread.thread_id}/decision`, {
      body: { decision: 'approve' },
    });
    assert.equal(again.status, 409, again.text);

    // Approved through /v1/approvals/{thread_id}/decision.
    const approvedId = expectCreated(await send(sender, recipient.address));
    const second = await approvalThread(recipient, approvedId);
    const approved = await recipient.api('POST', `/v1/approvals/${second.thread_id}/decision`, {
      body: { decision: 'approve' },
    });
    assert.equal(approved.status, 200, approved.text);
    await waitFor(approvedId, 'DELIVERED');
  });

  test('an approval delegated to another approver is decided by the new owner', async () => {
    const d = await newOrg();
    const boss = await agent(d, 'boss', 'admin');
    const handler = await agent(d, 'handler');
    const sender = await agent(d, 'sender');
    const deputy = await agent(d, 'deputy');
    await boss.api('POST', `/v1/agents/${enc(handler.address)}/policy/entries`, {
      body: { sender_pattern: sender.address, decision: 'escalate' },
    });
    const id = expectCreated(await send(sender, handler.address));
    const thread = await approvalThread(handler, id);
    const delegated = await handler.api('POST', `/v1/inbox/${thread.thread_id}/delegate`, {
      body: { delegate_to: deputy.address, note: 'you decide' },
    });
    assert.equal(delegated.status, 200, delegated.text);
    const moved = delegated.body.thread as Thread;
    assert.equal(moved.owner_agent, deputy.address);
    assert.equal(moved.timeline.find((t) => t.event_type === 'delegated')?.details.intent_transferred, false);
    assert.equal((await intent(id)).handler, handler.address, 'the handler stays');
    const old = await handler.api('POST', `/v1/inbox/${thread.thread_id}/approve`, { body: {} });
    assert.equal(old.status, 404, old.text);
    const approved = await deputy.api('POST', `/v1/inbox/${thread.thread_id}/approve`, { body: {} });
    assert.equal(approved.status, 200, approved.text);
    await waitFor(id, 'DELIVERED');
    const delivered = (await eventsOf(id)).find((e) => e.event_type === 'intent.delivered');
    assert.equal((delivered?.details.approval as { approver: string }).approver, deputy.address);
  });

  test('a deadline or a cancel while waiting for approval ends the intent and closes the task', async () => {
    const d = await newOrg();
    const boss = await agent(d, 'boss', 'admin');
    const handler = await agent(d, 'handler');
    const sender = await agent(d, 'sender');
    await boss.api('POST', `/v1/agents/${enc(handler.address)}/policy/entries`, {
      body: { sender_pattern: '*', decision: 'escalate' },
    });

    const timed = expectCreated(
      await send(sender, handler.address, { deadline_at: new Date(Date.now() + 2_500).toISOString() }),
    );
    await waitFor(timed, 'WAITING', 'WAITING_FOR_APPROVAL');
    const timedThread = await approvalThread(handler, timed);
    await waitFor(timed, 'TIMED_OUT');
    const closed = await until('the approval thread closed', async () => {
      const res = await handler.api('GET', `/v1/inbox/${timedThread.thread_id}`);
      const t = res.body.thread as Thread;
      return t.status === 'done' ? t : undefined;
    });
    assert.ok(closed.timeline.some((t) => t.event_type === 'intent_ended'));
    const late = await handler.api('POST', `/v1/inbox/${timedThread.thread_id}/approve`, { body: {} });
    assert.equal(late.status, 409, late.text);

    const canceled = expectCreated(await send(sender, handler.address));
    await waitFor(canceled, 'WAITING', 'WAITING_FOR_APPROVAL');
    const cancel = await sender.api('POST', `/v1/intents/${canceled}/resolve`, {
      body: { status: 'CANCELED', reason: 'not needed' },
    });
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal((await intent(canceled)).status, 'CANCELED');
    const thread = await approvalThread(handler, canceled);
    await until('the canceled intent thread closed', async () => {
      const res = await handler.api('GET', `/v1/inbox/${thread.thread_id}`);
      return (res.body.thread as Thread).status === 'done' ? true : undefined;
    });
  });

  test('policy routes: roles, other orgs, bad input, unauthenticated', async () => {
    const [a, b] = [await newOrg(), await newOrg()];
    const boss = await agent(a, 'boss', 'admin');
    const operator = await agent(a, 'ops', 'operator');
    const member = await agent(a, 'member');
    const target = await agent(a, 'target');
    const foreign = await agent(b, 'foreign');
    const org = `/v1/organizations/${a.id}/receive-policy`;
    const sendPolicy = `/v1/agents/${enc(target.address)}/policy`;

    // Reads need operator, writes admin.
    assert.equal((await operator.api('GET', org)).status, 200);
    assert.equal((await operator.api('GET', sendPolicy)).status, 200);
    for (const [api, method, path, body] of [
      [member.api, 'GET', org, undefined],
      [member.api, 'PUT', org, { policy_type: 'open' }],
      [operator.api, 'PUT', org, { policy_type: 'open' }],
      [operator.api, 'PUT', sendPolicy, { policy_type: 'denylist' }],
      [member.api, 'POST', `${sendPolicy}/entries`, { sender_pattern: '*' }],
    ] as const) {
      const res = await api(method, path, body ? { body } : {});
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      assert.equal((res.body.error as { code: string }).code, 'insufficient_role');
    }
    assert.equal(((await boss.api('GET', org)).body.policy as { policy_type: string }).policy_type, 'closed');

    // Another org's policies do not exist for this org's admin.
    for (const path of [
      `/v1/organizations/${b.id}/receive-policy`,
      `/v1/organizations/${b.slug}/receive-policy`,
      `/v1/agents/${enc(foreign.address)}/policy`,
      `/v1/agents/${segs(foreign.address)}/receive-override`,
      `/v1/organizations/${randomUUID()}/receive-policy`,
    ]) {
      const res = await boss.api('GET', path);
      assert.equal(res.status, 404, `${path}: ${res.text}`);
      const put = await boss.api('PUT', path, { body: { policy_type: 'open', override_type: 'open' } });
      assert.equal(put.status, 404, `${path}: ${put.text}`);
    }
    assert.equal(
      (await boss.api('GET', `/v1/agents/${enc(`agent://${a.slug}/default/nobody`)}/policy`)).status,
      404,
    );
    const badAddress = await boss.api('GET', `/v1/agents/${enc('not an address')}/policy`);
    assert.equal(badAddress.status, 422, badAddress.text);

    // Malformed and out-of-range bodies.
    const override = `/v1/agents/${enc(target.address)}/receive-override`;
    const cases: [string, string, unknown, string][] = [
      ['PUT', org, {}, 'policy_type'],
      ['PUT', org, { policy_type: 'sometimes' }, 'policy_type'],
      ['PUT', org, { policy_type: 'denylist' }, 'policy_type'],
      ['PUT', org, { policy_type: 7 }, 'policy_type'],
      ['PUT', sendPolicy, { policy_type: 'closed' }, 'policy_type'],
      ['PUT', override, { policy_type: 'open' }, 'override_type'],
      ['POST', `${org}/entries`, {}, 'sender_pattern'],
      ['POST', `${org}/entries`, { sender_pattern: 'agent://x-y/**' }, 'sender_pattern'],
      ['POST', `${org}/entries`, { sender_pattern: `agent://${'a'.repeat(400)}/*` }, 'sender_pattern'],
      ['POST', `${org}/entries`, { sender_pattern: '*', decision: 'perhaps' }, 'decision'],
      ['POST', `${org}/entries`, { sender_pattern: '*', approver: boss.address }, 'approver'],
      ['POST', `${org}/entries`, { sender_pattern: '*', decision: 'escalate', approver: 'nope' }, 'approver'],
      [
        'POST',
        `${org}/entries`,
        { sender_pattern: '*', decision: 'escalate', approver: foreign.address },
        'approver',
      ],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await boss.api(method, path, { body });
      assert.equal(res.status, 422, `${method} ${path} ${JSON.stringify(body)}: ${res.text}`);
      const errors = (res.body.error as { details: { errors: { path: string }[] } }).details.errors;
      assert.ok(
        errors.some((e) => e.path === field),
        `${JSON.stringify(body)} should fail on ${field}: ${res.text}`,
      );
    }
    const invalidPattern = await boss.api('POST', `${org}/entries`, {
      body: { sender_pattern: 'agent://x-y/**' },
    });
    assert.equal((invalidPattern.body.error as { code: string }).code, 'invalid_sender_pattern');
    const notJson = await boss.api('PUT', org, {
      rawBody: '{"policy_type":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(notJson.status, 400, notJson.text);
    assert.equal((await boss.api('DELETE', `${org}/entries/not-a-uuid`)).status, 404);
    // Nothing of that changed the policy.
    assert.deepEqual((await boss.api('GET', org)).body.policy, { policy_type: 'closed', entries: [] });

    // An entry of one list is not found through another.
    const entry = await boss.api('POST', `${sendPolicy}/entries`, {
      body: { sender_pattern: member.address },
    });
    assert.equal(entry.status, 200, entry.text);
    const entryId = (entry.body.entry as Entry).entry_id;
    assert.equal((await boss.api('DELETE', `${override}/entries/${entryId}`)).status, 404);
    assert.equal((await boss.api('DELETE', `${org}/entries/${entryId}`)).status, 404);

    // The same Idempotency-Key gives the same entry again.
    const key = { 'idempotency-key': `entry-${short()}` };
    const once = await boss.api('POST', `${org}/entries`, { body: { sender_pattern: '*' }, headers: key });
    const twice = await boss.api('POST', `${org}/entries`, { body: { sender_pattern: '*' }, headers: key });
    assert.equal(once.status, 200, once.text);
    assert.equal(twice.status, 200, twice.text);
    assert.equal((twice.body.entry as Entry).entry_id, (once.body.entry as Entry).entry_id);

    // Writes are audited.
    const writes = await prisma.client.auditEvent.findMany({
      where: { orgId: a.id, action: { startsWith: 'policy.' } },
    });
    assert.ok(writes.some((w) => w.action === 'policy.entry.create' && w.actorId === boss.id));

    // No credential: 401 on every route and method.
    for (const [method, path] of [
      ['GET', org],
      ['PUT', org],
      ['POST', `${org}/entries`],
      ['DELETE', `${org}/entries/${entryId}`],
      ['GET', sendPolicy],
      ['PUT', override],
    ] as const) {
      const res = await anonymous(method, path, method === 'GET' || method === 'DELETE' ? {} : { body: {} });
      assert.equal(res.status, 401, `${method} ${path}: ${res.text}`);
    }
    // A platform admin may read and write any org's policy.
    assert.equal((await admin('GET', `/v1/organizations/${b.slug}/receive-policy`)).status, 200);
    assert.equal((await admin('GET', `/v1/agents/${enc(foreign.address)}/policy`)).status, 200);
  });
});
