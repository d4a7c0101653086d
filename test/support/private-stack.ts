// A PostgreSQL, Redis and Temporal of a test's own (random ports, data in a temp dir), that the test
// may stop and start again on the same port and data, to see how Axle behaves through an outage.
// The harness's own functions do the work (scripts/lib/*.mjs, plain ESM loaded at run time), so
// the services start exactly as under `npm test` and `npm start`.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ServiceName = 'postgres' | 'redis' | 'temporal';

type RunningService = { stop(): Promise<unknown>; exited: Promise<unknown>; logFile: string };

type ServicesModule = {
  getFreePort(): Promise<number>;
  startPostgres(options: {
    dataDir: string;
    port: number;
    fast?: boolean;
  }): Promise<RunningService & { url: string; dataDir: string }>;
  startRedis(options: {
    dataDir: string;
    port: number;
    bin?: string | null;
  }): Promise<RunningService & { url: string }>;
  startTemporal(options: {
    bin: string;
    dbFile: string | null;
    port: number;
    namespace?: string;
    logFile?: string | null;
  }): Promise<RunningService & { address: string }>;
};
type StackModule = { migrateDeploy(databaseUrl: string): Promise<void> };
type ToolsModule = { ensureTemporalCli(): Promise<string> };

/**
 * Loads one of the harness's script modules (the test runner's cwd is the repository root). An
 * absolute path, not a file: URL, because the CommonJS build turns import() into require(), which
 * loads these ES modules (Node ≥ 20.19) but takes no URLs.
 */
async function harness<T>(file: string): Promise<T> {
  return (await import(join(process.cwd(), 'scripts', 'lib', file))) as T;
}

export class PrivateStack {
  private readonly running = new Map<ServiceName, RunningService>();
  /** Directories to remove at the end (PostgreSQL may keep its data elsewhere when ours is private). */
  private readonly dirs = new Set<string>();
  readonly env: { DATABASE_URL: string; REDIS_URL: string; TEMPORAL_ADDRESS: string };

  private constructor(
    private readonly services: ServicesModule,
    private readonly dir: string,
    private readonly ports: Record<ServiceName, number>,
    private readonly temporalBin: string,
  ) {
    this.env = {
      DATABASE_URL: `postgresql://axle:axle@127.0.0.1:${ports.postgres}/axle`,
      REDIS_URL: `redis://127.0.0.1:${ports.redis}`,
      TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
    };
  }

  /** Starts all three (Temporal persisted to SQLite, so a restart keeps its workflows) and migrates. */
  static async start(): Promise<PrivateStack> {
    const [services, stack, tools] = await Promise.all([
      harness<ServicesModule>('services.mjs'),
      harness<StackModule>('stack.mjs'),
      harness<ToolsModule>('tools.mjs'),
    ]);
    const ports = {
      postgres: await services.getFreePort(),
      redis: await services.getFreePort(),
      temporal: await services.getFreePort(),
    };
    const dir = mkdtempSync(join(tmpdir(), 'axle-private-stack-'));
    // As root, PostgreSQL runs as the `postgres` user, which must reach its data dir in here.
    chmodSync(dir, 0o755);
    const created = new PrivateStack(services, dir, ports, await tools.ensureTemporalCli());
    try {
      await Promise.all(
        (['postgres', 'redis', 'temporal'] as const).map((name) => created.startService(name)),
      );
      await stack.migrateDeploy(created.env.DATABASE_URL);
    } catch (err) {
      await created.stopAll();
      throw err;
    }
    return created;
  }

  /** Starts a service (again) on its port and data dir. */
  async startService(name: ServiceName): Promise<void> {
    if (this.running.has(name)) return;
    this.running.set(name, await this.launch(name, this.ports[name]));
  }

  private async launch(name: ServiceName, port: number): Promise<RunningService> {
    switch (name) {
      case 'postgres': {
        const pg = await this.services.startPostgres({ dataDir: join(this.dir, 'pg'), port, fast: true });
        this.dirs.add(pg.dataDir);
        return pg;
      }
      case 'redis':
        return this.services.startRedis({ dataDir: join(this.dir, 'redis'), port });
      case 'temporal':
        return this.services.startTemporal({
          bin: this.temporalBin,
          dbFile: join(this.dir, 'temporal', 'temporal.db'),
          port,
        });
    }
  }

  /** Stops a service the way an operator or a crash would take it away; its data stays. */
  async stopService(name: ServiceName): Promise<void> {
    const service = this.running.get(name);
    this.running.delete(name);
    await service?.stop();
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.running.keys()].map((name) => this.stopService(name)));
    for (const dir of [this.dir, ...this.dirs]) rmSync(dir, { recursive: true, force: true });
  }
}
