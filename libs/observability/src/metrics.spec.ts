import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  axleMetrics,
  BoundedLabelValues,
  boundedLabel,
  initMetrics,
  LABEL_VALUE_LIMIT,
  METRICS_BY_PROCESS,
  OTHER_LABEL_VALUE,
  scrapeMetrics,
  secondsSince,
  setScrapeSources,
} from './metrics';
import { axleVersion } from './version';

type Described = { name: string; type: string; labelNames: string[] };

async function describeAll(): Promise<Described[]> {
  return Promise.all(
    Object.values(axleMetrics).map(async (metric) => {
      const { name, type } = await metric.get();
      const labelNames = (metric as unknown as { labelNames: string[] }).labelNames;
      return { name, type: String(type), labelNames };
    }),
  );
}

/** The names fixed for issue #7 (docs/metrics.md, the alerts and dashboards use them). */
const FIXED = {
  axle_build_info: ['version', 'app'],
  axle_http_request_duration_seconds: ['method', 'route', 'status_code'],
  axle_intents_created_total: ['intent_type'],
  axle_event_delivery_lag_seconds: ['stream'],
  axle_sse_streams_open: ['stream'],
  axle_human_tasks_waiting: [],
  axle_queue_jobs: ['queue', 'state'],
  axle_intents_terminal_total: ['status', 'intent_type'],
  axle_delivery_attempts_total: ['binding'],
  axle_delivery_failures_total: ['binding', 'reason'],
  axle_worker_cached_workflows: [],
  axle_exec_jobs_total: ['status'],
  axle_exec_job_duration_seconds: ['status'],
};

describe('Axle metric names', () => {
  test('are exactly the fixed catalog, with its labels', async () => {
    const all = await describeAll();
    assert.deepEqual(Object.fromEntries(all.map((m) => [m.name, m.labelNames])), FIXED);
  });

  test('follow Prometheus conventions: axle_ prefix, snake_case, _total counters, _seconds durations', async () => {
    for (const m of await describeAll()) {
      assert.match(m.name, /^axle_[a-z][a-z0-9]*(_[a-z0-9]+)*$/, m.name);
      if (m.type === 'counter') assert.match(m.name, /_total$/, `${m.name} is a counter`);
      else assert.doesNotMatch(m.name, /_total$/, `${m.name} is a ${m.type}, not a counter`);
      if (/duration|lag|latency|time/.test(m.name)) assert.match(m.name, /_seconds$/, m.name);
      if (m.type === 'histogram') assert.match(m.name, /_seconds$/, `${m.name}: histograms here are times`);
      for (const label of m.labelNames) {
        assert.match(label, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, `${m.name}{${label}}`);
        assert.ok(!label.startsWith('__'), `${label} is reserved`);
        // Tenant data never becomes a label.
        assert.doesNotMatch(label, /org|workspace|address|agent|intent_id|user|email/, `${m.name}{${label}}`);
      }
    }
  });

  test('every metric is served by some process; the process lists name only real metrics', () => {
    const served = new Set(Object.values(METRICS_BY_PROCESS).flat());
    assert.deepEqual([...served].sort(), Object.keys(axleMetrics).sort());
    for (const list of Object.values(METRICS_BY_PROCESS)) assert.ok(list.includes('buildInfo'));
  });
});

describe('bounded labels', () => {
  test(`cap at ${LABEL_VALUE_LIMIT} distinct values per label, then "${OTHER_LABEL_VALUE}"`, () => {
    const label = `spec_${Date.now()}`;
    for (let i = 0; i < LABEL_VALUE_LIMIT; i++)
      assert.equal(boundedLabel(label, `type.${i}.v1`), `type.${i}.v1`);
    assert.equal(boundedLabel(label, 'type.new.v1'), OTHER_LABEL_VALUE);
    assert.equal(boundedLabel(label, 'another.v1'), OTHER_LABEL_VALUE);
    // Values seen before the cap keep their own series.
    assert.equal(boundedLabel(label, 'type.0.v1'), 'type.0.v1');
    assert.equal(boundedLabel(label, `type.${LABEL_VALUE_LIMIT - 1}.v1`), `type.${LABEL_VALUE_LIMIT - 1}.v1`);
    // Each label has its own budget.
    assert.equal(boundedLabel(`${label}_other`, 'type.new.v1'), 'type.new.v1');
  });

  test('empty values become "unknown" and long ones are cut, all within the cap', () => {
    const values = new BoundedLabelValues(3);
    assert.equal(values.of(''), 'unknown');
    assert.equal(values.of(null), 'unknown');
    assert.equal(values.of('x'.repeat(500)), 'x'.repeat(128));
    assert.equal(values.of('a'), 'a');
    assert.equal(values.size, 3);
    assert.equal(values.of('b'), OTHER_LABEL_VALUE);
    assert.equal(values.size, 3);
  });
});

describe('registry', () => {
  test('initMetrics is idempotent and serves build info, Node defaults and the process metrics', async () => {
    initMetrics('gateway', '9.9.9');
    initMetrics('gateway', '9.9.9');
    initMetrics('worker', '9.9.9');
    const { contentType, body } = await scrapeMetrics();
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.match(body, /^axle_build_info\{version="9\.9\.9",app="gateway"\} 1$/m);
    assert.match(body, /^axle_build_info\{version="9\.9\.9",app="worker"\} 1$/m);
    assert.match(body, /^process_cpu_user_seconds_total /m);
    assert.match(body, /^nodejs_heap_size_used_bytes /m);
    assert.match(body, /^# TYPE axle_http_request_duration_seconds histogram$/m);
    assert.match(body, /^# TYPE axle_intents_terminal_total counter$/m);
    // Runner metrics were not registered by these processes.
    assert.doesNotMatch(body, /axle_exec_jobs_total/);
  });

  test("the worker serves its sticky cache's size, read at scrape time", async () => {
    initMetrics('worker', '9.9.9');
    let cached = 12;
    setScrapeSources({ cachedWorkflows: () => Promise.resolve(cached) });
    assert.match((await scrapeMetrics()).body, /^axle_worker_cached_workflows 12$/m);
    cached = 3;
    assert.match((await scrapeMetrics()).body, /^axle_worker_cached_workflows 3$/m);
  });

  test(
    'scrape-time gauges: a value when the source answers, the last one when it fails or hangs',
    {
      timeout: 20_000,
    },
    async () => {
      initMetrics('gateway', '9.9.9');
      setScrapeSources({
        humanTasksWaiting: () => Promise.resolve(7),
        queueJobs: () => Promise.resolve({ q1: { waiting: 3, active: 1 } }),
      });
      let body = (await scrapeMetrics()).body;
      assert.match(body, /^axle_human_tasks_waiting 7$/m);
      assert.match(body, /^axle_queue_jobs\{queue="q1",state="waiting"\} 3$/m);
      assert.match(body, /^axle_queue_jobs\{queue="q1",state="active"\} 1$/m);
      assert.match(body, /^axle_queue_jobs\{queue="q1",state="delayed"\} 0$/m);
      assert.match(body, /^axle_queue_jobs\{queue="q1",state="failed"\} 0$/m);

      // A database that fails and a Redis that never answers: the scrape still completes.
      let calls = 0;
      setScrapeSources({
        humanTasksWaiting: () => Promise.reject(new Error('postgres is unavailable')),
        queueJobs: () => {
          calls++;
          return new Promise(() => undefined);
        },
      });
      body = (await scrapeMetrics()).body;
      assert.match(body, /^axle_human_tasks_waiting 7$/m);
      assert.match(body, /^axle_queue_jobs\{queue="q1",state="waiting"\} 3$/m);
      // A second scrape reuses the read still in flight instead of starting another.
      body = (await scrapeMetrics()).body;
      assert.equal(calls, 1);
      assert.match(body, /^axle_build_info/m);
    },
  );

  test('axleVersion reads the repository package.json', () => {
    assert.match(axleVersion(), /^\d+\.\d+\.\d+/);
  });

  test('secondsSince never goes negative', () => {
    assert.equal(secondsSince(2_000, 1_000), 0);
    assert.equal(secondsSince(new Date(1_000), 3_500), 2.5);
  });
});
