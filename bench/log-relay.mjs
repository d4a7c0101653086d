// Benchmark 6: job log relay. An exec job (tier none: AXLE_EXEC_ALLOW_NONE=true in the bench
// stack) writes N bytes to stdout; we attach from the start and count and hash every byte until
// the exit frame. MB/s = bytes / (job created → exit frame), plus first byte → exit frame; zero
// lost means the byte count and SHA-256 equal those of the expected output. Goal ≥ 50 MB/s.
// Also the CPU seconds the gateway, the runner and this client spent meanwhile (from /proc): a
// cost per MiB that depends much less on the neighbours' load than the rate does. A 1 MiB job
// runs first, unmeasured, to warm the fresh processes up.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { api200, benchContext, emitResult, openSse } from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const BYTES = (ctx.quick ? 20 : 100) * 2 ** 20;
const LINE = 'axle log relay benchmark 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

function expectedHash() {
  const line = Buffer.from(`${LINE}\n`);
  const block = Buffer.concat(Array.from({ length: Math.ceil(65536 / line.length) }, () => line));
  const hash = createHash('sha256');
  let left = BYTES;
  let offset = 0; // position within the repeating line pattern
  while (left > 0) {
    const start = offset % line.length;
    const take = Math.min(left, block.length - start);
    hash.update(block.subarray(start, start + take));
    left -= take;
    offset += take;
  }
  return hash.digest('hex');
}

/** utime + stime of a process in seconds (Linux), or null. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}
const cpuOf = () => ({
  gateway: cpuSeconds(ctx.gatewayPid),
  runner: ctx.runnerPid ? cpuSeconds(ctx.runnerPid) : null,
  client: process.cpuUsage(),
});
const round2 = (n) => Math.round(n * 100) / 100;
const spent = (before, after) => ({
  gateway: before.gateway === null || after.gateway === null ? null : round2(after.gateway - before.gateway),
  runner: before.runner === null || after.runner === null ? null : round2(after.runner - before.runner),
  client: round2((after.client.user + after.client.system - before.client.user - before.client.system) / 1e6),
});

const session = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/exec/sessions', {
  sandbox_tier: 'none',
  capabilities: ['proc.spawn'],
});
const startJob = (size) =>
  api200(ctx.baseUrl, ctx.key, 'POST', '/v1/exec/jobs', {
    session_id: session.session_id,
    cap_token: session.cap_token,
    language: 'sh',
    code: `yes '${LINE}' | head -c ${size}`,
  });
const attachTo = (jobId, onFrame) =>
  openSse(
    `${ctx.baseUrl}/v1/exec/jobs/${jobId}/attach?cap_token=${session.cap_token}`,
    { 'x-api-key': ctx.key },
    onFrame,
  );

// Warm-up (not measured): a 1 MiB job through the same path, so the first-use costs of the fresh
// processes (JIT, Prisma's query compilation of the runner's first queries) stay out of the figure.
const warm = await startJob(2 ** 20);
const warmAttach = await attachTo(warm.job_id, () => undefined);
await warmAttach.done;

const cpu0 = cpuOf();
const t0 = process.hrtime.bigint();
const job = await startJob(BYTES);
const hash = createHash('sha256');
let bytes = 0;
let frames = 0;
let firstByte = null;
let exit = null;
const attach = await attachTo(job.job_id, (f) => {
  const d = JSON.parse(f.data);
  if (f.event === 'log' && d.stream === 'stdout') {
    const buf = d.data_b64 !== undefined ? Buffer.from(d.data_b64, 'base64') : Buffer.from(d.data, 'utf8');
    firstByte ??= process.hrtime.bigint();
    hash.update(buf);
    bytes += buf.length;
    frames++;
  } else if (f.event === 'exit') exit = d;
});
await attach.done;
const end = process.hrtime.bigint();
const cpu = spent(cpu0, cpuOf());
const total = Number(end - t0) / 1e9;
const streaming = firstByte ? Number(end - firstByte) / 1e9 : null;
const mbps = Math.round((bytes / 2 ** 20 / total) * 10) / 10;
const mbpsStreaming = streaming ? Math.round((bytes / 2 ** 20 / streaming) * 10) / 10 : null;
/** CPU seconds scaled to 100 MiB relayed. */
const per100 = (seconds) => (bytes > 0 ? round2((seconds * 100 * 2 ** 20) / bytes) : null);
const intact = bytes === BYTES && hash.digest('hex') === expectedHash();
console.log(
  `logs: ${bytes} of ${BYTES} bytes in ${frames} frames, ${mbps} MB/s (${mbpsStreaming} from the first byte), intact ${intact}, exit ${JSON.stringify(exit)}, CPU seconds ${JSON.stringify(cpu)}`,
);
emitResult({
  rows: [
    row(`relay MiB/s (${BYTES / 2 ** 20} MiB, create → exit)`, mbps, 'MiB/s', 50, '>='),
    row('relay MiB/s (first byte → exit)', mbpsStreaming, 'MiB/s'),
    row('bytes lost or changed', intact ? 0 : BYTES - bytes || 1, '', 0, '<='),
    row('CPU s per 100 MiB: gateway', cpu.gateway === null ? null : per100(cpu.gateway), 's'),
    row('CPU s per 100 MiB: runner', cpu.runner === null ? null : per100(cpu.runner), 's'),
    row('CPU s per 100 MiB: client (parse + hash)', per100(cpu.client), 's'),
  ],
  raw: {
    bytes_expected: BYTES,
    bytes,
    frames,
    seconds_total: total,
    seconds_streaming: streaming,
    intact,
    exit,
    cpu_seconds: cpu,
  },
  notes: [
    `${frames} log frames (≈${Math.round(bytes / Math.max(frames, 1))} B each); job ${exit?.status ?? 'no exit frame'}`,
  ],
});
