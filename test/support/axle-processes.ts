import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, requireEnv, TEST_ADMIN_KEY } from './env';

export type AxleApp = 'gateway' | 'worker' | 'runner';

/** Every app this process started and that still runs. */
const running = new Set<ChildProcess>();
let reaping = false;

/**
 * Apps die with the test file that started them. The runner stops a file that passes its timeout
 * with SIGTERM, which skips `after` hooks: without this its apps lived on, retrying a stack that was
 * gone, and took CPU from every later file and benchmark on the machine.
 */
function reapOnExit(): void {
  if (reaping) return;
  reaping = true;
  const killAll = () => running.forEach((child) => child.kill('SIGKILL'));
  process.on('exit', killAll);
  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)
    process.on(signal, () => {
      killAll();
      process.exit(code);
    });
}

function spawnApp(app: AxleApp, env: Record<string, string>): ChildProcess {
  reapOnExit();
  const child = spawn(process.execPath, [join('dist', 'apps', app, 'src', 'main.js')], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * Runs the real apps from dist/ as child processes against the harness's services, each on its own
 * ports, so end-to-end tests exercise main.ts, config validation and process boundaries.
 */
export class AxleProcesses {
  readonly children = new Map<AxleApp, ChildProcess>();
  readonly logs = new Map<AxleApp, string[]>();
  private constructor(
    readonly env: Record<string, string>,
    readonly baseUrl: string,
    private readonly keepAllOutput = false,
    /** Extra environment of one app only (e.g. the worker's NODE_OPTIONS as k8s sets them). */
    private readonly appEnv: Partial<Record<AxleApp, Record<string, string>>> = {},
  ) {}

  /**
   * `options.keepAllOutput` keeps every line each app writes (a test that searches the whole output,
   * e.g. for leaked secrets); by default only the last 200 chunks are kept for failure messages.
   */
  static async create(
    extraEnv: Record<string, string> = {},
    options: {
      keepAllOutput?: boolean;
      appEnv?: Partial<Record<AxleApp, Record<string, string>>>;
    } = {},
  ): Promise<AxleProcesses> {
    const port = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: requireEnv('DATABASE_URL'),
      REDIS_URL: requireEnv('REDIS_URL'),
      TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'),
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
      AXLE_PORT: String(port),
      AXLE_GRPC_PORT: String(await freePort()),
      AXLE_WORKER_HEALTH_PORT: String(await freePort()),
      AXLE_RUNNER_HEALTH_PORT: String(await freePort()),
      AXLE_DATA_DIR: dataDir(),
      AXLE_BOOTSTRAP_API_KEY: TEST_ADMIN_KEY,
      // Test files share one Redis and the admin key, and poll; a test of the limit sets its own.
      AXLE_RATE_LIMIT_PER_MINUTE: '100000',
      AXLE_AGENT_RATE_LIMIT_PER_MINUTE: '100000',
      ...extraEnv,
    };
    return new AxleProcesses(env, `http://127.0.0.1:${port}`, options.keepAllOutput ?? false, options.appEnv);
  }

  start(app: AxleApp): ChildProcess {
    const child = spawnApp(app, { ...this.env, ...this.appEnv[app] });
    const lines: string[] = [];
    this.logs.set(app, lines);
    const keep = (chunk: Buffer) => {
      lines.push(chunk.toString());
      if (!this.keepAllOutput && lines.length > 200) lines.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.children.set(app, child);
    return child;
  }

  /** Starts gateway and worker and waits until the gateway reports every dependency ready. */
  async startAll(apps: AxleApp[] = ['gateway', 'worker']): Promise<void> {
    for (const app of apps) this.start(app);
    await this.waitReady();
  }

  /** Waits until every started app answers its /ready with 200; an app that exits fails at once. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const readyUrl: Record<AxleApp, string> = {
      gateway: `${this.baseUrl}/ready`,
      worker: `http://127.0.0.1:${this.env.AXLE_WORKER_HEALTH_PORT}/ready`,
      runner: `http://127.0.0.1:${this.env.AXLE_RUNNER_HEALTH_PORT}/ready`,
    };
    const deadline = Date.now() + timeoutMs;
    for (const [app, child] of this.children) {
      for (;;) {
        if (child.exitCode !== null)
          throw new Error(`${app} exited with ${child.exitCode}:\n${this.output(app)}`);
        const ok = await fetch(readyUrl[app]).then(
          (res) => res.status === 200,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline)
          throw new Error(`${app} not ready after ${timeoutMs} ms:\n${this.output(app)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  output(app: AxleApp): string {
    return (this.logs.get(app) ?? []).join('');
  }

  async stop(app: AxleApp, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.children.get(app);
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((app) => this.stop(app)));
  }
}

/** Runs one app to completion (for boot-failure tests) and returns its exit code and output. */
export async function runToExit(
  app: AxleApp,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const child = spawnApp(app, env);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output };
}

/** A fresh data dir that the sandbox user of tiers process/kernel may traverse (o+x, no listing). */
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'axle-e2e-'));
  chmodSync(dir, 0o711);
  return dir;
}
