#!/usr/bin/env node
// `npm run bench [-- <name…>] [-- --quick] [-- --cpu-prof]`: build, start a private stack (random
// ports, data in .axle/test-<pid>/, PostgreSQL without fsync, Temporal in memory: the test
// profile, so it runs beside `npm start`), start the built gateway, worker and runner, run each
// benchmark in bench/<name>.mjs as its own child process (the load generator never shares a process
// with a server), then print a table and write bench/results/latest.json and the generated section
// of docs/benchmarks.md. Not a test: nothing here asserts on timings. See docs/benchmarks.md.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, log, run } from './lib/deps.mjs';
import { getFreePort, stopChild, trackChild } from './lib/services.mjs';
import { ensureStackTools, startStack } from './lib/stack.mjs';
import { BENCHMARKS, renderSection, renderTable, replaceSection } from '../bench/lib/report.mjs';
import { cpuByRole } from '../bench/lib/common.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const cpuProf = args.includes('--cpu-prof');
// --hold: start everything, print the gateway's URL, key and pids, and wait for Ctrl-C (to poke at it by hand).
const hold = args.includes('--hold');
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
if (unknown.length) {
  console.error(
    `unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`,
  );
  process.exit(2);
}
const selected = names.length ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS;

// A known key: the gateway bootstraps it as the platform admin of org `default`.
const ADMIN_KEY = `axme_sa_00000000-0000-4000-8000-00000000b001_${'cd'.repeat(32)}`;

let stack = null;
const apps = new Map();
let stopping = false;

async function shutdown() {
  if (stopping) return;
  stopping = true;
  await Promise.all([...apps.values()].map((child) => stopChild(child, { graceMs: 15_000 })));
  if (stack) await stack.stop();
}

for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(s, () => {
    log(`interrupted by ${s}`);
    void shutdown().then(() => process.exit(130));
  });

function version(cmd, argv) {
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')[0];
  } catch {
    return 'unknown';
  }
}

function machine(tools, pgVersion) {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    ram_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    date: new Date().toISOString(),
    git_commit: version('git', ['rev-parse', '--short', 'HEAD']),
    git_dirty: version('git', ['status', '--porcelain', '--untracked-files=no']) !== '',
    temporal_cli: version(tools.temporal, ['--version']),
    postgres: pgVersion,
    redis: version(tools.redis, ['--version']).replace(/^Redis server v=(\S+).*/, 'Redis $1'),
    nofile: Number(version('sh', ['-c', 'ulimit -n'])) || null,
  };
}

async function postgresVersion(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const res = await client.query('SHOW server_version');
    return `PostgreSQL ${res.rows[0].server_version}`;
  } catch {
    return 'unknown';
  } finally {
    await client.end().catch(() => undefined);
  }
}

const LOG_DIR = path.join(ROOT, 'bench', 'results', 'logs');

function startApp(app, env, profDir) {
  const argv = [
    ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
    path.join('dist', 'apps', app, 'src', 'main.js'),
  ];
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  // Whole logs on disk (a failed benchmark is diagnosed from them), the last lines in memory.
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const file = fs.createWriteStream(path.join(LOG_DIR, `${app}.log`));
  const lines = [];
  const keep = (c) => {
    file.write(c);
    lines.push(c.toString());
    if (lines.length > 200) lines.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.output = () => lines.join('');
  apps.set(app, child);
  return child;
}

async function waitReady(urls, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (const [app, url] of Object.entries(urls)) {
    const child = apps.get(app);
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${app} exited with ${child.exitCode}:\n${child.output()}`);
      const ok = await fetch(url).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline)
        throw new Error(`${app} not ready after ${timeoutMs} ms:\n${child.output()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** CPU-seconds the stack may use in a second and still count as quiet (idle it uses ~0.03). */
const QUIET_CPU_PER_SECOND = 0.1;

/**
 * Waits until the stack is quiet, so each benchmark measures its own load and not the tail of the
 * one before (the submit benchmark leaves ~2,000 intents for the worker to deliver); at most 120 s.
 * → seconds waited.
 */
async function settle() {
  const started = Date.now();
  const cpu = () => Object.values(cpuByRole(process.pid)).reduce((a, b) => a + b, 0);
  let before = cpu();
  while (Date.now() - started < 120_000) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = cpu();
    if (now - before < QUIET_CPU_PER_SECOND) break;
    before = now;
  }
  return Math.round((Date.now() - started) / 1000);
}

function runBenchmark(bench, context) {
  const out = path.join(stack.dataDir, `bench-${bench.name}.json`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bench', bench.file)], {
      cwd: ROOT,
      env: { ...process.env, BENCH_CONTEXT: JSON.stringify(context), BENCH_OUT: out },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    trackChild(child);
    const limitMs = bench.budgetSeconds * 1000 + 60_000;
    const timer = setTimeout(() => {
      log(`${bench.name}: over its time budget (${Math.round(limitMs / 1000)} s), stopping it`);
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && fs.existsSync(out)) resolve(JSON.parse(fs.readFileSync(out, 'utf8')));
      else resolve({ error: `exited ${code ?? signal}` });
    });
  });
}

async function main() {
  const t0 = Date.now();
  log('building (node scripts/build.mjs)…');
  await run(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')]);
  const tools = await ensureStackTools();
  stack = await startStack({ profile: 'test' });
  const pgVersion = await postgresVersion(stack.env.DATABASE_URL);

  const port = await getFreePort();
  const workerHealth = await getFreePort();
  const runnerHealth = await getFreePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'axle-bench-'));
  fs.chmodSync(dataDir, 0o711);
  const profDir = path.join(ROOT, 'bench', 'results', 'profiles');
  if (cpuProf) fs.mkdirSync(profDir, { recursive: true });
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    ...stack.env,
    AXLE_PORT: String(port),
    AXLE_GRPC_PORT: String(await getFreePort()),
    AXLE_WORKER_HEALTH_PORT: String(workerHealth),
    AXLE_RUNNER_HEALTH_PORT: String(runnerHealth),
    AXLE_DATA_DIR: dataDir,
    AXLE_BOOTSTRAP_API_KEY: ADMIN_KEY,
    // A benchmark measures the engine, not the limiter: both buckets off.
    AXLE_RATE_LIMIT_PER_MINUTE: '0',
    AXLE_AGENT_RATE_LIMIT_PER_MINUTE: '0',
    AXLE_EXEC_ALLOW_NONE: 'true',
    AXLE_EXEC_MAX_OUTPUT_BYTES: String(512 * 2 ** 20),
  };
  for (const app of ['gateway', 'worker', 'runner']) startApp(app, env, profDir);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady({
    gateway: `${baseUrl}/ready`,
    worker: `http://127.0.0.1:${workerHealth}/ready`,
    runner: `http://127.0.0.1:${runnerHealth}/ready`,
  });
  log(`gateway ${baseUrl}, worker and runner ready`);

  if (hold) {
    const pids = Object.fromEntries([...apps].map(([app, child]) => [app, child.pid]));
    console.log(JSON.stringify({ baseUrl, key: ADMIN_KEY, pids, ...stack.env }));
    await new Promise(() => {});
  }
  const info = machine(tools, pgVersion);
  const results = [];
  for (const bench of selected) {
    const settleSeconds = await settle();
    const load1 = Math.round(os.loadavg()[0] * 100) / 100;
    log(`── ${bench.name} (load average ${load1}; the stack was quiet after ${settleSeconds} s) ──`);
    const started = Date.now();
    const context = {
      baseUrl,
      key: ADMIN_KEY,
      quick,
      gatewayPid: apps.get('gateway').pid,
      runnerPid: apps.get('runner').pid,
      databaseUrl: stack.env.DATABASE_URL,
      redisUrl: stack.env.REDIS_URL,
      temporalAddress: stack.env.TEMPORAL_ADDRESS,
      temporalNamespace: stack.env.TEMPORAL_NAMESPACE,
    };
    const result = await runBenchmark(bench, context);
    results.push({
      name: bench.name,
      date: new Date().toISOString(),
      quick,
      load_avg_1m: load1,
      settle_seconds: settleSeconds,
      seconds: Math.round((Date.now() - started) / 1000),
      ...result,
    });
    if (result.error) log(`${bench.name} failed: ${result.error}`);
    if (apps.get('gateway').exitCode !== null)
      throw new Error(`the gateway died:\n${apps.get('gateway').output()}`);
  }
  await shutdown();

  // latest.json keeps the last result of every benchmark: a subset run replaces only its own.
  const resultsDir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, 'latest.json');
  let previous = [];
  try {
    previous = JSON.parse(fs.readFileSync(file, 'utf8')).results ?? [];
  } catch {
    // first run
  }
  const merged = BENCHMARKS.map(
    (b) => results.find((r) => r.name === b.name) ?? previous.find((r) => r.name === b.name),
  ).filter(Boolean);
  const report = {
    machine: info,
    stack: 'test profile: PostgreSQL with fsync off, Temporal dev server in memory, all on this machine',
    results: merged,
  };
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${renderTable(results)}\n`);
  const doc = path.join(ROOT, 'docs', 'benchmarks.md');
  fs.writeFileSync(doc, replaceSection(fs.readFileSync(doc, 'utf8'), renderSection(report)));
  // Keep the generated files in the repository's format (Prettier aligns the tables).
  const prettier = path.join(ROOT, 'node_modules', '.bin', 'prettier');
  if (fs.existsSync(prettier))
    await run(prettier, ['--write', '--log-level', 'warn', doc, file], { check: false });
  log(
    `wrote ${path.relative(ROOT, file)} and docs/benchmarks.md in ${Math.round((Date.now() - t0) / 1000)} s`,
  );
}

main().then(
  () => process.exit(0),
  async (err) => {
    log(`npm run bench failed: ${err.stack ?? err.message}`);
    await shutdown();
    process.exit(1);
  },
);
