// Benchmark 6: job log relay. An exec job (tier none: AXLE_EXEC_ALLOW_NONE=true in the bench
// stack) writes N bytes to stdout; we attach from the start and count and hash every byte until
// the exit frame. MB/s = bytes / (job created → exit frame), plus first byte → exit frame; zero
// lost means the byte count and SHA-256 equal those of the expected output. Goal ≥ 50 MB/s.
import { createHash } from 'node:crypto';
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

const session = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/exec/sessions', {
  sandbox_tier: 'none',
  capabilities: ['proc.spawn'],
});
const t0 = process.hrtime.bigint();
const job = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/exec/jobs', {
  session_id: session.session_id,
  cap_token: session.cap_token,
  language: 'sh',
  code: `yes '${LINE}' | head -c ${BYTES}`,
});
const hash = createHash('sha256');
let bytes = 0;
let frames = 0;
let firstByte = null;
let exit = null;
const attach = await openSse(
  `${ctx.baseUrl}/v1/exec/jobs/${job.job_id}/attach?cap_token=${session.cap_token}`,
  { 'x-api-key': ctx.key },
  (f) => {
    const d = JSON.parse(f.data);
    if (f.event === 'log' && d.stream === 'stdout') {
      const buf = d.data_b64 !== undefined ? Buffer.from(d.data_b64, 'base64') : Buffer.from(d.data, 'utf8');
      firstByte ??= process.hrtime.bigint();
      hash.update(buf);
      bytes += buf.length;
      frames++;
    } else if (f.event === 'exit') exit = d;
  },
);
await attach.done;
const end = process.hrtime.bigint();
const total = Number(end - t0) / 1e9;
const streaming = firstByte ? Number(end - firstByte) / 1e9 : null;
const mbps = Math.round((bytes / 2 ** 20 / total) * 10) / 10;
const mbpsStreaming = streaming ? Math.round((bytes / 2 ** 20 / streaming) * 10) / 10 : null;
const intact = bytes === BYTES && hash.digest('hex') === expectedHash();
console.log(
  `logs: ${bytes} of ${BYTES} bytes in ${frames} frames, ${mbps} MB/s (${mbpsStreaming} from the first byte), intact ${intact}, exit ${JSON.stringify(exit)}`,
);
emitResult({
  rows: [
    row(`relay MiB/s (${BYTES / 2 ** 20} MiB, create → exit)`, mbps, 'MiB/s', 50, '>='),
    row('relay MiB/s (first byte → exit)', mbpsStreaming, 'MiB/s'),
    row('bytes lost or changed', intact ? 0 : BYTES - bytes || 1, '', 0, '<='),
  ],
  raw: {
    bytes_expected: BYTES,
    bytes,
    frames,
    seconds_total: total,
    seconds_streaming: streaming,
    intact,
    exit,
  },
  notes: [
    `${frames} log frames (≈${Math.round(bytes / Math.max(frames, 1))} B each); job ${exit?.status ?? 'no exit frame'}`,
  ],
});
