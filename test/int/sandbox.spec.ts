// @axle/sandbox against the real host: escape attempts that must fail and leave the host untouched,
// for every confining tier this host supports (process, kernel), and the limits for all tiers
// (none only for the limits: it confines nothing else). Real processes, no mocks.
import { type SandboxSpec, type SandboxTier } from '@axle/protocol';
import {
  availableTiers,
  probeSandboxHost,
  type SandboxExit,
  type SandboxOptions,
  sandboxOwner,
  spawnSandboxed,
  TierUnavailableError,
} from '@axle/sandbox';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

const options: SandboxOptions = { allowNone: true };
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'axle-sandbox-test-'));
fs.chmodSync(base, 0o755);
after(() => fs.rmSync(base, { recursive: true, force: true }));

/** A directory under the test's base dir, owned by the sandbox uid when `owned`. */
function dir(name: string, mode: number, owned = false): string {
  const d = path.join(base, `${name}-${randomUUID().slice(0, 8)}`);
  fs.mkdirSync(d);
  fs.chmodSync(d, mode);
  const owner = sandboxOwner(options);
  if (owned && owner) fs.chownSync(d, owner.uid, owner.gid);
  return d;
}

const LIMITS = {
  cpu_seconds: 5,
  memory_bytes: 512 * 2 ** 20,
  wall_seconds: 10,
  output_bytes: 0,
  max_processes: 32,
};

type Run = { exit: SandboxExit; out: string; err: string };

async function run(tier: SandboxTier, argv: string[], extra: Partial<SandboxSpec> = {}): Promise<Run> {
  const workspace = extra.cwd ?? dir('ws', 0o700, true);
  const p = spawnSandboxed(
    {
      tier,
      argv,
      cwd: workspace,
      env: {},
      fsRead: [],
      fsWrite: [],
      net: [],
      ...extra,
      limits: { ...LIMITS, ...extra.limits },
    },
    options,
  );
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = await p.exited;
  return { exit, out, err };
}

const py = (code: string) => ['python3', '-c', code];

/** No process on the host still has `marker` in its command line. */
function noProcessWith(marker: string): boolean {
  for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) return false;
    } catch {
      // gone
    }
  }
  return true;
}

describe('sandbox tiers on this host', () => {
  test('the host enforces tier kernel (bwrap is installed by the setup scripts) and probes Landlock', () => {
    const host = probeSandboxHost(options);
    assert.ok(host.tiers.includes('kernel'), `kernel tier unavailable: ${host.unavailable.kernel}`);
    assert.ok(host.tiers.includes('none'));
    if (process.getuid?.() === 0) assert.ok(host.tiers.includes('process'), host.unavailable.process);
    assert.ok(host.landlockAbi >= 0);
  });

  test('an unavailable tier throws TierUnavailableError (never a weaker tier)', () => {
    assert.deepEqual(availableTiers({ allowNone: false }).includes('none'), false);
    assert.throws(
      () =>
        spawnSandboxed(
          {
            tier: 'none',
            argv: ['true'],
            cwd: base,
            env: {},
            fsRead: [],
            fsWrite: [],
            net: [],
            limits: LIMITS,
          },
          { allowNone: false },
        ),
      (e: unknown) => e instanceof TierUnavailableError && e.tier === 'none',
    );
  });

  test('the process tier refuses network grants instead of ignoring them', () => {
    assert.throws(
      () =>
        spawnSandboxed(
          {
            tier: 'process',
            argv: ['true'],
            cwd: base,
            env: {},
            fsRead: [],
            fsWrite: [],
            net: [{ host: '127.0.0.1', port: 80 }],
            limits: LIMITS,
          },
          options,
        ),
      (e: unknown) => e instanceof TierUnavailableError && e.tier === 'process',
    );
  });
});

for (const tier of ['none', 'process', 'kernel'] as const) {
  if (!availableTiers(options).includes(tier)) continue;

  describe(`tier ${tier}: limits`, () => {
    test('a sleeping infinite loop is killed at the wall time', async () => {
      const r = await run(tier, ['sh', '-c', 'while true; do sleep 0.1; done'], {
        limits: { ...LIMITS, wall_seconds: 1 },
      });
      assert.equal(r.exit.reason, 'wall_time');
    });

    test('a CPU-bound loop is killed by the cpu limit, before the wall time', async () => {
      const r = await run(tier, ['sh', '-c', 'while :; do :; done'], {
        limits: { ...LIMITS, cpu_seconds: 1, wall_seconds: 30 },
      });
      assert.equal(r.exit.reason, 'exited', JSON.stringify(r));
      assert.ok(
        ['SIGKILL', 'SIGXCPU'].includes(r.exit.signal ?? '') ||
          [128 + 9, 128 + 24].includes(r.exit.code ?? 0),
        JSON.stringify(r.exit),
      );
    });

    test('a memory bomb is bounded by the address-space limit', async () => {
      const r = await run(tier, py('x = bytearray(1024 * 1024 * 1024)\nprint("allocated")'), {
        limits: { ...LIMITS, memory_bytes: 256 * 2 ** 20 },
      });
      assert.ok(!r.out.includes('allocated'), r.out);
      assert.match(r.err, /MemoryError/);
      assert.notEqual(r.exit.code, 0);
    });

    test('kill() ends the job and everything it spawned', async () => {
      const marker = `axle-kill-${randomUUID()}`;
      const p = spawnSandboxed(
        {
          tier,
          argv: ['sh', '-c', `sleep 300 & sleep 301 & wait # ${marker}`],
          cwd: dir('ws', 0o700, true),
          env: {},
          fsRead: [],
          fsWrite: [],
          net: [],
          limits: LIMITS,
        },
        options,
      );
      await new Promise((r) => setTimeout(r, 300));
      p.kill();
      const exit = await p.exited;
      assert.equal(exit.reason, 'killed');
      assert.ok(noProcessWith(marker));
    });
  });

  if (tier === 'none') continue;

  describe(`tier ${tier}: escape attempts`, () => {
    let secretDir: string;
    let secret: string;
    before(() => {
      // World-readable on purpose: what protects it is the sandbox, not file permissions.
      secretDir = dir('secret', 0o755);
      secret = path.join(secretDir, 'secret.txt');
      fs.writeFileSync(secret, 'host secret\n', { mode: 0o644 });
    });

    test('a host file outside the workspace cannot be read', async () => {
      const r = await run(tier, ['cat', secret]);
      assert.notEqual(r.exit.code, 0);
      assert.ok(!r.out.includes('host secret'));
    });

    test('nothing can be written outside the workspace, even in a world-writable directory', async () => {
      const open = dir('open', 0o777);
      const target = path.join(open, 'escaped.txt');
      const r = await run(tier, [
        'sh',
        '-c',
        `echo pwned > ${target}; echo pwned > ${secretDir}/x; echo done`,
      ]);
      assert.match(r.out, /done/);
      assert.equal(fs.existsSync(target), false);
      assert.equal(fs.existsSync(path.join(secretDir, 'x')), false);
    });

    test('the workspace is writable, a granted fs.read path readable (not writable), fs.write writable', async () => {
      const readable = dir('ro', 0o755);
      fs.writeFileSync(path.join(readable, 'data.txt'), 'granted data\n', { mode: 0o644 });
      const writable = dir('rw', 0o755, true);
      const r = await run(
        tier,
        [
          'sh',
          '-c',
          `echo ws > here.txt && cat here.txt && cat ${readable}/data.txt && echo out > ${writable}/out.txt && echo wrote; ` +
            `echo no > ${readable}/data.txt || echo ro-refused`,
        ],
        { fsRead: [readable], fsWrite: [writable] },
      );
      assert.match(r.out, /^ws\ngranted data\nwrote\nro-refused\n$/, r.out + r.err);
      assert.equal(fs.readFileSync(path.join(writable, 'out.txt'), 'utf8'), 'out\n');
      assert.equal(fs.readFileSync(path.join(readable, 'data.txt'), 'utf8'), 'granted data\n');
    });

    test('ptrace, mount and new user namespaces are refused by seccomp', async () => {
      const r = await run(
        tier,
        py(
          [
            'import ctypes',
            'libc = ctypes.CDLL(None, use_errno=True)',
            'print("traceme", libc.ptrace(0, 0, 0, 0), ctypes.get_errno())',
            'print("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())',
            'print("unshare", libc.unshare(0x10000000), ctypes.get_errno())',
            'print([l for l in open("/proc/self/status") if l.startswith("Seccomp:")][0].split()[1])',
          ].join('\n'),
        ),
      );
      assert.equal(r.out, 'traceme -1 1\nmount -1 1\nunshare -1 1\n2\n', r.err);
    });

    test('a fork bomb is bounded by max_processes and leaves nothing behind', async () => {
      const marker = `axle-bomb-${randomUUID()}`;
      const r = await run(
        tier,
        py(
          [
            `# ${marker}`,
            'import os, time',
            'n = 0',
            'try:',
            '    while n < 1000:',
            '        if os.fork() == 0:',
            '            time.sleep(60)',
            '            os._exit(0)',
            '        n += 1',
            'except OSError as e:',
            '    print("stopped", n)',
          ].join('\n'),
        ),
        { limits: { ...LIMITS, max_processes: 16 } },
      );
      const m = /stopped (\d+)/.exec(r.out);
      assert.ok(m, r.out + r.err);
      assert.ok(Number(m[1]) < 16);
      assert.ok(noProcessWith(marker), 'the forked children outlived the job');
    });

    describe('network', () => {
      let server: net.Server;
      let port: number;
      let connections = 0;
      before(async () => {
        server = net.createServer((s) => {
          connections++;
          s.end('hello from host\n');
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        port = (server.address() as net.AddressInfo).port;
      });
      after(() => new Promise<void>((r) => server.close(() => r())));

      const connect = () =>
        py(
          [
            'import socket',
            'try:',
            `    s = socket.create_connection(("127.0.0.1", ${port}), timeout=3)`,
            '    print(s.recv(100).decode().strip())',
            'except OSError as e:',
            '    print("refused", e.errno)',
          ].join('\n'),
        );

      test('a loopback TCP port of the host cannot be reached without a grant', async () => {
        const before = connections;
        const r = await run(tier, connect());
        assert.match(r.out, /^refused/, r.out + r.err);
        assert.equal(connections, before);
      });

      if (tier === 'kernel') {
        test('with a grant for that port it can; other ports and UDP stay closed', async () => {
          const r = await run(
            tier,
            [
              'sh',
              '-c',
              `${connect()
                .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
                .join(' ')}; ` +
                `python3 -c 'import socket\ntry:\n  socket.create_connection(("127.0.0.1", ${port === 65535 ? 1 : port + 1}), timeout=3)\n  print("other-open")\nexcept OSError as e:\n  print("other", e.errno)' ; ` +
                `python3 -c 'import socket\ntry:\n  socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n  print("udp-open")\nexcept OSError as e:\n  print("udp", e.errno)'`,
            ],
            { net: [{ host: '127.0.0.1', port }] },
          );
          assert.match(r.out, /^hello from host\nother 13\nudp 97\n$/, r.out + r.err);
        });
      }
    });
  });
}
