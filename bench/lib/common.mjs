// Helpers shared by the benchmark scripts (bench/*.mjs): percentiles, the context the orchestrator
// (scripts/bench.mjs) hands each benchmark, a small JSON API client and an SSE frame splitter.
import fs from 'node:fs';
import http from 'node:http';
import crypto from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

/** Nearest-rank percentile of an ascending array (q in 0..1); null when empty. */
export function percentile(sorted, q) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** {n, min, p50, p90, p99, max, mean} of samples (ms), rounded to 0.01. */
export function summarize(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const r = (v) => (v === null || v === undefined ? null : Math.round(v * 100) / 100);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : null;
  return {
    n: s.length,
    min: r(s[0]),
    p50: r(percentile(s, 0.5)),
    p90: r(percentile(s, 0.9)),
    p99: r(percentile(s, 0.99)),
    max: r(s[s.length - 1]),
    mean: r(mean),
  };
}

/** Milliseconds since an hrtime.bigint() mark. */
export function msSince(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The context scripts/bench.mjs passes in BENCH_CONTEXT (JSON). */
export function benchContext() {
  const raw = process.env.BENCH_CONTEXT;
  if (!raw) throw new Error('BENCH_CONTEXT is not set: run benchmarks with `npm run bench`');
  return JSON.parse(raw);
}

/** Writes a benchmark's result where the orchestrator reads it (BENCH_OUT). */
export function emitResult(result) {
  fs.writeFileSync(process.env.BENCH_OUT, JSON.stringify(result, null, 2));
}

/** Reads VmRSS of a process in MiB (Linux), or null. */
export function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system, from /proc) of every process under `rootPid` (the `npm run bench`
 * orchestrator: the stack's PostgreSQL, Redis and Temporal, the apps, the benchmark clients and
 * anchors), summed by role. Linux only; processes that ended meanwhile are not counted.
 */
export function cpuByRole(rootPid) {
  const procs = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      // USER_HZ is 100 on Linux.
      procs.set(Number(entry), {
        ppid: Number(fields[1]),
        cpu: (Number(fields[11]) + Number(fields[12])) / 100,
        cmd,
      });
    } catch {
      // gone meanwhile
    }
  }
  const under = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of procs)
      if (!under.has(pid) && under.has(p.ppid)) {
        under.add(pid);
        grew = true;
      }
  }
  const roles = {};
  for (const pid of under) {
    const p = procs.get(pid);
    if (!p) continue;
    const role = roleOf(p.cmd);
    roles[role] = (roles[role] ?? 0) + p.cpu;
  }
  return roles;
}

function roleOf(cmd) {
  const app = /dist\/apps\/(\w+)\//.exec(cmd);
  if (app) return app[1];
  if (/postgres/.test(cmd)) return 'postgres';
  if (/redis-server/.test(cmd)) return 'redis';
  if (/temporal server/.test(cmd)) return 'temporal';
  if (/bench\/anchors\//.test(cmd)) return 'anchor';
  if (/bench\/[\w-]+\.mjs/.test(cmd)) return 'client';
  return 'other';
}

/** Milliseconds of CPU per item by role between two cpuByRole() snapshots (roles that used any). */
export function cpuPerItem(before, after, items) {
  const out = {};
  for (const [role, seconds] of Object.entries(after)) {
    const used = seconds - (before[role] ?? 0);
    if (used > 0 && role !== 'other') out[role] = Math.round((used / items) * 1000 * 10) / 10;
  }
  return out;
}

/** "worker 40.1, temporal 20.3, …": cpuPerItem() output, largest first. */
export function formatCpu(perRole) {
  return Object.entries(perRole)
    .sort((a, b) => b[1] - a[1])
    .map(([role, ms]) => `${role} ${ms}`)
    .join(', ');
}

export function loadAvg1() {
  return Math.round(os.loadavg()[0] * 100) / 100;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** JSON request over a keep-alive agent → {status, body, text}. */
export function api(baseUrl, key, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${baseUrl}${path}`,
      {
        method,
        agent: keepAlive,
        headers: {
          'x-api-key': key,
          ...(data !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed = null;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode, body: parsed, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** Like api() but throws unless the status is 200. */
export async function api200(baseUrl, key, method, path, body, headers) {
  const res = await api(baseUrl, key, method, path, body, headers);
  if (res.status !== 200) throw new Error(`${method} ${path} → ${res.status} ${res.text.slice(0, 500)}`);
  return res.body;
}

/**
 * Splits an SSE byte stream into frames {id, event, data(string)}; comments are skipped. Feed it
 * chunks with push(); onFrame is called for every complete frame.
 */
export function sseParser(onFrame) {
  // The pieces of the block being read: a frame of a MiB (exec logs) arrives in many reads, and
  // appending to and searching the whole buffer on every read would be quadratic in its size.
  let pieces = [];
  let halfSeparator = false; // the last piece ends with '\n'
  const emit = (block) => {
    let id = null;
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data = data ? `${data}\n${value}` : value;
    }
    if (data) onFrame({ id, event, data });
  };
  return {
    push(chunk) {
      let from = 0;
      if (halfSeparator && chunk.startsWith('\n')) {
        const block = pieces.join('');
        pieces = [];
        from = 1;
        emit(block.slice(0, -1));
      }
      let end;
      while ((end = chunk.indexOf('\n\n', from)) >= 0) {
        pieces.push(chunk.slice(from, end));
        const block = pieces.join('');
        pieces = [];
        from = end + 2;
        emit(block);
      }
      halfSeparator = false;
      if (from < chunk.length) {
        pieces.push(chunk.slice(from));
        halfSeparator = chunk.endsWith('\n');
      }
    },
  };
}

/**
 * Opens an SSE stream (GET) and calls onFrame for each frame; resolves {close, done} once the
 * headers arrived with 200. done resolves when the server ends the stream.
 */
export function openSse(url, headers, onFrame, agent = false) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent }, (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => reject(new Error(`GET ${url} → ${res.statusCode} ${text.slice(0, 300)}`)));
        return;
      }
      res.setEncoding('utf8');
      const parser = sseParser(onFrame);
      const done = new Promise((r) => {
        res.on('end', r);
        res.on('close', r);
        res.on('error', r);
      });
      res.on('data', (c) => parser.push(c));
      resolve({ close: () => req.destroy(), done });
    });
    req.on('error', reject);
  });
}

/**
 * Runs autocannon in this process (the benchmark child, not the server) → its result, plus
 * `latencyMs` (summarize() of every response time, sub-millisecond, from autocannon's 'response'
 * events; its own histogram rounds to whole milliseconds).
 */
export async function cannon(options) {
  const { default: autocannon } = await import('autocannon');
  const times = [];
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(options, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', (_client, _status, _bytes, responseTime) => times.push(responseTime));
  });
  return { ...result, latencyMs: summarize(times) };
}

/**
 * An open-loop load at a fixed arrival rate: request i is sent at start + i / rate, whether or not
 * the earlier ones have answered. (autocannon's rate limit lets each connection send its quota at the
 * start of every second, so 20 connections at 20/s were a burst of 20 each second, and the
 * percentiles measured the burst's queue.) Latency counts from the time a request was due, not from
 * when it went out, so a generator that falls behind shows in the numbers (no coordinated omission);
 * `sendLagMs` says how far behind it was. `send(i)` resolves with the HTTP status.
 */
export async function openLoop({ rate, seconds, send }) {
  const total = Math.round(rate * seconds);
  const latencies = [];
  const lags = [];
  let ok = 0;
  let errors = 0;
  let lastDone = 0;
  const start = performance.now() + 5;
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    // A timer can fire up to a millisecond early (it counts whole milliseconds): never send early.
    for (let wait = due - performance.now(); wait > 0; wait = due - performance.now())
      await sleep(Math.ceil(wait));
    lags.push(performance.now() - due);
    pending.push(
      send(i).then(
        (status) => {
          lastDone = performance.now();
          latencies.push(lastDone - due);
          if (status >= 200 && status < 300) ok++;
        },
        () => {
          lastDone = performance.now();
          errors++;
        },
      ),
    );
  }
  await Promise.all(pending);
  return {
    latencyMs: summarize(latencies),
    sendLagMs: summarize(lags),
    ok,
    non2xx: latencies.length - ok,
    errors,
    achievedRps: Math.round((ok / ((lastDone - start) / 1000)) * 10) / 10,
  };
}

/** Registers a stream agent in org `default` (a 409 for an existing one is fine) → its address. */
export async function ensureAgent(ctx, name) {
  const res = await api(ctx.baseUrl, ctx.key, 'POST', '/v1/service-accounts', {
    org_id: 'default',
    name,
    delivery_mode: 'stream',
    role: 'member',
  });
  if (res.status !== 200 && res.status !== 409)
    throw new Error(`registering ${name} → ${res.status} ${res.text.slice(0, 300)}`);
  return `agent://default/default/${name}`;
}

/** A create-intent body for `toAgent` with a fresh correlation id. */
export function intentBody(toAgent, payload = { bench: true }) {
  return { intent_type: 'bench.noop.v1', correlation_id: crypto.randomUUID(), to_agent: toAgent, payload };
}
