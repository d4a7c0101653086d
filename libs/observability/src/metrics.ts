// Prometheus metrics (docs/metrics.md). Every Axle metric is defined here, once; each process
// registers the ones it produces into its one Registry (initMetrics) and serves them on /metrics
// (scrapeMetrics). Label values that come from users go through boundedLabel.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { axleVersion } from './version';

export type AxleProcess = 'gateway' | 'worker' | 'runner';

/** At most this many distinct values per label per process; later ones become OTHER_LABEL_VALUE. */
export const LABEL_VALUE_LIMIT = 100;
export const OTHER_LABEL_VALUE = 'other';
/** A collect that reads PostgreSQL or Redis at scrape time gives up after this long. */
export const SCRAPE_COLLECT_TIMEOUT_MS = 1_000;

/** The four SSE streams of the gateway (the `stream` label). */
export const SSE_STREAM_KINDS = ['intent_events', 'agent', 'session_feed', 'exec_attach'] as const;
export type SseStreamKind = (typeof SSE_STREAM_KINDS)[number];

/** BullMQ job states reported by axle_queue_jobs. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

/** Why a delivery attempt failed (the `reason` label): a fixed set, never an error message. */
export const DELIVERY_FAILURE_REASONS = [
  'http_4xx',
  'http_5xx',
  'http_other',
  'timeout',
  'unreachable',
  'circuit_open',
  'egress_refused',
  'store_error',
] as const;
export type DeliveryFailureReason = (typeof DELIVERY_FAILURE_REASONS)[number];

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];
const JOB_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600];

/** Values read at scrape time, supplied by the process that owns the dependency (the gateway). */
export type ScrapeSources = {
  /** Open human tasks across all orgs. */
  humanTasksWaiting?: () => Promise<number>;
  /** Job counts per queue name and state. */
  queueJobs?: () => Promise<Record<string, Partial<Record<QueueJobState, number>>>>;
  /** Workflow executions held in the Temporal worker's sticky cache (the worker). */
  cachedWorkflows?: () => Promise<number>;
};
const sources: ScrapeSources = {};
const inFlight = new Map<keyof ScrapeSources, Promise<{ ok: true; value: unknown } | { ok: false }>>();

/**
 * Runs a scrape source with a time box: a dependency that is down or slow leaves the gauge as it
 * was (never a failed or hung scrape). A read still running from an earlier scrape is reused, so
 * scrapes during an outage do not pile up queries.
 */
async function readSource<K extends keyof ScrapeSources>(
  key: K,
): Promise<Awaited<ReturnType<NonNullable<ScrapeSources[K]>>> | undefined> {
  const source = sources[key];
  if (!source) return undefined;
  let running = inFlight.get(key);
  if (!running) {
    running = source().then(
      (value: unknown) => ({ ok: true as const, value }),
      () => ({ ok: false as const }),
    );
    inFlight.set(key, running);
    void running.finally(() => inFlight.delete(key));
  }
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    running,
    new Promise<{ ok: false }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false }), SCRAPE_COLLECT_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  return result.ok ? (result.value as Awaited<ReturnType<NonNullable<ScrapeSources[K]>>>) : undefined;
}

function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter<L>({ name, help, labelNames, registers: [] });
}

function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): Histogram<L> {
  return new Histogram<L>({ name, help, labelNames, buckets, registers: [] });
}

const humanTasksWaiting: Gauge = new Gauge({
  name: 'axle_human_tasks_waiting',
  help: 'Open human tasks (all orgs), read from PostgreSQL at scrape time.',
  registers: [],
  async collect() {
    const value = await readSource('humanTasksWaiting');
    if (value !== undefined) humanTasksWaiting.set(value);
  },
});

const queueJobs: Gauge<'queue' | 'state'> = new Gauge({
  name: 'axle_queue_jobs',
  help: 'Jobs in a BullMQ queue by state, read from Redis at scrape time.',
  labelNames: ['queue', 'state'] as const,
  registers: [],
  async collect() {
    const value = await readSource('queueJobs');
    if (!value) return;
    for (const [queue, counts] of Object.entries(value))
      for (const state of QUEUE_JOB_STATES) queueJobs.set({ queue, state }, counts[state] ?? 0);
  },
});

const workerCachedWorkflows: Gauge = new Gauge({
  name: 'axle_worker_cached_workflows',
  help: "Workflow executions in the Temporal worker's sticky cache (bounded by AXLE_WORKER_MAX_CACHED_WORKFLOWS).",
  registers: [],
  async collect() {
    const value = await readSource('cachedWorkflows');
    if (value !== undefined) workerCachedWorkflows.set(value);
  },
});

/** Every Axle metric (the names are fixed: docs/metrics.md, alerts and dashboards use them). */
export const axleMetrics = {
  buildInfo: new Gauge<'version' | 'app'>({
    name: 'axle_build_info',
    help: 'Always 1; the labels say which Axle version and app this process is.',
    labelNames: ['version', 'app'] as const,
    registers: [],
  }),
  // gateway
  httpRequestDuration: histogram(
    'axle_http_request_duration_seconds',
    'Gateway HTTP request latency by route pattern (SSE streams and /metrics are not counted).',
    ['method', 'route', 'status_code'] as const,
    HTTP_BUCKETS,
  ),
  intentsCreated: counter(
    'axle_intents_created_total',
    'Intents created through the gateway (idempotent replays are not counted).',
    ['intent_type'] as const,
  ),
  eventDeliveryLag: histogram(
    'axle_event_delivery_lag_seconds',
    'Time from an event being recorded to its SSE frame being written to a client.',
    ['stream'] as const,
    LAG_BUCKETS,
  ),
  sseStreamsOpen: new Gauge<'stream'>({
    name: 'axle_sse_streams_open',
    help: 'SSE streams currently open on this gateway.',
    labelNames: ['stream'] as const,
    registers: [],
  }),
  humanTasksWaiting,
  queueJobs,
  // worker
  workerCachedWorkflows,
  intentsTerminal: counter(
    'axle_intents_terminal_total',
    'Intents that reached a terminal status (counted once per intent).',
    ['status', 'intent_type'] as const,
  ),
  deliveryAttempts: counter(
    'axle_delivery_attempts_total',
    'Attempts to deliver an intent to its handler, by delivery binding.',
    ['binding'] as const,
  ),
  deliveryFailures: counter(
    'axle_delivery_failures_total',
    'Delivery attempts that failed, by binding and reason.',
    ['binding', 'reason'] as const,
  ),
  // runner
  execJobs: counter('axle_exec_jobs_total', 'Exec jobs this runner ended, by final status.', [
    'status',
  ] as const),
  execJobDuration: histogram(
    'axle_exec_job_duration_seconds',
    'Exec job run time (first start to end) by final status.',
    ['status'] as const,
    JOB_BUCKETS,
  ),
};

export type AxleMetrics = typeof axleMetrics;
export type AxleMetricKey = keyof AxleMetrics;

/** Which process serves which metric (every process also has build info and the Node defaults). */
export const METRICS_BY_PROCESS: Record<AxleProcess, readonly AxleMetricKey[]> = {
  gateway: [
    'buildInfo',
    'httpRequestDuration',
    'intentsCreated',
    'deliveryAttempts',
    'deliveryFailures',
    'eventDeliveryLag',
    'sseStreamsOpen',
    'humanTasksWaiting',
    'queueJobs',
  ],
  worker: ['buildInfo', 'intentsTerminal', 'deliveryAttempts', 'deliveryFailures', 'workerCachedWorkflows'],
  runner: ['buildInfo', 'execJobs', 'execJobDuration'],
};

const registry = new Registry();
let defaultsCollected = false;

/**
 * Sets up this process's registry: Node/process default metrics, axle_build_info and the process's
 * own metrics. Safe to call more than once (tests build several apps in one process).
 */
export function initMetrics(app: AxleProcess, version: string = axleVersion()): Registry {
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: registry });
    defaultsCollected = true;
  }
  for (const key of METRICS_BY_PROCESS[app]) registry.registerMetric<string>(axleMetrics[key]);
  axleMetrics.buildInfo.set({ version, app }, 1);
  return registry;
}

/** Supplies (or replaces) the scrape-time readers of the gateway's dependency gauges. */
export function setScrapeSources(next: ScrapeSources): void {
  Object.assign(sources, next);
}

/** The text exposition of this process's registry, with its content type. */
export async function scrapeMetrics(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/** Caps the distinct values one label takes in this process. */
export class BoundedLabelValues {
  private readonly seen = new Set<string>();
  constructor(readonly limit: number = LABEL_VALUE_LIMIT) {}

  of(value: string | null | undefined): string {
    const v = value ? value.slice(0, 128) : 'unknown';
    if (this.seen.has(v)) return v;
    if (this.seen.size >= this.limit) return OTHER_LABEL_VALUE;
    this.seen.add(v);
    return v;
  }

  get size(): number {
    return this.seen.size;
  }
}

const bounded = new Map<string, BoundedLabelValues>();

/** The label value to use for a user-supplied `value` of `label`: itself, or `other` past the cap. */
export function boundedLabel(label: string, value: string | null | undefined): string {
  let values = bounded.get(label);
  if (!values) bounded.set(label, (values = new BoundedLabelValues()));
  return values.of(value);
}

/** Seconds since `start` (a Date or epoch ms), never negative (clocks of two hosts may disagree). */
export function secondsSince(start: Date | number, now: number = Date.now()): number {
  const ms = typeof start === 'number' ? start : start.getTime();
  return Math.max(0, (now - ms) / 1000);
}
