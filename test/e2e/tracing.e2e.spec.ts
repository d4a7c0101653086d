// OpenTelemetry tracing end to end (docs/tracing.md): real gateway, worker and runner exporting
// OTLP/HTTP JSON to a local collector stand-in (a node:http server collecting POST /v1/traces, the
// one true external edge). A caller's `traceparent` is continued by the gateway's server span, the
// Temporal client span, the workflow and activity spans in the worker and the runner's `exec.job`
// span; worker log lines carry the intent id. With exporter `none` nothing is exported.
import { PrismaService } from '@axle/data';
import { apiClient, AxleProcesses, registerTestAgent, requireEnv, TEST_ADMIN_KEY } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

type OtlpValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
type OtlpAttribute = { key: string; value: OtlpValue };
type OtlpSpan = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
};
type OtlpRequest = {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
};
type ReceivedSpan = OtlpSpan & { service: string; attrs: Record<string, string | number | boolean> };

/** A minimal OTLP/HTTP JSON collector: keeps every span it is sent, with its service name. */
class OtlpSink {
  readonly spans: ReceivedSpan[] = [];
  readonly requests: { path: string; contentType: string }[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpSink> {
    let sink: OtlpSink | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        sink?.receive(req.url ?? '', String(req.headers['content-type']), Buffer.concat(chunks).toString());
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sink = new OtlpSink(server);
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private receive(path: string, contentType: string, body: string) {
    this.requests.push({ path, contentType });
    if (path !== '/v1/traces') return;
    const request = JSON.parse(body) as OtlpRequest;
    for (const resourceSpans of request.resourceSpans ?? []) {
      const service = String(valueOf(resourceSpans.resource?.attributes, 'service.name'));
      for (const scope of resourceSpans.scopeSpans ?? [])
        for (const span of scope.spans ?? [])
          this.spans.push({ ...span, service, attrs: attributesOf(span.attributes) });
    }
  }

  /** Waits until a span matching `match` arrived (spans are batched every OTEL_BSP_SCHEDULE_DELAY). */
  async waitFor(
    what: string,
    match: (s: ReceivedSpan) => boolean,
    timeoutMs = 30_000,
  ): Promise<ReceivedSpan> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.spans.find(match);
      if (found) return found;
      if (Date.now() > deadline)
        assert.fail(
          `no span ${what}; got ${this.spans.map((s) => `${s.service}:${s.name}`).join(', ') || 'none'}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function valueOf(
  attributes: OtlpAttribute[] | undefined,
  key: string,
): string | number | boolean | undefined {
  const value = attributes?.find((a) => a.key === key)?.value;
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.boolValue;
}

function attributesOf(attributes: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key } of attributes ?? []) {
    const value = valueOf(attributes, key);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

const prisma = new PrismaService(requireEnv('DATABASE_URL'));
const sfx = randomUUID().slice(0, 8);
const TO_AGENT = 'agent://default/default/deployer';

function tracingEnv(sink: OtlpSink, exporter: 'otlp' | 'none'): Record<string, string> {
  return {
    AXLE_TRACING_EXPORTER: exporter,
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    // Export each batch quickly, so the test does not wait the default 5 s per batch.
    OTEL_BSP_SCHEDULE_DELAY: '100',
    AXLE_EXEC_ALLOW_NONE: 'true',
    LOG_LEVEL: 'debug',
  };
}

type Client = ReturnType<typeof apiClient>;

async function waitForIntent(api: Client, id: string, status: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api('GET', `/v1/intents/${id}`);
    const intent = res.body.intent as Record<string, unknown> | undefined;
    if (intent?.status === status) return intent;
    if (Date.now() > deadline) assert.fail(`intent ${id} is ${String(intent?.status)}, expected ${status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Create → delivered → resume complete → COMPLETED, every request carrying `headers`. */
async function completeIntent(api: Client, headers: Record<string, string>): Promise<string> {
  const create = await api('POST', '/v1/intents', {
    headers,
    body: {
      intent_type: 'ops.trace.v1',
      correlation_id: randomUUID(),
      to_agent: TO_AGENT,
      payload: { run: sfx },
    },
  });
  assert.equal(create.status, 200, create.text);
  const id = create.body.intent_id as string;
  await waitForIntent(api, id, 'DELIVERED');
  const resume = await api('POST', `/v1/intents/${id}/resume?owner_agent=${encodeURIComponent(TO_AGENT)}`, {
    headers,
    body: { action: 'complete', result: { traced: true } },
  });
  assert.equal(resume.status, 200, resume.text);
  await waitForIntent(api, id, 'COMPLETED');
  return id;
}

function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

describe('tracing end to end (exporter otlp)', () => {
  let sink: OtlpSink;
  let axle: AxleProcesses;
  let api: Client;

  before(async () => {
    sink = await OtlpSink.start();
    axle = await AxleProcesses.create(tracingEnv(sink, 'otlp'), { keepAllOutput: true });
    await axle.startAll(['gateway', 'worker', 'runner']);
    api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
  });
  after(async () => {
    await axle.stopAll();
    await sink.close();
  });

  test('a caller trace runs through gateway, Temporal client, workflow, activities and an exec job', async () => {
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const traceparent = `00-${traceId}-${callerSpan}-01`;
    const xTraceId = `e2e-trace-${sfx}`;
    const headers = { traceparent, 'x-trace-id': xTraceId };
    const inTrace = (s: ReceivedSpan) => s.traceId === traceId;

    const intentId = await completeIntent(api, headers);

    // Gateway: a server span per request, named by route pattern, child of the caller's span.
    const create = await sink.waitFor(
      'gateway POST /v1/intents',
      (s) => inTrace(s) && s.name === 'POST /v1/intents',
    );
    assert.equal(create.service, 'axle-gateway');
    assert.equal(create.kind, 2); // SERVER
    assert.equal(create.parentSpanId, callerSpan);
    assert.equal(create.attrs['http.route'], '/v1/intents');
    const resume = await sink.waitFor(
      'gateway resume',
      (s) => inTrace(s) && s.name === 'POST /v1/intents/:id/resume',
    );
    assert.equal(resume.attrs['http.route'], '/v1/intents/:id/resume');
    assert.doesNotMatch(String(resume.attrs['http.target']), /owner_agent/, 'query strings are not recorded');

    // Temporal client (in the gateway, inside the request's span), then the worker.
    const start = await sink.waitFor(
      'StartWorkflow',
      (s) => inTrace(s) && s.name === 'StartWorkflow:intentWorkflow',
    );
    assert.equal(start.service, 'axle-gateway');
    await sink.waitFor('StartWorkflowUpdate', (s) => inTrace(s) && s.name.startsWith('StartWorkflowUpdate:'));
    const run = await sink.waitFor(
      'RunWorkflow',
      (s) => inTrace(s) && s.name === 'RunWorkflow:intentWorkflow',
    );
    assert.equal(run.service, 'axle-worker');
    // The resume's in-progress and completed events, recorded in one local activity.
    const activity = await sink.waitFor(
      'RunActivity',
      (s) => inTrace(s) && s.name === 'RunActivity:recordEvents',
    );
    assert.equal(activity.service, 'axle-worker');
    assert.equal(activity.attrs.temporalWorkflowId, intentId);

    // An exec job started with the same traceparent: the runner's exec.job continues it.
    const agent = await registerTestAgent(prisma, { org: `trace-${sfx}`, name: 'runner-user' });
    const asAgent = apiClient(axle.baseUrl, agent.key);
    const session = await asAgent('POST', '/v1/exec/sessions', {
      headers,
      body: { sandbox_tier: 'none', capabilities: ['proc.spawn'] },
    });
    assert.equal(session.status, 200, session.text);
    const token = session.body.cap_token as string;
    const job = await asAgent('POST', '/v1/exec/jobs', {
      headers: { ...headers, 'x-axp-cap-token': token },
      body: { session_id: session.body.session_id, command: ['sh', '-c', 'echo traced'] },
    });
    assert.equal(job.status, 200, job.text);
    const jobId = job.body.job_id as string;
    const submit = await sink.waitFor(
      'gateway POST /v1/exec/jobs',
      (s) => inTrace(s) && s.name === 'POST /v1/exec/jobs',
    );
    const execJob = await sink.waitFor('exec.job', (s) => inTrace(s) && s.name === 'exec.job');
    assert.equal(execJob.service, 'axle-runner');
    assert.equal(execJob.parentSpanId, submit.spanId, 'exec.job is a child of the request that queued it');
    assert.equal(execJob.attrs['axle.job.id'], jobId);
    assert.equal(execJob.attrs['axle.job.tier'], 'none');
    assert.equal(execJob.attrs['axle.job.status'], 'exited');
    assert.equal(execJob.attrs['axle.job.exit_code'], 0);

    // Probes are not traced; the exporter posts JSON to /v1/traces.
    assert.ok(
      !sink.spans.some((s) => /\/(ready|health)$/.test(s.name) || s.attrs['http.target'] === '/ready'),
    );
    assert.ok(
      sink.requests.every((r) => r.path === '/v1/traces' && r.contentType.startsWith('application/json')),
    );

    // Logs: worker activity lines carry the intent id and the caller's X-Trace-Id; runner lines the job id.
    const workerLines = logLines(axle.output('worker'));
    const activityLine = workerLines.find((l) => l.intent_id === intentId && l.msg === 'activity completed');
    assert.ok(activityLine, `no worker log line with intent_id ${intentId}`);
    assert.equal(activityLine.trace_id, xTraceId);
    assert.match(String(activityLine.otel_trace_id), /^[0-9a-f]{32}$/);
    assert.match(String(activityLine.span_id), /^[0-9a-f]{16}$/);
    const runnerLine = logLines(axle.output('runner')).find(
      (l) => l.job_id === jobId && l.msg === 'exec job ended',
    );
    assert.ok(runnerLine, `no runner log line with job_id ${jobId}`);
    assert.equal(runnerLine.trace_id, xTraceId);
    assert.equal(runnerLine.otel_trace_id, traceId);
    // The cap token never reaches a log line.
    for (const app of ['gateway', 'worker', 'runner'] as const) assert.ok(!axle.output(app).includes(token));
  });

  test('without a traceparent the gateway starts a new trace that still reaches the worker', async () => {
    const earlier = new Set(sink.spans.map((s) => s.traceId));
    const intentId = await completeIntent(api, {});
    const create = await sink.waitFor(
      'a new POST /v1/intents trace',
      (s) => s.name === 'POST /v1/intents' && !earlier.has(s.traceId),
    );
    assert.equal(create.parentSpanId ?? '', '');
    await sink.waitFor(
      'the worker in the new trace',
      (s) =>
        s.traceId === create.traceId &&
        s.service === 'axle-worker' &&
        s.attrs.temporalWorkflowId === intentId,
    );
  });
});

describe('tracing end to end (exporter none)', () => {
  let sink: OtlpSink;
  let axle: AxleProcesses;

  before(async () => {
    sink = await OtlpSink.start();
    axle = await AxleProcesses.create(tracingEnv(sink, 'none'));
    await axle.startAll(['gateway', 'worker']);
  });
  after(async () => {
    await axle.stopAll();
    await sink.close();
  });

  test('nothing is exported and intents still complete', async () => {
    const api = apiClient(axle.baseUrl, TEST_ADMIN_KEY);
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    await completeIntent(api, { traceparent });
    // Well past the 100 ms batch delay an exporting process would use.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(sink.requests.length, 0);
  });
});

after(async () => {
  await prisma.onModuleDestroy();
});
