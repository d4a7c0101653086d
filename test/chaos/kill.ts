// Scenario kill: kill -9 of the worker, the runner and the gateway at random moments during a load of
// N intents (default 1,000; `--intents N`), each restarted after a short random delay, then: every
// intent terminal, per intent event seqs 1..n without gap or duplicate, exactly one terminal event,
// one intent per idempotency key, every exec job ended (none stuck pending/running) with a log that
// ends in an exit frame. Randomness (plans, deadlines, kill moments, victims) comes from `--seed`.
//
// The load is what real clients do: senders create with an Idempotency-Key (retrying connection
// errors, 5xx, 429 and 409 idempotency_in_progress with the same key and body), a handler follows its
// agent delivery stream from its cursor and resumes, senders cancel some intents, some carry a short
// deadline and must end TIMED_OUT; beside them a stream of exec jobs (tier none) is attached to.
import { STATUS_EVENT, TERMINAL_JOB_STATUSES, TERMINAL_STATUSES } from '@axle/protocol';
import { PrismaService } from '@axle/data';
import { type AxleApp, parseSse, registerTestAgent, requireEnv, type TestAgent } from '@axle/testing';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ChaosContext, gatewayErrorLog, type ScenarioResult } from './harness';
import { jsonOf, send } from './http';

const SENDERS = 16;
const HANDLER_WORKERS = 8;
const EXEC_LOOPS = 2;
/** How long one client call keeps retrying (an idempotency claim of a killed gateway is taken over after 60 s). */
const CALL_BUDGET_MS = 150_000;
/** How long a sender waits for one intent to end before moving on (the final check waits longer). */
const INTENT_WAIT_MS = 90_000;
/** Bounded wait for everything to settle after the load and the last restart. */
const SETTLE_MS = 180_000;
const TERMINAL: ReadonlySet<string> = TERMINAL_STATUSES;
const TERMINAL_EVENTS: ReadonlySet<string> = new Set([...TERMINAL_STATUSES].map((s) => STATUS_EVENT[s]));
const TERMINAL_JOBS: ReadonlySet<string> = TERMINAL_JOB_STATUSES;
const APPS: AxleApp[] = ['gateway', 'worker', 'runner'];

type Plan = 'complete' | 'fail' | 'cancel' | 'timeout';
const EXPECTED: Record<Plan, string> = {
  complete: 'COMPLETED',
  fail: 'FAILED',
  cancel: 'CANCELED',
  timeout: 'TIMED_OUT',
};

type Tracked = { n: number; key: string; correlationId: string; plan: Plan; body: string; id?: string };
/** The answer a client finally got, and how many attempts it took (> 1: earlier ones were lost or refused). */
type Answer = { status: number; body: Record<string, unknown> | undefined; text: string; attempts: number };

/** mulberry32: a small seeded PRNG, so a run's plans and kill moments can be reproduced. */
function rngOf(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bump = <K>(m: Map<K, number>, k: K, by = 1) => m.set(k, (m.get(k) ?? 0) + by);
const fmtMap = <K>(m: Map<K, number>) =>
  [...m]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([k, v]) => `${String(k)}×${v}`)
    .join(', ') || 'none';

export async function kill(ctx: ChaosContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const total = ctx.args.killIntents;
  const rnd = rngOf(ctx.args.seed);
  const between = (lo: number, hi: number) => lo + rnd() * (hi - lo);
  const findings: string[] = [];
  const prisma = new PrismaService(requireEnv('DATABASE_URL'));
  const org = `chaos-kill-${randomUUID().slice(0, 8)}`;
  const sender = await registerTestAgent(prisma, { org, name: 'sender' });
  const handler = await registerTestAgent(prisma, { org, name: 'handler' });
  const orgRow = await prisma.client.organization.findFirstOrThrow({ where: { slug: org } });
  const [, , hOrg, hWs, hName] = handler.address.split('/');

  // ── client calls: retry what a real client retries, with the same Idempotency-Key and body
  const answers = new Map<string | number, number>();
  let retries = 0;
  let unavailable503 = 0;
  let connectionErrors = 0;
  let inProgress409 = 0;
  const serverErrors = new Map<string, string>();
  const serverErrorCounts = new Map<string, number>();
  const call = async (
    agent: TestAgent,
    method: string,
    path: string,
    options: { body?: string; idempotencyKey?: string; headers?: [string, string][] } = {},
  ): Promise<Answer> => {
    const until = Date.now() + CALL_BUDGET_MS;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) retries++;
      const res = await send(
        ctx.baseUrl,
        {
          method,
          path,
          headers: [
            ['x-api-key', agent.key],
            ...(options.body !== undefined
              ? ([['content-type', 'application/json']] as [string, string][])
              : []),
            ...(options.idempotencyKey
              ? ([['idempotency-key', options.idempotencyKey]] as [string, string][])
              : []),
            ...(options.headers ?? []),
          ],
          ...(options.body !== undefined ? { body: options.body } : {}),
        },
        20_000,
      );
      let wait = Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)) * (0.5 + rnd() / 2);
      if (res.kind === 'error') {
        connectionErrors++;
        bump(answers, res.error);
      } else {
        bump(answers, res.status);
        const body = jsonOf(res.text) as Record<string, unknown> | undefined;
        const code = (body?.error as { code?: string } | undefined)?.code;
        const retryAfter = Number(res.headers['retry-after']);
        if (Number.isFinite(retryAfter) && retryAfter > 0) wait = Math.min(retryAfter * 1000, 5_000);
        if (res.status === 503) unavailable503++;
        else if (res.status >= 500) {
          // Never expected, even mid-outage (a dependency down is 503): keep one example per route,
          // with the gateway's log line for its error id while that gateway still runs.
          const route = `${method} ${path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id').replace(/\?.*/, '')} ${res.status}`;
          const errorId =
            /"error_id":"([^"]+)"/.exec(res.text)?.[1] ?? /[0-9a-f]{8}-[0-9a-f-]{27}/.exec(res.text)?.[0];
          if (!serverErrors.has(route))
            serverErrors.set(route, `${res.text.slice(0, 300)}\n${gatewayErrorLog(ctx, errorId)}`);
          bump(serverErrorCounts, route);
        }
        if (res.status === 409 && code === 'idempotency_in_progress') inProgress409++;
        const retryable =
          res.status >= 500 ||
          res.status === 429 ||
          (res.status === 409 && code === 'idempotency_in_progress');
        if (!retryable) return { status: res.status, body, text: res.text, attempts: attempt + 1 };
      }
      if (Date.now() + wait > until)
        return {
          status: 0,
          body: undefined,
          text: res.kind === 'error' ? res.error : res.text.slice(0, 300),
          attempts: attempt + 1,
        };
      await sleep(wait);
    }
  };

  // ── the plan: N intents, each with its key, correlation id, fate and (for timeouts) a deadline
  const tracked: Tracked[] = [];
  const plans = new Map<Plan, number>();
  for (let n = 0; n < total; n++) {
    const r = rnd();
    const plan: Plan = r < 0.55 ? 'complete' : r < 0.7 ? 'fail' : r < 0.85 ? 'cancel' : 'timeout';
    bump(plans, plan);
    tracked.push({ n, key: `kill-${randomUUID()}`, correlationId: randomUUID(), plan, body: '' });
  }
  const byId = new Map<string, Tracked>();
  const problems = new Map<string, number>();
  const problem = (what: string, example: string) => {
    if (!problems.has(what)) findings.push(`${what} (first: ${example})`);
    bump(problems, what);
  };

  let loadDone = false;
  let streamErrors = 0;
  const finalStatus = new Map<string, string>();
  let next = 0;
  const senderLoop = async () => {
    while (next < tracked.length) {
      const t = tracked[next++]!;
      // The body is fixed at the first attempt: a retry sends exactly the same bytes.
      t.body = JSON.stringify({
        intent_type: 'chaos.kill.v1',
        correlation_id: t.correlationId,
        to_agent: handler.address,
        payload: { n: t.n, plan: t.plan },
        ...(t.plan === 'timeout'
          ? { deadline_at: new Date(Date.now() + between(3_000, 8_000)).toISOString() }
          : {}),
      });
      const created = await call(sender, 'POST', '/v1/intents', { body: t.body, idempotencyKey: t.key });
      const id = created.body?.intent_id;
      if (created.status !== 200 || typeof id !== 'string') {
        problem(
          'create did not answer 200 within the retry budget',
          `${created.status} ${created.text.slice(0, 200)}`,
        );
        continue;
      }
      t.id = id;
      byId.set(id, t);
      if (t.plan === 'cancel') {
        await sleep(between(0, 1_500));
        const res = await call(sender, 'POST', `/v1/intents/${id}/resolve`, {
          body: JSON.stringify({ status: 'CANCELED', reason: 'chaos: the sender changed its mind' }),
          idempotencyKey: `cancel-${t.key}`,
        });
        if (res.status !== 200) problem(lostAnswer('cancel (resolve CANCELED)', res), res.text.slice(0, 200));
      }
      // Wait for the end on the intent's event stream (long-poll from the last seq seen).
      const until = Date.now() + INTENT_WAIT_MS;
      let since = 0;
      while (Date.now() < until && !finalStatus.has(id)) {
        try {
          const res = await fetch(
            `${ctx.baseUrl}/v1/intents/${id}/events/stream?since=${since}&wait_seconds=10`,
            {
              headers: { 'x-api-key': sender.key },
              signal: AbortSignal.timeout(30_000),
            },
          );
          const text = await res.text();
          if (res.status !== 200) {
            bump(answers, `events stream ${res.status}`);
            await sleep(500);
            continue;
          }
          for (const frame of parseSse(text)) {
            if (frame.id === null || !frame.event.startsWith('intent.')) continue;
            since = Math.max(since, Number(frame.id));
            const status = String(frame.data.status);
            if (TERMINAL.has(status)) finalStatus.set(id, status);
          }
        } catch {
          streamErrors++;
          await sleep(300);
        }
      }
    }
  };

  // ── the handler: follows its delivery stream from its cursor, resumes what it is meant to finish
  let cursor = 0;
  let streamReads = 0;
  let resumes = 0;
  const deliveredSeen = new Map<string, number>();
  const queue: string[] = [];
  const queued = new Set<string>();
  const streamPath = `/v1/agents/${hOrg}/${hWs}/${hName}/intents/stream`;
  const follow = async () => {
    while (!loadDone) {
      try {
        const res = await fetch(`${ctx.baseUrl}${streamPath}?since=${cursor}&wait_seconds=5`, {
          headers: { 'x-api-key': handler.key },
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        streamReads++;
        if (res.status !== 200) {
          bump(answers, `stream ${res.status}`);
          await sleep(500);
          continue;
        }
        for (const frame of parseSse(text)) {
          if (!frame.event.startsWith('intent.') || frame.id === null) continue;
          const seq = Number(frame.id);
          if (seq <= cursor) {
            problem(
              'the agent stream sent a delivery at or before the cursor passed',
              `seq ${seq} ≤ ${cursor}`,
            );
            continue;
          }
          cursor = seq;
          const intentId = String(frame.data.intent_id);
          if (frame.data.event_type === 'intent.delivered' || frame.data.status === 'DELIVERED') {
            bump(deliveredSeen, intentId);
            if (!queued.has(intentId)) {
              queued.add(intentId);
              queue.push(intentId);
            }
          }
        }
      } catch {
        streamErrors++;
        await sleep(300);
      }
    }
  };
  const resumeWorker = async () => {
    while (!loadDone || queue.length) {
      const id = queue.shift();
      if (!id) {
        await sleep(50);
        continue;
      }
      let t = byId.get(id);
      if (!t) {
        // The delivery came before the sender saw its create answer: read the plan from the intent.
        const got = await call(handler, 'GET', `/v1/intents/${id}`);
        const payload = (got.body?.intent as { payload?: { n?: number } } | undefined)?.payload;
        t = typeof payload?.n === 'number' ? tracked[payload.n] : undefined;
      }
      if (!t || (t.plan !== 'complete' && t.plan !== 'fail')) continue;
      const resume = async (body: Record<string, unknown>, key: string) => {
        const res = await call(handler, 'POST', `/v1/intents/${id}/resume`, {
          body: JSON.stringify(body),
          idempotencyKey: key,
        });
        resumes++;
        if (res.status !== 200)
          problem(lostAnswer(`resume ${String(body.action)}`, res), res.text.slice(0, 200));
      };
      if (t.n % 3 === 0) await resume({ action: 'in_progress' }, `progress-${t.key}`);
      await resume(
        t.plan === 'complete'
          ? { action: 'complete', result: { n: t.n } }
          : { action: 'fail', error: { code: 'chaos', message: 'planned failure' } },
        `resume-${t.key}`,
      );
    }
  };

  // ── exec jobs beside the intents, so the runner's kills matter
  const jobIds = new Set<string>();
  const sessionTokens = new Map<string, string>();
  const jobAnswers = new Map<string | number, number>();
  let attachReconnects = 0;
  const execLoop = async (loop: number) => {
    const opened = await call(sender, 'POST', '/v1/exec/sessions', {
      body: JSON.stringify({ sandbox_tier: 'none', capabilities: ['proc.spawn'] }),
      idempotencyKey: `kill-session-${loop}-${randomUUID()}`,
    });
    const sessionId = opened.body?.session_id;
    const token = opened.body?.cap_token;
    if (opened.status !== 200 || typeof sessionId !== 'string' || typeof token !== 'string') {
      problem('exec session open failed', `${opened.status} ${opened.text.slice(0, 200)}`);
      return;
    }
    sessionTokens.set(sessionId, token);
    for (let i = 0; !loadDone; i++) {
      const sleepS = between(0.2, 3).toFixed(1);
      const created = await call(sender, 'POST', '/v1/exec/jobs', {
        body: JSON.stringify({
          session_id: sessionId,
          command: ['sh', '-c', `echo start ${loop}.${i}; sleep ${sleepS}; echo end ${loop}.${i}`],
          stalled_policy: i % 2 ? 'retry' : 'fail',
        }),
        idempotencyKey: `kill-job-${loop}-${i}-${sessionId}`,
        headers: [['x-axp-cap-token', token]],
      });
      bump(jobAnswers, created.status);
      const jobId = created.body?.job_id;
      if (created.status !== 200 || typeof jobId !== 'string') {
        if (created.status !== 503)
          problem('exec job create failed', `${created.status} ${created.text.slice(0, 200)}`);
        continue;
      }
      jobIds.add(jobId);
      // Attach until the exit frame, reconnecting from the last seq when the gateway goes away.
      let since = 0;
      const until = Date.now() + 120_000;
      while (Date.now() < until) {
        const r = await attachOnce(jobId, token, since);
        if (r.exit) break;
        since = r.lastSeq;
        attachReconnects++;
        await sleep(300);
      }
    }
  };
  const attachOnce = async (
    jobId: string,
    token: string,
    since: number,
  ): Promise<{ exit: boolean; lastSeq: number; seqs: number[] }> => {
    const seqs: number[] = [];
    try {
      const res = await fetch(`${ctx.baseUrl}/v1/exec/jobs/${jobId}/attach?since=${since}`, {
        headers: { 'x-api-key': sender.key, 'x-axp-cap-token': token },
        signal: AbortSignal.timeout(40_000),
      });
      const text = await res.text();
      let exit = false;
      for (const f of res.status === 200 ? parseSse(text) : []) {
        if (f.id !== null) seqs.push(Number(f.id));
        if (f.event === 'exit') exit = true;
      }
      return { exit, lastSeq: seqs.at(-1) ?? since, seqs };
    } catch {
      return { exit: false, lastSeq: seqs.at(-1) ?? since, seqs };
    }
  };

  // ── chaos: kill -9 at random moments, restart after a short random delay
  const kills = new Map<AxleApp, number>();
  const downtimes: number[] = [];
  const restartFailures: string[] = [];
  let lastRestartAt = Date.now();
  const readyUrl = (app: AxleApp) =>
    app === 'gateway'
      ? `${ctx.baseUrl}/ready`
      : `http://127.0.0.1:${ctx.axle.env[app === 'worker' ? 'AXLE_WORKER_HEALTH_PORT' : 'AXLE_RUNNER_HEALTH_PORT']}/ready`;
  const waitReady = async (app: AxleApp, timeoutMs = 120_000): Promise<boolean> => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const child = ctx.axle.children.get(app);
      if (child && child.exitCode !== null) return false;
      const ok = await fetch(readyUrl(app), { signal: AbortSignal.timeout(5_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return true;
      await sleep(200);
    }
    return false;
  };
  const chaos = async () => {
    let bag: AxleApp[] = [];
    while (!loadDone) {
      await sleep(between(8_000, 16_000));
      if (loadDone) break;
      if (!bag.length) bag = [...APPS].sort(() => rnd() - 0.5);
      const app = bag.pop()!;
      const child = ctx.axle.children.get(app);
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const killedAt = Date.now();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      bump(kills, app);
      ctx.log(`kill: SIGKILL ${app} (pid ${child.pid}) at ${((killedAt - t0) / 1000).toFixed(1)} s`);
      await sleep(between(500, 4_000));
      ctx.axle.start(app);
      if (!(await waitReady(app))) {
        restartFailures.push(`${app} not ready after its restart:\n${ctx.axle.output(app).slice(-1500)}`);
        ctx.axle.start(app); // one more try, so the rest of the run is not a cascade
        await waitReady(app);
      }
      lastRestartAt = Date.now();
      downtimes.push(Date.now() - killedAt);
    }
  };

  ctx.log(`kill: ${total} intents, ${SENDERS} senders, ${EXEC_LOOPS} exec loops, seed ${ctx.args.seed}`);
  const progress = setInterval(
    () =>
      ctx.log(
        `kill: ${((Date.now() - t0) / 1000).toFixed(0)} s: ${byId.size} created, ${finalStatus.size} ended, ${jobIds.size} jobs, ${retries} retries`,
      ),
    30_000,
  );
  const chaosDone = chaos();
  const handlerDone = Promise.all([follow(), ...Array.from({ length: HANDLER_WORKERS }, resumeWorker)]);
  const execDone = Promise.all(Array.from({ length: EXEC_LOOPS }, (_, i) => execLoop(i)));
  await Promise.all(Array.from({ length: SENDERS }, senderLoop));
  const loadSeconds = (Date.now() - t0) / 1000;
  loadDone = true;
  clearInterval(progress);
  await chaosDone;
  await Promise.all([handlerDone, execDone]);
  for (const app of APPS)
    if (!(await waitReady(app, 60_000))) restartFailures.push(`${app} not ready at the end of the load`);

  // ── settle: every intent and job terminal, within a bound
  const settleFrom = Date.now();
  let open: { intents: number; jobs: number } = { intents: -1, jobs: -1 };
  while (Date.now() - settleFrom < SETTLE_MS) {
    const [intentsOpen, jobsOpen] = await Promise.all([
      prisma.client.intent.count({ where: { orgId: orgRow.id, status: { notIn: [...TERMINAL] } } }),
      prisma.client.execJob.count({ where: { orgId: orgRow.id, status: { notIn: [...TERMINAL_JOBS] } } }),
    ]);
    open = { intents: intentsOpen, jobs: jobsOpen };
    if (!intentsOpen && !jobsOpen) break;
    await sleep(1_000);
  }
  const settleSeconds = (Date.now() - settleFrom) / 1000;
  const sinceLastRestart = (Date.now() - lastRestartAt) / 1000;

  // ── checks, from the database (read only) and the API
  const intents = await prisma.client.intent.findMany({
    where: { orgId: orgRow.id },
    select: { id: true, status: true, correlationId: true, lastSeq: true },
  });
  const events = await prisma.client.intentEvent.findMany({
    where: { orgId: orgRow.id },
    select: { intentId: true, seq: true, eventType: true, status: true },
    orderBy: [{ intentId: 'asc' }, { seq: 'asc' }],
  });
  const eventsOf = new Map<string, typeof events>();
  for (const e of events) eventsOf.set(e.intentId, [...(eventsOf.get(e.intentId) ?? []), e]);
  const byStatus = new Map<string, number>();
  const perCorrelation = new Map<string, number>();
  for (const i of intents) {
    bump(byStatus, i.status);
    bump(perCorrelation, i.correlationId);
    if (!TERMINAL.has(i.status)) problem('intent not terminal after the settle wait', `${i.id} ${i.status}`);
    const evs = eventsOf.get(i.id) ?? [];
    const seqs = evs.map((e) => e.seq);
    if (!seqs.every((s, k) => s === k + 1))
      problem('event seqs not 1..n without gap or duplicate', `${i.id}: ${seqs.join(',')}`);
    if (i.lastSeq !== seqs.length)
      problem(
        'intent last_seq differs from its event count',
        `${i.id}: last_seq ${i.lastSeq}, ${seqs.length} events`,
      );
    const terminalEvents = evs.filter((e) => TERMINAL_EVENTS.has(e.eventType));
    if (TERMINAL.has(i.status) && terminalEvents.length !== 1)
      problem(
        'not exactly one terminal event',
        `${i.id} ${i.status}: ${evs.map((e) => `${e.seq}:${e.eventType}`).join(' ')}`,
      );
    if (terminalEvents[0] && terminalEvents[0].status !== i.status)
      problem(
        'terminal event status differs from the intent status',
        `${i.id}: ${terminalEvents[0].status} vs ${i.status}`,
      );
    const t = byId.get(i.id);
    if (t && TERMINAL.has(i.status) && EXPECTED[t.plan] !== i.status)
      problem(
        `an intent planned to end ${EXPECTED[t.plan]} ended otherwise`,
        `${i.id} ${t.plan} → ${i.status}`,
      );
  }
  for (const t of tracked) {
    const n = perCorrelation.get(t.correlationId) ?? 0;
    if (n > 1) problem('more than one intent for one idempotency key', `${t.key}: ${n} intents`);
    if (n === 0 && t.id) problem('an intent answered 200 is not in the database', `${t.id}`);
  }
  const unanswered = intents.filter((i) => !byId.has(i.id)).length;
  // The handler's delivery stream: its seq is gapless per agent.
  const entries = await prisma.client.agentStreamEntry.findMany({
    where: { address: handler.address },
    select: { seq: true },
    orderBy: { seq: 'asc' },
  });
  if (!entries.every((e, k) => e.seq === k + 1))
    problem('agent stream seqs have a gap', `${entries.length} entries, last seq ${entries.at(-1)?.seq}`);
  const deliveredTwice = [...deliveredSeen.values()].filter((v) => v > 1).length;

  // Exec jobs: every one ended; every log ends with its exit frame, seqs strictly increasing.
  const jobs = await prisma.client.execJob.findMany({
    where: { orgId: orgRow.id },
    select: { id: true, status: true, error: true, sessionId: true, lastSeq: true },
  });
  const jobsByStatus = new Map<string, number>();
  for (const job of jobs) {
    const code = (job.error as { code?: string } | null)?.code;
    bump(jobsByStatus, code ? `${job.status} ${code}` : job.status);
    if (!TERMINAL_JOBS.has(job.status))
      problem('exec job not ended after the settle wait', `${job.id} ${job.status}`);
  }
  const strayJobs = jobs.filter((j) => !jobIds.has(j.id));
  if (strayJobs.length)
    problem(
      'exec job rows the client never got an answer for (a retried create with the same Idempotency-Key made another job)',
      `${strayJobs.length} rows, e.g. ${strayJobs[0]!.id} ${strayJobs[0]!.status}`,
    );
  // Each log through attach from the start (what a client sees: the exit frame is the last; attach
  // sends it itself for a job that ended without its exit entry), and the Redis stream behind it.
  let logsChecked = 0;
  let exitEntryMissing = 0;
  const redis = new Redis(requireEnv('REDIS_URL'), { maxRetriesPerRequest: 3 });
  try {
    for (const job of jobs) {
      const token = sessionTokens.get(job.sessionId);
      if (!token) continue;
      const seen = await attachOnce(job.id, token, 0);
      logsChecked++;
      if (!seen.exit)
        problem('job log (attach from 0) does not end with an exit frame', `${job.id} ${job.status}`);
      if (!seen.seqs.every((s, k) => k === 0 || s > seen.seqs[k - 1]!))
        problem('job log seqs not strictly increasing', `${job.id}: ${seen.seqs.join(',')}`);
      const last = (await redis.xrevrange(`axle:exec:log:${job.id}`, '+', '-', 'COUNT', 1))[0]?.[1] ?? [];
      if (last[last.indexOf('stream') + 1] !== 'exit') exitEntryMissing++;
    }
  } finally {
    redis.disconnect();
  }
  await prisma.onModuleDestroy();
  findings.push(...restartFailures);
  for (const [route, example] of serverErrors)
    findings.push(
      `${route} answered ${serverErrorCounts.get(route)} time(s) (retried by the client): ${example}`,
    );

  const counts: ScenarioResult['counts'] = [
    ['seed', ctx.args.seed],
    ['intents planned', `${total} (${fmtMap(plans)})`],
    ['intents created (answered 200)', byId.size],
    ['intents in the database', `${intents.length} (${unanswered} without a 200 to the client)`],
    ['intents by status', fmtMap(byStatus)],
    [
      'intents ended as planned',
      intents.filter((i) => byId.get(i.id) && EXPECTED[byId.get(i.id)!.plan] === i.status).length,
    ],
    ['events checked', events.length],
    ['kills (SIGKILL) per app', fmtMap(kills)],
    [
      'kill → ready again (median / max)',
      downtimes.length
        ? `${(median(downtimes) / 1000).toFixed(1)} s / ${(Math.max(...downtimes) / 1000).toFixed(1)} s`
        : 'no kills',
    ],
    ['client retries (same key and body)', retries],
    [
      'connection errors / 503 answers / 409 idempotency_in_progress',
      `${connectionErrors} / ${unavailable503} / ${inProgress409}`,
    ],
    ['answers by status', fmtMap(answers)],
    [
      'handler stream reads / resumes; stream connection errors (handler and senders)',
      `${streamReads} / ${resumes}; ${streamErrors}`,
    ],
    ['intents delivered twice on the handler stream', deliveredTwice],
    ['agent stream entries (gapless)', entries.length],
    ['exec jobs created (answered) / rows', `${jobIds.size} / ${jobs.length}`],
    ['exec job create answers', fmtMap(jobAnswers)],
    ['exec jobs by status', fmtMap(jobsByStatus)],
    [
      'exec job logs read through attach / attach reconnects during the load',
      `${logsChecked} / ${attachReconnects}`,
    ],
    [
      'exec job logs whose Redis stream lacks its exit entry (attach sent the exit frame itself)',
      exitEntryMissing,
    ],
    ['load duration', `${loadSeconds.toFixed(1)} s`],
    [
      'time to settle after the load',
      `${settleSeconds.toFixed(1)} s${open.intents || open.jobs ? ` (still open: ${open.intents} intents, ${open.jobs} jobs)` : ''}`,
    ],
    ['last restart → all settled', `${sinceLastRestart.toFixed(1)} s`],
  ];
  for (const [what, n] of problems) if (n > 1) counts.push([`problem: ${what}`, n]);
  if (byId.size === 0) findings.push('no intent was created');
  if (!kills.size) findings.push('nothing was killed (the load ended before the first kill)');
  return {
    name: 'kill',
    passed: findings.length === 0,
    what: `${total} intents (55 % resumed complete, 15 % fail, 15 % canceled by the sender, 15 % with a 3-8 s deadline) created with Idempotency-Keys by ${SENDERS} client loops, a handler following its agent delivery stream and resuming, and ${EXEC_LOOPS} loops of exec jobs (tier none, attached to); meanwhile SIGKILL of the gateway, worker and runner in a seeded random order every 8-16 s, each restarted 0.5-4 s later. Clients retry connection errors, 5xx, 429 and 409 idempotency_in_progress with the same key and body. Then (bounded ${SETTLE_MS / 1000} s) from PostgreSQL and Redis: every intent terminal, seqs 1..n, exactly one terminal event, one intent per key, every job ended with an exit entry.`,
    counts,
    findings,
    seconds: (Date.now() - t0) / 1000,
  };
}

/** How a write that did not answer 200 is reported: a retry after a lost answer is its own finding. */
function lostAnswer(what: string, res: Answer): string {
  const code = (res.body?.error as { code?: string } | undefined)?.code;
  return res.attempts > 1 && res.status === 409 && code === 'intent_terminal'
    ? `${what} retried with the same Idempotency-Key after its answer was lost (gateway killed mid-request) answered 409 intent_terminal, not the original 200: the first attempt had applied it, its claim was taken over after 60 s and the request ran again`
    : `${what} answered ${res.status}, not 200`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
