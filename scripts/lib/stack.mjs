// The local Axle stack: PostgreSQL + Redis + Temporal, each started only when its env var
// (DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS) is not set, then `prisma migrate deploy`.
//
//   dev:  data under .axle/ (pg, redis, temporal/temporal.db), ports 55432, 56379, 7233 (UI 8233)
//   test: data under .axle/test-<pid>/ (removed on stop), random free ports, Temporal in memory
//         and headless, PostgreSQL without fsync: runs beside a dev stack.

import fs from 'node:fs';
import path from 'node:path';
import { ROOT, log, run, fmtSeconds, pidAlive } from './deps.mjs';
import { ensureBubblewrap, ensureRedisServer, ensureTemporalCli } from './tools.mjs';
import { assertPortFree, startPostgres, startRedis, startTemporal, getFreePort } from './services.mjs';

export const AXLE_DIR = path.join(ROOT, '.axle');

export const DEV_PORTS = Object.freeze({ postgres: 55432, redis: 56379, temporal: 7233, temporalUi: 8233 });

function fromEnv(name) {
  const v = process.env[name];
  return v && v.trim() ? v.trim() : null;
}

/** Which services the stack has to run itself (those whose env var is unset). */
export function localServices() {
  return {
    postgres: !fromEnv('DATABASE_URL'),
    redis: !fromEnv('REDIS_URL'),
    temporal: !fromEnv('TEMPORAL_ADDRESS'),
  };
}

/** Install the tools for the services the stack will run (nothing for services given by env). */
export async function ensureStackTools() {
  const need = localServices();
  const tools = {};
  if (need.redis) tools.redis = await ensureRedisServer();
  if (need.temporal) tools.temporal = await ensureTemporalCli();
  // The exec runner's kernel sandbox tier (Linux only; elsewhere that tier is unavailable).
  if (process.platform === 'linux') tools.bwrap = await ensureBubblewrap();
  return tools;
}

/**
 * Fail at once, naming the service, port and env var, if a port the dev stack needs is taken
 * (start.mjs calls this before it builds; startStack calls it again).
 */
export async function assertDevPortsFree() {
  const local = localServices();
  if (local.postgres)
    await assertPortFree(DEV_PORTS.postgres, {
      service: 'PostgreSQL',
      envVar: 'DATABASE_URL',
      example: 'postgresql://user:password@host:5432/axle',
    });
  if (local.redis)
    await assertPortFree(DEV_PORTS.redis, {
      service: 'Redis',
      envVar: 'REDIS_URL',
      example: 'redis://host:6379',
    });
  if (local.temporal) {
    await assertPortFree(DEV_PORTS.temporal, {
      service: 'Temporal',
      envVar: 'TEMPORAL_ADDRESS',
      example: 'host:7233',
    });
    await assertPortFree(DEV_PORTS.temporalUi, {
      service: 'the Temporal Web UI',
      envVar: 'TEMPORAL_ADDRESS',
      example: 'host:7233',
    });
  }
}

/** Remove .axle/test-<pid> dirs left by test runs whose process is gone. */
function removeStaleTestDirs() {
  let entries = [];
  try {
    entries = fs.readdirSync(AXLE_DIR);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /^test-(\d+)$/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      fs.rmSync(path.join(AXLE_DIR, name), { recursive: true, force: true });
    }
  }
}

function redactUrl(url) {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** `prisma migrate deploy` against databaseUrl, from the repository root. Throws with its output. */
export async function migrateDeploy(databaseUrl) {
  const prisma = path.join(ROOT, 'node_modules', '.bin', 'prisma');
  if (!fs.existsSync(prisma)) throw new Error('node_modules/.bin/prisma is missing: run npm ci');
  const t0 = Date.now();
  log(`applying database migrations (prisma migrate deploy → ${redactUrl(databaseUrl)})…`);
  const res = await run(prisma, ['migrate', 'deploy'], {
    capture: true,
    check: false,
    timeoutMs: 300_000,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      CHECKPOINT_DISABLE: '1',
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
    },
  });
  if (res.code !== 0) {
    process.stderr.write(res.output.replace(/^/gm, '  [prisma] ') + '\n');
    throw new Error(
      `prisma migrate deploy failed (${res.signal ?? `exit code ${res.code}`}); its output is above`,
    );
  }
  const summary = res.output
    .trim()
    .split('\n')
    .filter((l) => /migration|database schema|No pending|applied/i.test(l))
    .at(-1);
  log(`migrations done in ${fmtSeconds(Date.now() - t0)}${summary ? `: ${summary.trim()}` : ''}`);
}

/**
 * Start the stack. → { env, stop, exited, dataDir, local, temporalUiUrl, logs }
 * env = { DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE }. stop() is idempotent.
 */
export async function startStack({ profile = 'dev' } = {}) {
  if (profile !== 'dev' && profile !== 'test') throw new Error(`unknown stack profile ${profile}`);
  const test = profile === 'test';
  const local = localServices();
  const namespace = fromEnv('TEMPORAL_NAMESPACE') ?? 'default';
  const dataDir = test ? path.join(AXLE_DIR, `test-${process.pid}`) : AXLE_DIR;
  const t0 = Date.now();

  if (test) {
    removeStaleTestDirs();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  fs.mkdirSync(dataDir, { recursive: true });

  const tools = await ensureStackTools();
  const ports = test
    ? {
        postgres: local.postgres ? await getFreePort() : null,
        redis: local.redis ? await getFreePort() : null,
        temporal: local.temporal ? await getFreePort() : null,
        temporalUi: null,
      }
    : DEV_PORTS;

  // Fail at once on a taken port, before starting (and then stopping) anything.
  if (!test) await assertDevPortsFree();

  const running = [];
  const extraDirs = [];
  let stopped = null;
  const stop = () => {
    stopped ??= (async () => {
      const results = await Promise.allSettled(running.map((s) => s.stop()));
      for (const r of results)
        if (r.status === 'rejected') log(`error while stopping a service: ${r.reason?.message ?? r.reason}`);
      if (test) for (const dir of [dataDir, ...extraDirs]) fs.rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const env = {
    DATABASE_URL: fromEnv('DATABASE_URL'),
    REDIS_URL: fromEnv('REDIS_URL'),
    TEMPORAL_ADDRESS: fromEnv('TEMPORAL_ADDRESS'),
    TEMPORAL_NAMESPACE: namespace,
  };
  const logs = {};
  let temporalUiUrl = null;

  try {
    const tasks = [];
    if (local.postgres) {
      tasks.push(
        startPostgres({ dataDir: path.join(dataDir, 'pg'), port: ports.postgres, fast: test }).then((pg) => {
          running.push(pg);
          if (pg.dataDir !== path.join(dataDir, 'pg')) extraDirs.push(pg.dataDir);
          env.DATABASE_URL = pg.url;
          logs.postgres = pg.logFile;
        }),
      );
    }
    if (local.redis) {
      tasks.push(
        startRedis({ dataDir: path.join(dataDir, 'redis'), port: ports.redis, bin: tools.redis }).then(
          (redis) => {
            running.push(redis);
            env.REDIS_URL = redis.url;
            logs.redis = redis.logFile;
          },
        ),
      );
    }
    if (local.temporal) {
      tasks.push(
        startTemporal({
          bin: tools.temporal,
          dbFile: test ? null : path.join(dataDir, 'temporal', 'temporal.db'),
          logFile: path.join(dataDir, 'temporal', 'temporal.log'),
          port: ports.temporal,
          uiPort: ports.temporalUi,
          namespace,
        }).then((temporal) => {
          running.push(temporal);
          env.TEMPORAL_ADDRESS = temporal.address;
          temporalUiUrl = temporal.uiUrl;
          logs.temporal = temporal.logFile;
        }),
      );
    }
    const failures = (await Promise.allSettled(tasks))
      .filter((r) => r.status === 'rejected')
      .map((r) => r.reason);
    if (failures.length) {
      const err = new Error(failures.map((e) => e?.message ?? String(e)).join('\n\n'));
      err.causes = failures;
      throw err;
    }
    await migrateDeploy(env.DATABASE_URL);
  } catch (err) {
    await stop();
    throw err;
  }
  // Resolves with { name, code, signal, logFile } if a service we started ends before stop().
  const exited = running.length
    ? Promise.race(running.map((s) => s.exited)).then((info) => (stopped ? null : info))
    : new Promise(() => {});
  const given = Object.entries(local)
    .filter(([, isLocal]) => !isLocal)
    .map(([name]) => name);
  log(
    `${profile} stack ready in ${fmtSeconds(Date.now() - t0)}${given.length ? ` (using existing ${given.join(', ')} from env)` : ''}`,
  );
  return { env, stop, exited, dataDir, local, temporalUiUrl, logs };
}
