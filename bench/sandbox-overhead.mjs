// Benchmark (not a test): the cost of starting a job in each sandbox tier. Spawns `true` N times
// bare (a plain child_process.spawn) and through spawnSandboxed() in every tier this host offers,
// one at a time, and writes p50/p99 with the machine and date into docs/benchmarks.md (its own
// section, replaced on each run). `npm run bench:sandbox` builds first; `-- --runs 50` for fewer.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { probeSandboxHost, sandboxOwner, spawnSandboxed } = require(
  path.join(ROOT, 'dist/libs/sandbox/src/index.js'),
);

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 200;
const options = { allowNone: true };
const LIMITS = {
  cpu_seconds: 5,
  memory_bytes: 512 * 2 ** 20,
  wall_seconds: 10,
  output_bytes: 0,
  max_processes: 32,
};

const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'axle-bench-'));
fs.chmodSync(workspace, 0o755);
const owner = sandboxOwner(options);
if (owner) fs.chownSync(workspace, owner.uid, owner.gid);

function bare() {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`true exited ${code}`))));
  });
}

async function sandboxed(tier) {
  const p = spawnSandboxed(
    { tier, argv: ['true'], cwd: workspace, env: {}, fsRead: [], fsWrite: [], net: [], limits: LIMITS },
    options,
  );
  p.stdout.resume();
  let err = '';
  p.stderr.on('data', (d) => (err += d));
  const exit = await p.exited;
  if (exit.code !== 0) throw new Error(`tier ${tier}: ${JSON.stringify(exit)} ${err}`);
}

async function measure(label, once) {
  for (let i = 0; i < 5; i++) await once(); // warm up (page cache, probe, launcher build)
  const ms = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await once();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
  const row = { label, p50: at(0.5), p99: at(0.99) };
  console.log(`${label.padEnd(10)} p50 ${row.p50.toFixed(1)} ms  p99 ${row.p99.toFixed(1)} ms`);
  return row;
}

const host = probeSandboxHost(options);
const rows = [await measure('bare', bare)];
for (const tier of host.tiers) rows.push(await measure(tier, () => sandboxed(tier)));
fs.rmSync(workspace, { recursive: true, force: true });

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const machine = `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
const date = new Date().toISOString().slice(0, 10);
const section = [
  '## Sandbox overhead',
  '',
  `\`npm run bench:sandbox\`: spawning \`true\` ${RUNS} times, one at a time, bare (\`child_process.spawn\`)`,
  'and through `spawnSandboxed()` in each tier this host offers (see docs/exec.md "Sandbox tiers").',
  `Measured on ${date}, ${machine}, running as ${process.getuid?.() === 0 ? 'root' : 'a non-root user'};`,
  `Landlock ABI ${host.landlockAbi}. The machine is shared, so treat the numbers as orders of magnitude.`,
  '',
  '| Tier | p50 (ms) | p99 (ms) |',
  '| ---- | -------: | -------: |',
  ...rows.map((r) => `| ${r.label} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} |`),
  '',
].join('\n');

const file = path.join(ROOT, 'docs/benchmarks.md');
let doc = fs.existsSync(file)
  ? fs.readFileSync(file, 'utf8')
  : '# Benchmarks\n\nNumbers measured by the scripts in `bench/` (not tests: nothing asserts on them). Each\nbenchmark owns one section and rewrites only that section when it runs.\n\n';
const start = doc.indexOf('## Sandbox overhead');
if (start >= 0) {
  const next = doc.indexOf('\n## ', start + 1);
  doc = doc.slice(0, start) + section + (next >= 0 ? doc.slice(next + 1) : '');
} else doc = `${doc.trimEnd()}\n\n${section}`;
fs.writeFileSync(file, doc);
console.log(`wrote ${path.relative(ROOT, file)}`);
