// Benchmark 4: end-to-end intents/s. C loops in parallel, each: create an intent (POST /v1/intents),
// the agent (one follow=true delivery stream, as the SDK's listen) resumes it with `complete`, the
// loop is done when the resume answers COMPLETED. Against the bare Temporal shape on the same
// server with the same concurrency: start a workflow, one update, its result (the worker in its own
// process, bench/anchors/temporal). Goal: ratio ≥ 0.8.
import { Client, Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  api,
  api200,
  benchContext,
  cpuByRole,
  cpuPerItem,
  emitResult,
  formatCpu,
  ensureAgent,
  intentBody,
  openSse,
  summarize,
} from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const CONCURRENCY = ctx.quick ? 5 : 10;
const TOTAL = ctx.quick ? 50 : 300;
const WARMUP = CONCURRENCY * 2;

async function runLoops(total, once1) {
  let next = 0;
  const latencies = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        next++;
        const s = process.hrtime.bigint();
        await once1();
        latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { per_second: Math.round((total / seconds) * 10) / 10, seconds, latency_ms: summarize(latencies) };
}

// --- Axle
const name = `bench-e2e-${process.pid}`;
const agent = await ensureAgent(ctx, name);
const waiting = new Map(); // intent id → resolve(status)
const early = new Map();
const resumeOf = async (id) => {
  const res = await api(
    ctx.baseUrl,
    ctx.key,
    'POST',
    `/v1/intents/${id}/resume?owner_agent=${encodeURIComponent(agent)}`,
    {
      action: 'complete',
      result: { ok: true },
    },
  );
  return res.status === 200 ? res.body.status : `http ${res.status}`;
};
const listen = await openSse(
  `${ctx.baseUrl}/v1/agents/default/default/${name}/intents/stream?since=0&follow=true`,
  { 'x-api-key': ctx.key },
  (f) => {
    if (f.event !== 'intent.delivered') return;
    const id = JSON.parse(f.data).intent_id;
    const done = resumeOf(id);
    const w = waiting.get(id);
    if (w) w(done);
    else early.set(id, done);
  },
);
async function axleOnce() {
  const { intent_id: id } = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(agent));
  const done = early.get(id) ?? (await new Promise((resolve) => waiting.set(id, resolve)));
  early.delete(id);
  waiting.delete(id);
  const status = await done;
  if (status !== 'COMPLETED') throw new Error(`intent ${id}: resume answered ${status}`);
}
await runLoops(WARMUP, axleOnce);
// Where the CPU goes: per intent and per process, over the measured loops only.
let cpuBefore = cpuByRole(process.ppid);
const axle = await runLoops(TOTAL, axleOnce);
axle.cpu_ms_per_item = cpuPerItem(cpuBefore, cpuByRole(process.ppid), TOTAL);
listen.close();
console.log(`e2e axle: ${axle.per_second} intents/s (p50 ${axle.latency_ms.p50} ms)`);

// --- bare Temporal
const taskQueue = `bench-bare-${process.pid}`;
const worker = spawn(
  process.execPath,
  [
    new URL('./anchors/temporal/worker.mjs', import.meta.url).pathname,
    ctx.temporalAddress,
    ctx.temporalNamespace,
    taskQueue,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await once(worker.stdout, 'data');
const connection = await Connection.connect({ address: ctx.temporalAddress });
const client = new Client({ connection, namespace: ctx.temporalNamespace });
async function bareOnce() {
  const handle = await client.workflow.start('bareIntent', {
    taskQueue,
    workflowId: `bare-${randomUUID()}`,
    args: [],
  });
  await handle.executeUpdate('resume', { args: [{ ok: true }] });
  await handle.result();
}
await runLoops(WARMUP, bareOnce);
cpuBefore = cpuByRole(process.ppid);
const bare = await runLoops(TOTAL, bareOnce);
bare.cpu_ms_per_item = cpuPerItem(cpuBefore, cpuByRole(process.ppid), TOTAL);
worker.kill('SIGTERM');
await connection.close();
console.log(`e2e bare temporal: ${bare.per_second} workflows/s (p50 ${bare.latency_ms.p50} ms)`);

const ratio = Math.round((axle.per_second / bare.per_second) * 1000) / 1000;
emitResult({
  rows: [
    row(`Axle intents/s (concurrency ${CONCURRENCY})`, axle.per_second, '/s'),
    row('bare Temporal workflows/s', bare.per_second, '/s'),
    row('ratio', ratio, '×', 0.8, '>='),
    row('CPU per intent, all processes', sum(axle.cpu_ms_per_item), 'ms'),
    row('CPU per bare workflow, all processes', sum(bare.cpu_ms_per_item), 'ms'),
  ],
  raw: { concurrency: CONCURRENCY, total: TOTAL, axle, bare, ratio },
  notes: [
    `${TOTAL} each at concurrency ${CONCURRENCY}; per-item p50 Axle ${axle.latency_ms.p50} ms vs bare ${bare.latency_ms.p50} ms`,
    `CPU ms per intent: ${formatCpu(axle.cpu_ms_per_item)}; per bare workflow: ${formatCpu(bare.cpu_ms_per_item)}`,
  ],
});

function sum(perRole) {
  return Math.round(Object.values(perRole).reduce((a, b) => a + b, 0) * 10) / 10;
}
