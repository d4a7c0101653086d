#!/usr/bin/env node
// `npm test [-- <filter>…]`: install what is missing, build, lint, typecheck, start a private test
// stack (random ports, data in .axle/test-<pid>/, removed afterwards), run every dist/**/*.spec.js
// with node's test runner, stop the stack, exit with the runner's code. See docs/local-stack.md.
//
// Filters are substrings of the spec file paths (e.g. `npm test -- protocol e2e`); a file runs
// when it matches any of them. Node built-ins only at top level.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, log, run, createTimings, ensureNodeModules, killActiveRuns, npmCommand } from './lib/deps.mjs';
import { trackChild } from './lib/services.mjs';
import { AXLE_DIR, ensureStackTools, startStack } from './lib/stack.mjs';
import { ensureAxmePythonSdk, ensureKustomize } from './lib/tools.mjs';

const timings = createTimings();
const filters = process.argv.slice(2).filter((a) => a.trim() !== '');
let stackPromise = null;
let runner = null;
let interrupted = false;

// ---------------------------------------------------------------------------------------------
// Signals: stop the stack whatever happens.

async function abort(signal) {
  killActiveRuns();
  const stack = stackPromise ? await stackPromise.catch(() => null) : null;
  if (stack) await stack.stop();
  log(`interrupted by ${signal}`);
  process.exit(130);
}

function onSignal(signal) {
  if (interrupted) {
    log('forced exit');
    process.exit(130);
  }
  interrupted = true;
  if (runner && runner.exitCode === null && runner.signalCode === null) {
    // The runner shares our terminal (a Ctrl-C reaches it too); forward anything else. main()
    // then stops the stack when the runner has exited (it cancels the running test first).
    if (signal !== 'SIGINT') runner.kill(signal);
    return;
  }
  void abort(signal);
}

// ---------------------------------------------------------------------------------------------
// Test files

const GROUPS = ['dist/libs/', 'dist/apps/', 'dist/test/'];

function findSpecFiles(dir, out = []) {
  let entries = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'generated' && e.name !== 'node_modules') findSpecFiles(full, out);
    } else if (e.name.endsWith('.spec.js')) {
      out.push(path.relative(ROOT, full).split(path.sep).join('/'));
    }
  }
  return out;
}

/** dist/**\/*.spec.js without generated/; libs first, then apps, then test, then the rest. */
function testFiles(filterList = []) {
  const group = (f) => {
    const i = GROUPS.findIndex((g) => f.startsWith(g));
    return i === -1 ? GROUPS.length : i;
  };
  const all = findSpecFiles(path.join(ROOT, 'dist')).sort(
    (a, b) => group(a) - group(b) || (a < b ? -1 : a > b ? 1 : 0),
  );
  if (!filterList.length) return { all, selected: all };
  const needles = filterList.map((f) => f.toLowerCase());
  return { all, selected: all.filter((f) => needles.some((n) => f.toLowerCase().includes(n))) };
}

// ---------------------------------------------------------------------------------------------

async function npmRun(script) {
  const npm = npmCommand();
  try {
    await run(npm.cmd, [...npm.args, 'run', '--silent', script]);
  } catch (err) {
    throw new Error(
      `npm run ${script} failed (${err.code !== null ? `exit code ${err.code}` : err.message}); its output is above`,
    );
  }
}

/**
 * The test runner: what `node --test --test-concurrency=1 --test-reporter=spec <files>` does (one
 * process per file, one file at a time, spec output on stdout), through node:test's run() because
 * the CLI sorts the files alphabetically and we want libs, then apps, then test. Also writes a TAP
 * copy to the file named by AXLE_INTERNAL_TEST_RUNNER. Runs in a child process (see the bottom).
 */
async function testRunnerChild(tapFile, files) {
  delete process.env.AXLE_INTERNAL_TEST_RUNNER;
  const { run } = await import('node:test');
  const { spec, tap } = await import('node:test/reporters');
  const { PassThrough } = await import('node:stream');
  const controller = new globalThis.AbortController();
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(s, () => {
      process.exitCode = 130;
      controller.abort();
      setTimeout(() => process.exit(130), 5_000).unref();
    });
  }
  // A hung test fails after this long instead of hanging CI.
  const events = run({ files, concurrency: 1, timeout: 180_000, signal: controller.signal });
  const toSpec = new PassThrough({ objectMode: true });
  const toTap = new PassThrough({ objectMode: true });
  events.on('test:fail', (data) => {
    if (!data.todo) process.exitCode ||= 1;
  });
  events.on('data', (event) => {
    toSpec.write(event);
    toTap.write(event);
  });
  events.on('end', () => {
    toSpec.end();
    toTap.end();
  });
  events.on('error', (err) => {
    process.stderr.write(`test runner error: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  });
  toSpec.pipe(new spec()).pipe(process.stdout);
  toTap.compose(tap).pipe(fs.createWriteStream(tapFile));
}

function runTests(files, env, tapFile) {
  return new Promise((resolve) => {
    const self = fileURLToPath(import.meta.url);
    runner = spawn(process.execPath, [self, ...files], {
      cwd: ROOT,
      env: { ...env, AXLE_INTERNAL_TEST_RUNNER: tapFile },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    trackChild(runner, 'SIGTERM');
    runner.on('error', (err) => {
      log(`cannot start the test runner: ${err.message}`);
      resolve(1);
    });
    runner.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Node's spec reporter ends with "ℹ pass N"; CI reads TAP's "# pass N". Print the TAP summary. */
function printTapSummary(tapFile) {
  let text = '';
  try {
    text = fs.readFileSync(tapFile, 'utf8');
  } catch {
    return;
  }
  const summary = text
    .split('\n')
    .filter((l) => /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(l));
  if (summary.length) process.stdout.write(`${summary.join('\n')}\n`);
}

async function main() {
  let code = 1;
  let stack = null;
  try {
    await timings.phase('npm packages', () => ensureNodeModules());
    await timings.phase('tools', async () => {
      await ensureStackTools();
      // The official AXME Python SDK, for test/interop (a no-op once installed).
      await ensureAxmePythonSdk();
      // kustomize, for test/deploy (renders k8s/overlays/*): an argv prefix, as JSON.
      process.env.AXLE_KUSTOMIZE = JSON.stringify(await ensureKustomize());
    });
    // The build comes first: it generates the Prisma client (libs/data/src/generated/, not in git)
    // that lint and typecheck need on a fresh clone. It does not type-check, so order is no loss.
    await timings.phase('build', async () => {
      try {
        await run(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')]);
      } catch (err) {
        throw new Error(
          `the build failed (node scripts/build.mjs: ${err.code !== null ? `exit code ${err.code}` : err.message}); its output is above`,
        );
      }
    });
    await timings.phase('lint', () => npmRun('lint'));
    await timings.phase('typecheck', () => npmRun('typecheck'));

    const { all, selected } = testFiles(filters);
    if (!all.length) throw new Error('no test files: the build produced no dist/**/*.spec.js');
    if (!selected.length) {
      throw new Error(
        `no test file matches ${filters.map((f) => JSON.stringify(f)).join(' or ')} (${all.length} spec files in dist/; a filter is a substring of their paths)`,
      );
    }
    log(`${selected.length}${filters.length ? ` of ${all.length}` : ''} test files`);

    stackPromise = timings.phase('local services', () => startStack({ profile: 'test' }));
    stack = await stackPromise;
    if (interrupted) throw new Error('interrupted');

    // Per run (concurrent runs must not share it); copied to .axle/last-test-run.tap afterwards.
    const tapFile = path.join(stack.dataDir, 'results.tap');
    const env = { ...process.env, ...stack.env, NODE_ENV: 'test', AXLE_DATA_DIR: stack.dataDir };
    code = await timings.phase('tests', () => runTests(selected, env, tapFile));
    printTapSummary(tapFile);
    try {
      fs.copyFileSync(tapFile, path.join(AXLE_DIR, 'last-test-run.tap'));
    } catch {
      // no TAP output (the runner died early): nothing to keep
    }
  } catch (err) {
    log(`npm test failed: ${err.message}`);
    code = 1;
  } finally {
    if (stack) await timings.phase('stop services', () => stack.stop());
  }
  timings.summary('npm test timings');
  process.exit(interrupted && code === 0 ? 130 : code);
}

if (process.env.AXLE_INTERNAL_TEST_RUNNER) {
  void testRunnerChild(process.env.AXLE_INTERNAL_TEST_RUNNER, process.argv.slice(2));
} else {
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal);
  void main();
}
