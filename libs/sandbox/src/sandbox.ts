import { normalizePath, type SandboxSpec, type SandboxTier } from '@axle/protocol';
import { type ChildProcess, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Readable } from 'node:stream';
import { buildLauncher, launcherDir } from './launcher';
import { seccompProgram, seccompSupported } from './seccomp';

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

export type SandboxOptions = {
  /** Development only: allow tier `none` (no confinement but the limits). */
  allowNone: boolean;
  /**
   * When the runner runs as root, jobs of tiers `process` and `kernel` run as this uid/gid
   * (default 65534, nobody/nogroup): the workspace must be writable by it (see `sandboxOwner`).
   * A non-root runner's jobs run as the runner's own uid inside their namespaces.
   */
  sandboxUid?: number;
  sandboxGid?: number;
  /** Where the launcher is compiled (default `<tmpdir>/axle-sandbox-<uid>`, mode 0700). */
  dataDir?: string;
  /** RLIMIT_FSIZE of jobs (default 1 GiB) and RLIMIT_NOFILE (default 1024). */
  fileSizeBytes?: number;
  openFiles?: number;
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

/** What the host offers, probed once per option set (really run, not guessed). */
export type SandboxHost = {
  tiers: SandboxTier[];
  /** Why a tier is missing. */
  unavailable: Partial<Record<SandboxTier, string>>;
  bwrap: string | null;
  /** 0 when Landlock (or the launcher that applies it) is unavailable. */
  landlockAbi: number;
  /** The compiled launcher (Landlock, and the process tier's seccomp filter), or null. */
  launcher: string | null;
  seccomp: boolean;
};

const NOBODY = 65534;
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const ETC_FILES = [
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/passwd',
  '/etc/group',
];
const HOSTS_BASE = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
// Extra descriptors handed to bwrap / the launcher.
const FD_SECCOMP = 3;
const FD_LAUNCHER = 4;
const FD_HOSTS = 5;

const isRoot = () => process.getuid?.() === 0;

/** The uid/gid the workspace of a `process`/`kernel` job must be writable by (null: the runner's own). */
export function sandboxOwner(options: SandboxOptions): { uid: number; gid: number } | null {
  return isRoot() ? { uid: options.sandboxUid ?? NOBODY, gid: options.sandboxGid ?? NOBODY } : null;
}

const hosts = new Map<string, SandboxHost>();

/** Probes (once per option set) which tiers this host really enforces. */
export function probeSandboxHost(options: SandboxOptions): SandboxHost {
  const key = JSON.stringify([options.sandboxUid, options.sandboxGid, options.dataDir, options.allowNone]);
  const cached = hosts.get(key);
  if (cached) return cached;
  const host: SandboxHost = {
    tiers: options.allowNone ? ['none'] : [],
    unavailable: options.allowNone ? {} : { none: 'tier none is for development only (not enabled)' },
    bwrap: null,
    landlockAbi: 0,
    launcher: null,
    seccomp: process.platform === 'linux' && seccompSupported(),
  };
  if (process.platform !== 'linux') {
    host.unavailable.process = host.unavailable.kernel = `not Linux (${process.platform})`;
    hosts.set(key, host);
    return host;
  }
  const built = buildLauncher(options.dataDir);
  if (built.launcher) {
    host.launcher = built.launcher.path;
    host.landlockAbi = built.launcher.landlockAbi;
  }
  const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'axle-sandbox-probe-'));
  const owner = sandboxOwner(options);
  if (owner) fs.chownSync(probeDir, owner.uid, owner.gid);
  const probe: SandboxSpec = {
    tier: 'process',
    argv: ['true'],
    cwd: probeDir,
    env: {},
    fsRead: [],
    fsWrite: [],
    net: [],
    limits: {
      cpu_seconds: 5,
      memory_bytes: 256 * 2 ** 20,
      wall_seconds: 10,
      output_bytes: 0,
      max_processes: 16,
    },
  };
  // process: needs root (to give the job its own uid) and an unshared net namespace.
  if (!isRoot())
    host.unavailable.process = 'the runner is not root, so it cannot run jobs under their own uid';
  else if (!which('unshare') || !which('setpriv') || !which('prlimit'))
    host.unavailable.process = 'unshare, setpriv and prlimit (util-linux) are needed';
  else {
    const problem = tryRun({ ...probe, tier: 'process' }, host, options);
    if (problem) host.unavailable.process = problem;
    else host.tiers.push('process');
  }
  // kernel: bwrap with working user namespaces and a seccomp filter for this architecture.
  host.bwrap = which('bwrap');
  if (!host.bwrap) host.unavailable.kernel = 'bubblewrap (bwrap) is not installed';
  else if (!host.seccomp) host.unavailable.kernel = `no seccomp filter for ${process.arch}`;
  else {
    const problem = tryRun({ ...probe, tier: 'kernel' }, host, options);
    if (problem) host.unavailable.kernel = problem;
    else host.tiers.push('kernel');
  }
  fs.rmSync(probeDir, { recursive: true, force: true });
  hosts.set(key, host);
  return host;
}

/** Which tiers this host enforces. `none` only when development explicitly allows it. */
export function availableTiers(options: SandboxOptions): SandboxTier[] {
  return probeSandboxHost(options).tiers;
}

/**
 * Runs `spec.argv` under its tier; throws TierUnavailableError for a tier (or a grant) this host
 * cannot enforce. See docs/exec.md "Sandbox tiers" for what each tier guarantees.
 * - `kernel`: bwrap with fresh user/pid/ipc/uts/mount(/net) namespaces, a read-only minimal root,
 *   the binds of the spec, seccomp, Landlock, rlimits.
 * - `process`: its own uid, fresh net/pid/mount namespaces, rlimits, Landlock and seccomp.
 * - `none` (development only): a plain child with rlimits in its own process group.
 * All are killed, with everything they spawned, at the wall-time limit.
 */
export function spawnSandboxed(spec: SandboxSpec, options: SandboxOptions): SandboxProcess {
  const host = probeSandboxHost(options);
  if (!host.tiers.includes(spec.tier))
    throw new TierUnavailableError(spec.tier, host.unavailable[spec.tier] ?? 'not available');
  const plan = planFor(spec, host, options);
  const child = spawn(plan.cmd, plan.args, {
    cwd: spec.tier === 'kernel' ? '/' : spec.cwd,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...spec.env },
    stdio: plan.stdio,
    detached: true,
    ...plan.ids,
  });
  feed(child, plan);
  return supervise(child, spec);
}

type Plan = {
  cmd: string;
  args: string[];
  stdio: StdioOptions;
  /** Data written to the extra pipes (fd index → bytes). */
  data: Map<number, Buffer>;
  /** Descriptors of files opened for the child, closed once it is spawned. */
  fds: number[];
  ids: { uid?: number; gid?: number };
};

function planFor(spec: SandboxSpec, host: SandboxHost, options: SandboxOptions): Plan {
  checkPaths(spec);
  const { limits } = spec;
  const prlimit = [
    'prlimit',
    `--cpu=${limits.cpu_seconds}`,
    `--as=${limits.memory_bytes}`,
    `--nproc=${limits.max_processes}`,
    `--fsize=${options.fileSizeBytes ?? 2 ** 30}`,
    `--nofile=${options.openFiles ?? 1024}`,
    '--',
  ];
  switch (spec.tier) {
    case 'none':
      return {
        cmd: prlimit[0]!,
        args: [...prlimit.slice(1), ...spec.argv],
        stdio: ['ignore', 'pipe', 'pipe'],
        data: new Map(),
        fds: [],
        ids: {},
      };
    case 'process':
      return processPlan(spec, host, options, prlimit);
    case 'kernel':
      return kernelPlan(spec, host, options, prlimit);
  }
}

function processPlan(spec: SandboxSpec, host: SandboxHost, options: SandboxOptions, prlimit: string[]): Plan {
  if (spec.net.length > 0)
    throw new TierUnavailableError(
      'process',
      'the process tier has no network: network grants need tier kernel',
    );
  const owner = sandboxOwner(options) ?? { uid: NOBODY, gid: NOBODY };
  const fds: number[] = [];
  const launch: string[] = [];
  if (host.launcher) {
    fds.push(fs.openSync(seccompFile(options, false), 'r'));
    launch.push(host.launcher, '-I', '-s', String(FD_SECCOMP));
    if (host.landlockAbi > 0) {
      const ro = [...SYSTEM_DIRS, '/etc', '/proc', '/dev/urandom', '/dev/random', ...spec.fsRead];
      const rw = ['/dev/null', '/dev/zero', '/dev/full', workspaceOf(spec), ...spec.fsWrite];
      launch.push(...ro.flatMap((p) => ['-r', p]), ...rw.flatMap((p) => ['-w', p]));
      if (host.landlockAbi >= 4) launch.push('-N');
    }
    launch.push('--');
  }
  const args = [
    '--net',
    '--pid',
    '--fork',
    '--kill-child',
    '--mount',
    '--mount-proc',
    '--',
    ...launch,
    'setpriv',
    `--reuid=${owner.uid}`,
    `--regid=${owner.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
    ...prlimit,
    ...spec.argv,
  ];
  return { cmd: 'unshare', args, stdio: ['ignore', 'pipe', 'pipe', ...fds], data: new Map(), fds, ids: {} };
}

function kernelPlan(spec: SandboxSpec, host: SandboxHost, options: SandboxOptions, prlimit: string[]): Plan {
  const shared = spec.net.length > 0;
  if (shared && host.landlockAbi < 4)
    throw new TierUnavailableError(
      'kernel',
      'network grants need Landlock ABI 4 (TCP port rules) on this host',
    );
  const owner = sandboxOwner(options);
  const fds = [fs.openSync(seccompFile(options, shared), 'r')];
  const data = new Map<number, Buffer>();
  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(shared ? [] : ['--unshare-net']),
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--hostname',
    'sandbox',
  ];
  for (const dir of SYSTEM_DIRS) {
    const st = lstatOrNull(dir);
    if (st?.isSymbolicLink()) args.push('--symlink', fs.readlinkSync(dir), dir);
    else if (st?.isDirectory()) args.push('--ro-bind', dir, dir);
  }
  for (const file of ETC_FILES) args.push('--ro-bind-try', file, file);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  data.set(FD_HOSTS, Buffer.from(HOSTS_BASE + (shared ? resolveGrantedHosts(spec.net) : '')));
  args.push('--ro-bind-data', String(FD_HOSTS), '/etc/hosts');
  // Binds, shallowest first so a narrower grant inside a wider one wins.
  const binds = [
    ...spec.fsRead.map((p) => ({ p, rw: false })),
    ...[workspaceOf(spec), ...spec.fsWrite].map((p) => ({ p, rw: true })),
  ].sort((a, b) => depth(a.p) - depth(b.p) || Number(a.rw) - Number(b.rw));
  for (const b of binds) args.push(b.rw ? '--bind-try' : '--ro-bind-try', b.p, b.p);
  args.push('--chdir', spec.cwd, '--seccomp', String(FD_SECCOMP));
  const inner: string[] = [];
  if (host.launcher && host.landlockAbi > 0) {
    data.set(FD_LAUNCHER, fs.readFileSync(host.launcher));
    args.push('--perms', '0555', '--ro-bind-data', String(FD_LAUNCHER), '/.axle-launch');
    inner.push('/.axle-launch');
    const ro = [...SYSTEM_DIRS, '/etc', '/proc', ...spec.fsRead];
    const rw = ['/dev', '/tmp', ...binds.filter((b) => b.rw).map((b) => b.p)];
    inner.push(...ro.flatMap((p) => ['-r', p]), ...rw.flatMap((p) => ['-w', p]));
    if (host.landlockAbi >= 4) {
      inner.push('-N');
      if (spec.net.some((n) => n.port === null)) inner.push('-A');
      for (const port of new Set(spec.net.map((n) => n.port)))
        if (port !== null) inner.push('-c', String(port));
    }
    inner.push('--');
  }
  args.push('--', ...prlimit, ...inner, ...spec.argv);
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', fds[0]!];
  for (const index of [FD_LAUNCHER, FD_HOSTS]) stdio[index] = data.has(index) ? 'pipe' : 'ignore';
  return { cmd: host.bwrap!, args, stdio, data, fds, ids: owner ?? {} };
}

function feed(child: ChildProcess, plan: Plan) {
  for (const fd of plan.fds) fs.closeSync(fd);
  for (const [index, bytes] of plan.data) {
    const pipe = child.stdio[index] as NodeJS.WritableStream | null | undefined;
    if (!pipe) continue;
    (pipe as unknown as { on(e: 'error', f: () => void): void }).on('error', () => undefined);
    pipe.end(bytes);
  }
}

function supervise(child: ChildProcess, spec: SandboxSpec): SandboxProcess {
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
  }, spec.limits.wall_seconds * 1000);
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
    stdout: child.stdout!,
    stderr: child.stderr!,
    exited,
    kill: () => {
      reason = 'killed';
      killGroup();
    },
  };
}

/** Runs the tier's own plan for `true` and says what went wrong, if anything. */
function tryRun(spec: SandboxSpec, host: SandboxHost, options: SandboxOptions): string | null {
  const tier = spec.tier;
  let plan: Plan;
  try {
    plan = planFor(spec, host, options);
  } catch (err) {
    return (err as Error).message;
  }
  // spawnSync cannot feed pipes: hand the data over as files of the data dir.
  const stdio = [...(plan.stdio as unknown[])];
  const opened = [...plan.fds];
  try {
    for (const [index, bytes] of plan.data) {
      const file = path.join(launcherDir(options.dataDir), `probe-${tier}-${index}`);
      fs.writeFileSync(file, bytes, { mode: 0o600 });
      const fd = fs.openSync(file, 'r');
      opened.push(fd);
      stdio[index] = fd;
    }
    const res = spawnSync(plan.cmd, plan.args, {
      cwd: '/',
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      stdio: stdio as StdioOptions,
      encoding: 'utf8',
      timeout: 15_000,
      ...plan.ids,
    });
    if (res.error) return `${plan.cmd}: ${res.error.message}`;
    if (res.status !== 0)
      return `${path.basename(plan.cmd)} failed (${res.status ?? res.signal}): ${(res.stderr ?? '').trim()}`;
    return null;
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
}

const seccompFiles = new Map<string, string>();

/** The seccomp program, written once into the data dir (bwrap and the launcher read it from an fd). */
function seccompFile(options: SandboxOptions, sharedNetwork: boolean): string {
  const file = path.join(
    launcherDir(options.dataDir),
    `seccomp-${process.arch}-${sharedNetwork ? 'net' : 'nonet'}.bpf`,
  );
  if (!seccompFiles.has(file)) {
    fs.writeFileSync(file, seccompProgram({ sharedNetwork }), { mode: 0o600 });
    seccompFiles.set(file, file);
  }
  return file;
}

function workspaceOf(spec: SandboxSpec): string {
  return spec.workspace ?? spec.cwd;
}

function checkPaths(spec: SandboxSpec) {
  for (const p of [spec.cwd, workspaceOf(spec), ...spec.fsRead, ...spec.fsWrite]) {
    if (normalizePath(p) !== p || p === '/')
      throw new Error(`sandbox path ${JSON.stringify(p)} must be absolute, normalized and not /`);
  }
}

const depth = (p: string) => p.split('/').length;

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function which(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * `/etc/hosts` lines for the granted host names, resolved by the host (jobs that share the network
 * have no UDP, so no DNS): only granted names resolve inside. IP literals need no line.
 */
function resolveGrantedHosts(net: SandboxSpec['net']): string {
  const lines: string[] = [];
  for (const name of new Set(net.map((n) => n.host))) {
    if (isIP(name.replace(/^\[|\]$/g, '')) || name === 'localhost') continue;
    const res = spawnSync('getent', ['ahosts', name], { encoding: 'utf8', timeout: 3000 });
    const addrs = new Set(
      (res.stdout ?? '')
        .split('\n')
        .map((l) => l.split(/\s+/)[0])
        .filter((a): a is string => !!a && isIP(a) !== 0),
    );
    for (const a of addrs) lines.push(`${a}\t${name}`);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}
