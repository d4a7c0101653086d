// Interop: the OFFICIAL AXME Python SDK (PyPI `axme` 0.2.0, installed by `npm test` into
// .tools/sdk-py) drives a real gateway and worker. Each scenario is a script in
// test/interop/python/ that uses the SDK exactly as a user would (AxmeClient(AxmeClientConfig(
// base_url, api_key)), nothing patched), gets only AXME_BASE_URL and AXME_API_KEY, prints one JSON
// object per line, and exits non-zero with its traceback on an unexpected error.
import { AxleProcesses, TEST_ADMIN_KEY } from '@axle/testing';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

// The test harness runs every spec file with the repository root as its working directory (the
// apps are started from dist/ relative to it too); `before` checks it.
const ROOT = process.cwd();
const SCRIPTS = join(ROOT, 'test', 'interop', 'python');
const PYTHON = join(ROOT, '.tools', 'sdk-py', 'bin', 'python');
const SCRIPT_TIMEOUT_MS = 120_000;

type Json = Record<string, unknown>;
type ScriptRun = {
  script: string;
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
};

let axle: AxleProcesses;

function runScript(script: string): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    // -u: unbuffered, so the lines before a crash are kept; -B: no __pycache__ in the source tree.
    const child = spawn(PYTHON, ['-u', '-B', join(SCRIPTS, script)], {
      cwd: SCRIPTS,
      env: { AXME_BASE_URL: axle.baseUrl, AXME_API_KEY: TEST_ADMIN_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[spec] ${script} still running after ${SCRIPT_TIMEOUT_MS} ms: killed\n`;
      child.kill('SIGKILL');
    }, SCRIPT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ script, code, signal, stdout, stderr });
    });
  });
}

function report(run: ScriptRun): string {
  const gateway = axle.output('gateway').split('\n').slice(-15).join('\n');
  return [
    `${run.script} exited with ${run.code ?? run.signal}`,
    `--- stderr ---\n${run.stderr.trim()}`,
    `--- stdout ---\n${run.stdout.trim()}`,
    `--- gateway log (tail) ---\n${gateway}`,
  ].join('\n');
}

/** Runs a scenario script and requires a clean exit; returns its JSON lines by step name. */
async function scenario(script: string): Promise<{ step: (name: string) => Json; run: ScriptRun }> {
  const run = await runScript(script);
  assert.equal(run.code, 0, report(run));
  const steps = new Map<string, Json>();
  for (const line of run.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as Json;
    steps.set(String(parsed.step), parsed);
  }
  return {
    run,
    step: (name) => {
      const found = steps.get(name);
      assert.ok(found, `${script} printed no "${name}" step\n${report(run)}`);
      return found;
    },
  };
}

function obj(value: unknown, what: string): Json {
  assert.ok(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    `${what} is not an object: ${JSON.stringify(value)}`,
  );
  return value as Json;
}

function list(value: unknown, what: string): Json[] {
  assert.ok(Array.isArray(value), `${what} is not a list: ${JSON.stringify(value)}`);
  return value.map((v, i) => obj(v, `${what}[${i}]`));
}

/**
 * What an expected SDK error looked like: class name, HTTP status and (with `withCode`) the
 * server's error code; `{returned}` when the call did not raise at all.
 */
function raised(step: Json, withCode = true): Json {
  if (step.raised === null || step.raised === undefined) return { returned: step.returned };
  const error = obj(step.raised, `${String(step.step)}.raised`);
  return withCode
    ? { class: error.class, status_code: error.status_code, code: error.code }
    : { class: error.class, status_code: error.status_code };
}

describe('official AXME Python SDK (axme 0.2.0) against Axle', () => {
  before(async () => {
    assert.ok(
      existsSync(join(ROOT, 'package.json')) && existsSync(join(SCRIPTS, '_support.py')),
      `the working directory ${ROOT} is not the repository root`,
    );
    assert.ok(
      existsSync(PYTHON),
      `${PYTHON} is missing: run the suite with \`npm test\`, which installs the SDK's venv`,
    );
    axle = await AxleProcesses.create({ LOG_LEVEL: 'info' });
    await axle.startAll(['gateway', 'worker']);
  });
  after(() => axle.stopAll());

  test('a. send_intent, an agent listen + resume loop, wait_for → COMPLETED with the result', async () => {
    const { step } = await scenario('a_complete.py');
    assert.equal(obj(step('health').body, 'health').ok, true);
    const id = String(step('sent').intent_id);
    assert.match(id, /^[0-9a-f-]{36}$/);

    const agent = step('agent');
    const delivery = obj(agent.delivery, 'delivery');
    assert.equal(delivery.intent_id, id);
    assert.equal(delivery.to_agent, 'agent://default/default/py-agent');
    assert.deepEqual(delivery.payload, { service: 'api-gateway', version: '3.2.1' });
    const resume = obj(agent.resume, 'resume response');
    assert.equal(resume.ok, true);
    assert.equal(resume.status, 'COMPLETED');

    const terminal = obj(step('terminal').event, 'wait_for event');
    assert.equal(terminal.intent_id, id);
    assert.equal(terminal.status, 'COMPLETED');
    assert.equal(terminal.event_type, 'intent.completed');

    const intent = obj(obj(step('intent').body, 'get_intent').intent, 'intent');
    assert.equal(intent.intent_id, id);
    assert.equal(intent.status, 'COMPLETED');
    assert.equal(intent.lifecycle_status, 'COMPLETED');
    assert.deepEqual(intent.result, { deployed: true, by: 'py-agent' });
  });

  test('b. observe yields every event in order: seq 1..N, created → submitted → delivered → terminal', async () => {
    const { step } = await scenario('b_observe.py');
    const id = String(step('sent').intent_id);
    const observed = list(step('observed').events, 'observed events');
    const summary = observed.map((e) => [e.seq, e.event_type, e.status]);
    assert.ok(observed.length >= 4, `too few events: ${JSON.stringify(summary)}`);
    assert.ok(
      observed.every((e) => e.intent_id === id),
      `events of another intent: ${JSON.stringify(observed)}`,
    );
    assert.deepEqual(
      observed.map((e) => e.seq),
      observed.map((_, i) => i + 1),
      `seq must be 1..N, gapless and strictly increasing: ${JSON.stringify(summary)}`,
    );
    assert.deepEqual(summary.slice(0, 2), [
      [1, 'intent.created', 'CREATED'],
      [2, 'intent.submitted', 'SUBMITTED'],
    ]);
    assert.equal(observed[2]!.event_type, 'intent.delivered', JSON.stringify(summary));
    assert.deepEqual(summary.at(-1), [observed.length, 'intent.completed', 'COMPLETED']);
    // observe() over the stream and the plain events list agree.
    const listed = list(obj(step('listed').body, 'list_intent_events').events, 'listed events');
    assert.deepEqual(
      listed.map((e) => [e.seq, e.event_type, e.status]),
      summary,
    );
  });

  test('c. reply_to: the completion lands in the reply_to inbox as thread = intent id', async () => {
    const { step } = await scenario('c_reply_to.py');
    const id = String(step('sent').intent_id);
    const caller = 'agent://default/default/py-caller';
    assert.equal(obj(step('terminal').event, 'wait_for event').status, 'COMPLETED');

    const inbox = obj(step('inbox').body, 'list_inbox');
    assert.equal(inbox.ok, true);
    const threads = list(inbox.threads, 'inbox threads');
    const listed = threads.find((t) => t.thread_id === id);
    assert.ok(listed, `no thread ${id} in ${caller}'s inbox: ${JSON.stringify(inbox)}`);

    const got = obj(step('thread').body, 'get_inbox_thread');
    assert.equal(got.ok, true);
    const thread = obj(got.thread, 'thread');
    assert.equal(thread.thread_id, id);
    assert.equal(thread.intent_id, id);
    assert.equal(thread.owner_agent, caller);
    const timeline = list(thread.timeline, 'thread timeline');
    assert.ok(
      timeline.some((entry) => entry.event_type === 'intent_completion_delivered'),
      `no completion entry (intent_completion_delivered) in the timeline: ${JSON.stringify(timeline)}`,
    );
  });

  test('d. deadline_at passes with nobody resuming → wait_for returns TIMED_OUT (intent.timed_out)', async () => {
    const { step } = await scenario('d_deadline.py');
    const sent = step('sent');
    const id = String(sent.intent_id);
    const terminal = obj(step('terminal').event, 'wait_for event');
    assert.equal(terminal.intent_id, id);
    assert.equal(terminal.status, 'TIMED_OUT');
    assert.equal(terminal.event_type, 'intent.timed_out');
    assert.ok(
      Date.parse(String(terminal.at)) >= Date.parse(String(sent.deadline_at)),
      `timed out at ${String(terminal.at)}, before its deadline ${String(sent.deadline_at)}`,
    );
    const intent = obj(obj(step('intent').body, 'get_intent').intent, 'intent');
    assert.equal(intent.status, 'TIMED_OUT');
    assert.equal(intent.lifecycle_status, 'TIMED_OUT');
    const events = list(obj(step('events').body, 'list_intent_events').events, 'events');
    assert.equal(events.at(-1)?.event_type, 'intent.timed_out', JSON.stringify(events));
  });

  test('e. idempotency: same key and body → same intent; another body → AxmeValidationError 409', async () => {
    const { step } = await scenario('e_idempotency.py');
    const first = obj(step('first').body, 'first create');
    const second = obj(step('second').body, 'second create');
    assert.equal(first.ok, true);
    assert.match(String(first.intent_id), /^[0-9a-f-]{36}$/);
    assert.equal(second.intent_id, first.intent_id);
    assert.deepEqual(raised(step('conflict')), {
      class: 'AxmeValidationError',
      status_code: 409,
      code: 'idempotency_conflict',
    });
  });

  test('f. errors reach SDK users as its error classes (422, 401, 409 resume, 409 resolve)', async () => {
    const { step } = await scenario('f_errors.py');
    assert.equal(obj(step('completed').event, 'wait_for event').status, 'COMPLETED');
    // All four at once, so one failing case does not hide the others.
    assert.deepEqual(
      {
        malformed_to_agent: raised(step('malformed_to_agent')),
        wrong_api_key: raised(step('wrong_api_key')),
        // SPEC: terminal is final (409); the error code is not part of the contract.
        resume_completed: raised(step('resume_completed'), false),
        resolve_completed: raised(step('resolve_completed'), false),
      },
      {
        malformed_to_agent: { class: 'AxmeValidationError', status_code: 422, code: 'invalid_agent_address' },
        wrong_api_key: { class: 'AxmeAuthError', status_code: 401, code: 'invalid_platform_api_key' },
        resume_completed: { class: 'AxmeValidationError', status_code: 409 },
        resolve_completed: { class: 'AxmeValidationError', status_code: 409 },
      },
    );
    const intent = obj(obj(step('intent').body, 'get_intent').intent, 'intent');
    assert.equal(intent.status, 'COMPLETED', 'the refused calls changed nothing');
    assert.deepEqual(intent.result, { done: true });
  });

  test('g. resolve_intent CANCELED on a fresh intent → intent, intent.canceled event, completion_delivery', async () => {
    const { step } = await scenario('g_resolve.py');
    const id = String(step('sent').intent_id);
    const resolved = obj(step('resolved').body, 'resolve_intent');
    assert.equal(resolved.ok, true);
    const intent = obj(resolved.intent, 'resolve.intent');
    assert.equal(intent.intent_id, id);
    assert.equal(intent.status, 'CANCELED');
    const event = obj(resolved.event, 'resolve.event');
    assert.equal(event.intent_id, id);
    assert.equal(event.event_type, 'intent.canceled');
    assert.equal(event.status, 'CANCELED');
    const delivery = obj(resolved.completion_delivery, 'resolve.completion_delivery');
    assert.equal(delivery.delivered, false);
    assert.equal(delivery.reason, 'reply_to_not_set');

    const terminal = obj(step('terminal').event, 'wait_for event');
    assert.equal(terminal.status, 'CANCELED');
    assert.equal(terminal.event_type, 'intent.canceled');
    const after = obj(obj(step('intent').body, 'get_intent').intent, 'intent');
    assert.equal(after.status, 'CANCELED');
    assert.equal(after.lifecycle_status, 'CANCELED');
  });
  test('h. mesh: heartbeat, list_agents + summary, get_agent, kill/resume, list_events, unknown agent', async () => {
    const { step } = await scenario('h_mesh.py');
    const beat = obj(step('heartbeat').body, 'heartbeat');
    assert.equal(beat.ok, true);
    assert.equal(beat.health_status, 'healthy');
    assert.equal(beat.address, 'agent://default/default/admin');
    const id = String(beat.address_id);

    const agents = obj(step('agents').body, 'list_agents');
    const listed = list(agents.agents, 'agents').find((a) => a.address_id === id);
    assert.ok(listed, `the admin agent is not listed as healthy: ${JSON.stringify(agents)}`);
    assert.deepEqual(Object.keys(listed).sort(), [
      'address',
      'address_id',
      'cost_period',
      'created_at',
      'display_name',
      'health_status',
      'intents_period',
      'last_heartbeat_at',
      'metadata',
    ]);
    const summary = obj(agents.summary, 'summary');
    assert.deepEqual(Object.keys(summary).sort(), ['degraded', 'healthy', 'killed', 'total', 'unreachable']);
    assert.ok(Number(summary.healthy) >= 1);

    const detail = obj(step('agent').body, 'get_agent');
    assert.equal(obj(detail.agent, 'agent').address_id, id);
    assert.equal(obj(detail.metrics, 'metrics').cost_usd, 0.01);
    assert.ok(list(detail.events, 'events').some((e) => e.event_type === 'agent.heartbeat_first'));

    const killed = obj(step('killed').body, 'kill');
    assert.equal(killed.changed, true);
    assert.equal(obj(killed.agent, 'killed agent').health_status, 'killed');
    assert.equal(obj(step('killed_again').body, 'kill again').changed, false);
    const resumed = obj(step('resumed').body, 'resume');
    assert.equal(resumed.changed, true);
    assert.equal(obj(resumed.agent, 'resumed agent').health_status, 'healthy');

    const events = list(obj(step('events').body, 'list_events').events, 'mesh events');
    assert.ok(
      events.length >= 1 && events.every((e) => e.event_type === 'agent.killed'),
      JSON.stringify(events),
    );
    assert.deepEqual(Object.keys(events[0]!).sort(), [
      'actor_id',
      'address',
      'created_at',
      'details',
      'event_id',
      'event_type',
    ]);
    assert.deepEqual(raised(step('unknown')), {
      class: 'AxmeHttpError',
      status_code: 404,
      code: 'agent_not_found',
    });
  });
});
