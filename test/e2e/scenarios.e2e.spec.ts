// ScenarioBundle validate/apply end to end (SPEC §6, reference §3.9): real gateway and worker, real
// PostgreSQL, Redis and Temporal. Agents act through the API with their own keys; the one external
// edge, a webhook receiver for notification steps, is a local node:http server.
import { PrismaService } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  magicLinkOf,
  SmtpSink,
  registerTestAgent,
  requireEnv,
  type TestAgent,
  TEST_ADMIN_KEY,
  until,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';

type Api = ReturnType<typeof apiClient>;
type Event = {
  seq: number;
  event_type: string;
  status: string;
  waiting_reason: string | null;
  handler: string | null;
  details: Record<string, unknown>;
};

let axle: AxleProcesses;
let prisma: PrismaService;
let admin: Api;
let sink: SmtpSink;
let receiver: { server: Server; url: string; posts: { headers: IncomingHttpHeaders; raw: string }[] };

async function agent(
  prefix: string,
  extra: { webhookSecret?: string } = {},
): Promise<TestAgent & { api: Api }> {
  const created = await registerTestAgent(prisma, {
    name: `${prefix}-${randomUUID().slice(0, 8)}`,
    ...extra,
  });
  return { ...created, api: apiClient(axle.baseUrl, created.key) };
}

async function events(id: string): Promise<Event[]> {
  const res = await admin('GET', `/v1/intents/${id}/events?since=0`);
  assert.equal(res.status, 200, res.text);
  return res.body.events as Event[];
}

async function intent(id: string): Promise<Record<string, unknown>> {
  const res = await admin('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.intent as Record<string, unknown>;
}

/** Waits until the intent is at `step` with `status`. */
async function atStep(id: string, step: string, status?: string): Promise<Record<string, unknown>> {
  return until(`intent ${id} at step ${step} ${status ?? ''}`, async () => {
    const current = await intent(id);
    return current.current_step === step && (!status || current.status === status) ? current : undefined;
  });
}

async function terminal(id: string): Promise<Record<string, unknown>> {
  return until(`intent ${id} terminal`, async () => {
    const current = await intent(id);
    return ['COMPLETED', 'FAILED', 'CANCELED', 'TIMED_OUT'].includes(current.status as string)
      ? current
      : undefined;
  });
}

async function apply(bundle: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await admin('POST', '/v1/scenarios/apply', { body: bundle, headers });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

function scenarioId(): string {
  return `test.scenario_${randomUUID().slice(0, 8)}`;
}

before(async () => {
  prisma = new PrismaService(requireEnv('DATABASE_URL'));
  receiver = { server: createServer(), url: '', posts: [] };
  receiver.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.posts.push({ headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('{"ack":true}');
    });
  });
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as { port: number }).port}/notify`;
  sink = new SmtpSink();
  await sink.start();
  axle = await AxleProcesses.create({ SMTP_URL: sink.url });
  await axle.startAll(['gateway', 'worker', 'runner']);
  admin = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
});

after(async () => {
  await axle?.stopAll();
  receiver?.server.closeAllConnections();
  await new Promise((resolve) => receiver?.server.close(resolve));
  await sink?.stop();
  await prisma?.onModuleDestroy();
});

const email = (who: string) => `${who}-${randomUUID().slice(0, 8)}@example.com`;

async function postForm(link: string, fields: Record<string, string>): Promise<Response> {
  return fetch(link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

describe('POST /v1/scenarios/validate', () => {
  test('a bundle with the documented extras is valid', async () => {
    const a = await agent('builder');
    const res = await admin('POST', '/v1/scenarios/validate', {
      body: {
        scenario_id: scenarioId(),
        title: 'Deploy with approval',
        agents: [{ role: 'builder', address: a.address, delivery_mode: 'stream' }],
        humans: [{ role: 'approver', contact: 'ops@example.com' }],
        workflow: {
          entry_step: 'build',
          parameters: { env: 'prod' },
          steps: [
            { step_id: 'build', assigned_to: 'builder', input: { target: 'api' } },
            {
              step_id: 'approve',
              assigned_to: 'approver',
              human_task: { title: 'Ship it?', notify_email: 'ops@example.com' },
            },
          ],
        },
        intent: { type: 'deploy.release.v1', payload: { version: '3.2.1' } },
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { ok: true, valid: true, errors: [], warnings: [] });
  });

  test('unknown fields, broken graphs and unknown roles are errors; unreachable steps are warnings', async () => {
    const a = await agent('builder');
    const res = await admin('POST', '/v1/scenarios/validate', {
      body: {
        scenario_id: scenarioId(),
        agents: [{ role: 'builder', address: a.address }],
        workflow: { steps: [{ step_id: 'build', assigned_to: 'builder', on_sucess: 'x' }] },
        intent: { type: 'deploy.release.v1' },
      },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.valid, false);
    assert.ok(
      (res.body.errors as string[]).some((e) => e.includes('on_sucess')),
      res.text,
    );

    const graph = await admin('POST', '/v1/scenarios/validate', {
      body: {
        scenario_id: scenarioId(),
        agents: [{ role: 'builder', address: a.address }],
        workflow: {
          steps: [
            { step_id: 'build', assigned_to: 'builder', on_success: 'ship', on_failure: 'nowhere' },
            { step_id: 'orphan', assigned_to: 'builder' },
            { step_id: 'ship', assigned_to: 'deployer' },
          ],
        },
        intent: { type: 'deploy.release.v1' },
      },
    });
    const errors = graph.body.errors as string[];
    assert.equal(graph.body.valid, false);
    assert.ok(
      errors.some((e) => e.includes('no step "nowhere"')),
      graph.text,
    );
    assert.ok(
      errors.some((e) => e.includes('"deployer"')),
      graph.text,
    );
    assert.ok(
      (graph.body.warnings as string[]).some((w) => w.includes('orphan')),
      graph.text,
    );
  });

  test('an agent that is not registered and not create_if_missing is an error', async () => {
    const res = await admin('POST', '/v1/scenarios/validate', {
      body: {
        scenario_id: scenarioId(),
        agents: [{ role: 'ghost', address: `ghost-${randomUUID().slice(0, 8)}` }],
        intent: { type: 'deploy.release.v1' },
      },
    });
    assert.equal(res.body.valid, false);
    assert.match((res.body.errors as string[]).join(), /not registered/);
  });
});

describe('POST /v1/scenarios/apply', () => {
  test('agent → agent with a worker restart between steps; each advance is a transfer', async () => {
    const builder = await agent('builder');
    const deployer = await agent('deployer');
    const body = await apply({
      scenario_id: scenarioId(),
      agents: [
        { role: 'builder', address: builder.address },
        { role: 'deployer', address: deployer.address },
      ],
      workflow: {
        steps: [
          { step_id: 'build', assigned_to: 'builder', input: { target: 'api' } },
          { step_id: 'deploy', assigned_to: 'deployer' },
        ],
      },
      intent: { type: 'deploy.release.v1', payload: { version: '3.2.1' } },
    });
    const id = body.intent_id as string;
    assert.equal(body.compile_id, body.workflow_compile_id);
    assert.deepEqual(body.agents, [
      { role: 'builder', address: builder.address, created: false },
      { role: 'deployer', address: deployer.address, created: false },
    ]);
    assert.ok(Array.isArray(body.agents_provisioned));
    assert.equal(body.scenario_id, (await intent(id)).scenario_id);

    const delivered = await atStep(id, 'build', 'DELIVERED');
    assert.deepEqual(delivered.pending_with, { type: 'agent', ref: builder.address, name: 'build' });
    const stream = await builder.api(
      'GET',
      `/v1/agents/${builder.address.slice('agent://'.length)}/intents/stream?since=0&wait_seconds=2`,
    );
    assert.match(stream.text, new RegExp(id));

    // The deployer may not act for the build step.
    const early = await deployer.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    assert.equal(early.status, 403, early.text);
    const built = await builder.api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'complete', result: { artifact: 'api:3.2.1' } },
    });
    assert.equal(built.status, 200, built.text);
    await atStep(id, 'deploy');

    await axle.stop('worker');
    axle.start('worker');
    await axle.waitReady();

    const deployed = await deployer.api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'complete', result: { url: 'https://api' } },
    });
    assert.equal(deployed.status, 200, deployed.text);
    const done = await terminal(id);
    assert.equal(done.status, 'COMPLETED');
    assert.deepEqual((done.result as Record<string, unknown>).steps, {
      build: { artifact: 'api:3.2.1' },
      deploy: { url: 'https://api' },
    });
    const transfers = (await events(id)).filter((e) => e.event_type === 'intent.transfer');
    assert.equal(transfers.length, 1);
    assert.equal(transfers[0]!.details.step_id, 'deploy');
    assert.equal(transfers[0]!.details.from_step, 'build');
    assert.equal(transfers[0]!.handler, deployer.address);
    const seqs = (await events(id)).map((e) => e.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
    );
  });

  test('agent → human approval by magic link → agent, with the worker restarted while WAITING', async () => {
    const builder = await agent('builder');
    const deployer = await agent('deployer');
    const approver = email('approver');
    const body = await apply({
      scenario_id: scenarioId(),
      agents: [
        { role: 'builder', address: builder.address },
        { role: 'deployer', address: deployer.address },
      ],
      humans: [{ role: 'approver', contact: approver }],
      workflow: {
        steps: [
          { step_id: 'build', assigned_to: 'builder' },
          {
            step_id: 'approve',
            runtime_type: 'human_approval',
            assigned_to: 'approver',
            human_task: { title: 'Deploy api-gateway 3.2.1?', required_comment: true },
          },
          { step_id: 'deploy', assigned_to: 'deployer' },
        ],
      },
      intent: { type: 'deploy.release.v1', payload: { version: '3.2.1' } },
    });
    const id = body.intent_id as string;
    await atStep(id, 'build', 'DELIVERED');
    await builder.api('POST', `/v1/intents/${id}/resume`, {
      body: { action: 'complete', result: { ok: 1 } },
    });
    const waiting = await atStep(id, 'approve', 'WAITING');
    assert.equal(waiting.waiting_reason, 'WAITING_FOR_HUMAN');
    assert.equal((waiting.pending_with as Record<string, unknown>).type, 'human');
    assert.equal((waiting.pending_with as Record<string, unknown>).ref, approver);
    const [mail] = await sink.waitFor(approver);
    const link = magicLinkOf(mail!);

    await axle.stop('worker');
    axle.start('worker');
    await axle.waitReady();

    const page = await fetch(link);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Deploy api-gateway 3\.2\.1\?/);
    // The task needs a comment: the form comes back with the error and the link still works.
    assert.equal((await postForm(link, { outcome: 'approved' })).status, 422);
    const decided = await postForm(link, { outcome: 'approved', comment: 'go' });
    assert.equal(decided.status, 200, await decided.text());
    await atStep(id, 'deploy');
    const done = await deployer.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    assert.equal(done.status, 200, done.text);
    const final = await terminal(id);
    assert.equal(final.status, 'COMPLETED');
    const steps = (final.result as { steps: Record<string, { task_result?: { outcome: string } }> }).steps;
    assert.equal(steps.approve?.task_result?.outcome, 'approved');
    assert.equal((await postForm(link, { outcome: 'approved', comment: 'again' })).status, 410);
    const transfers = (await events(id)).filter((e) => e.event_type === 'intent.transfer');
    assert.deepEqual(
      transfers.map((e) => [e.details.step_id, (e.details.from_step as string) ?? null]),
      [
        ['approve', 'build'],
        ['deploy', 'approve'],
      ],
    );
  });

  test("unanswered reminders escalate a person's step to another; a rejection takes on_failure (an email)", async () => {
    const approver = email('approver');
    const lead = email('lead');
    const body = await apply({
      scenario_id: scenarioId(),
      humans: [
        { role: 'approver', contact: approver },
        { role: 'lead', contact: lead },
      ],
      workflow: {
        steps: [
          {
            step_id: 'approve',
            assigned_to: 'approver',
            human_task: { title: 'Approve the budget', task_type: 'approval' },
            remind_after_seconds: 1,
            remind_interval_seconds: 1,
            max_reminders: 2,
            escalate_to: 'lead',
            on_failure: 'alert',
          },
          { step_id: 'ship', runtime_type: 'delay', runtime_config: { seconds: 0 } },
          {
            step_id: 'alert',
            runtime_type: 'notification',
            runtime_config: { channel: 'email', to: ['lead'], subject: 'Budget rejected', message: 'no' },
          },
        ],
      },
      intent: { type: 'finance.budget.v1', payload: { amount: 100 } },
    });
    const id = body.intent_id as string;
    const [assigned] = await sink.waitFor(approver);
    const [escalatedMail] = await sink.waitFor(lead, { filter: (m) => m.text.includes('/h/') });
    const list = await events(id);
    const reminders = list.filter((e) => e.event_type === 'intent.reminder');
    assert.equal(reminders.length, 2);
    const at = (e: Event) => Date.parse((e as unknown as { at: string }).at);
    assert.ok(at(reminders[1]!) - at(reminders[0]!) >= 900, 'reminders are remind_interval_seconds apart');
    assert.equal((await sink.waitFor(approver, { count: 3 })).length, 3, 'assignment + 2 reminders');
    const escalated = list.find((e) => e.event_type === 'intent.escalated');
    assert.deepEqual(escalated?.details.escalated_to, [lead]);
    // The lead's task (and its email) opens before the event that names the lead as pending_with.
    await until('pending_with to name the lead', async () => {
      const current = await intent(id);
      return (current.pending_with as Record<string, unknown>).ref === lead ? true : undefined;
    });
    // The approver's task closed with the escalation; only the lead decides now.
    const stale = await postForm(magicLinkOf(assigned!), { outcome: 'approved' });
    assert.ok(stale.status >= 400, `stale link answered ${stale.status}`);
    const rejected = await postForm(magicLinkOf(escalatedMail!), { outcome: 'rejected' });
    assert.equal(rejected.status, 200, await rejected.text());
    const final = await terminal(id);
    assert.equal(final.status, 'COMPLETED');
    assert.equal((final.result as { last_step: string }).last_step, 'alert');
    const alert = await sink.waitFor(lead, { filter: (m) => m.subject === 'Budget rejected' });
    assert.match(alert[0]!.text, new RegExp(id));
  });

  test('requires_approval, a reminder step and an escalation step to another agent', async () => {
    const worker = await agent('worker');
    const backup = await agent('backup');
    const approver = email('approver');
    const body = await apply({
      scenario_id: scenarioId(),
      agents: [
        { role: 'worker', address: worker.address },
        { role: 'backup', address: backup.address },
      ],
      humans: [{ role: 'approver', contact: approver }],
      workflow: {
        steps: [
          { step_id: 'work', assigned_to: 'worker', requires_approval: true },
          {
            step_id: 'nudge',
            runtime_type: 'reminder',
            runtime_config: { to: ['approver'], message: 'FYI' },
          },
          { step_id: 'handoff', runtime_type: 'escalation', runtime_config: { to: 'backup' } },
        ],
      },
      intent: { type: 'ops.job.v1' },
    });
    const id = body.intent_id as string;
    await atStep(id, 'work', 'DELIVERED');
    await worker.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete', result: { n: 7 } } });
    const waiting = await atStep(id, 'work', 'WAITING');
    assert.equal(waiting.waiting_reason, 'WAITING_FOR_HUMAN');
    const [mail] = await sink.waitFor(approver);
    const approved = await postForm(magicLinkOf(mail!), { outcome: 'approved' });
    assert.equal(approved.status, 200, await approved.text());
    await until('the handoff to the backup agent', async () =>
      (await intent(id)).handler === backup.address ? true : undefined,
    );
    const nudge = await sink.waitFor(approver, { filter: (m) => m.text.includes('FYI') });
    assert.match(nudge[0]!.text, new RegExp(id));
    // The escalation handed the step to the backup agent: the worker may no longer act.
    const stale = await worker.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    assert.equal(stale.status, 403, stale.text);
    const took = await backup.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'complete' } });
    assert.equal(took.status, 200, took.text);
    const final = await terminal(id);
    assert.equal(final.status, 'COMPLETED');
    const steps = (final.result as { steps: Record<string, Record<string, unknown>> }).steps;
    assert.deepEqual(steps.work?.step_result, { n: 7 });
    assert.equal(
      (steps.work?.approval as { task_result: { outcome: string } }).task_result.outcome,
      'approved',
    );
    const list = await events(id);
    assert.ok(list.some((e) => e.event_type === 'intent.reminder' && e.details.step_id === 'nudge'));
    const escalated = list.find((e) => e.event_type === 'intent.escalated');
    assert.equal(escalated?.details.escalated_to, backup.address);
    assert.equal(escalated?.details.step_id, 'handoff');
  });

  test('exec_job steps wait WAITING_FOR_TOOL for a sandboxed job; a non-zero exit takes on_failure', async () => {
    const body = await apply({
      scenario_id: scenarioId(),
      workflow: {
        steps: [
          {
            step_id: 'build',
            runtime_type: 'exec_job',
            runtime_config: {
              sandbox_tier: 'kernel',
              command: ['sh', '-c', 'echo built > out.txt; cat out.txt'],
            },
          },
          {
            step_id: 'check',
            runtime_type: 'exec_job',
            runtime_config: { sandbox_tier: 'kernel', command: ['sh', '-c', 'exit 3'] },
            on_failure: 'recover',
          },
          { step_id: 'unreached', runtime_type: 'delay', runtime_config: { seconds: 0 } },
          { step_id: 'recover', runtime_type: 'delay', runtime_config: { seconds: 0 } },
        ],
      },
      intent: { type: 'ops.build.v1' },
    });
    const id = body.intent_id as string;
    const done = await terminal(id);
    assert.equal(done.status, 'COMPLETED');
    const steps = (done.result as { steps: Record<string, Record<string, unknown>> }).steps;
    assert.equal(steps.build?.status, 'exited');
    assert.equal(steps.build?.exit_code, 0);
    assert.match(String(steps.build?.logs), /^\/v1\/exec\/jobs\/[0-9a-f-]{36}\/attach$/);
    assert.equal(steps.check?.exit_code, 3);
    assert.equal(steps.unreached, undefined);
    const list = await events(id);
    const tools = list.filter((e) => e.waiting_reason === 'WAITING_FOR_TOOL');
    assert.deepEqual(
      tools.map((e) => e.details.step_id),
      ['build', 'check'],
    );
    const job = await prisma.client.execJob.findUniqueOrThrow({ where: { id: String(steps.build?.job_id) } });
    assert.equal(job.status, 'exited');
    assert.ok(job.logBytes > 0n, 'the job wrote its output to its log');
    const session = await prisma.client.execSession.findUniqueOrThrow({ where: { id: job.sessionId } });
    assert.equal(session.grantedTier, 'kernel');
  });

  test('an exec_job step the sandbox refuses fails the step, and the intent with it', async () => {
    const body = await apply({
      scenario_id: scenarioId(),
      workflow: {
        steps: [
          {
            step_id: 'build',
            runtime_type: 'exec_job',
            runtime_config: { sandbox_tier: 'kernel', capabilities: [], command: ['true'] },
          },
        ],
      },
      intent: { type: 'ops.build.v1' },
    });
    const done = await terminal(body.intent_id as string);
    assert.equal(done.status, 'FAILED');
    const details = (done.error as { details: { error: { code: string } } }).details;
    assert.equal(details.error.code, 'capability_denied');
  });

  test('a failing step is retried, then takes on_failure: a signed webhook notification that never blocks', async () => {
    const secret = `whsec_${randomUUID()}`;
    const worker = await agent('flaky');
    const submitter = await agent('submitter', { webhookSecret: secret });
    // The submitter needs no admin role to apply a bundle of registered agents.
    const res = await submitter.api('POST', '/v1/scenarios/apply', {
      body: {
        scenario_id: scenarioId(),
        agents: [{ role: 'worker', address: worker.address }],
        workflow: {
          steps: [
            {
              step_id: 'work',
              assigned_to: 'worker',
              retry: { max_retries: 1, retry_delay_seconds: 1 },
              on_failure: 'alert',
            },
            { step_id: 'done', runtime_type: 'delay', runtime_config: { seconds: 0 } },
            {
              step_id: 'alert',
              runtime_type: 'notification',
              runtime_config: { channel: 'webhook', url: receiver.url, message: 'work failed' },
            },
          ],
        },
        intent: { type: 'ops.job.v1', payload: {} },
      },
    });
    assert.equal(res.status, 200, res.text);
    const id = res.body.intent_id as string;
    await atStep(id, 'work', 'DELIVERED');
    const fail = () =>
      worker.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'fail', error: { code: 'boom' } } });
    assert.equal((await fail()).status, 200);
    const retried = await until('the retry redelivery', async () => {
      const list = await events(id);
      return list.some((e) => e.details.redelivered_to === worker.address) ? list : undefined;
    });
    assert.ok(retried.some((e) => e.waiting_reason === 'WAITING_FOR_TIME' && e.details.retry === 1));
    assert.equal((await fail()).status, 200);
    const done = await terminal(id);
    assert.equal(done.status, 'COMPLETED');
    const post = await until('the notification webhook', () =>
      Promise.resolve(receiver.posts.find((p) => p.raw.includes(id))),
    );
    assert.equal(
      post.headers['x-axme-signature'],
      `sha256=${createHmac('sha256', secret).update(post.raw).digest('hex')}`,
    );
    assert.equal((JSON.parse(post.raw) as Record<string, unknown>).step_id, 'alert');
    const alert = (await events(id)).find(
      (e) => e.event_type === 'intent.transfer' && e.details.step_id === 'alert',
    );
    assert.equal(alert?.details.from_step_outcome, 'failed');
  });

  test('a failing step without on_failure fails the intent with step_failed', async () => {
    const worker = await agent('worker');
    const body = await apply({
      scenario_id: scenarioId(),
      agents: [{ role: 'worker', address: worker.address }],
      workflow: { steps: [{ step_id: 'only', assigned_to: 'worker' }] },
      intent: { type: 'ops.job.v1' },
    });
    const id = body.intent_id as string;
    await atStep(id, 'only', 'DELIVERED');
    await worker.api('POST', `/v1/intents/${id}/resume`, { body: { action: 'fail', error: 'disk full' } });
    const done = await terminal(id);
    assert.equal(done.status, 'FAILED');
    assert.equal((done.error as Record<string, unknown>).code, 'step_failed');
    assert.equal((done.error as Record<string, unknown>).step_id, 'only');
  });

  test('delay waits WAITING_FOR_TIME; a step past its deadline ends the intent TIMED_OUT', async () => {
    const worker = await agent('slow');
    const body = await apply({
      scenario_id: scenarioId(),
      agents: [{ role: 'worker', address: worker.address }],
      workflow: {
        steps: [
          { step_id: 'pause', runtime_type: 'delay', runtime_config: { seconds: 1 } },
          { step_id: 'work', assigned_to: 'worker', step_deadline_seconds: 1 },
        ],
      },
      intent: { type: 'ops.job.v1' },
    });
    const id = body.intent_id as string;
    assert.equal(body.status, 'WAITING');
    assert.deepEqual(body.pending_with, { type: 'internal', ref: 'delay', name: 'pause' });
    const done = await terminal(id);
    assert.equal(done.status, 'TIMED_OUT');
    assert.equal((done.error as Record<string, unknown>).code, 'step_timeout');
    const list = await events(id);
    assert.ok(list.some((e) => e.waiting_reason === 'WAITING_FOR_TIME' && e.details.step_id === 'pause'));
    assert.ok(list.some((e) => e.event_type === 'intent.transfer' && e.details.step_id === 'work'));
  });

  test('a timeout step sets the deadline for the rest of the flow', async () => {
    const worker = await agent('late');
    const body = await apply({
      scenario_id: scenarioId(),
      agents: [{ role: 'worker', address: worker.address }],
      workflow: {
        steps: [
          { step_id: 'limit', runtime_type: 'timeout', runtime_config: { seconds: 2 } },
          { step_id: 'work', assigned_to: 'worker' },
        ],
      },
      intent: { type: 'ops.job.v1' },
    });
    const id = body.intent_id as string;
    const waiting = await atStep(id, 'work');
    assert.ok(waiting.deadline_at, 'the timeout step set deadline_at');
    const done = await terminal(id);
    assert.equal(done.status, 'TIMED_OUT');
  });

  test('create_if_missing provisions agents with a key shown once; a replay answers the same intent', async () => {
    const name = `made-${randomUUID().slice(0, 8)}`;
    const bundle = {
      scenario_id: scenarioId(),
      idempotency_key: `apply-${randomUUID()}`,
      agents: [{ role: 'maker', address: name, create_if_missing: true, display_name: 'Maker' }],
      intent: { type: 'ops.make.v1', payload: { n: 1 } },
    };
    const first = await apply(bundle);
    const provisioned = first.agents_provisioned as Record<string, unknown>[];
    assert.equal(provisioned.length, 1);
    assert.equal(provisioned[0]!.created, true);
    assert.equal(provisioned[0]!.address, `agent://default/default/${name}`);
    const key = provisioned[0]!.api_key as string;
    assert.match(key, /^axme_sa_/);
    const maker = apiClient(axle.baseUrl, key);
    await atStep(first.intent_id as string, 'main', 'DELIVERED');
    const resumed = await maker('POST', `/v1/intents/${first.intent_id as string}/resume`, {
      body: { action: 'complete', result: { made: true } },
    });
    assert.equal(resumed.status, 200, resumed.text);

    const replay = await admin('POST', '/v1/scenarios/apply', { body: bundle });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.body.intent_id, first.intent_id);
    assert.equal(replay.body.idempotent, true);
    assert.equal((replay.body.agents_provisioned as Record<string, unknown>[])[0]!.api_key, null);
    assert.ok(!replay.text.includes(key), 'the key is never answered twice');
    const changed = await admin('POST', '/v1/scenarios/apply', {
      body: { ...bundle, intent: { ...bundle.intent, payload: { n: 2 } } },
    });
    assert.equal(changed.status, 409, changed.text);
  });

  test('bad input: malformed, wrongly typed, unauthorized, forbidden provisioning, missing agent', async () => {
    const raw = await admin('POST', '/v1/scenarios/apply', { rawBody: '{"scenario_id":' });
    assert.equal(raw.status, 400, raw.text);
    const typed = await admin('POST', '/v1/scenarios/apply', {
      body: { scenario_id: 'UPPER', intent: { type: 5 }, agents: 'x' },
    });
    assert.equal(typed.status, 422, typed.text);
    const paths = (typed.body.error as { details: { errors: { path: string }[] } }).details.errors.map(
      (d) => d.path,
    );
    for (const path of ['scenario_id', 'intent.type', 'agents']) assert.ok(paths.includes(path), typed.text);
    const anonymous = apiClient(axle.baseUrl);
    assert.equal((await anonymous('POST', '/v1/scenarios/apply', { body: {} })).status, 401);
    assert.equal((await anonymous('POST', '/v1/scenarios/validate', { body: {} })).status, 401);
    const member = await agent('member');
    const forbidden = await member.api('POST', '/v1/scenarios/apply', {
      body: {
        scenario_id: scenarioId(),
        agents: [{ role: 'x', address: `new-${randomUUID().slice(0, 8)}`, create_if_missing: true }],
        intent: { type: 'ops.make.v1' },
      },
    });
    assert.equal(forbidden.status, 403, forbidden.text);
    const before = await prisma.client.intent.count();
    const missing = await admin('POST', '/v1/scenarios/apply', {
      body: {
        scenario_id: scenarioId(),
        agents: [{ role: 'x', address: `absent-${randomUUID().slice(0, 8)}` }],
        intent: { type: 'ops.make.v1' },
      },
    });
    assert.equal(missing.status, 404, missing.text);
    const big = await admin('POST', '/v1/scenarios/apply', {
      body: {
        scenario_id: scenarioId(),
        workflow: {
          steps: Array.from({ length: 101 }, (_, i) => ({ step_id: `s${i}`, runtime_type: 'delay' })),
        },
        intent: { type: 'ops.make.v1' },
      },
    });
    assert.equal(big.status, 422, big.text);
    assert.equal(await prisma.client.intent.count(), before, 'refused applies store nothing');
  });
});
