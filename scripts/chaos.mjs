#!/usr/bin/env node
// `npm run chaos [-- <scenario…>] [--seed N] [--runs N] [--storm N] [--minutes N]`: build, start a
// private PostgreSQL/Redis/Temporal on random loopback ports (the `test` profile of
// scripts/lib/stack.mjs, as `npm test` does; never the dev ports), run the chaos scenarios of
// test/chaos/ against the built gateway, worker and runner, write docs/reliability.md, stop
// everything and exit non-zero when a scenario failed. Node built-ins only at top level.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, log, run, createTimings, ensureNodeModules, killActiveRuns } from './lib/deps.mjs';
import { trackChild } from './lib/services.mjs';
import { ensureStackTools, startStack } from './lib/stack.mjs';

const timings = createTimings();
const args = process.argv.slice(2).filter((a) => a.trim() !== '');
let stackPromise = null;
let child = null;
let interrupted = false;

for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(s, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    killActiveRuns();
    if (child && child.exitCode === null) child.kill('SIGTERM');
    else
      void (async () => {
        const stack = stackPromise ? await stackPromise.catch(() => null) : null;
        if (stack) await stack.stop();
        process.exit(130);
      })();
  });

function runHarness(env) {
  return new Promise((resolve) => {
    child = spawn(process.execPath, [path.join(ROOT, 'dist', 'test', 'chaos', 'main.js'), ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    trackChild(child, 'SIGTERM');
    child.on('error', (err) => {
      log(`cannot start the chaos harness: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main() {
  let code = 1;
  let stack = null;
  try {
    await timings.phase('npm packages', () => ensureNodeModules());
    await timings.phase('tools', () => ensureStackTools());
    await timings.phase('build', () => run(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')]));
    stackPromise = timings.phase('local services', () => startStack({ profile: 'test' }));
    stack = await stackPromise;
    if (interrupted) throw new Error('interrupted');
    const env = { ...process.env, ...stack.env, NODE_ENV: 'test', AXLE_DATA_DIR: stack.dataDir };
    code = await timings.phase('chaos', () => runHarness(env));
    // The report in the repository's format (a failure here is no chaos failure).
    await run(path.join(ROOT, 'node_modules', '.bin', 'prettier'), ['--write', 'docs/reliability.md'], {
      capture: true,
      check: false,
    }).catch(() => undefined);
  } catch (err) {
    log(`npm run chaos failed: ${err.message}`);
    code = 1;
  } finally {
    if (stack) await timings.phase('stop services', () => stack.stop());
  }
  timings.summary('npm run chaos timings');
  process.exit(interrupted && code === 0 ? 130 : code);
}

void main();
