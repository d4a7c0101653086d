// Benchmark 2: GET /v1/intents/{id} throughput (req/s, 50 connections, autocannon) against a
// Fastify hello-world started in its own process on the same machine. Goal: ratio ≥ 0.35.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { api200, benchContext, cannon, emitResult, ensureAgent, intentBody } from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const SECONDS = ctx.quick ? 4 : 10;
const CONNECTIONS = 50;
const to = await ensureAgent(ctx, 'bench-sink');
const created = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(to));
const path = `/v1/intents/${created.intent_id}`;

async function measure(url, headers) {
  await cannon({ url, connections: CONNECTIONS, duration: 2, headers }); // warm-up
  const r = await cannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, latency_ms: r.latencyMs, total: r.requests.total };
}

const axle = await measure(`${ctx.baseUrl}${path}`, { 'x-api-key': ctx.key });

const hello = spawn(process.execPath, [new URL('./anchors/fastify-hello.mjs', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const [line] = await once(hello.stdout, 'data');
const { port } = JSON.parse(line.toString());
const fastify = await measure(`http://127.0.0.1:${port}/`, {});
hello.kill();

const ratio = Math.round((axle.rps / fastify.rps) * 1000) / 1000;
console.log(`read: axle ${axle.rps} req/s, fastify hello ${fastify.rps} req/s, ratio ${ratio}`);
emitResult({
  rows: [
    row('GET intent req/s', axle.rps, 'req/s'),
    row('Fastify hello-world req/s', fastify.rps, 'req/s'),
    row('ratio', ratio, '×', 0.35, '>='),
  ],
  raw: { connections: CONNECTIONS, seconds: SECONDS, axle, fastify, ratio },
  notes: [
    `GET intent p50 ${axle.latency_ms.p50} ms / p99 ${axle.latency_ms.p99} ms at ${CONNECTIONS} connections; hello-world p50 ${fastify.latency_ms.p50} ms`,
  ],
});
