// Benchmark 3: the agent round trip, N times one after another: a client sends an intent
// (POST /v1/intents) and waits for it (its event stream, follow=true, until a terminal event, as
// the SDKs' wait_for does); an agent listening on its delivery stream (follow=true) resumes it with
// `complete` as soon as it arrives. Time from send to the client seeing COMPLETED. Goal: p50 ≤ 60 ms.
import {
  api,
  api200,
  benchContext,
  emitResult,
  ensureAgent,
  intentBody,
  msSince,
  openSse,
  summarize,
} from './lib/common.mjs';
import { row } from './lib/report.mjs';

const ctx = benchContext();
const N = ctx.quick ? 20 : 100;
const WARMUP = 5;
const name = `bench-rt-${process.pid}`;
const agent = await ensureAgent(ctx, name);
const headers = { 'x-api-key': ctx.key };
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELED', 'TIMED_OUT']);

// The agent: follows its delivery stream and resumes every intent it is handed.
const delivered = new Map(); // intent id → ms (hrtime) when the agent saw it
const resumed = new Map();
const resumes = new Map(); // intent id → the resume request (awaited before the sample is taken)
const listen = await openSse(
  `${ctx.baseUrl}/v1/agents/default/default/${name}/intents/stream?since=0&follow=true`,
  headers,
  (f) => {
    if (f.event !== 'intent.delivered') return;
    const id = JSON.parse(f.data).intent_id;
    delivered.set(id, process.hrtime.bigint());
    const answered = api(
      ctx.baseUrl,
      ctx.key,
      'POST',
      `/v1/intents/${id}/resume?owner_agent=${encodeURIComponent(agent)}`,
      {
        action: 'complete',
        result: { ok: true },
      },
    ).then((res) => {
      resumed.set(id, process.hrtime.bigint());
      if (res.status !== 200) console.error(`resume ${id} → ${res.status} ${res.text.slice(0, 200)}`);
    });
    resumes.set(id, answered);
  },
);

async function roundTrip() {
  const t0 = process.hrtime.bigint();
  const { intent_id: id } = await api200(ctx.baseUrl, ctx.key, 'POST', '/v1/intents', intentBody(agent));
  const sent = msSince(t0);
  let status = null;
  const wait = await openSse(
    `${ctx.baseUrl}/v1/intents/${id}/events/stream?since=0&follow=true`,
    headers,
    (f) => {
      const s = JSON.parse(f.data).status;
      if (TERMINAL.has(s)) status = s;
    },
  );
  await wait.done;
  const total = msSince(t0);
  await resumes.get(id);
  if (status !== 'COMPLETED') throw new Error(`intent ${id} ended ${status}`);
  const toMs = (t) => (t ? Number(t - t0) / 1e6 : null);
  return { total, sent, delivered: toMs(delivered.get(id)), resumed: toMs(resumed.get(id)) };
}

for (let i = 0; i < WARMUP; i++) await roundTrip();
const samples = [];
for (let i = 0; i < N; i++) samples.push(await roundTrip());
listen.close();

const total = summarize(samples.map((s) => s.total));
const phases = {
  send_answered: summarize(samples.map((s) => s.sent)),
  agent_received: summarize(samples.map((s) => s.delivered).filter((v) => v !== null)),
  resume_answered: summarize(samples.map((s) => s.resumed).filter((v) => v !== null)),
};
console.log(`roundtrip: ${N} sequential, p50 ${total.p50} ms, p99 ${total.p99} ms`);
emitResult({
  rows: [row('round trip p50', total.p50, 'ms', 60, '<='), row('round trip p99', total.p99, 'ms')],
  raw: { n: N, total_ms: total, phases_ms_since_send: phases },
  notes: [
    `${N} sequential round trips; p50 milestones after send: create answered ${phases.send_answered.p50} ms, agent has it ${phases.agent_received.p50} ms, resume answered ${phases.resume_answered.p50} ms, client sees COMPLETED ${total.p50} ms`,
  ],
});
