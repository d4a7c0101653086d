// Benchmark 1: POST /v1/intents latency at a fixed arrival rate (autocannon overallRate), each
// request a new intent with its own correlation id. Goal (issue #8): p50 ≤ 10 ms, p99 ≤ 40 ms.
import { benchContext, cannon, emitResult, ensureAgent, intentBody } from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const RATE = 100;
const SECONDS = ctx.quick ? 5 : 20;
const to = await ensureAgent(ctx, 'bench-sink');

const options = (duration) => ({
  url: ctx.baseUrl,
  connections: 20,
  overallRate: RATE,
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

await cannon(options(3)); // warm-up: JIT, connection pools, Temporal client
const r = await cannon(options(SECONDS));
const lat = r.latencyMs;
const ok = r['2xx'];
console.log(
  `submit: ${ok} × 200 at ${RATE}/s, p50 ${lat.p50} ms, p99 ${lat.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`,
);
emitResult({
  rows: [
    row(`p50 at ${RATE} req/s`, lat.p50, 'ms', 10, '<='),
    row(`p99 at ${RATE} req/s`, lat.p99, 'ms', 40, '<='),
  ],
  raw: {
    rate: RATE,
    seconds: SECONDS,
    connections: 20,
    latency_ms: lat,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    achieved_rps: r.requests.average,
  },
  notes: [
    `${ok} intents created at ${RATE}/s over ${SECONDS} s (${r.non2xx} non-2xx, ${r.errors} errors); max ${lat.max} ms`,
  ],
});
