// Benchmark 5: SSE fan-out. S subscribers (a separate load-generator process) follow one intent's
// event stream (follow=true); then E events are produced back to back (resumes alternating
// in_progress / wait). Delivery latency = receipt − the event's recorded `at`; deliveries/s =
// S×E / (last receipt − first event). The same against a bare node:http SSE server in its own
// process (POST /emit back to back). Gateway RSS idle and with the streams open.
// Goals: p99 ≤ 250 ms, deliveries/s ratio ≥ 0.5.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { api200, benchContext, emitResult, ensureAgent, intentBody, rssMiB, sleep } from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const S = ctx.quick ? 500 : 5000;
const E = ctx.quick ? 4 : 6;
const DELIVERY_TIMEOUT_MS = ctx.quick ? 40_000 : 120_000;
const subscriberScript = new URL('./lib/sse-subscribers.mjs', import.meta.url).pathname;

function ask(child, type, awaited) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.type === awaited) {
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
    if (type) child.send({ type });
  });
}

async function fanOut({ url, headers, prefix, produce }) {
  const child = fork(subscriberScript, [], {
    env: {
      ...process.env,
      URL: url,
      COUNT: String(S),
      HEADERS: JSON.stringify(headers),
      EVENT_PREFIX: prefix,
      OPEN_CONCURRENCY: '100',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const open = await ask(child, null, 'open');
  console.log(`  ${open.opened} streams open in ${open.open_ms} ms (${open.failed} failed)`);
  await sleep(1000);
  const rssOpen = ctx.gatewayPid && prefix === 'intent.' ? rssMiB(ctx.gatewayPid) : null;
  for (let i = 0; i < E; i++) await produce(i);
  const expected = open.opened * E;
  const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
  let report;
  for (;;) {
    report = await ask(child, 'report', 'report');
    if (report.deliveries >= expected || Date.now() > deadline) break;
    await sleep(500);
  }
  child.send({ type: 'close' });
  await once(child, 'exit');
  const seconds = (report.last_receipt - report.first_at) / 1000;
  return {
    opened: open.opened,
    failed: open.failed,
    open_ms: open.open_ms,
    expected,
    deliveries: report.deliveries,
    lost: expected - report.deliveries,
    latency_ms: report.latency_ms,
    deliveries_per_second: seconds > 0 ? Math.round(report.deliveries / seconds) : null,
    rss_open_mib: rssOpen,
  };
}

// --- Axle
const to = await ensureAgent(ctx, 'bench-fanout');
const { intent_id: id } = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(to));
// Let it reach DELIVERED, so the produced events are the only ones after the cursor (a run that
// went on before its delivery counted the delivery as one more frame per stream).
for (let i = 0; ; i++) {
  const { intent } = await api200(ctx.baseUrl, ctx.key, 'GET', `/v1/intents/${id}`);
  if (intent.status === 'DELIVERED') break;
  if (i === 600) throw new Error(`the fan-out intent is still ${intent.status} after 60 s`);
  await sleep(100);
}
const { events } = await api200(ctx.baseUrl, ctx.key, 'GET', `/v1/intents/${id}/events?since=0`);
const since = events.at(-1).seq;
await sleep(2000);
const rssIdle = rssMiB(ctx.gatewayPid);
console.log(`fanout: ${S} subscribers × ${E} events (gateway RSS idle ${rssIdle} MiB)`);
const owner = encodeURIComponent(to);
const axle = await fanOut({
  url: `${ctx.baseUrl}/v1/intents/${id}/events/stream?since=${since}&follow=true`,
  headers: { 'x-api-key': ctx.key },
  prefix: 'intent.',
  produce: (i) =>
    api200(
      ctx.baseUrl,
      ctx.key,
      'POST',
      `/v1/intents/${id}/resume?owner_agent=${owner}`,
      i % 2 === 0 ? { action: 'in_progress' } : { action: 'wait', waiting_reason: 'WAITING_FOR_TOOL' },
    ),
});
const rssAfter = rssMiB(ctx.gatewayPid);
console.log(
  `  axle: p99 ${axle.latency_ms.p99} ms, ${axle.deliveries_per_second} deliveries/s, lost ${axle.lost}`,
);

// --- bare node:http SSE server
const server = spawn(process.execPath, [new URL('./anchors/sse-server.mjs', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const [line] = await once(server.stdout, 'data');
const { port } = JSON.parse(line.toString());
const bare = await fanOut({
  url: `http://127.0.0.1:${port}/stream`,
  headers: {},
  prefix: 'bench.',
  produce: () => fetch(`http://127.0.0.1:${port}/emit`, { method: 'POST' }).then((r) => r.text()),
});
server.kill();
console.log(`  bare: p99 ${bare.latency_ms.p99} ms, ${bare.deliveries_per_second} deliveries/s`);

const ratio =
  axle.deliveries_per_second && bare.deliveries_per_second
    ? Math.round((axle.deliveries_per_second / bare.deliveries_per_second) * 1000) / 1000
    : null;
emitResult({
  rows: [
    row(`delivery p99 (${axle.opened} streams)`, axle.latency_ms.p99, 'ms', 250, '<='),
    row('delivery p50', axle.latency_ms.p50, 'ms'),
    row('Axle deliveries/s', axle.deliveries_per_second, '/s'),
    row('bare Node SSE deliveries/s', bare.deliveries_per_second, '/s'),
    row('deliveries/s ratio', ratio, '×', 0.5, '>='),
    row('deliveries lost', axle.lost, '', 0, '<='),
    row('gateway RSS idle', rssIdle, 'MiB'),
    row(`gateway RSS with ${axle.opened} streams`, axle.rss_open_mib, 'MiB'),
  ],
  raw: {
    subscribers: S,
    events: E,
    axle,
    bare,
    ratio,
    rss_idle_mib: rssIdle,
    rss_open_mib: axle.rss_open_mib,
    rss_after_mib: rssAfter,
  },
  notes: [
    `opening ${axle.opened} Axle streams took ${axle.open_ms} ms (${axle.failed} refused); bare server p99 ${bare.latency_ms.p99} ms`,
  ],
});
