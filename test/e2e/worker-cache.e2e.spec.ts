// The worker's sticky workflow cache is bounded by AXLE_WORKER_MAX_CACHED_WORKFLOWS (issue #8: the
// soak found the worker's memory unbounded; Temporal's own default grows with the V8 heap limit, to
// thousands of executions on a large host). Real gateway and worker processes: more intents wait
// for their agent than the cache holds, the worker's /metrics shows the cache at its bound, and
// every evicted intent still completes (its next task replays its history).
import { apiClient, AxleProcesses, TEST_ADMIN_KEY, until } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

const CACHE = 2;
const WAITING = 6;
const AGENT = 'agent://default/default/cache-e2e';

let axle: AxleProcesses;
let api: ReturnType<typeof apiClient>;

async function cachedWorkflows(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${axle.env.AXLE_WORKER_HEALTH_PORT}/metrics`);
  assert.equal(res.status, 200);
  const m = /^axle_worker_cached_workflows (\d+)$/m.exec(await res.text());
  assert.ok(m, 'the worker serves axle_worker_cached_workflows');
  return Number(m[1]);
}

describe('worker sticky cache bound', () => {
  before(async () => {
    axle = await AxleProcesses.create({ AXLE_WORKER_MAX_CACHED_WORKFLOWS: String(CACHE) });
    api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    await axle.startAll(['gateway', 'worker']);
  });
  after(() => axle.stopAll());

  test('more waiting intents than the cache holds: the cache stays at its bound and all complete', async () => {
    const ids: string[] = [];
    for (let i = 0; i < WAITING; i++) {
      const res = await api('POST', '/v1/intents', {
        body: {
          intent_type: 'ops.cache.v1',
          correlation_id: randomUUID(),
          to_agent: AGENT,
          payload: { i },
        },
      });
      assert.equal(res.status, 200, res.text);
      ids.push(res.body.intent_id as string);
    }
    for (const id of ids)
      await until(`${id} DELIVERED`, async () => {
        const res = await api('GET', `/v1/intents/${id}`);
        return (res.body.intent as { status?: string }).status === 'DELIVERED' ? true : undefined;
      });

    // Six workflows wait for their agent; the worker keeps at most two of them in memory.
    const cached = await cachedWorkflows();
    assert.ok(cached >= 1 && cached <= CACHE, `cached workflows: ${cached} (bound ${CACHE})`);

    // Evicted ones replay on their next task and complete like the others.
    for (const [i, id] of ids.entries()) {
      const res = await api('POST', `/v1/intents/${id}/resume?owner_agent=${encodeURIComponent(AGENT)}`, {
        body: { action: 'complete', result: { i } },
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.status, 'COMPLETED');
    }
    for (const [i, id] of ids.entries()) {
      const res = await api('GET', `/v1/intents/${id}`);
      const intent = res.body.intent as { status?: string; result?: unknown };
      assert.equal(intent.status, 'COMPLETED');
      assert.deepEqual(intent.result, { i });
    }
    assert.ok((await cachedWorkflows()) <= CACHE);
  });
});
