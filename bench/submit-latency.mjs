// Benchmark 1: POST /v1/intents latency at a fixed arrival rate (autocannon overallRate), each
// request a new intent with its own correlation id, at two rates. Goal (issue #8): p50 ≤ 10 ms,
// p99 ≤ 40 ms. Also the CPU one create costs in each process, and, one request at a time on an
// idle stack, a create against its floor: a bare Temporal StartWorkflowExecution on the same server.
import { Client, Connection } from '@temporalio/client';
import {
  api200,
  benchContext,
  cannon,
  cpuByRole,
  cpuPerItem,
  emitResult,
  ensureAgent,
  formatCpu,
  intentBody,
  msSince,
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

const options = (rate, duration) => ({
  url: ctx.baseUrl,
  connections: 20,
  overallRate: rate,
  duration,
  requests: [
    {
      method: 'POST',
      path: '/v1/intents',
      headers: { 'x-api-key': ctx.key, 'content-type': 'application/json' },
      setupRequest: (req) => ({ ...req, body: JSON.stringify(intentBody(to)) }),
    },
  ],
});

/** Latency summary (ms) of `count` calls made one at a time, 20 ms apart. */
async function oneAtATime(count, call) {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await call(i);
    ms.push(msSince(start));
    await sleep(20);
  }
  return summarize(ms);
}

await cannon(options(RATES[0], 3)); // warm-up: JIT, connection pools, Temporal client
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
  const r = await cannon(options(rate, SECONDS));
  const lat = r.latencyMs;
  const ok = r['2xx'];
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
    timeouts: r.timeouts,
    achieved_rps: r.requests.average,
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
    connections: 20,
    one_at_a_time: { count: SEQUENTIAL, create: unloadedCreate, bare_temporal_start: bareStart },
    runs,
  },
  notes: [
    `one at a time (${SEQUENTIAL} each, 20 ms apart): create p50 ${unloadedCreate.p50} / p99 ${unloadedCreate.p99} ms; bare Temporal start p50 ${bareStart.p50} / p99 ${bareStart.p99} ms`,
    ...runs.map(
      (run) =>
        `${run.ok} intents created at ${run.rate}/s over ${SECONDS} s (${run.non2xx} non-2xx, ${run.errors} errors); max ${run.latency_ms.max} ms; CPU ms per create: ${formatCpu(run.cpu_ms_per_create)}`,
    ),
  ],
});
