import { type SandboxSpec, type SandboxTier } from '@axle/protocol';
import { spawn } from 'node:child_process';
import { type Readable } from 'node:stream';

/** How a sandboxed process ended. `reason` says who ended it when it did not exit by itself. */
export type SandboxExit = {
  code: number | null;
  signal: string | null;
  reason: 'exited' | 'wall_time' | 'killed';
};

export type SandboxProcess = {
  pid: number | undefined;
  stdout: Readable;
  stderr: Readable;
  exited: Promise<SandboxExit>;
  /** Kills the whole process group (the job and everything it spawned). */
  kill(): void;
};

/** The tier is not one this host can enforce: the caller answers 422 tier_unavailable. */
export class TierUnavailableError extends Error {
  constructor(
    readonly tier: SandboxTier,
    reason: string,
  ) {
    super(`sandbox tier ${tier} is not available on this host: ${reason}`);
  }
}

/** Which tiers this host enforces. `none` only when development explicitly allows it. */
export function availableTiers(options: { allowNone: boolean }): SandboxTier[] {
  return options.allowNone ? ['none'] : [];
}

/**
 * Runs `spec.argv` under its tier. Tier `none` (development only) is a plain child with rlimits
 * (prlimit) in its own process group, killed at the wall-time limit; it confines nothing else.
 */
export function spawnSandboxed(spec: SandboxSpec, options: { allowNone: boolean }): SandboxProcess {
  if (!availableTiers(options).includes(spec.tier))
    throw new TierUnavailableError(spec.tier, 'not implemented on this host yet');
  const { limits } = spec;
  const child = spawn(
    'prlimit',
    [
      `--cpu=${limits.cpu_seconds}`,
      `--as=${limits.memory_bytes}`,
      `--nproc=${limits.max_processes}`,
      '--',
      ...spec.argv,
    ],
    {
      cwd: spec.cwd,
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let reason: SandboxExit['reason'] = 'exited';
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const wall = setTimeout(() => {
    reason = 'wall_time';
    killGroup();
  }, limits.wall_seconds * 1000);
  const exited = new Promise<SandboxExit>((resolve) => {
    child.once('error', () => {
      clearTimeout(wall);
      resolve({ code: null, signal: null, reason });
    });
    child.once('close', (code, signal) => {
      clearTimeout(wall);
      resolve({ code, signal, reason });
    });
  });
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    exited,
    kill: () => {
      reason = 'killed';
      killGroup();
    },
  };
}
