// Scenario soak: a steady mixed load for a bounded time (default 3 minutes; `--minutes 10` for the
// issue's 10): workers loop create → wait DELIVERED → resume (complete) → read intent, events and
// lists, and open and drop an agent SSE stream, while gateway, worker and runner RSS and open file
// descriptors (/proc/<pid>/fd) are sampled every 5 s. Flat means: after the first fifth (warm-up),
// RSS grows by at most 25 % or 32 MiB, whichever is more, and descriptors by at most 25.
import { PrismaService } from '@axle/data';
import { registerTestAgent, requireEnv } from '@axle/testing';
import { randomUUID } from 'node:crypto';
import { type ChaosContext, fmtMiB, MiB, processSample, type ScenarioResult } from './harness';
import { jsonOf, type RawRequest, send } from './http';

const SAMPLE_MS = 5_000;
const WORKERS = 4;
const RSS_TOLERANCE = { ratio: 0.25, bytes: 32 * MiB };
const FD_TOLERANCE = 25;

type Sample = { t: number; app: string; rss: number; fds: number };

export async function soak(ctx: ChaosContext): Promise<ScenarioResult> {
  const t0 = Date.now();
  const prisma = new PrismaService(requireEnv('DATABASE_URL'));
  const org = `chaos-soak-${randomUUID().slice(0, 8)}`;
  const sender = await registerTestAgent(prisma, { org, name: 'sender' });
  const handler = await registerTestAgent(prisma, { org, name: 'handler' });
  await prisma.onModuleDestroy();
  const [, , hOrg, hWs, hName] = handler.address.split('/');

  const statuses = new Map<number | string, number>();
  let completed = 0;
  let requests = 0;
  const call = async (key: string, req: Omit<RawRequest, 'headers'> & { headers?: [string, string][] }) => {
    const res = await send(ctx.baseUrl, {
      ...req,
      headers: [
        ['x-api-key', key],
        ...(req.body !== undefined ? ([['content-type', 'application/json']] as [string, string][]) : []),
        ...(req.headers ?? []),
      ],
    });
    requests++;
    const s = res.kind === 'response' ? res.status : res.error;
    statuses.set(s, (statuses.get(s) ?? 0) + 1);
    return res.kind === 'response'
      ? { status: res.status, body: jsonOf(res.text) as Record<string, unknown> | undefined }
      : { status: 0, body: undefined };
  };

  const endAt = Date.now() + ctx.args.soakMinutes * 60_000;
  const loop = async () => {
    let i = 0;
    while (Date.now() < endAt) {
      i++;
      const created = await call(sender.key, {
        method: 'POST',
        path: '/v1/intents',
        body: JSON.stringify({
          intent_type: 'chaos.soak.v1',
          to_agent: handler.address,
          payload: { i, pad: 'x'.repeat(512) },
        }),
        headers: [['idempotency-key', randomUUID()]],
      });
      const id = created.body?.intent_id;
      if (typeof id === 'string') {
        for (let tries = 0; tries < 100; tries++) {
          const got = await call(sender.key, { method: 'GET', path: `/v1/intents/${id}` });
          if ((got.body?.intent as { status?: string } | undefined)?.status === 'DELIVERED') break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const resumed = await call(handler.key, {
          method: 'POST',
          path: `/v1/intents/${id}/resume`,
          body: JSON.stringify({ action: 'complete', result: { i } }),
        });
        if (resumed.status === 200) completed++;
        await call(sender.key, { method: 'GET', path: `/v1/intents/${id}/events?since=0` });
      }
      await call(sender.key, { method: 'GET', path: '/v1/intents?limit=20' });
      if (i % 5 === 0)
        await call(handler.key, {
          method: 'GET',
          path: `/v1/agents/${hOrg}/${hWs}/${hName}/intents/stream?since=0&wait_seconds=1`,
        });
      if (i % 10 === 0) await call(sender.key, { method: 'GET', path: '/v1/inbox' });
    }
  };

  const samples: Sample[] = [];
  const sample = () => {
    for (const [app, child] of ctx.axle.children) {
      const s = child.pid ? processSample(child.pid) : null;
      if (s) samples.push({ t: Date.now() - t0, app, ...s });
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_MS);
  ctx.log(`soak: ${ctx.args.soakMinutes} min, ${WORKERS} workers`);
  await Promise.all(Array.from({ length: WORKERS }, loop));
  clearInterval(timer);
  sample();

  const findings: string[] = [];
  const counts: ScenarioResult['counts'] = [
    ['duration', `${ctx.args.soakMinutes} min`],
    ['requests', requests],
    ['intents completed', completed],
    ['answers by status', [...statuses].map(([s, n]) => `${s}×${n}`).join(', ')],
  ];
  const warmUntil = (Date.now() - t0) / 5;
  for (const app of ctx.axle.children.keys()) {
    const mine = samples.filter((s) => s.app === app);
    const warm = mine.find((s) => s.t >= warmUntil) ?? mine[0];
    const last = mine.at(-1);
    if (!warm || !last || !mine[0]) continue;
    const maxRss = Math.max(...mine.map((s) => s.rss));
    const maxFds = Math.max(...mine.map((s) => s.fds));
    const rssFlat = last.rss - warm.rss <= Math.max(warm.rss * RSS_TOLERANCE.ratio, RSS_TOLERANCE.bytes);
    const fdsFlat = last.fds - warm.fds <= FD_TOLERANCE;
    counts.push(
      [
        `${app} RSS first / after warm-up / last / max`,
        `${fmtMiB(mine[0].rss)} / ${fmtMiB(warm.rss)} / ${fmtMiB(last.rss)} / ${fmtMiB(maxRss)} → ${rssFlat ? 'flat' : 'GROWING'}`,
      ],
      [
        `${app} open fds first / after warm-up / last / max`,
        `${mine[0].fds} / ${warm.fds} / ${last.fds} / ${maxFds} → ${fdsFlat ? 'flat' : 'GROWING'}`,
      ],
    );
    if (!rssFlat)
      findings.push(`${app} RSS grew from ${fmtMiB(warm.rss)} to ${fmtMiB(last.rss)} after warm-up`);
    if (!fdsFlat) findings.push(`${app} open fds grew from ${warm.fds} to ${last.fds} after warm-up`);
  }
  counts.push(['samples', samples.length]);
  const bad = [...statuses].filter(([s]) => typeof s !== 'number' || s >= 500);
  if (bad.length) findings.push(`5xx or no answer: ${bad.map(([s, n]) => `${s}×${n}`).join(', ')}`);
  if (completed === 0) findings.push('no intent completed');
  return {
    name: 'soak',
    passed: findings.length === 0,
    what: `${WORKERS} concurrent loops for ${ctx.args.soakMinutes} min: create (with an Idempotency-Key) → poll until DELIVERED → resume complete as the handler → read events and a list; every 5th loop an agent SSE stream (1 s), every 10th the inbox. RSS and open fds of every app sampled every ${SAMPLE_MS / 1000} s. Flat: after the first fifth, RSS grows ≤ max(25 %, 32 MiB) and fds ≤ ${FD_TOLERANCE}.`,
    counts,
    findings,
    seconds: (Date.now() - t0) / 1000,
  };
}
