#!/usr/bin/env node
// `npm start`: install what is missing, build, start local PostgreSQL/Redis/Temporal (each only when
// DATABASE_URL / REDIS_URL / TEMPORAL_ADDRESS is unset; data under .axle/), then run the gateway,
// worker and runner apps until Ctrl-C. See docs/local-stack.md.
//
// Node built-ins only at top level (the lib modules load node_modules packages lazily).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import {
  ROOT,
  log,
  run,
  createTimings,
  fmtSeconds,
  sleep,
  ensureNodeModules,
  killActiveRuns,
} from './lib/deps.mjs';
import { assertPortFree, stopChild, trackChild } from './lib/services.mjs';
import { AXLE_DIR, assertDevPortsFree, ensureStackTools, startStack } from './lib/stack.mjs';
import { startDevMailbox } from './lib/dev-mailbox.mjs';

const APPS = ['gateway', 'worker', 'runner'];
const READY_TIMEOUT_MS = 120_000;
const APP_STOP_GRACE_MS = 15_000;

const timings = createTimings();
const gatewayPort = Number(process.env.AXLE_PORT || 8100);
const grpcPort = Number(process.env.AXLE_GRPC_PORT || 8101);
const apps = new Map(); // name -> child
let stackPromise = null;
let mailbox = null;
let shuttingDown = null;
let signalCount = 0;

function rel(p) {
  return path.relative(ROOT, p) || '.';
}

// ---------------------------------------------------------------------------------------------
// Shutdown

function shutdown(code, reason) {
  shuttingDown ??= (async () => {
    if (reason) log(reason);
    killActiveRuns();
    const running = [...apps.entries()].filter(([, c]) => c.exitCode === null && c.signalCode === null);
    if (running.length) {
      log(`stopping ${running.map(([n]) => n).join(', ')}…`);
      const results = await Promise.all(
        running.map(([, c]) => stopChild(c, { signal: 'SIGTERM', graceMs: APP_STOP_GRACE_MS })),
      );
      running.forEach(([name], i) => {
        if (results[i].killed) log(`${name} did not stop within ${fmtSeconds(APP_STOP_GRACE_MS)}; killed`);
      });
    }
    await mailbox?.stop();
    const stack = stackPromise ? await stackPromise.catch(() => null) : null;
    if (stack) {
      log('stopping local services…');
      await stack.stop();
    }
    log('stopped.');
    process.exit(code);
  })();
  return shuttingDown;
}

function onSignal(signal) {
  signalCount++;
  if (signalCount === 1) {
    void shutdown(0, `${signal} received, shutting down (press Ctrl-C again to force)…`);
    return;
  }
  log('forced exit: killing the apps; local services get a fast shutdown');
  for (const child of apps.values()) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  process.exit(130);
}
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal);

// ---------------------------------------------------------------------------------------------
// Apps

function pipeWithPrefix(stream, prefix, out) {
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', (line) => out.write(`${prefix}${line}\n`));
}

function startApp(name, env) {
  const main = path.join(ROOT, 'dist', 'apps', name, 'src', 'main.js');
  if (!fs.existsSync(main)) {
    throw new Error(
      `${rel(main)} does not exist after the build; scripts/build.mjs must compile apps/${name}/src/main.ts`,
    );
  }
  const child = spawn(process.execPath, [main], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child, 'SIGTERM');
  apps.set(name, child);
  pipeWithPrefix(child.stdout, `[${name}] `, process.stdout);
  pipeWithPrefix(child.stderr, `[${name}] `, process.stderr);
  child.on('error', (err) => {
    void shutdown(1, `${name} could not be started: ${err.message}`);
  });
  child.on('exit', (code, signal) => {
    if (!shuttingDown)
      void shutdown(
        1,
        `${name} exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}); stopping everything`,
      );
  });
}

function httpStatus(url, timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

async function waitForGateway() {
  const url = `http://127.0.0.1:${gatewayPort}/ready`;
  const t0 = Date.now();
  let last = 'no answer yet';
  while (!shuttingDown) {
    try {
      const status = await httpStatus(url);
      if (status === 200) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = err.code ?? err.message;
    }
    if (Date.now() - t0 > READY_TIMEOUT_MS) {
      throw new Error(
        `the gateway did not answer 200 on ${url} within ${fmtSeconds(READY_TIMEOUT_MS)} (last: ${last}). ` +
          'See the [gateway]/[worker]/[runner] lines above.',
      );
    }
    await sleep(500);
  }
  throw new Error('start-up aborted');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  // Ports first: a taken port fails in a second, not after an install and a build.
  await assertPortFree(gatewayPort, {
    service: 'the Axle gateway',
    hint: 'Stop it (another `npm start`?), or choose another port with AXLE_PORT=….',
  });
  await assertPortFree(grpcPort, {
    service: 'the Axle gRPC endpoint',
    hint: 'Stop it (another `npm start`?), or choose another port with AXLE_GRPC_PORT=….',
  });
  await assertDevPortsFree();
  await timings.phase('npm packages', () => ensureNodeModules());
  await timings.phase('tools', () => ensureStackTools());
  await timings.phase('build', async () => {
    const build = path.join(ROOT, 'scripts', 'build.mjs');
    if (!fs.existsSync(build)) throw new Error('scripts/build.mjs is missing');
    try {
      await run(process.execPath, [build]);
    } catch (err) {
      throw new Error(
        `the build failed (node scripts/build.mjs: ${err.code !== null ? `exit code ${err.code}` : err.message}); its output is above`,
      );
    }
  });

  stackPromise = timings.phase('local services', () => startStack({ profile: 'dev' }));
  const stack = await stackPromise;
  if (shuttingDown) return;
  void stack.exited.then((info) => {
    if (info && !shuttingDown)
      void shutdown(
        1,
        `${info.name} exited unexpectedly (${info.signal ?? `exit code ${info.code}`}); see ${rel(info.logFile)}`,
      );
  });

  // Without SMTP_URL, emails go to a local mailbox that prints their links (docs/humans.md).
  if (!process.env.SMTP_URL) mailbox = await startDevMailbox(path.join(AXLE_DIR, 'mail'));
  const env = {
    ...process.env,
    ...stack.env,
    AXLE_DATA_DIR: AXLE_DIR,
    ...(mailbox ? { SMTP_URL: mailbox.url } : {}),
  };
  await timings.phase('apps ready', async () => {
    for (const name of APPS) startApp(name, env);
    await waitForGateway();
  });
  if (shuttingDown) return;

  const keyLine = process.env.AXLE_BOOTSTRAP_API_KEY
    ? 'the value of AXLE_BOOTSTRAP_API_KEY (from your environment)'
    : `${rel(path.join(AXLE_DIR, 'admin.key'))} (written on first start)`;
  const lines = [
    `Axle is running (started in ${fmtSeconds(Date.now() - t0)})`,
    `  Gateway      http://127.0.0.1:${gatewayPort}`,
    `  gRPC         127.0.0.1:${grpcPort} (docs/grpc.md)`,
    ...(stack.temporalUiUrl ? [`  Temporal UI  ${stack.temporalUiUrl}`] : []),
    `  Admin key    ${keyLine}`,
    ...(mailbox
      ? [
          `  Mailbox      ${rel(path.join(AXLE_DIR, 'mail'))}/ (emails are kept there; their links print as [mail])`,
        ]
      : []),
    `  Data, logs   ${rel(AXLE_DIR)}/  (reset: stop, then rm -rf .axle)`,
    '  Stop         Ctrl-C',
  ];
  const width = Math.max(...lines.map((l) => l.length));
  process.stdout.write(`\n${'─'.repeat(width)}\n${lines.join('\n')}\n${'─'.repeat(width)}\n\n`);
  timings.summary('start-up timings');
}

main().catch((err) => {
  if (shuttingDown) return;
  void shutdown(1, `npm start failed: ${err.message}`);
});
