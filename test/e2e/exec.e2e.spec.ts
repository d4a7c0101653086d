// AXP exec end to end (SPEC §7, docs/exec.md): real gateway, worker and runner processes, PostgreSQL
// and Redis, tier none enabled. 10 MB of random output reaches an attached client byte for byte (also
// across a detach/reattach with Last-Event-ID and across a gateway restart), kill -9 of the runner
// mid-job ends the job in its declared stalled_policy, cancel, the output cap, capability narrowing
// and attenuation, tier availability and the malformed/unauthorized/foreign edges.
import { ExecRepository, IdempotencyRepository, orgScope, platformScope, PrismaService } from '@axle/data';
import { execCancelKey, REDIS_CHANNELS } from '@axle/protocol';
import { availableTiers } from '@axle/sandbox';
import {
  apiClient,
  AxleProcesses,
  parseSseFrame,
  registerTestAgent,
  requireEnv,
  type TestAgent,
} from '@axle/testing';
import { Redis } from 'ioredis';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const sfx = randomUUID().slice(0, 8);
const ORG = `exec-${sfx}`;
const OTHER = `exec-other-${sfx}`;

type Client = ReturnType<typeof apiClient>;
type Frame = { id: number | null; event: string; data: Record<string, unknown> };

let axle: AxleProcesses;
let alice: TestAgent;
let asAlice: Client;
let asBob: Client;
let asOutsider: Client;
let anonymous: Client;

/** The 10 MB job: random bytes as base64, its sha256 in the workspace, then printed in 20 slow parts. */
const BIG_OUTPUT = [
  'head -c 10000000 /dev/urandom | base64 > data.txt',
  'sha256sum data.txt | cut -d" " -f1 > data.sha256',
  'split -n 20 data.txt part.',
  'for f in part.*; do cat "$f"; sleep 0.2; done',
  'rm -f part.*',
].join(' && ');

async function openSession(
  client: Client = asAlice,
  capabilities: string[] = ['proc.spawn'],
): Promise<{ id: string; token: string; workspace: string }> {
  const res = await client('POST', '/v1/exec/sessions', { body: { sandbox_tier: 'none', capabilities } });
  assert.equal(res.status, 200, res.text);
  return {
    id: res.body.session_id as string,
    token: res.body.cap_token as string,
    workspace: res.body.workspace as string,
  };
}

async function startJob(token: string, body: Record<string, unknown>, client: Client = asAlice) {
  return client('POST', '/v1/exec/jobs', { body, headers: { 'x-axp-cap-token': token } });
}

async function jobOf(id: string, token: string) {
  const res = await asAlice('GET', `/v1/exec/jobs/${id}`, { headers: { 'x-axp-cap-token': token } });
  assert.equal(res.status, 200, res.text);
  return res.body.job as Record<string, unknown> & { status: string; error: { code: string } | null };
}

async function waitForStatus(id: string, token: string, statuses: string[], timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await jobOf(id, token);
    if (statuses.includes(job.status)) return job;
    if (Date.now() > deadline) assert.fail(`job ${id} still ${job.status}, wanted ${statuses.join('|')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Attaches with a streaming reader: calls `onFrame` per frame and stops after the exit frame, when
 * the server ends the stream, or after `maxFrames` log frames (a detach).
 */
async function attach(
  jobId: string,
  token: string,
  options: { lastEventId?: number; since?: number; maxFrames?: number; onFrame?: (f: Frame) => void } = {},
): Promise<{ status: number; lastId: number | null; exit: Frame | null; frames: number }> {
  const controller = new AbortController();
  const query = options.since === undefined ? '' : `?since=${options.since}`;
  const res = await fetch(`${axle.baseUrl}/v1/exec/jobs/${jobId}/attach${query}`, {
    headers: {
      'x-api-key': alice.key,
      'x-axp-cap-token': token,
      ...(options.lastEventId === undefined ? {} : { 'last-event-id': String(options.lastEventId) }),
    },
    signal: controller.signal,
  });
  if (res.status !== 200 || !res.body) return { status: res.status, lastId: null, exit: null, frames: 0 };
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let lastId: number | null = null;
  let frames = 0;
  try {
    for (;;) {
      let chunk: Uint8Array | null = null;
      try {
        const read = await reader.read();
        chunk = read.done ? null : (read.value as Uint8Array);
      } catch {
        chunk = null; // the server went away mid-stream (a gateway restart)
      }
      if (!chunk) return { status: 200, lastId, exit: null, frames };
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const frame = parseFrame(block);
        if (!frame) continue;
        options.onFrame?.(frame);
        if (frame.id !== null) lastId = frame.id;
        if (frame.event === 'exit') return { status: 200, lastId, exit: frame, frames };
        if (frame.event === 'log' && ++frames >= (options.maxFrames ?? Number.POSITIVE_INFINITY))
          return { status: 200, lastId, exit: null, frames };
      }
    }
  } finally {
    controller.abort();
  }
}

/** An SSE frame with its id as the number it is on these streams. */
function parseFrame(block: string): Frame | null {
  const frame = parseSseFrame(block);
  return frame && { ...frame, id: frame.id === null ? null : Number(frame.id) };
}

/** Collects stdout bytes in seq order (checking the seq never repeats or goes back) into a sha256. */
function collector() {
  const hash = createHash('sha256');
  let lastSeq = 0;
  let bytes = 0;
  const stderr: string[] = [];
  return {
    onFrame: (frame: Frame) => {
      if (frame.event !== 'log') return;
      const seq = frame.data.seq as number;
      assert.ok(seq > lastSeq, `seq ${seq} after ${lastSeq}`);
      assert.equal(frame.id, seq);
      lastSeq = seq;
      const data =
        typeof frame.data.data === 'string'
          ? Buffer.from(frame.data.data, 'utf8')
          : Buffer.from(frame.data.data_b64 as string, 'base64');
      if (frame.data.stream === 'stdout') {
        hash.update(data);
        bytes += data.length;
      } else stderr.push(data.toString('utf8'));
    },
    digest: () => hash.digest('hex'),
    bytes: () => bytes,
    stderr: () => stderr.join(''),
    lastSeq: () => lastSeq,
  };
}

describe('exec end to end', () => {
  before(async () => {
    axle = await AxleProcesses.create({
      AXLE_EXEC_ALLOW_NONE: 'true',
      AXLE_RUNNER_CONCURRENCY: '4',
      AXLE_RUNNER_LOCK_DURATION_MS: '3000',
      AXLE_RUNNER_STALLED_INTERVAL_MS: '1000',
      AXLE_RUNNER_SHUTDOWN_GRACE_SECONDS: '30',
      AXLE_RUNNER_REQUEUE_AFTER_MS: '2000',
    });
    await axle.startAll(['gateway', 'worker', 'runner']);
    alice = await registerTestAgent(prisma, { org: ORG, name: 'alice' });
    const bob = await registerTestAgent(prisma, { org: ORG, name: 'bob' });
    const outsider = await registerTestAgent(prisma, { org: OTHER, name: 'eve', role: 'admin' });
    asAlice = apiClient(axle.baseUrl, alice.key);
    asBob = apiClient(axle.baseUrl, bob.key);
    asOutsider = apiClient(axle.baseUrl, outsider.key);
    anonymous = apiClient(axle.baseUrl);
  });
  after(async () => {
    await axle.stopAll();
    await prisma.onModuleDestroy();
  });

  test('10 MB of random output: attached bytes hash equal, also across a detach and reattach', async () => {
    const session = await openSession();
    const started = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', BIG_OUTPUT],
    });
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.status, 'pending');
    const jobId = started.body.job_id as string;

    const whole = collector();
    const split = collector();
    const [full, firstHalf] = await Promise.all([
      attach(jobId, session.token, { onFrame: whole.onFrame }),
      // Entries coalesce up to 1 MiB, so the job's 20 slow parts give at least 20 frames: detach after 3.
      attach(jobId, session.token, { maxFrames: 3, onFrame: split.onFrame }),
    ]);
    assert.equal(full.exit?.data.status, 'exited', JSON.stringify(full.exit));
    assert.equal(full.exit?.data.exit_code, 0);
    assert.equal(firstHalf.exit, null, 'the second client detached before the end');
    const rest = await attach(jobId, session.token, {
      lastEventId: firstHalf.lastId!,
      onFrame: split.onFrame,
    });
    assert.equal(rest.exit?.data.status, 'exited');

    const expected = (await readFile(join(session.workspace, 'data.sha256'), 'utf8')).trim();
    assert.match(expected, /^[0-9a-f]{64}$/);
    assert.ok(whole.bytes() > 13_000_000, `only ${whole.bytes()} bytes`);
    assert.equal(whole.digest(), expected);
    assert.equal(split.digest(), expected);

    const job = await jobOf(jobId, session.token);
    assert.equal(job.status, 'exited');
    assert.equal(job.exit_code, 0);
    assert.equal(job.log_bytes, whole.bytes());
    assert.equal(job.last_seq, whole.lastSeq());

    // A finished job replays from `since` and ends with its exit frame.
    const tail = collector();
    const replay = await attach(jobId, session.token, { since: whole.lastSeq() - 1, onFrame: tail.onFrame });
    assert.equal(replay.frames, 1);
    assert.equal(replay.exit?.data.exit_code, 0);
  });

  test('interleaved stdout/stderr with multi-byte and invalid UTF-8: each stream byte-exact, seqs 1..n, across a reattach', async () => {
    // Thousands of small writes on both pipes (synchronous on Linux pipes): the runner coalesces
    // what arrives while an append is in flight, cutting entries anywhere, even inside a character.
    const code = [
      "const out = (i) => `out ${i} é€😀 ${'x'.repeat(i % 200)}\\n`;",
      'const err = (i) => Buffer.from([0xff, i & 0xff, 0x0a]);',
      'for (let i = 0; i < 20000; i++) {',
      '  process.stdout.write(out(i));',
      '  if (i % 10 === 0) process.stderr.write(err(i));',
      '}',
    ].join('\n');
    const expected = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    for (let i = 0; i < 20000; i++) {
      expected.stdout.push(Buffer.from(`out ${i} é€😀 ${'x'.repeat(i % 200)}\n`));
      if (i % 10 === 0) expected.stderr.push(Buffer.from([0xff, i & 0xff, 0x0a]));
    }
    const want = { stdout: Buffer.concat(expected.stdout), stderr: Buffer.concat(expected.stderr) };
    const session = await openSession();
    const started = await startJob(session.token, { session_id: session.id, language: 'node', code });
    assert.equal(started.status, 200, started.text);
    const jobId = started.body.job_id as string;

    /** Per-stream bytes and the seqs seen, from log frames (text or base64). */
    const gather = () => {
      const got = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      const seqs: number[] = [];
      let text = 0;
      return {
        onFrame: (f: Frame) => {
          if (f.event !== 'log') return;
          seqs.push(f.data.seq as number);
          assert.equal(f.id, f.data.seq);
          if (typeof f.data.data === 'string') text++;
          const bytes =
            typeof f.data.data === 'string'
              ? Buffer.from(f.data.data, 'utf8')
              : Buffer.from(f.data.data_b64 as string, 'base64');
          got[f.data.stream as 'stdout' | 'stderr'].push(bytes);
        },
        stdout: () => Buffer.concat(got.stdout),
        stderr: () => Buffer.concat(got.stderr),
        seqs,
        text: () => text,
      };
    };
    const whole = gather();
    const split = gather();
    const [full, part] = await Promise.all([
      attach(jobId, session.token, { onFrame: whole.onFrame }),
      attach(jobId, session.token, { maxFrames: 2, onFrame: split.onFrame }),
    ]);
    assert.equal(full.exit?.data.status, 'exited', JSON.stringify(full.exit));
    assert.equal(full.exit?.data.exit_code, 0);
    const rest = await attach(jobId, session.token, { lastEventId: part.lastId!, onFrame: split.onFrame });
    assert.equal(rest.exit?.data.exit_code, 0);

    for (const got of [whole, split]) {
      assert.ok(
        got.stdout().equals(want.stdout),
        `stdout: ${got.stdout().length} of ${want.stdout.length} bytes`,
      );
      assert.ok(
        got.stderr().equals(want.stderr),
        `stderr: ${got.stderr().length} of ${want.stderr.length} bytes`,
      );
      assert.deepEqual(
        got.seqs,
        got.seqs.map((_, i) => i + 1),
        'seqs 1..n, nothing repeated or skipped',
      );
    }
    assert.ok(whole.text() > 0, 'UTF-8 entries come as text');
    assert.equal(full.exit?.data.seq, whole.seqs.length + 1, 'the exit frame follows the last entry');
    const job = await jobOf(jobId, session.token);
    assert.equal(job.log_bytes, want.stdout.length + want.stderr.length);
    assert.equal(job.last_seq, whole.seqs.length);
  });

  test('logs survive a gateway restart mid-stream; reattaching loses nothing', async () => {
    const session = await openSession();
    const started = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', BIG_OUTPUT],
    });
    assert.equal(started.status, 200, started.text);
    const jobId = started.body.job_id as string;
    const seen = collector();
    const first = await attach(jobId, session.token, { maxFrames: 3, onFrame: seen.onFrame });
    assert.equal(first.exit, null);
    await axle.stop('gateway');
    axle.start('gateway');
    await axle.waitReady();
    const rest = await attach(jobId, session.token, { lastEventId: first.lastId!, onFrame: seen.onFrame });
    assert.equal(rest.exit?.data.status, 'exited', JSON.stringify(rest.exit));
    const expected = (await readFile(join(session.workspace, 'data.sha256'), 'utf8')).trim();
    assert.equal(seen.digest(), expected);
  });

  test('kill -9 of the runner mid-job: stalled_policy fail → failed runner_lost; retry → runs again', async () => {
    const session = await openSession();
    const failing = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', 'echo started; sleep 15; echo never'],
    });
    const retrying = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', 'echo run; sleep 3; echo done'],
      stalled_policy: 'retry',
    });
    assert.equal(failing.status, 200, failing.text);
    assert.equal(retrying.status, 200, retrying.text);
    const failId = failing.body.job_id as string;
    const retryId = retrying.body.job_id as string;
    // Both have started (their first line is in the log).
    await attach(failId, session.token, { maxFrames: 1 });
    await attach(retryId, session.token, { maxFrames: 1 });

    const runner = axle.children.get('runner')!;
    const gone = new Promise((resolve) => runner.once('exit', resolve));
    runner.kill('SIGKILL');
    await gone;
    assert.equal((await jobOf(failId, session.token)).status, 'running');
    axle.start('runner');
    await axle.waitReady();

    const failed = await waitForStatus(failId, session.token, ['failed', 'exited', 'killed']);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'runner_lost');
    const failLog = collector();
    const failAttach = await attach(failId, session.token, { onFrame: failLog.onFrame });
    assert.equal(failAttach.exit?.data.status, 'failed');
    assert.match(failLog.stderr(), /runner .* was lost/);

    const exited = await waitForStatus(retryId, session.token, ['failed', 'exited', 'killed']);
    assert.equal(exited.status, 'exited', JSON.stringify(exited));
    assert.equal(exited.exit_code, 0);
    assert.equal(exited.attempts, 2);
    const text: string[] = [];
    const retryAttach = await attach(retryId, session.token, {
      onFrame: (f) => f.event === 'log' && text.push(String(f.data.data)),
    });
    assert.equal(retryAttach.exit?.data.exit_code, 0);
    assert.match(text.join(''), /run\n[\s\S]*running it again \(attempt 2\)[\s\S]*run\ndone\n/);
  });

  test('a job row its gateway never queued (kill -9 between the row and the queue) is run by a runner', async () => {
    // Found by `npm run chaos -- kill`: the gateway writes the row, then queues it; killed in between,
    // the job stayed pending forever. The runners now queue such rows again.
    const session = await openSession();
    const model = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', 'echo stranded'],
    });
    assert.equal(model.status, 200, model.text);
    await waitForStatus(model.body.job_id as string, session.token, ['exited']);
    // The gateway's first half only: the same row, never queued.
    const exec = new ExecRepository(prisma);
    const row = (await exec.findJob(platformScope(), model.body.job_id as string))!;
    const stranded = await exec.createJob(
      platformScope(),
      (await exec.findSession(platformScope(), session.id))!,
      {
        sessionId: row.sessionId,
        ownerAgent: row.ownerAgent,
        spec: row.spec,
        capabilities: row.capabilities,
        limits: row.limits,
        stalledPolicy: 'fail',
      },
    );
    assert.equal(stranded.status, 'pending');
    const job = await waitForStatus(stranded.id, session.token, ['exited', 'failed', 'killed']);
    assert.equal(job.status, 'exited', JSON.stringify(job));
    assert.equal(job.exit_code, 0);
    const text: string[] = [];
    const done = await attach(stranded.id, session.token, {
      onFrame: (f) => f.event === 'log' && text.push(String(f.data.data)),
    });
    assert.equal(done.exit?.data.status, 'exited');
    assert.equal(text.join(''), 'stranded\n');
  });

  test('a job row and its Idempotency-Key answer commit together: a retry after a crash replays it', async () => {
    // Found by `npm run chaos -- kill`: killed after the row and before the answer was stored, the
    // claim counted as abandoned after 60 s and the client's retry made a second job.
    const session = await openSession();
    const model = await startJob(session.token, { session_id: session.id, command: ['true'] });
    assert.equal(model.status, 200, model.text);
    const exec = new ExecRepository(prisma);
    const records = new IdempotencyRepository(prisma);
    const row = (await exec.findJob(platformScope(), model.body.job_id as string))!;
    const sessionRow = (await exec.findSession(platformScope(), session.id))!;
    const scope = orgScope(row.orgId);
    const input = {
      sessionId: row.sessionId,
      ownerAgent: row.ownerAgent,
      spec: row.spec,
      capabilities: row.capabilities,
      limits: row.limits,
      stalledPolicy: 'fail' as const,
    };
    const claimInput = {
      callerId: `caller-${randomUUID()}`,
      route: 'POST /v1/exec/jobs',
      key: randomUUID(),
      requestHash: 'h',
      expiresAt: new Date(Date.now() + 3_600_000),
      staleAfterMs: 60_000,
    };
    const answer = (token: string) => ({
      token,
      response: (job: { id: string }) => ({ status: 200, body: { ok: true, job_id: job.id } }),
    });
    const claim = await records.claim(scope, claimInput);
    assert.ok(claim.claimed);
    const job = await exec.createJob(platformScope(), sessionRow, input, answer(claim.token));
    // The process "dies" here. Even once the claim would count as abandoned, the retry finds the answer.
    const retry = await records.claim(scope, { ...claimInput, staleAfterMs: 0 });
    assert.ok(!retry.claimed);
    assert.deepEqual(retry.existing.responseBody, { ok: true, job_id: job.id });
    await waitForStatus(job.id, session.token, ['exited']);

    // A claim taken over meanwhile: the row rolls back with the answer (409 in progress).
    const other = { ...claimInput, key: randomUUID() };
    const first = await records.claim(scope, other);
    assert.ok(first.claimed);
    const takeover = await records.claim(scope, { ...other, staleAfterMs: 0 });
    assert.ok(takeover.claimed);
    const jobsBefore = await prisma.client.execJob.count({ where: { sessionId: session.id } });
    await assert.rejects(exec.createJob(platformScope(), sessionRow, input, answer(first.token)), {
      name: 'IdempotencyInProgressError',
    });
    assert.equal(await prisma.client.execJob.count({ where: { sessionId: session.id } }), jobsBefore);

    // Forgetting a stored answer (the job could not be queued and was ended) frees the key.
    await records.complete(scope, takeover.token, { status: 200, body: { ok: true } });
    await records.forget(scope, takeover.token);
    assert.ok((await records.claim(scope, other)).claimed);
  });

  test('cancel mid-run → killed; a second cancel is 409', async () => {
    const session = await openSession();
    const started = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', 'echo tick; sleep 30'],
    });
    const jobId = started.body.job_id as string;
    await attach(jobId, session.token, { maxFrames: 1 });
    const cancel = await asAlice('POST', `/v1/exec/jobs/${jobId}/cancel`, {
      body: { cap_token: session.token },
    });
    assert.equal(cancel.status, 200, cancel.text);
    const job = await waitForStatus(jobId, session.token, ['killed', 'exited', 'failed']);
    assert.equal(job.status, 'killed');
    assert.equal(job.error?.code, 'canceled');
    const done = await attach(jobId, session.token);
    assert.equal(done.exit?.data.status, 'killed');
    const again = await asAlice('POST', `/v1/exec/jobs/${jobId}/cancel`, {
      body: {},
      headers: { 'x-axp-cap-token': session.token },
    });
    assert.equal(again.status, 409, again.text);
  });

  test('a cancel that comes while a runner is starting the job still kills it', async () => {
    // A runner looks for a job's cancel key before it spawns and kills on a cancel notice once the
    // job runs. A cancel between the two (the gateway saw the job claimed, so the key and the
    // notice are all it sends) found nothing to kill, and the job ran to its end. Redis MONITOR
    // shows the runner's look; the cancel is sent the moment it passes, as the gateway sends it.
    const canceler = new Redis(requireEnv('REDIS_URL'));
    const monitor = await canceler.monitor(); // a connection of its own
    const prefix = execCancelKey('');
    const canceled = new Set<string>();
    monitor.on('monitor', (_time: string, args: string[]) => {
      const [command, key] = args;
      if (command?.toLowerCase() !== 'exists' || !key?.startsWith(prefix)) return;
      const jobId = key.slice(prefix.length);
      if (canceled.has(jobId)) return;
      canceled.add(jobId);
      void canceler.set(key, '1', 'EX', 600).then(() => canceler.publish(REDIS_CHANNELS.execCancel, jobId));
    });
    try {
      const session = await openSession();
      const jobs: string[] = [];
      for (let i = 0; i < 8; i++) {
        const started = await startJob(session.token, { session_id: session.id, command: ['sleep', '30'] });
        assert.equal(started.status, 200, started.text);
        jobs.push(started.body.job_id as string);
      }
      for (const jobId of jobs) {
        const job = await waitForStatus(jobId, session.token, ['killed', 'exited', 'failed'], 20_000);
        assert.deepEqual([job.status, job.error?.code], ['killed', 'canceled'], jobId);
        assert.ok(canceled.has(jobId), `the runner never looked for ${jobId}'s cancel key`);
      }
    } finally {
      monitor.disconnect();
      canceler.disconnect();
    }
  });

  test('SIGTERM lets a running job finish; a pending job is canceled off the queue', async () => {
    const session = await openSession();
    const running = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', 'echo begin; sleep 1; echo finished'],
    });
    const runningId = running.body.job_id as string;
    await attach(runningId, session.token, { maxFrames: 1 });
    assert.equal(await axle.stop('runner'), 0);
    const drained = await jobOf(runningId, session.token);
    assert.equal(drained.status, 'exited', JSON.stringify(drained));
    assert.equal(drained.exit_code, 0);

    // No runner now: the job stays pending until canceled, which ends it at once.
    const pending = await startJob(session.token, { session_id: session.id, command: ['echo', 'never'] });
    const pendingId = pending.body.job_id as string;
    assert.equal((await jobOf(pendingId, session.token)).status, 'pending');
    const cancel = await asAlice('POST', `/v1/exec/jobs/${pendingId}/cancel`, {
      body: {},
      headers: { 'x-axp-cap-token': session.token },
    });
    assert.equal(cancel.status, 200, cancel.text);
    assert.equal(cancel.body.status, 'killed');
    const done = await attach(pendingId, session.token);
    assert.equal(done.frames, 0);
    assert.equal(done.exit?.data.status, 'killed');

    axle.start('runner');
    await axle.waitReady();
    const after = await startJob(session.token, { session_id: session.id, command: ['echo', 'back'] });
    assert.equal((await attach(after.body.job_id as string, session.token)).exit?.data.exit_code, 0);
    assert.equal((await jobOf(pendingId, session.token)).status, 'killed', 'the canceled job never ran');
  });

  test('an idempotent replay of session open does not carry the token again', async () => {
    const key = randomUUID();
    const body = { sandbox_tier: 'none', capabilities: ['proc.spawn'] };
    const first = await asAlice('POST', '/v1/exec/sessions', { body, headers: { 'idempotency-key': key } });
    const again = await asAlice('POST', '/v1/exec/sessions', { body, headers: { 'idempotency-key': key } });
    assert.equal(first.status, 200, first.text);
    assert.match(first.body.cap_token as string, /^axp_ct_[0-9a-f]{64}$/);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.session_id, first.body.session_id);
    assert.equal(again.body.cap_token, null);
  });

  test('output over the job’s cap kills it and fails it loudly', async () => {
    const session = await openSession();
    const started = await startJob(session.token, {
      session_id: session.id,
      command: ['sh', '-c', "head -c 1000000 /dev/zero | tr '\\0' a; sleep 5"],
      limits: { output_bytes: 100_000 },
    });
    assert.equal(started.status, 200, started.text);
    assert.equal((started.body.limits as { output_bytes: number }).output_bytes, 100_000);
    const jobId = started.body.job_id as string;
    const log = collector();
    const done = await attach(jobId, session.token, { onFrame: log.onFrame });
    assert.equal(done.exit?.data.status, 'failed');
    assert.equal((done.exit?.data.error as { code: string }).code, 'output_limit_exceeded');
    assert.equal(log.bytes(), 100_000);
    assert.match(log.stderr(), /output limit of 100000 bytes exceeded/);
    const job = await jobOf(jobId, session.token);
    assert.equal(job.status, 'failed');
    assert.equal(job.error?.code, 'output_limit_exceeded');
  });

  test('limits clamp to the configured ceilings; a job exits with its own code', async () => {
    const session = await openSession();
    const started = await startJob(session.token, {
      session_id: session.id,
      code: 'import sys; print("hi"); sys.exit(3)',
      language: 'python',
      limits: { cpu_seconds: 100_000, output_bytes: 10 ** 12 },
      timeout_ms: 20_000,
    });
    assert.equal(started.status, 200, started.text);
    const limits = started.body.limits as Record<string, number>;
    assert.equal(limits.cpu_seconds, 300);
    assert.equal(limits.output_bytes, 64 * 1024 * 1024);
    assert.equal(limits.wall_seconds, 20);
    const done = await attach(started.body.job_id as string, session.token);
    assert.equal(done.exit?.data.status, 'exited');
    assert.equal(done.exit?.data.exit_code, 3);
  });

  test('capabilities: a job only narrows; attenuate narrower ok, wider 422, expired refused', async () => {
    const session = await openSession(asAlice, [
      'proc.spawn',
      'fs.read(/data)',
      'net.connect(example.com:443)',
    ]);
    const narrow = await startJob(session.token, {
      session_id: session.id,
      command: ['true'],
      capabilities: ['proc.spawn', 'fs.read(/data/sub)'],
    });
    assert.equal(narrow.status, 200, narrow.text);
    assert.deepEqual(narrow.body.capabilities, ['proc.spawn', 'fs.read(/data/sub)']);
    const wider = await startJob(session.token, {
      session_id: session.id,
      command: ['true'],
      capabilities: ['proc.spawn', 'fs.write(/data)', 'net.connect(example.com:80)'],
    });
    assert.equal(wider.status, 422, wider.text);
    assert.equal((wider.body.error as { code: string }).code, 'capability_not_covered');
    const paths = (wider.body.error as { details: { errors: { path: string }[] } }).details.errors.map(
      (e) => e.path,
    );
    assert.deepEqual(paths, ['capabilities.1', 'capabilities.2']);
    const noSpawn = await startJob(session.token, {
      session_id: session.id,
      command: ['true'],
      capabilities: ['fs.read(/data)'],
    });
    assert.equal(noSpawn.status, 403, noSpawn.text);

    const att = await asAlice('POST', `/v1/exec/sessions/${session.id}/attenuate`, {
      body: { capabilities: ['proc.spawn', 'fs.read(/data/x)'], ttl_seconds: 600 },
      headers: { 'x-axp-cap-token': session.token },
    });
    assert.equal(att.status, 200, att.text);
    const child = att.body.cap_token as string;
    assert.notEqual(child, session.token);
    // The child token runs narrower jobs, but cannot widen back to its parent's grants.
    assert.equal((await startJob(child, { session_id: session.id, command: ['true'] })).status, 200);
    const back = await startJob(child, {
      session_id: session.id,
      command: ['true'],
      capabilities: ['proc.spawn', 'fs.read(/data)'],
    });
    assert.equal(back.status, 422, back.text);
    const widerAtt = await asAlice('POST', `/v1/exec/sessions/${session.id}/attenuate`, {
      body: { capabilities: ['fs.read(/data)'], ttl_seconds: 60, cap_token: child },
    });
    assert.equal(widerAtt.status, 422, widerAtt.text);
    assert.equal((widerAtt.body.error as { code: string }).code, 'capability_not_covered');

    const short = await asAlice('POST', `/v1/exec/sessions/${session.id}/attenuate`, {
      body: { capabilities: ['proc.spawn'], ttl_seconds: 1 },
      headers: { 'x-axp-cap-token': session.token },
    });
    assert.equal(short.status, 200, short.text);
    await new Promise((r) => setTimeout(r, 1500));
    const expired = await asAlice('GET', `/v1/exec/sessions/${session.id}`, {
      headers: { 'x-axp-cap-token': short.body.cap_token as string },
    });
    assert.equal(expired.status, 403, expired.text);
    assert.equal((expired.body.error as { code: string }).code, 'cap_token_expired');

    // Every decision is in the audit trail.
    const rows = await prisma.client.auditEvent.findMany({
      where: { targetId: session.id, action: { startsWith: 'exec.' } },
    });
    const actions = new Set(rows.map((r) => `${r.action}:${r.outcome}`));
    for (const expectedAction of [
      'exec.session.open:success',
      'exec.capability.granted:success',
      'exec.capability.refused:denied',
      'exec.token.attenuate:success',
      'exec.token.refused:denied',
    ])
      assert.ok(actions.has(expectedAction), `${expectedAction} in ${[...actions].join(', ')}`);

    // Closing revokes every token.
    const close = await asAlice('POST', `/v1/exec/sessions/${session.id}/close`, {
      body: { cap_token: session.token },
    });
    assert.equal(close.status, 200, close.text);
    const revoked = await startJob(child, { session_id: session.id, command: ['true'] });
    assert.equal(revoked.status, 403, revoked.text);
    assert.equal((revoked.body.error as { code: string }).code, 'cap_token_revoked');
  });

  test('a kernel-tier job writes its workspace and cannot read a host secret', async () => {
    assert.ok(availableTiers({ allowNone: false }).includes('kernel'), 'this host enforces tier kernel');
    const secret = join(tmpdir(), `axle-secret-${randomUUID()}`);
    await writeFile(secret, 'TOP-SECRET', { mode: 0o644 });
    try {
      const res = await asAlice('POST', '/v1/exec/sessions', {
        body: { sandbox_tier: 'kernel', capabilities: ['proc.spawn'] },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.granted_tier, 'kernel');
      const token = res.body.cap_token as string;
      const run = async (script: string) => {
        const started = await startJob(token, {
          session_id: res.body.session_id,
          command: ['sh', '-c', script],
        });
        assert.equal(started.status, 200, started.text);
        let output = '';
        const done = await attach(started.body.job_id as string, token, {
          onFrame: (f) => {
            if (f.event === 'log' && typeof f.data.data === 'string') output += f.data.data;
          },
        });
        return { exit: done.exit?.data, output };
      };
      const wrote = await run('echo hello > out.txt && cat out.txt');
      assert.equal(wrote.exit?.exit_code, 0, wrote.output);
      assert.match(wrote.output, /hello/);
      assert.equal(await readFile(join(res.body.workspace as string, 'out.txt'), 'utf8'), 'hello\n');
      const stole = await run(`cat ${secret}`);
      assert.notEqual(stole.exit?.exit_code, 0);
      assert.doesNotMatch(stole.output, /TOP-SECRET/);
    } finally {
      await rm(secret, { force: true });
    }
  });

  test('tiers the host cannot enforce are 422 tier_unavailable, never a downgrade', async () => {
    // What this host enforces is the sandbox lib's answer (the gateway asks the same function).
    const available = availableTiers({ allowNone: true });
    for (const tier of ['kernel', 'process'] as const) {
      const res = await asAlice('POST', '/v1/exec/sessions', {
        body: { sandbox_tier: tier, capabilities: [] },
      });
      if (available.includes(tier)) {
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.granted_tier, tier);
      } else {
        assert.equal(res.status, 422, res.text);
        assert.equal((res.body.error as { code: string }).code, 'tier_unavailable');
      }
    }
  });

  test('bad input: malformed 400, types 422, no key 401, no/wrong cap token 401/403, others 404', async () => {
    const malformed = await asAlice('POST', '/v1/exec/sessions', { rawBody: '{"sandbox_tier":' });
    assert.equal(malformed.status, 400);
    const types = await asAlice('POST', '/v1/exec/sessions', {
      body: {
        sandbox_tier: 'vm',
        capabilities: ['proc.spawn', 'fs.read(relative)', 'net.connect(a/b)', 'tool:'],
      },
    });
    assert.equal(types.status, 422, types.text);
    const paths = (types.body.error as { details: { errors: { path: string }[] } }).details.errors
      .map((e) => e.path)
      .sort();
    assert.deepEqual(paths, ['capabilities.1', 'capabilities.2', 'capabilities.3', 'sandbox_tier']);
    const noKey = await anonymous('POST', '/v1/exec/sessions', { body: { sandbox_tier: 'none' } });
    assert.equal(noKey.status, 401);

    const session = await openSession();
    const job = await startJob(session.token, { session_id: session.id, command: ['true'] });
    assert.equal(job.status, 200, job.text);
    const jobId = job.body.job_id as string;
    const badJobs = await startJob(session.token, {
      session_id: session.id,
      command: [],
      env: { 'BAD NAME': 'x' },
      timeout_ms: -1,
      stalled_policy: 'maybe',
      cwd: '../../etc',
    });
    assert.equal(badJobs.status, 422, badJobs.text);
    const both = await startJob(session.token, { session_id: session.id, command: ['true'], code: 'x' });
    assert.equal(both.status, 422, both.text);
    const escape = await startJob(session.token, { session_id: session.id, command: ['true'], cwd: '../..' });
    assert.equal(escape.status, 422, escape.text);

    const noToken = await asAlice('GET', `/v1/exec/sessions/${session.id}`);
    assert.equal(noToken.status, 401, noToken.text);
    assert.equal((noToken.body.error as { code: string }).code, 'cap_token_required');
    const other = await openSession();
    for (const wrong of [other.token, 'axp_ct_' + '0'.repeat(64), 'nonsense']) {
      const res = await asAlice('GET', `/v1/exec/jobs/${jobId}`, { headers: { 'x-axp-cap-token': wrong } });
      assert.equal(res.status, 403, res.text);
      assert.equal((res.body.error as { code: string }).code, 'invalid_cap_token');
    }
    const attachNoToken = await asAlice('GET', `/v1/exec/jobs/${jobId}/attach`);
    assert.equal(attachNoToken.status, 401);

    // Another org, and another agent of the same org, even with the right token: 404 like a missing id.
    for (const [who, client] of [
      ['outsider', asOutsider],
      ['bob', asBob],
    ] as const) {
      for (const path of [
        `/v1/exec/sessions/${session.id}`,
        `/v1/exec/jobs/${jobId}`,
        `/v1/exec/jobs/${jobId}/attach`,
        `/v1/exec/jobs/${randomUUID()}`,
        `/v1/exec/sessions/not-a-uuid`,
      ]) {
        const res = await client('GET', path, { headers: { 'x-axp-cap-token': session.token } });
        assert.equal(res.status, 404, `${who} GET ${path}: ${res.text}`);
      }
      const post = await startJob(session.token, { session_id: session.id, command: ['true'] }, client);
      assert.equal(post.status, 404, `${who}: ${post.text}`);
      const cancel = await client('POST', `/v1/exec/jobs/${jobId}/cancel`, {
        body: { cap_token: session.token },
      });
      assert.equal(cancel.status, 404, `${who}: ${cancel.text}`);
    }
  });
});
