// Process lifecycle end to end (docs/lifecycle.md): SIGTERM drains each app without losing work.
// Gateway: /ready 503 draining at once, no new connections, open SSE streams end with
// `stream.interrupted` (next_seq + retry hint) and a clean end, in-flight requests finish, exit 0;
// a client reconnecting with Last-Event-ID gets every event exactly once. Worker: a running http
// delivery is canceled after the grace and retried by Temporal after the restart; the intent
// completes once. Runner: a job longer than the grace is handed back at once and finishes on the
// other runner (retry) or ends runner_lost (fail), its log without a gap. Bad configuration values
// (environment or AXLE_CONFIG_FILE) stop every app with exit 1 and the key named.
import { PrismaService } from '@axle/data';
import {
  apiClient,
  AxleProcesses,
  parseSseFrame,
  registerTestAgent,
  requireEnv,
  runToExit,
  TEST_ADMIN_KEY,
} from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const sfx = randomUUID().slice(0, 8);

type Client = ReturnType<typeof apiClient>;
type Frame = { id: number | null; event: string; data: Record<string, unknown> };
type IntentEvent = { seq: number; event_type: string; status: string };

/** Gateway A, runner 1 (this file's main stack) and gateway B, runner 2 (a second replica of each). */
let axle: AxleProcesses;
let backup: AxleProcesses;
/** The worker, with a short grace so a delivery outlasts it. */
let workers: AxleProcesses;
let viaA: Client;
let viaB: Client;

const GATEWAY_GRACE_SECONDS = '10';
const WORKER_GRACE_SECONDS = '2';
const RUNNER_GRACE_SECONDS = '2';

/**
 * An SSE client reading as the bytes come: every frame, the raw text, and how the response ended
 * ('ended' = the server finished it; 'reset' = the connection broke mid-response).
 */
function openStream(url: string, headers: Record<string, string>) {
  const frames: Frame[] = [];
  let raw = '';
  let status = 0;
  const controller = new AbortController();
  const ended = (async (): Promise<'ended' | 'reset'> => {
    const res = await fetch(url, { headers, signal: controller.signal });
    status = res.status;
    if (!res.body) return 'ended';
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array };
      try {
        chunk = await reader.read();
      } catch {
        return 'reset';
      }
      if (chunk.done || !chunk.value) return 'ended';
      const text = decoder.decode(chunk.value, { stream: true });
      raw += text;
      buffer += text;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = parseFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (frame) frames.push(frame);
      }
    }
  })();
  return {
    frames,
    ended,
    raw: () => raw,
    status: () => status,
    close: () => controller.abort(),
    async until(predicate: (f: Frame) => boolean, what: string, timeoutMs = 30_000): Promise<Frame> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = frames.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) assert.fail(`no ${what} after ${timeoutMs} ms; got ${raw}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** An SSE frame with its id as the number it is on these streams. */
function parseFrame(block: string): Frame | null {
  const frame = parseSseFrame(block);
  return frame && { ...frame, id: frame.id === null ? null : Number(frame.id) };
}

/**
 * A kept-alive connection to the gateway with a request already underway: it answered /health, and
 * then the first part of the next request (`partial`) was sent. `finish(rest)` sends the rest; the
 * answer is read until the server closes the connection.
 */
async function requestUnderway(baseUrl: string, partial: string) {
  const { hostname, port } = new URL(baseUrl);
  const socket: Socket = connect(Number(port), hostname);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.write(`GET /health HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  while (!received.includes('{"ok":true}')) {
    if (socket.destroyed) assert.fail(`connection closed before /health answered: ${received}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  received = '';
  socket.write(partial);
  return {
    async finish(rest: string) {
      socket.write(rest);
      await closed;
      const cut = received.indexOf('\r\n\r\n');
      assert.ok(cut > 0, `no complete answer: ${JSON.stringify(received)}`);
      const head = received.slice(0, cut).split('\r\n');
      const headers = Object.fromEntries(
        head.slice(1).map((line) => {
          const at = line.indexOf(':');
          return [line.slice(0, at).toLowerCase(), line.slice(at + 1).trim()];
        }),
      );
      return {
        status: Number(head[0]?.split(' ')[1]),
        headers,
        body: JSON.parse(received.slice(cut + 4)) as Record<string, unknown>,
      };
    },
  };
}

/** Whether a new TCP connection is refused (fetch could reuse a kept-alive one instead). */
function refusesConnections(baseUrl: string): Promise<boolean> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function intentOf(api: Client, id: string) {
  const res = await api('GET', `/v1/intents/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.intent as { status: string };
}

async function eventsOf(api: Client, id: string): Promise<IntentEvent[]> {
  const res = await api('GET', `/v1/intents/${id}/events?since=0`);
  assert.equal(res.status, 200, res.text);
  return res.body.events as IntentEvent[];
}

async function createIntent(api: Client, toAgent: string): Promise<string> {
  const res = await api('POST', '/v1/intents', {
    body: { intent_type: 'ops.lifecycle.v1', correlation_id: randomUUID(), to_agent: toAgent, payload: {} },
  });
  assert.equal(res.status, 200, res.text);
  return res.body.intent_id as string;
}

async function resume(api: Client, id: string, agent: string, body: Record<string, unknown>) {
  const res = await api('POST', `/v1/intents/${id}/resume?owner_agent=${encodeURIComponent(agent)}`, {
    body,
  });
  assert.equal(res.status, 200, res.text);
}

/** Exit code of an app after SIGTERM, and its output for the assertion message. */
async function sigterm(processes: AxleProcesses, app: 'gateway' | 'worker' | 'runner') {
  const code = await processes.stop(app, 'SIGTERM');
  return { code, output: processes.output(app) };
}

describe('lifecycle: graceful shutdown and configuration errors', () => {
  before(async () => {
    const shared = {
      LOG_LEVEL: 'info',
      AXLE_SHUTDOWN_GRACE_SECONDS: GATEWAY_GRACE_SECONDS,
      AXLE_EXEC_ALLOW_NONE: 'true',
      AXLE_RUNNER_SHUTDOWN_GRACE_SECONDS: RUNNER_GRACE_SECONDS,
      // Long: a job handed back on SIGTERM is taken up long before the stalled-job check would.
      AXLE_RUNNER_LOCK_DURATION_MS: '120000',
      AXLE_RUNNER_STALLED_INTERVAL_MS: '1000',
    };
    axle = await AxleProcesses.create(shared);
    backup = await AxleProcesses.create(shared);
    workers = await AxleProcesses.create({
      ...shared,
      AXLE_SHUTDOWN_GRACE_SECONDS: WORKER_GRACE_SECONDS,
      AXLE_DELIVERY_TIMEOUT_MS: '60000',
    });
    axle.start('gateway');
    backup.start('gateway');
    workers.start('worker');
    axle.start('runner');
    backup.start('runner');
    await Promise.all([axle.waitReady(), backup.waitReady(), workers.waitReady()]);
    viaA = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    viaB = apiClient(backup.baseUrl, TEST_ADMIN_KEY);
  });
  after(async () => {
    await Promise.all([axle.stopAll(), backup.stopAll(), workers.stopAll()]);
    await prisma.onModuleDestroy();
  });

  test('gateway SIGTERM during a follow stream: resume frame, clean end, ready 503, exit 0; the reconnect misses nothing', async () => {
    const agent = `agent://default/default/lc-follow-${sfx}`;
    const id = await createIntent(viaA, agent);
    await until(
      () => intentOf(viaA, id),
      (i) => i.status === 'DELIVERED',
      'delivered',
    );
    await resume(viaA, id, agent, { action: 'in_progress', progress: 'one' });

    const first = openStream(`${axle.baseUrl}/v1/intents/${id}/events/stream?follow=true`, {
      'x-api-key': TEST_ADMIN_KEY,
    });
    await first.until((f) => f.data.event_type === 'intent.in_progress', 'the in_progress event');
    const probe = await requestUnderway(axle.baseUrl, `GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\n`);

    const stopped = sigterm(axle, 'gateway');
    const interrupted = await first.until((f) => f.event === 'stream.interrupted', 'stream.interrupted');
    assert.equal(await first.ended, 'ended', 'the stream ends cleanly, not with a reset');
    const seen = first.frames.filter((f) => f.event.startsWith('intent.'));
    const lastSeen = seen.at(-1)!.id!;
    assert.deepEqual(interrupted, {
      id: null,
      event: 'stream.interrupted',
      data: {
        ok: false,
        next_seq: lastSeen,
        retry_after_ms: 1000,
        error: { code: 'shutting_down', message: 'this gateway is shutting down; reconnect to resume' },
      },
    });
    assert.match(first.raw(), /\nretry: 1000\nevent: stream\.interrupted\n/, 'an SSE retry hint');
    assert.equal(first.frames.at(-1)?.event, 'stream.interrupted', 'the last frame');

    // Draining: readiness says so at once, and no new connection is accepted.
    const ready = await probe.finish('\r\n');
    assert.equal(ready.status, 503);
    assert.deepEqual(ready.body, { ok: false, checks: { draining: 'true' } });
    assert.equal(ready.headers['retry-after'], '1');
    assert.equal(ready.headers.connection, 'close');
    assert.ok(await refusesConnections(axle.baseUrl), 'the listener is closed');

    const { code, output } = await stopped;
    assert.equal(code, 0, `the gateway exits 0 within its grace:\n${output}`);
    assert.match(output, /gateway drained/);

    // Meanwhile the intent moves on through the other replica.
    await resume(viaB, id, agent, { action: 'in_progress', progress: 'two' });
    await resume(viaB, id, agent, { action: 'complete', result: { done: true } });

    axle.start('gateway');
    await axle.waitReady();
    const second = openStream(`${axle.baseUrl}/v1/intents/${id}/events/stream?follow=true`, {
      'x-api-key': TEST_ADMIN_KEY,
      'last-event-id': String(lastSeen),
    });
    await second.until((f) => f.event === 'intent.completed', 'intent.completed after the reconnect');
    second.close();

    const received = [...seen, ...second.frames.filter((f) => f.event.startsWith('intent.'))];
    const stored = await eventsOf(viaA, id);
    assert.deepEqual(
      received.map((f) => [f.id, f.event]),
      stored.map((e) => [e.seq, e.event_type]),
      'every event exactly once, in order',
    );
    assert.deepEqual(
      stored.map((e) => e.seq),
      stored.map((_, i) => i + 1),
      'no gap',
    );
    assert.ok(stored.length >= 6, JSON.stringify(stored));
  });

  test('gateway SIGTERM: a request and a long-poll listen already in flight complete instead of being cut', async () => {
    const agent = `agent://default/default/lc-idle-${sfx}`;
    // An agent with nothing to do: its listen call long-polls for 30 s.
    const listen = openStream(
      `${axle.baseUrl}/v1/agents/default/default/lc-idle-${sfx}/intents/stream?wait_seconds=30`,
      { 'x-api-key': TEST_ADMIN_KEY },
    );
    await until(
      () => Promise.resolve(listen.raw()),
      (raw) => raw.length > 0,
      'the listen stream opened',
    );
    // A create whose body is still arriving when the gateway is told to stop.
    const body = JSON.stringify({
      intent_type: 'ops.lifecycle.v1',
      correlation_id: randomUUID(),
      to_agent: agent,
      payload: { note: 'sent across a SIGTERM' },
    });
    const half = Math.floor(body.length / 2);
    const create = await requestUnderway(
      axle.baseUrl,
      `POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${TEST_ADMIN_KEY}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`,
    );

    const stopped = sigterm(axle, 'gateway');
    const end = await listen.until((f) => f.event.startsWith('stream.'), 'the end of the listen call');
    assert.equal(await listen.ended, 'ended');
    assert.equal(listen.status(), 200);
    assert.equal(end.event, 'stream.interrupted');
    assert.equal(end.data.ok, false);
    assert.equal(typeof end.data.next_seq, 'number');

    const created = await create.finish(body.slice(half));
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.ok, true);
    assert.equal(created.headers.connection, 'close', 'the connection ends after its last request');
    const { code, output } = await stopped;
    assert.equal(code, 0, output);

    // The intent created during the drain exists and is delivered like any other.
    const id = created.body.intent_id as string;
    await until(
      () => intentOf(viaB, id),
      (i) => i.status === 'DELIVERED',
      'the drained create delivered',
    );
    axle.start('gateway');
    await axle.waitReady();
  });

  test('worker SIGTERM during an http delivery: canceled after the grace, retried after the restart, completed once', async () => {
    const posts: { res: ServerResponse; body: string }[] = [];
    const endpoint: Server = createServer((req: IncomingMessage, res) => {
      const post = { res, body: '' };
      posts.push(post);
      const first = posts.length === 1;
      req.on('data', (chunk: Buffer) => (post.body += chunk.toString()));
      // The first delivery hangs (a slow agent); later ones are accepted.
      req.on('end', () => {
        if (!first) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    try {
      const port = (endpoint.address() as AddressInfo).port;
      const agent = await registerTestAgent(prisma, {
        name: `lc-hook-${sfx}`,
        deliveryMode: 'http',
        callbackUrl: `http://127.0.0.1:${port}/deliver`,
      });
      const id = await createIntent(viaB, agent.address);
      await until(
        () => Promise.resolve(posts.length),
        (n) => n >= 1,
        'the first delivery POST',
      );

      // The POST hangs longer than the grace plus the exit margin (AXLE_DELIVERY_TIMEOUT_MS is 60 s
      // here): exit 0 means the delivery gave in to the cancellation at the end of the grace.
      const { code, output } = await sigterm(workers, 'worker');
      assert.equal(code, 0, `the worker exits 0 after its grace:\n${output}`);
      assert.match(output, /worker draining/);
      assert.notEqual((await intentOf(viaB, id)).status, 'DELIVERED');

      workers.start('worker');
      await workers.waitReady();
      await until(
        () => intentOf(viaB, id),
        (i) => i.status === 'DELIVERED',
        'delivered after the restart',
      );
      assert.equal(posts.length, 2);
      assert.deepEqual(
        posts.map((p) => (JSON.parse(p.body) as { delivery_attempt: number }).delivery_attempt),
        [1, 1],
        'the canceled POST is retried as the same attempt: it did not count against the endpoint',
      );
      await resume(viaB, id, agent.address, { action: 'complete', result: { ok: true } });
      await until(
        () => intentOf(viaB, id),
        (i) => i.status === 'COMPLETED',
        'completed',
      );

      const events = await eventsOf(viaB, id);
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
        'no gap',
      );
      const types = events.map((e) => e.event_type);
      assert.equal(types.filter((t) => t === 'intent.delivered').length, 1, types.join());
      assert.equal(
        types.filter((t) =>
          ['intent.completed', 'intent.failed', 'intent.canceled', 'intent.timed_out'].includes(t),
        ).length,
        1,
        types.join(),
      );
      assert.equal(types.at(-1), 'intent.completed');
    } finally {
      for (const post of posts) post.res.destroy();
      endpoint.close();
    }
  });

  test('runner SIGTERM with a job longer than the grace: handed back at once; retry finishes elsewhere, fail ends runner_lost; no log gap', async () => {
    const owner = await registerTestAgent(prisma, { org: `lc-${sfx}`, name: 'owner' });
    const api = apiClient(axle.baseUrl, owner.key);
    const open = await api('POST', '/v1/exec/sessions', {
      body: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    assert.equal(open.status, 200, open.text);
    const session = { id: open.body.session_id as string, token: open.body.cap_token as string };
    const headers = { 'x-axp-cap-token': session.token };
    // About 4 s: twice the runner's grace.
    const command = [
      'sh',
      '-c',
      'echo start; for i in 1 2 3 4 5 6 7 8; do echo tick $i; sleep 0.5; done; echo end',
    ];
    const jobOf = async (jobId: string) => {
      const res = await api('GET', `/v1/exec/jobs/${jobId}`, { headers });
      assert.equal(res.status, 200, res.text);
      return res.body.job as {
        status: string;
        attempts: number;
        exit_code: number | null;
        error: { code: string } | null;
        last_seq: number;
      };
    };
    /** The whole log from seq 0 as text, checking seqs run 1, 2, 3… without a gap. */
    const logOf = async (jobId: string) => {
      const log = openStream(`${axle.baseUrl}/v1/exec/jobs/${jobId}/attach`, {
        'x-api-key': owner.key,
        ...headers,
      });
      await log.until((f) => f.event === 'exit', 'the exit frame');
      log.close();
      const lines = log.frames.filter((f) => f.event === 'log');
      assert.deepEqual(
        lines.map((f) => f.data.seq),
        lines.map((_, i) => i + 1),
        'no gap in the log',
      );
      return lines.map((f) => String(f.data.data)).join('');
    };
    /** Which runner (of the two stacks) claimed the job, from the runner id (host:pid:…). */
    const runnerOf = async (jobId: string): Promise<AxleProcesses> => {
      const row = await until(
        () => prisma.client.execJob.findUniqueOrThrow({ where: { id: jobId } }),
        (r) => r.runnerId !== null && r.status === 'running',
        'the job running',
      );
      const pid = Number(row.runnerId!.split(':')[1]);
      const owner = [axle, backup].find((p) => p.children.get('runner')?.pid === pid);
      assert.ok(owner, `runner ${row.runnerId} is not one of this file's runners`);
      return owner;
    };
    const runJob = async (stalledPolicy: 'retry' | 'fail') => {
      const started = await api('POST', '/v1/exec/jobs', {
        headers,
        body: { session_id: session.id, command, stalled_policy: stalledPolicy },
      });
      assert.equal(started.status, 200, started.text);
      const jobId = started.body.job_id as string;
      const running = await runnerOf(jobId);
      const firstLine = openStream(`${axle.baseUrl}/v1/exec/jobs/${jobId}/attach`, {
        'x-api-key': owner.key,
        ...headers,
      });
      await firstLine.until((f) => f.event === 'log', 'the first log line');
      firstLine.close();
      const { code, output } = await sigterm(running, 'runner');
      assert.equal(code, 0, output);
      assert.match(output, /exec job handed back to the queue/);
      const job = await until(
        () => jobOf(jobId),
        (j) => !['pending', 'running'].includes(j.status),
        'the job ended on the other runner',
        30_000,
      );
      running.start('runner');
      await running.waitReady();
      return { job, log: await logOf(jobId) };
    };

    const retried = await runJob('retry');
    assert.equal(retried.job.status, 'exited', JSON.stringify(retried.job));
    assert.equal(retried.job.exit_code, 0);
    assert.equal(retried.job.attempts, 2);
    // Attempt 1's lines up to the kill (none lost), the notice, then attempt 2 from start to end.
    assert.match(
      retried.log,
      /^start\n(tick \d\n)*\n\[axle\] the runner running this job was lost; running it again \(attempt 2\)\nstart\ntick 1\ntick 2\ntick 3\ntick 4\ntick 5\ntick 6\ntick 7\ntick 8\nend\n$/,
    );
    const firstAttempt = retried.log.slice(0, retried.log.indexOf('\n[axle]'));
    const ticks = firstAttempt.match(/tick (\d)/g) ?? [];
    assert.deepEqual(
      ticks,
      ticks.map((_, i) => `tick ${i + 1}`),
      'attempt 1 lost no line',
    );

    const failed = await runJob('fail');
    assert.equal(failed.job.status, 'failed', JSON.stringify(failed.job));
    assert.equal(failed.job.error?.code, 'runner_lost');
    assert.equal(failed.job.attempts, 1);
    assert.match(
      failed.log,
      /^start\n(tick \d\n)*\n\[axle\] the runner running this job was lost; its stalled_policy is fail\n$/,
    );
  });

  test('runner SIGTERM while a job writes fast: the log up to the kill is kept, the retry continues its seq and byte count', async () => {
    const owner = await registerTestAgent(prisma, { org: `lc-${sfx}`, name: 'writer' });
    const api = apiClient(axle.baseUrl, owner.key);
    const open = await api('POST', '/v1/exec/sessions', {
      body: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    assert.equal(open.status, 200, open.text);
    const headers = { 'x-axp-cap-token': open.body.cap_token as string };
    // Numbered 100-byte lines in bursts of 500 every 10 ms (≈5 MB/s, 3 s or more per attempt):
    // chunks keep arriving while appends are in flight, so the runner coalesces them.
    const LINES = 150_000;
    const line = (i: number) => `${String(i).padStart(8, '0')} ${'y'.repeat(90)}\n`;
    const code = [
      `const line = (i) => String(i).padStart(8, '0') + ' ' + 'y'.repeat(90) + '\\n';`,
      'let i = 0;',
      `const tick = () => { let s = ''; for (let k = 0; k < 500 && i < ${LINES}; k++) s += line(i++);`,
      `  process.stdout.write(s); if (i < ${LINES}) setTimeout(tick, 10); };`,
      'tick();',
    ].join('\n');
    const expected = Buffer.from(Array.from({ length: LINES }, (_, i) => line(i)).join(''));
    const started = await api('POST', '/v1/exec/jobs', {
      headers,
      body: { session_id: open.body.session_id, language: 'node', code, stalled_policy: 'retry' },
    });
    assert.equal(started.status, 200, started.text);
    const jobId = started.body.job_id as string;
    const row = await until(
      () => prisma.client.execJob.findUniqueOrThrow({ where: { id: jobId } }),
      (r) => r.runnerId !== null && r.status === 'running',
      'the job running',
    );
    const pid = Number(row.runnerId!.split(':')[1]);
    const running = [axle, backup].find((p) => p.children.get('runner')?.pid === pid);
    assert.ok(running, `runner ${row.runnerId} is not one of this file's runners`);
    const firstLine = openStream(`${axle.baseUrl}/v1/exec/jobs/${jobId}/attach`, {
      'x-api-key': owner.key,
      ...headers,
    });
    await firstLine.until((f) => f.event === 'log', 'the first log frame');
    firstLine.close();
    const { code: exitCode, output } = await sigterm(running, 'runner');
    assert.equal(exitCode, 0, output);
    assert.match(output, /exec job handed back to the queue/);
    const job = await until(
      async () => {
        const res = await api('GET', `/v1/exec/jobs/${jobId}`, { headers });
        assert.equal(res.status, 200, res.text);
        return res.body.job as { status: string; attempts: number; log_bytes: number; last_seq: number };
      },
      (j) => !['pending', 'running'].includes(j.status),
      'the job ended on the other runner',
      60_000,
    );
    running.start('runner');
    await running.waitReady();
    assert.equal(job.status, 'exited', JSON.stringify(job));
    assert.equal(job.attempts, 2);

    const log = openStream(`${axle.baseUrl}/v1/exec/jobs/${jobId}/attach`, {
      'x-api-key': owner.key,
      ...headers,
    });
    const exit = await log.until((f) => f.event === 'exit', 'the exit frame', 60_000);
    log.close();
    const frames = log.frames.filter((f) => f.event === 'log');
    assert.deepEqual(
      frames.map((f) => f.data.seq),
      frames.map((_, i) => i + 1),
      'no gap in the log',
    );
    assert.equal(exit.data.seq, frames.length + 1);
    const notice = frames.findIndex((f) => f.data.stream === 'stderr');
    assert.ok(notice > 0, 'attempt 1 wrote something, then the notice');
    assert.match(String(frames[notice]!.data.data), /running it again \(attempt 2\)/);
    const bytesOf = (list: Frame[]) =>
      Buffer.concat(
        list.map((f) =>
          typeof f.data.data === 'string'
            ? Buffer.from(f.data.data, 'utf8')
            : Buffer.from(f.data.data_b64 as string, 'base64'),
        ),
      );
    const first = bytesOf(frames.slice(0, notice));
    const second = bytesOf(frames.slice(notice + 1));
    assert.ok(first.length < expected.length, 'attempt 1 was cut by the shutdown');
    assert.ok(first.equals(expected.subarray(0, first.length)), 'attempt 1: a prefix, nothing lost');
    assert.ok(second.equals(expected), `attempt 2: all ${expected.length} bytes`);
    // The retry counts on from what the hand-back recorded: exactly what attempt 1 stored.
    assert.equal(job.log_bytes, first.length + second.length);
    assert.equal(job.last_seq, frames.length);
  });

  test('a bad configuration value stops each app with exit 1 and names the key (environment and AXLE_CONFIG_FILE)', async () => {
    const dir = tmpdir();
    const unknownKey = join(dir, `axle-lc-${sfx}-unknown.yaml`);
    writeFileSync(unknownKey, 'LOG_LEVEL: warn\nAXLE_SHUTDOWN_GRACE_SECOND: 5\n');
    const badValue = join(dir, `axle-lc-${sfx}-bad.json`);
    // A key the environment below does not set (the environment wins over the file).
    writeFileSync(badValue, JSON.stringify({ AXLE_TRACING_SAMPLE_RATIO: 'often' }));
    const cases: { env: Record<string, string>; key: RegExp; file?: string }[] = [
      { env: { AXLE_PORT: 'abc' }, key: /AXLE_PORT/ },
      { env: { AXLE_CONFIG_FILE: unknownKey }, key: /AXLE_SHUTDOWN_GRACE_SECOND\b/, file: unknownKey },
      { env: { AXLE_CONFIG_FILE: badValue }, key: /AXLE_TRACING_SAMPLE_RATIO/, file: badValue },
      { env: { AXLE_CONFIG_FILE: join(dir, `axle-lc-${sfx}-missing.yaml`) }, key: /AXLE_CONFIG_FILE/ },
    ];
    for (const app of ['gateway', 'worker', 'runner'] as const) {
      for (const c of cases) {
        const { code, output } = await runToExit(app, { ...axle.env, ...c.env });
        const what = `${app} with ${JSON.stringify(c.env)}`;
        assert.equal(code, 1, `${what} exits 1:\n${output}`);
        assert.match(output, c.key, what);
        if (c.file) assert.ok(output.includes(c.file), `${what} names the file:\n${output}`);
      }
    }
  });
});
