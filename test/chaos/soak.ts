// Scenario soak: a steady mixed load for a bounded time (default 3 minutes; `--minutes 10` for the
// issue's 10): workers loop create → wait DELIVERED → resume (complete) → read intent, events and
// lists, and open and drop an agent SSE stream, while gateway, worker and runner RSS and open file
// descriptors (/proc/<pid>/fd) are sampled every 5 s, with the worker's and runner's V8 heap, external
// memory and (worker) Temporal workflow cache read from their /metrics.
//
// The verdict tells a plateau from growth: a bounded cache filling up grows in the middle third and
// stops in the last; a leak keeps growing. Flat means the last third grows by at most
// max(5 %, 32 MiB) (RSS, smoothed over 30 s) and descriptors by at most 25; and the worker's peak RSS
// stays under its memory limit in k8s/base/worker.yaml.
import { PrismaService } from '@axle/data';
import { registerTestAgent, requireEnv } from '@axle/testing';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type ChaosContext, fmtMiB, MiB, processSample, type ScenarioResult } from './harness';
import { jsonOf, type RawRequest, send } from './http';
import { k8sEnv, k8sMemoryLimit } from './k8s';

const SAMPLE_MS = 5_000;
const WORKERS = 4;
/** Allowed RSS growth over the last third of the run. */
const RSS_TOLERANCE = { ratio: 0.05, bytes: 32 * MiB };
const FD_TOLERANCE = 25;
/** RSS at a moment = median of the samples within this much of it (smooths GC saw-teeth). */
const LEVEL_WINDOW_MS = 15_000;

type Sample = {
  t: number;
  app: string;
  rss: number;
  fds: number;
  heap?: number;
  external?: number;
  cached?: number;
};

/** A few gauges from a Prometheus text page (unlabelled series only). */
async function scrape(url: string): Promise<Record<string, number>> {
  const ctl = AbortSignal.timeout(2_000);
  const text = await fetch(url, { signal: ctl }).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([a-z_]+) ([0-9.e+-]+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Median of the values of samples within LEVEL_WINDOW_MS of t (or the nearest sample). */
function levelAt(samples: Sample[], t: number, pick: (s: Sample) => number | undefined): number {
  const near = samples
    .filter((s) => Math.abs(s.t - t) <= LEVEL_WINDOW_MS)
    .map(pick)
    .filter((v): v is number => v !== undefined)
    .sort((a, b) => a - b);
  if (near.length) return near[Math.floor(near.length / 2)]!;
  const nearest = [...samples].sort((a, b) => Math.abs(a.t - t) - Math.abs(b.t - t))[0];
  return (nearest && pick(nearest)) ?? 0;
}

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
  const metricsUrl: Record<string, string> = {
    worker: `http://127.0.0.1:${ctx.axle.env.AXLE_WORKER_HEALTH_PORT}/metrics`,
    runner: `http://127.0.0.1:${ctx.axle.env.AXLE_RUNNER_HEALTH_PORT}/metrics`,
  };
  const sample = async () => {
    for (const [app, child] of ctx.axle.children) {
      const s = child.pid ? processSample(child.pid) : null;
      if (!s) continue;
      const url = metricsUrl[app];
      const m = url ? await scrape(url) : {};
      samples.push({
        t: Date.now() - t0,
        app,
        ...s,
        heap: m.nodejs_heap_size_used_bytes,
        external: m.nodejs_external_memory_bytes,
        cached: m.axle_worker_cached_workflows,
      });
    }
  };
  await sample();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
      if (sampling) await sample();
    }
  })();
  ctx.log(`soak: ${ctx.args.soakMinutes} min, ${WORKERS} workers`);
  await Promise.all(Array.from({ length: WORKERS }, loop));
  sampling = false;
  await sampler;
  await sample();
  const total = Date.now() - t0;
  // Raw samples for a closer look (e.g. a plot): AXLE_SOAK_SAMPLES=<file> npm run chaos -- soak
  if (process.env.AXLE_SOAK_SAMPLES) writeFileSync(process.env.AXLE_SOAK_SAMPLES, JSON.stringify(samples));

  const findings: string[] = [];
  const counts: ScenarioResult['counts'] = [
    ['duration', `${ctx.args.soakMinutes} min`],
    [
      'worker environment (k8s/base/worker.yaml)',
      Object.entries(k8sEnv('worker'))
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'none',
    ],
    ['requests', requests],
    ['intents completed', completed],
    ['answers by status', [...statuses].map(([s, n]) => `${s}×${n}`).join(', ')],
  ];
  const third = total / 3;
  const mib = (b: number) => fmtMiB(b);
  for (const app of ctx.axle.children.keys()) {
    const mine = samples.filter((s) => s.app === app);
    const first = mine[0];
    if (!first || mine.length < 3) continue;
    const rss = (t: number) => levelAt(mine, t, (s) => s.rss);
    const [r1, r2, r3] = [rss(third), rss(2 * third), rss(total)];
    const midGrowth = r2 - r1;
    // Against the highest level seen before the last third: RSS that dips (a GC or malloc trim)
    // and comes back to where it was has not grown; a leak rises above every earlier level.
    const lastGrowth = r3 - Math.max(r1, r2);
    const maxRss = Math.max(...mine.map((s) => s.rss));
    const rssFlat = lastGrowth <= Math.max(r2 * RSS_TOLERANCE.ratio, RSS_TOLERANCE.bytes);
    const verdict = rssFlat
      ? 'flat'
      : lastGrowth <= midGrowth / 2
        ? 'LEVELLING OFF (still growing)'
        : 'GROWING';
    const fds = (t: number) => levelAt(mine, t, (s) => s.fds);
    const fdGrowth = fds(total) - fds(2 * third);
    const fdsFlat = fdGrowth <= FD_TOLERANCE;
    counts.push(
      [
        `${app} RSS first / at ⅓ / at ⅔ / end / max`,
        `${mib(first.rss)} / ${mib(r1)} / ${mib(r2)} / ${mib(r3)} / ${mib(maxRss)}`,
      ],
      [
        `${app} RSS growth middle third / last third`,
        `${midGrowth >= 0 ? '+' : ''}${mib(midGrowth)} / ${lastGrowth >= 0 ? '+' : ''}${mib(lastGrowth)} → ${verdict}`,
      ],
      [
        `${app} open fds first / at ⅔ / end / max`,
        `${first.fds} / ${fds(2 * third)} / ${fds(total)} / ${Math.max(...mine.map((s) => s.fds))} → ${fdsFlat ? 'flat' : 'GROWING'}`,
      ],
    );
    if (mine.some((s) => s.heap !== undefined)) {
      const at = (t: number, pick: (s: Sample) => number | undefined) => mib(levelAt(mine, t, pick));
      counts.push([
        `${app} main-thread V8 heap used / external at ⅓ / ⅔ / end`,
        `${at(third, (s) => s.heap)} / ${at(2 * third, (s) => s.heap)} / ${at(total, (s) => s.heap)}; ${at(third, (s) => s.external)} / ${at(2 * third, (s) => s.external)} / ${at(total, (s) => s.external)}`,
      ]);
    }
    if (mine.some((s) => s.cached !== undefined)) {
      const c = (t: number) => levelAt(mine, t, (s) => s.cached);
      counts.push([
        `${app} cached workflows at ⅓ / ⅔ / end / max`,
        `${c(third)} / ${c(2 * third)} / ${c(total)} / ${Math.max(...mine.map((s) => s.cached ?? 0))}`,
      ]);
    }
    if (!rssFlat)
      findings.push(
        `${app} RSS grew by ${mib(lastGrowth)} in the last third (${mib(r2)} → ${mib(r3)}; middle third ${mib(midGrowth)})`,
      );
    if (!fdsFlat) findings.push(`${app} open fds grew by ${fdGrowth} in the last third`);
    const limit = k8sMemoryLimit(app);
    if (limit !== null) {
      counts.push([`${app} peak RSS / k8s memory limit`, `${mib(maxRss)} / ${mib(limit)}`]);
      if (maxRss >= limit * 0.9)
        findings.push(`${app} peak RSS ${mib(maxRss)} is within 10 % of its k8s memory limit ${mib(limit)}`);
    }
  }
  counts.push(['samples', samples.length]);
  const bad = [...statuses].filter(([s]) => typeof s !== 'number' || s >= 500);
  if (bad.length) findings.push(`5xx or no answer: ${bad.map(([s, n]) => `${s}×${n}`).join(', ')}`);
  if (completed === 0) findings.push('no intent completed');
  return {
    name: 'soak',
    passed: findings.length === 0,
    what: `${WORKERS} concurrent loops for ${ctx.args.soakMinutes} min: create (with an Idempotency-Key) → poll until DELIVERED → resume complete as the handler → read events and a list; every 5th loop an agent SSE stream (1 s), every 10th the inbox. RSS and open fds of every app sampled every ${SAMPLE_MS / 1000} s (worker and runner main-thread heap, external memory and the worker's cached workflows from their /metrics). Flat: at the end RSS (median over ±${LEVEL_WINDOW_MS / 1000} s) is above its levels at ⅓ and ⅔ by ≤ max(${RSS_TOLERANCE.ratio * 100} %, ${RSS_TOLERANCE.bytes / MiB} MiB) and fds ≤ ${FD_TOLERANCE}, and peak RSS stays under 90 % of the k8s memory limit. A middle third that grew and a last third that did not is a cache that filled up; steady growth in both is a leak.`,
    counts,
    findings,
    seconds: (Date.now() - t0) / 1000,
  };
}
