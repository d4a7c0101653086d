// Benchmark 1: POST /v1/intents latency at a fixed arrival rate (autocannon overallRate), each
// request a new intent with its own correlation id, at two rates. Goal (issue #8): p50 ≤ 10 ms,
// p99 ≤ 40 ms. Also the CPU one create costs in each process.
import {
  benchContext,
  cannon,
  cpuByRole,
  cpuPerItem,
  emitResult,
  ensureAgent,
  formatCpu,
  intentBody,
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

await cannon(options(RATES[0], 3)); // warm-up: JIT, connection pools, Temporal client
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
  rows: runs.flatMap((run) => [
    row(`p50 at ${run.rate} req/s`, run.latency_ms.p50, 'ms', 10, '<='),
    row(`p99 at ${run.rate} req/s`, run.latency_ms.p99, 'ms', 40, '<='),
    row(`achieved at ${run.rate} req/s`, run.achieved_rps, 'req/s'),
  ]),
  raw: { seconds: SECONDS, connections: 20, runs },
  notes: runs.map(
    (run) =>
      `${run.ok} intents created at ${run.rate}/s over ${SECONDS} s (${run.non2xx} non-2xx, ${run.errors} errors); max ${run.latency_ms.max} ms; CPU ms per create: ${formatCpu(run.cpu_ms_per_create)}`,
  ),
});
