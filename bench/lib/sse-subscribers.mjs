// A load-generator process for the SSE fan-out benchmark: opens COUNT streams to URL (headers from
// HEADERS, JSON), OPEN_CONCURRENCY at a time, and counts the frames named EVENT_PREFIX*. Each
// frame's data carries `at` (ISO time or epoch ms); the delivery latency is receipt − at, wall
// clock (same machine). IPC: sends {type:'open', ...} once every stream is open, answers
// {type:'report'} with {type:'report', deliveries, latency_ms, first_at, last_receipt, failed}.
import { openSse, summarize } from './common.mjs';
import http from 'node:http';

const { URL: url, COUNT, HEADERS, EVENT_PREFIX, OPEN_CONCURRENCY } = process.env;
const count = Number(COUNT);
const headers = JSON.parse(HEADERS ?? '{}');
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const latencies = [];
let deliveries = 0;
let firstAt = Infinity;
let lastReceipt = 0;
let failed = 0;
const streams = [];

function onFrame(f) {
  if (!f.event.startsWith(EVENT_PREFIX)) return;
  const now = Date.now();
  const data = JSON.parse(f.data);
  const at = typeof data.at === 'number' ? data.at : Date.parse(data.at);
  deliveries++;
  latencies.push(now - at);
  if (at < firstAt) firstAt = at;
  if (now > lastReceipt) lastReceipt = now;
}

const t0 = Date.now();
let opened = 0;
await Promise.all(
  Array.from({ length: Number(OPEN_CONCURRENCY ?? 100) }, async () => {
    while (opened + failed < count) {
      opened++;
      try {
        streams.push(await openSse(url, headers, onFrame, agent));
      } catch (err) {
        opened--;
        failed++;
        if (failed <= 3) console.error(`subscriber: ${err.message}`);
      }
    }
  }),
);
process.send({ type: 'open', opened, failed, open_ms: Date.now() - t0 });

process.on('message', (m) => {
  if (m.type === 'report') {
    process.send({
      type: 'report',
      deliveries,
      latency_ms: summarize(latencies),
      first_at: firstAt,
      last_receipt: lastReceipt,
      failed,
    });
  } else if (m.type === 'close') {
    for (const s of streams) s.close();
    setTimeout(() => process.exit(0), 200);
  }
});
