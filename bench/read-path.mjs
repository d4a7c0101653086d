// Benchmark 2: GET /v1/intents/{id} throughput (req/s, 50 connections, autocannon) against a
// Fastify hello-world started in its own process on the same machine. Goal: ratio ≥ 0.35. Also
// what one GET costs, counted over the measured run: PostgreSQL transactions, Redis commands and
// gateway CPU (so a change in the per-request work shows whatever the machine's load). And a second
// anchor, Fastify plus one PostgreSQL read of the same row: what any database-backed GET costs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { api200, benchContext, cannon, emitResult, ensureAgent, intentBody } from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const SECONDS = ctx.quick ? 4 : 10;
const CONNECTIONS = 50;
const to = await ensureAgent(ctx, 'bench-sink');
const created = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(to));
const path = `/v1/intents/${created.intent_id}`;

async function measure(url, headers) {
  const warm = await cannon({ url, connections: CONNECTIONS, duration: 2, headers });
  const r = await cannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return {
    rps: r.requests.average,
    latency_ms: r.latencyMs,
    total: r.requests.total,
    total_with_warmup: r.requests.total + warm.requests.total,
  };
}

/** Counters whose difference over the run, divided by the requests, is the cost of one GET. */
async function counters() {
  const db = new pg.Client({ connectionString: ctx.databaseUrl });
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true });
  try {
    await db.connect();
    await redis.connect();
    const { rows } = await db.query(
      'SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()',
    );
    const stats = await redis.info('commandstats');
    const [utime, stime] = fs
      .readFileSync(`/proc/${ctx.gatewayPid}/stat`, 'utf8')
      .split(') ')[1]
      .split(' ')
      .slice(11, 13)
      .map(Number);
    return {
      pgTransactions: Number(rows[0].xact_commit),
      redisCommands: [...stats.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0),
      // clock ticks of 10 ms (USER_HZ 100 on Linux)
      cpuMs: (utime + stime) * 10,
    };
  } finally {
    await db.end().catch(() => undefined);
    redis.disconnect();
  }
}

const before = await counters();
const axle = await measure(`${ctx.baseUrl}${path}`, { 'x-api-key': ctx.key });
const after = await counters();
const perGet = (key) => Math.round(((after[key] - before[key]) / axle.total_with_warmup) * 100) / 100;
const cost = {
  pg_transactions: perGet('pgTransactions'),
  redis_commands: perGet('redisCommands'),
  gateway_cpu_ms: perGet('cpuMs'),
};

/** Req/s of an anchor server started in its own process (bench/anchors/<file>). */
async function anchor(file, args = []) {
  const server = spawn(process.execPath, [new URL(`./anchors/${file}`, import.meta.url).pathname, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = await once(server.stdout, 'data');
    const { port } = JSON.parse(line.toString());
    return await measure(`http://127.0.0.1:${port}/`, {});
  } finally {
    server.kill();
  }
}
const fastify = await anchor('fastify-hello.mjs');
const fastifyPg = await anchor('fastify-pg.mjs', [ctx.databaseUrl, created.intent_id]);
const ratio = Math.round((axle.rps / fastify.rps) * 1000) / 1000;
const floorRatio = Math.round((fastifyPg.rps / fastify.rps) * 1000) / 1000;
console.log(
  `read: axle ${axle.rps} req/s, fastify hello ${fastify.rps} req/s, ratio ${ratio}; fastify + one pg read ${fastifyPg.rps} req/s (${floorRatio})`,
);
emitResult({
  rows: [
    row('GET intent req/s', axle.rps, 'req/s'),
    row('Fastify hello-world req/s', fastify.rps, 'req/s'),
    row('ratio', ratio, '×', 0.35, '>='),
    row('Fastify + one PostgreSQL read req/s', fastifyPg.rps, 'req/s'),
    row('its ratio to hello-world (the floor of a DB read)', floorRatio, '×'),
    row('gateway CPU per GET', cost.gateway_cpu_ms, 'ms'),
  ],
  raw: {
    connections: CONNECTIONS,
    seconds: SECONDS,
    axle,
    fastify,
    fastify_pg: fastifyPg,
    ratio,
    floor_ratio: floorRatio,
    cost_per_get: cost,
  },
  notes: [
    `GET intent p50 ${axle.latency_ms.p50} ms / p99 ${axle.latency_ms.p99} ms at ${CONNECTIONS} connections; hello-world p50 ${fastify.latency_ms.p50} ms`,
    `one GET cost ${cost.pg_transactions} PostgreSQL transactions, ${cost.redis_commands} Redis commands and ${cost.gateway_cpu_ms} ms of gateway CPU`,
  ],
});
