import { type AxleProcesses } from '@axle/testing';
import { readFileSync, readdirSync } from 'node:fs';

/** One scenario's outcome, as docs/reliability.md shows it. */
export type ScenarioResult = {
  name: string;
  passed: boolean;
  /** What was done, in a sentence or two. */
  what: string;
  /** Label → number or text, shown as a table. */
  counts: [string, string | number][];
  /** Problems seen (failures, and anything worth a look even when the scenario passed). */
  findings: string[];
  seconds: number;
};

export type ChaosContext = {
  axle: AxleProcesses;
  baseUrl: string;
  args: ChaosArgs;
  log: (message: string) => void;
};

export type ChaosArgs = {
  scenarios: string[];
  seed: number;
  fuzzRuns: number;
  stormSize: number;
  soakMinutes: number;
  /** Scenario kill: how many intents the load creates. */
  killIntents: number;
};

/** Resident set size (bytes) and open file descriptors of a process, from /proc. */
export function processSample(pid: number): { rss: number; fds: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return { rss: Number(kb ?? 0) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return null;
  }
}

/** The apps still running, and each app's /ready answer; a dead one is a finding. */
export async function appsAlive(ctx: ChaosContext): Promise<string[]> {
  const problems: string[] = [];
  for (const [app, child] of ctx.axle.children)
    if (child.exitCode !== null || child.signalCode !== null)
      problems.push(
        `${app} exited (${child.exitCode ?? child.signalCode}); last output:\n${ctx.axle.output(app).slice(-2000)}`,
      );
  const ready: Record<string, string> = {
    gateway: `${ctx.baseUrl}/ready`,
    worker: `http://127.0.0.1:${ctx.axle.env.AXLE_WORKER_HEALTH_PORT}/ready`,
    runner: `http://127.0.0.1:${ctx.axle.env.AXLE_RUNNER_HEALTH_PORT}/ready`,
  };
  for (const app of ctx.axle.children.keys()) {
    const url = ready[app];
    if (!url) continue;
    const status = await fetch(url).then(
      (r) => r.status,
      (err: Error) => err.message,
    );
    if (status !== 200) problems.push(`${app} /ready answered ${status}`);
  }
  return problems;
}

export const MiB = 2 ** 20;
export const fmtMiB = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The gateway's logged errors (pino level ≥ 50) with this error id, or the last ones, for a finding. */
export function gatewayErrorLog(ctx: ChaosContext, errorId?: string): string {
  const lines = ctx.axle
    .output('gateway')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l) && (!errorId || l.includes(errorId)));
  return lines.slice(-2).join('\n').slice(0, 3000);
}
