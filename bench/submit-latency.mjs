// Benchmark 1: POST /v1/intents latency at a fixed arrival rate (an open loop: evenly spaced sends,
// latency from each one's due time), each request a new intent with its own correlation id, at two
// rates. Goal (issue #8): p50 ≤ 10 ms, p99 ≤ 40 ms. Also the CPU one create costs in each process,
// and, one request at a time on an idle stack, a create against its floor: a bare Temporal
// StartWorkflowExecution on the same server.
import { Client, Connection } from '@temporalio/client';
import {
  api,
  api200,
  benchContext,
  cpuByRole,
  cpuPerItem,
  emitResult,
  ensureAgent,
  formatCpu,
  intentBody,
  msSince,
  openLoop,
  sleep,
  summarize,
} from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
/** A rate the stack keeps up with on 2 CPUs, then the load: below capacity the percentiles
 * measure a create; above it, the queue in front of it. */
const RATES = [20, 100];
const SECONDS = ctx.quick ? 5 : 20;
const to = await ensureAgent(ctx, 'bench-sink');

const create = () =>
  api(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(to)).then((res) => res.status);

/**
 * Latency summary (ms) of `count` calls made one at a time, 100 ms apart: by then the previous
 * intent's delivery is done (20 ms apart, each create shared the CPUs with it: p50 16 against 9 ms).
 */
async function oneAtATime(count, call) {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await call(i);
    ms.push(msSince(start));
    await sleep(100);
  }
  return summarize(ms);
}

await openLoop({ rate: RATES[0], seconds: 3, send: create }); // warm-up: JIT, connection pools, Temporal client
const SEQUENTIAL = ctx.quick ? 30 : 100;
const unloadedCreate = await oneAtATime(SEQUENTIAL, () =>
  api200(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(to)),
);
// The floor of a create that starts its workflow before answering: the start alone, from a client
// of its own, on a task queue no worker polls (nothing runs; the run times out after a minute).
const connection = await Connection.connect({ address: ctx.temporalAddress });
const temporal = new Client({ connection, namespace: ctx.temporalNamespace });
const bareStart = await oneAtATime(SEQUENTIAL, (i) =>
  temporal.workflow.start('benchFloorWorkflow', {
    taskQueue: 'bench-floor-unpolled',
    workflowId: `bench-floor-${process.pid}-${i}`,
    workflowExecutionTimeout: '1 minute',
    args: [intentBody(to)],
  }),
);
await connection.close();
console.log(
  `submit one at a time: create p50 ${unloadedCreate.p50} ms, bare Temporal start p50 ${bareStart.p50} ms`,
);

const runs = [];
for (const rate of RATES) {
  const before = cpuByRole(process.ppid);
  const r = await openLoop({ rate, seconds: SECONDS, send: create });
  const lat = r.latencyMs;
  const ok = r.ok;
  const cpu = cpuPerItem(before, cpuByRole(process.ppid), Math.max(ok, 1));
  console.log(
    `submit: ${ok} × 200 at ${rate}/s, p50 ${lat.p50} ms, p99 ${lat.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`,
  );
  runs.push({
    rate,
    latency_ms: lat,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    send_lag_ms: r.sendLagMs,
    achieved_rps: r.achievedRps,
    cpu_ms_per_create: cpu,
  });
}
emitResult({
  rows: [
    row('p50 one at a time (idle stack)', unloadedCreate.p50, 'ms', 10, '<='),
    row('bare Temporal start p50, one at a time (the floor)', bareStart.p50, 'ms'),
    ...runs.flatMap((run) => [
      row(`p50 at ${run.rate} req/s`, run.latency_ms.p50, 'ms', 10, '<='),
      row(`p99 at ${run.rate} req/s`, run.latency_ms.p99, 'ms', 40, '<='),
      row(`achieved at ${run.rate} req/s`, run.achieved_rps, 'req/s'),
    ]),
  ],
  raw: {
    seconds: SECONDS,
    one_at_a_time: { count: SEQUENTIAL, create: unloadedCreate, bare_temporal_start: bareStart },
    runs,
  },
  notes: [
    `one at a time (${SEQUENTIAL} each, 100 ms apart): create p50 ${unloadedCreate.p50} / p99 ${unloadedCreate.p99} ms; bare Temporal start p50 ${bareStart.p50} / p99 ${bareStart.p99} ms`,
    ...runs.map(
      (run) =>
        `${run.ok} intents created at ${run.rate}/s over ${SECONDS} s (${run.non2xx} non-2xx, ${run.errors} errors); max ${run.latency_ms.max} ms; sends late by p50 ${run.send_lag_ms.p50} / p99 ${run.send_lag_ms.p99} ms; CPU ms per create: ${formatCpu(run.cpu_ms_per_create)}`,
    ),
  ],
});
