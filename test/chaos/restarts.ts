// Scenario restarts: Redis, then PostgreSQL, is stopped for a while and started again on the same port
// and data while a load runs (SPEC §1: 503 with Retry-After while a dependency is down). The shared
// chaos stack cannot restart its services, so this scenario runs a PrivateStack and gateway, worker
// and runner of its own, and stops them at the end.
//
// Load: client loops create intents (each with an Idempotency-Key), wait until DELIVERED and resume
// them (complete) as the handler; reader loops GET an intent, its events, and follow its SSE stream.
// Every answer must be a 2xx, or a 503 with Retry-After and the SPEC §1 error body; anything else
// (another status, a timeout, a reset) is a finding. Clients retry a 503 after its Retry-After with
// the same Idempotency-Key and body. After each restart every app's /ready must come back to 200 by
// itself (time to recover measured), and at the end every intent whose create was answered 200 must
// exist, be COMPLETED, with a gapless event sequence and exactly one terminal event.
import { TERMINAL_STATUSES } from '@axle/protocol';
import { PrismaService } from '@axle/data';
import { AxleProcesses, PrivateStack, registerTestAgent, type ServiceName } from '@axle/testing';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ChaosContext, type ScenarioResult } from './harness';
import { jsonOf, type RawRequest, type RawResponse, send } from './http';

/** How long each service stays down. */
const OUTAGE_MS = 12_000;
/** Load before the first outage, between the two and after the last. */
const STEADY_MS = 15_000;
const CLIENTS = 3;
const READERS = 2;
/** An answer slower than this is a hang (requests are bounded: guarded() gives up after 3 s). */
const HANG_MS = 20_000;
/** Every app's /ready must be 200 again within this after its dependency is back. */
const RECOVER_MS = 60_000;
/** After the load: every accepted intent must reach COMPLETED within this. */
const SETTLE_MS = 180_000;
/** A client honours Retry-After up to this (the harness must not sleep for minutes). */
const MAX_BACKOFF_MS = 10_000;
const TERMINAL: ReadonlySet<string> = TERMINAL_STATUSES;

type Phase = 'steady' | 'redis down' | 'redis back' | 'postgres down' | 'postgres back' | 'settle';
type Accepted = { id: string; key: string; resumed: boolean };

export async function restarts(ctx: ChaosContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const findings: string[] = [];
  const counts: ScenarioResult['counts'] = [];
  ctx.log('restarts: starting a private PostgreSQL, Redis and Temporal and their own apps');
  const stack = await PrivateStack.start();
  const axle = await AxleProcesses.create({ ...stack.env, AXLE_EXEC_ALLOW_NONE: 'true' });
  try {
    await axle.startAll(['gateway', 'worker', 'runner']);
    const pids = new Map([...axle.children].map(([app, child]) => [app, child.pid]));
    const prisma = new PrismaService(stack.env.DATABASE_URL);
    const org = `chaos-restarts-${randomUUID().slice(0, 8)}`;
    const sender = await registerTestAgent(prisma, { org, name: 'sender' });
    const handler = await registerTestAgent(prisma, { org, name: 'handler' });
    await prisma.onModuleDestroy();

    let phase: Phase = 'steady';
    const byPhase = new Map<string, number>();
    const anomalies: string[] = [];
    const retryAfters = new Map<string, number>();
    let answers = 0;
    const tally = (label: string) => byPhase.set(label, (byPhase.get(label) ?? 0) + 1);

    /** Sends, classifies, and returns the answer, or null for a 503 (the caller retries). */
    const call = async (
      key: string,
      req: Omit<RawRequest, 'headers'> & { headers?: [string, string][] },
    ): Promise<{ status: number; body: Record<string, unknown>; retryMs: number } | null> => {
      const started = Date.now();
      const res: RawResponse = await send(
        axle.baseUrl,
        {
          ...req,
          headers: [
            ['x-api-key', key],
            ...(req.body !== undefined ? ([['content-type', 'application/json']] as [string, string][]) : []),
            ...(req.headers ?? []),
          ],
        },
        HANG_MS,
      );
      answers++;
      const what = `${phase}: ${req.method} ${req.path.replace(/[0-9a-f-]{36}/g, ':id')}`;
      if (res.kind === 'error') {
        tally(`${phase} ${res.error}`);
        anomalies.push(`${what} → ${res.error} after ${Date.now() - started} ms`);
        return { status: 0, body: {}, retryMs: 1000 };
      }
      tally(`${phase} ${res.status}`);
      const body = (jsonOf(res.text) ?? {}) as Record<string, unknown>;
      if (res.status === 503) {
        const ra = String(res.headers['retry-after'] ?? '');
        const error = body.error as { code?: unknown; message?: unknown } | undefined;
        if (!/^\d+$/.test(ra)) anomalies.push(`${what} → 503 without Retry-After: ${res.text.slice(0, 200)}`);
        if (
          body.ok !== false ||
          typeof error?.code !== 'string' ||
          typeof error.message !== 'string' ||
          typeof body.detail !== 'string'
        )
          anomalies.push(`${what} → 503 without the SPEC §1 body: ${res.text.slice(0, 200)}`);
        retryAfters.set(ra, (retryAfters.get(ra) ?? 0) + 1);
        return { status: 503, body, retryMs: Math.min(MAX_BACKOFF_MS, Math.max(1, Number(ra) || 1) * 1000) };
      }
      if (res.status >= 300 || typeof body.ok !== 'boolean')
        anomalies.push(`${what} → ${res.status}: ${res.text.slice(0, 300)}`);
      return { status: res.status, body, retryMs: 0 };
    };

    /** Calls until the answer is not a 503 (or a transport error), honouring Retry-After. */
    const retrying = async (
      key: string,
      req: Omit<RawRequest, 'headers'> & { headers?: [string, string][] },
      deadline: number,
    ) => {
      for (;;) {
        const r = await call(key, req);
        if (r && r.status !== 503 && r.status !== 0) return r;
        if (Date.now() > deadline) return r;
        await sleep(r?.retryMs ?? 1000);
      }
    };

    const accepted: Accepted[] = [];
    let stopLoad = false;
    let createsTried = 0;

    const client = async (n: number) => {
      let i = 0;
      while (!stopLoad) {
        i++;
        createsTried++;
        const key = randomUUID();
        const body = JSON.stringify({
          intent_type: 'chaos.restarts.v1',
          to_agent: handler.address,
          payload: { client: n, i },
        });
        const created = await retrying(
          sender.key,
          { method: 'POST', path: '/v1/intents', body, headers: [['idempotency-key', key]] },
          Date.now() + SETTLE_MS,
        );
        const id = created?.body.intent_id;
        if (created?.status !== 200 || typeof id !== 'string') continue;
        const mine: Accepted = { id, key, resumed: false };
        accepted.push(mine);
        // Until DELIVERED (the worker may be waiting for PostgreSQL), then complete it as the handler.
        const until = Date.now() + SETTLE_MS;
        while (Date.now() < until) {
          const got = await retrying(sender.key, { method: 'GET', path: `/v1/intents/${id}` }, until);
          const status = (got?.body.intent as { status?: string } | undefined)?.status;
          if (status === 'DELIVERED') break;
          await sleep(200);
        }
        const resumeKey = randomUUID();
        const resumed = await retrying(
          handler.key,
          {
            method: 'POST',
            path: `/v1/intents/${id}/resume`,
            body: JSON.stringify({ action: 'complete', result: { client: n, i } }),
            headers: [['idempotency-key', resumeKey]],
          },
          Date.now() + SETTLE_MS,
        );
        mine.resumed = resumed?.status === 200;
      }
    };

    let sseFrames = 0;
    let sseStreams = 0;
    const reader = async () => {
      let i = 0;
      while (!stopLoad) {
        i++;
        const target = accepted[Math.floor(Math.random() * accepted.length)];
        if (!target) {
          await sleep(200);
          continue;
        }
        await call(sender.key, { method: 'GET', path: `/v1/intents/${target.id}` });
        await call(sender.key, { method: 'GET', path: `/v1/intents/${target.id}/events?since=0` });
        if (i % 2 === 0) {
          const r = await sseFollow(axle.baseUrl, sender.key, target.id);
          answers++;
          tally(`${phase} SSE ${r.status}`);
          if (r.status === 200) {
            sseStreams++;
            sseFrames += r.frames;
          } else if (r.status === 503) {
            if (!r.retryAfter || !r.errorShape)
              anomalies.push(`${phase}: SSE → 503 without Retry-After or the SPEC §1 body`);
          } else anomalies.push(`${phase}: SSE ${target.id} → ${r.status} ${r.error ?? ''}`);
        }
        await sleep(100);
      }
    };

    // Followers: one SSE stream with follow=true per newly accepted intent, kept through the outages
    // (reconnecting from the last seq when the gateway ends it, and after a 503's Retry-After) until
    // the terminal event; the seqs seen must be 1..n, each once, with one terminal event.
    let followed = 0;
    let followReconnects = 0;
    const followProblems: string[] = [];
    const follower = async () => {
      let last: Accepted | undefined;
      while (!stopLoad) {
        const target = accepted.at(-1);
        if (!target || target === last) {
          await sleep(200);
          continue;
        }
        last = target;
        const r = await followUntilTerminal(
          axle.baseUrl,
          sender.key,
          target.id,
          Date.now() + SETTLE_MS,
          (status) => {
            answers++;
            tally(`${phase} SSE follow ${status}`);
          },
        );
        followed++;
        followReconnects += r.connections - 1;
        const gapless = r.seqs.every((seq, k) => seq === k + 1);
        if (!gapless || r.terminals !== 1 || r.problem)
          followProblems.push(
            `${target.id}: seqs ${r.seqs.join(',')}; ${r.terminals} terminal; ${r.connections} connections${r.problem ? `; ${r.problem}` : ''}`,
          );
      }
    };

    const readyUrls: Record<string, string> = {
      gateway: `${axle.baseUrl}/ready`,
      worker: `http://127.0.0.1:${axle.env.AXLE_WORKER_HEALTH_PORT}/ready`,
      runner: `http://127.0.0.1:${axle.env.AXLE_RUNNER_HEALTH_PORT}/ready`,
    };
    const readyStatus = (url: string) =>
      fetch(url, { signal: AbortSignal.timeout(5_000) }).then(
        (r) => r.status,
        () => 0,
      );

    /** Takes a service away for OUTAGE_MS and measures how long each app's /ready takes to be 200. */
    const restart = async (service: ServiceName) => {
      phase = `${service} down` as Phase;
      ctx.log(`restarts: stopping ${service}`);
      await stack.stopService(service);
      const downAt = Date.now();
      const seenDown = new Set<string>();
      while (Date.now() - downAt < OUTAGE_MS) {
        await Promise.all(
          Object.entries(readyUrls).map(async ([app, url]) => {
            if ((await readyStatus(url)) !== 200) seenDown.add(app);
          }),
        );
        await sleep(Math.min(1000, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
      }
      ctx.log(`restarts: starting ${service} again`);
      await stack.startService(service);
      const upAt = Date.now();
      phase = `${service} back` as Phase;
      const recovered: string[] = [];
      for (const [app, url] of Object.entries(readyUrls)) {
        while ((await readyStatus(url)) !== 200 && Date.now() - upAt < RECOVER_MS) await sleep(250);
        const ok = (await readyStatus(url)) === 200;
        const s = ((Date.now() - upAt) / 1000).toFixed(1);
        recovered.push(`${app} ${ok ? `${s} s` : `NOT within ${RECOVER_MS / 1000} s`}`);
        if (!ok)
          findings.push(`${app} /ready not 200 within ${RECOVER_MS / 1000} s after ${service} restarted`);
      }
      counts.push(
        [`${service} down for`, `${((upAt - downAt) / 1000).toFixed(1)} s`],
        [`${service}: apps whose /ready was 503 meanwhile`, [...seenDown].join(', ') || 'none'],
        [`${service}: time to /ready 200 after the restart`, recovered.join(', ')],
      );
    };

    const load = [
      ...Array.from({ length: CLIENTS }, (_, n) => client(n)),
      ...Array.from({ length: READERS }, () => reader()),
      follower(),
    ];
    ctx.log(`restarts: load of ${CLIENTS} clients and ${READERS} readers`);
    await sleep(STEADY_MS);
    await restart('redis');
    await sleep(STEADY_MS);
    await restart('postgres');
    await sleep(STEADY_MS);
    phase = 'settle';
    stopLoad = true;
    ctx.log('restarts: load stopped; waiting for the loops to finish their intents');
    await Promise.all(load);

    // Nothing accepted is lost: every intent answered 200 exists, is COMPLETED, and its events are
    // 1..n without a gap and with exactly one terminal event.
    const api = async (path: string) => {
      const r = await send(
        axle.baseUrl,
        { method: 'GET', path, headers: [['x-api-key', sender.key]] },
        HANG_MS,
      );
      return r.kind === 'response'
        ? { status: r.status, body: (jsonOf(r.text) ?? {}) as Record<string, unknown> }
        : null;
    };
    const settleBy = Date.now() + SETTLE_MS;
    let completed = 0;
    const notCompleted: string[] = [];
    const badEvents: string[] = [];
    for (const a of accepted) {
      let status: string | undefined;
      for (;;) {
        const got = await api(`/v1/intents/${a.id}`);
        status = (got?.body.intent as { status?: string } | undefined)?.status;
        if ((status && TERMINAL.has(status)) || Date.now() > settleBy) break;
        await sleep(500);
      }
      if (status === 'COMPLETED') completed++;
      else
        notCompleted.push(`${a.id} ${status ?? 'missing'}${a.resumed ? '' : ' (resume not answered 200)'}`);
      const ev = await api(`/v1/intents/${a.id}/events?since=0`);
      const events = (ev?.body.events ?? []) as { seq: number; status: string; event_type: string }[];
      const seqs = events.map((e) => e.seq);
      const gapless = seqs.every((s, k) => s === k + 1);
      const terminals = events.filter((e) => TERMINAL.has(e.status)).length;
      if (!events.length || !gapless || terminals !== 1)
        badEvents.push(
          `${a.id}: seqs ${seqs.join(',')}; ${terminals} terminal (${events.map((e) => e.event_type).join(',')})`,
        );
    }

    for (const [app, pid] of pids) {
      const child = axle.children.get(app);
      if (!child || child.pid !== pid || child.exitCode !== null || child.signalCode !== null)
        findings.push(
          `${app} exited (${child?.exitCode ?? child?.signalCode}); last output:\n${axle.output(app).slice(-2000)}`,
        );
    }
    const uniqueAnomalies = [...new Set(anomalies)];
    findings.push(...uniqueAnomalies.slice(0, 15));
    if (uniqueAnomalies.length > 15)
      findings.push(`… and ${uniqueAnomalies.length - 15} more answers like these`);
    if (notCompleted.length)
      findings.push(
        `accepted but not COMPLETED (${notCompleted.length}): ${notCompleted.slice(0, 10).join('; ')}`,
      );
    if (badEvents.length)
      findings.push(
        `event sequences with a gap or not one terminal event: ${badEvents.slice(0, 10).join('; ')}`,
      );
    if (accepted.length === 0) findings.push('no create was accepted');
    if (followProblems.length)
      findings.push(
        `followed SSE streams that missed or repeated events: ${followProblems.slice(0, 10).join('; ')}`,
      );

    const phases: Phase[] = [
      'steady',
      'redis down',
      'redis back',
      'postgres down',
      'postgres back',
      'settle',
    ];
    counts.unshift(
      ['creates attempted (distinct Idempotency-Keys)', createsTried],
      ['creates answered 200 (accepted)', accepted.length],
      ['accepted and COMPLETED', completed],
      ['accepted with a gapless event sequence and one terminal event', accepted.length - badEvents.length],
      ['answers (incl. retries)', answers],
      ['SSE streams read to their end / frames', `${sseStreams} / ${sseFrames}`],
      [
        'intents followed on one SSE stream (follow=true) to their terminal event / reconnections',
        `${followed} / ${followReconnects}`,
      ],
    );
    for (const p of phases) {
      const line = [...byPhase]
        .filter(([k]) => k.startsWith(`${p} `))
        .map(([k, n]) => `${k.slice(p.length + 1)}×${n}`)
        .join(', ');
      if (line) counts.push([`answers while ${p}`, line]);
    }
    counts.push(
      [
        'Retry-After values on 503s',
        [...retryAfters].map(([v, n]) => `${v || 'none'} s×${n}`).join(', ') || 'no 503',
      ],
      ['answers neither 2xx nor 503 + Retry-After + error body', anomalies.length],
    );
    return {
      name: 'restarts',
      passed: findings.length === 0,
      what: `A private PostgreSQL, Redis and Temporal with their own gateway, worker and runner. ${CLIENTS} client loops create intents (Idempotency-Key), wait for DELIVERED and resume them as the handler (complete); ${READERS} reader loops GET an intent and its events and read its SSE stream; a follower keeps an SSE stream (follow=true) on each newest accepted intent through the outages, reconnecting from its last seq, until the terminal event. After ${STEADY_MS / 1000} s Redis is stopped for at least ${OUTAGE_MS / 1000} s (measured below) and started again on the same port and data; ${STEADY_MS / 1000} s later PostgreSQL the same. Pass: every answer 2xx, or 503 with Retry-After and the SPEC §1 body (clients retry it with the same key); no answer slower than ${HANG_MS / 1000} s; no app exits; every app's /ready 200 again within ${RECOVER_MS / 1000} s of each restart; every create answered 200 COMPLETED with events 1..n and one terminal event, and every followed stream saw exactly those.`,
      counts,
      findings,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await axle.stopAll();
    await stack.stopAll();
  }
}

/** Reads one intent's SSE stream (wait_seconds=2) to its end; the status, and frames with an id. */
async function sseFollow(
  baseUrl: string,
  key: string,
  id: string,
): Promise<{ status: number; frames: number; retryAfter?: string; errorShape?: boolean; error?: string }> {
  try {
    const res = await fetch(`${baseUrl}/v1/intents/${id}/events/stream?since=0&wait_seconds=2`, {
      headers: { 'x-api-key': key },
      signal: AbortSignal.timeout(HANG_MS),
    });
    const text = await res.text();
    return {
      status: res.status,
      frames: (text.match(/^id: /gm) ?? []).length,
      retryAfter: res.headers.get('retry-after') ?? undefined,
      errorShape: hasErrorShape(jsonOf(text)),
    };
  } catch (err) {
    return { status: 0, frames: 0, error: (err as Error).name === 'TimeoutError' ? 'timeout' : String(err) };
  }
}

function hasErrorShape(body: unknown): boolean {
  const b = body as
    { ok?: unknown; error?: { code?: unknown; message?: unknown }; detail?: unknown } | undefined;
  return (
    b?.ok === false &&
    typeof b.error?.code === 'string' &&
    typeof b.error.message === 'string' &&
    typeof b.detail === 'string'
  );
}

/**
 * Follows one intent's events on an SSE stream (follow=true) until its terminal event, reconnecting
 * from the last seq seen whenever the stream ends or fails (after Retry-After on a 503), up to
 * `deadline`. Each connection stays open at most HANG_MS without a byte (heartbeats come every 15 s).
 */
async function followUntilTerminal(
  baseUrl: string,
  key: string,
  id: string,
  deadline: number,
  onAnswer: (status: string) => void,
): Promise<{ seqs: number[]; terminals: number; connections: number; problem?: string }> {
  const seqs: number[] = [];
  let terminals = 0;
  let connections = 0;
  const count = onAnswer;
  while (Date.now() < deadline && terminals === 0) {
    connections++;
    const abort = new AbortController();
    let idle = setTimeout(() => abort.abort(), HANG_MS);
    try {
      const res = await fetch(
        `${baseUrl}/v1/intents/${id}/events/stream?since=${seqs.at(-1) ?? 0}&follow=true`,
        {
          headers: { 'x-api-key': key },
          signal: abort.signal,
        },
      );
      count(String(res.status));
      if (res.status !== 200) {
        const text = await res.text();
        if (res.status !== 503 || !res.headers.get('retry-after') || !hasErrorShape(jsonOf(text)))
          return { seqs, terminals, connections, problem: `${res.status} ${text.slice(0, 200)}` };
        await sleep(Math.min(MAX_BACKOFF_MS, Number(res.headers.get('retry-after')) * 1000 || 1000));
        continue;
      }
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(), HANG_MS);
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const idLine = /^id: (\d+)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (idLine === undefined || data === undefined) continue;
          seqs.push(Number(idLine));
          const status = (jsonOf(data) as { status?: string } | undefined)?.status;
          if (status && TERMINAL.has(status)) terminals++;
        }
        if (terminals > 0) break;
      }
    } catch (err) {
      count((err as Error).name === 'AbortError' ? 'idle timeout' : 'connection error');
      if ((err as Error).name === 'AbortError')
        return { seqs, terminals, connections, problem: `no byte for ${HANG_MS / 1000} s` };
      await sleep(1000);
    } finally {
      clearTimeout(idle);
      abort.abort();
    }
  }
  return {
    seqs,
    terminals,
    connections,
    ...(terminals === 0 ? { problem: 'no terminal event before the deadline' } : {}),
  };
}
