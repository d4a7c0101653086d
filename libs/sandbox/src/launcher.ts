import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LAUNCHER_SOURCE } from './launcher.c';

/**
 * The directory the launcher is compiled into: `dataDir` if given, else `<tmpdir>/axle-sandbox-<uid>`.
 * It must be ours and writable by nobody else (a planted binary would run as the runner).
 */
export function launcherDir(dataDir?: string): string {
  const uid = process.getuid?.() ?? 0;
  const dir = dataDir ?? path.join(os.tmpdir(), `axle-sandbox-${uid}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
    throw new Error(`${dir} must be a directory owned by uid ${uid} and writable only by it`);
  return dir;
}

export type Launcher = { path: string; landlockAbi: number };

/**
 * Compiles the launcher with gcc once per source version (cached on disk by its hash) and asks it
 * for the Landlock ABI. Null when there is no compiler: Landlock and the process tier's seccomp
 * filter are then unavailable (reported, never silently assumed).
 */
export function buildLauncher(dataDir?: string): { launcher: Launcher | null; problem?: string } {
  let dir: string;
  try {
    dir = launcherDir(dataDir);
  } catch (err) {
    return { launcher: null, problem: (err as Error).message };
  }
  const hash = createHash('sha256').update(LAUNCHER_SOURCE).digest('hex').slice(0, 16);
  const bin = path.join(dir, `launch-${hash}`);
  if (!fs.existsSync(bin)) {
    const src = path.join(dir, `launch-${hash}.c`);
    const tmp = `${bin}.${process.pid}.tmp`;
    fs.writeFileSync(src, LAUNCHER_SOURCE, { mode: 0o600 });
    const cc = spawnSync('gcc', ['-O2', '-s', '-o', tmp, src], { encoding: 'utf8', timeout: 60_000 });
    if (cc.error || cc.status !== 0)
      return {
        launcher: null,
        problem: `gcc could not build the launcher: ${cc.error?.message ?? cc.stderr}`,
      };
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, bin);
  }
  const v = spawnSync(bin, ['-v'], { encoding: 'utf8', timeout: 10_000 });
  const abi = Number(v.stdout.trim());
  if (v.status !== 0 || !Number.isInteger(abi))
    return { launcher: null, problem: `the launcher does not run: ${v.error?.message ?? v.stderr}` };
  return { launcher: { path: bin, landlockAbi: abi } };
}
