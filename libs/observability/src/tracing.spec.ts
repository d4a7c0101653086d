import { context, isSpanContextValid, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { runWithCorrelation } from './correlation';
import { createLogger } from './logger';
import { carriedTrace, contextOf, inSpan, startTracing, type TracingOptions } from './tracing';

const base: TracingOptions = {
  service: 'axle-gateway',
  exporter: 'otlp',
  otlpEndpoint: 'http://127.0.0.1:1',
  sampleRatio: 1,
};

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', app: 'test' }, { write: (line: string) => lines.push(line) });
  return { logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const emitOf = (module: typeof http): unknown =>
  Object.getOwnPropertyDescriptor(module.Server.prototype, 'emit')?.value;
// A fresh require is what instrumentation-http hooks to patch the module.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const requireHttp = () => require('node:http') as typeof http;

// One process for the whole file: each test shuts its tracing down, which unregisters the globals.
describe('startTracing', () => {
  test('exporter none registers nothing: no provider, no propagator, no patched http', async () => {
    const emit = emitOf(http);
    const tracing = startTracing({ ...base, exporter: 'none', instrumentHttp: true });
    assert.equal(tracing.enabled, false);
    assert.equal(tracing.spanProcessor, null);
    const span = trace.getTracer('t').startSpan('s');
    assert.equal(span.isRecording(), false);
    assert.equal(isSpanContextValid(span.spanContext()), false);
    span.end();
    assert.deepEqual(propagation.fields(), []);
    assert.deepEqual(carriedTrace(), {});
    assert.equal(emitOf(requireHttp()), emit);
    const { logger, records } = capture();
    logger.info('plain');
    assert.equal(records()[0]?.span_id, undefined);
    await tracing.shutdown();
  });

  test('sample ratio 0 drops new traces but follows a sampled caller', async () => {
    const exporter = new InMemorySpanExporter();
    const emit = emitOf(http);
    const tracing = startTracing({ ...base, sampleRatio: 0, spanExporter: exporter, instrumentHttp: true });
    try {
      assert.equal(tracing.enabled, true);
      assert.notEqual(
        emitOf(requireHttp()),
        emit,
        'instrumentation-http patches node:http when tracing is on',
      );
      await inSpan('dropped', {}, () => Promise.resolve());
      const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      await inSpan('kept', { parent: contextOf({ traceparent: caller }) }, () => Promise.resolve());
      await tracing.forceFlush();
      const names = exporter.getFinishedSpans().map((s) => s.name);
      assert.deepEqual(names, ['kept']);
      assert.equal(exporter.getFinishedSpans()[0]?.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    } finally {
      await tracing.shutdown();
    }
  });

  test('log lines inside an active span carry span_id and otel_trace_id; a job carries the trace on', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ ...base, service: 'axle-runner', spanExporter: exporter });
    try {
      const { logger, records } = capture();
      logger.info('before');
      let carried = {};
      let ids = { traceId: '', spanId: '' };
      await runWithCorrelation({ requestId: 'req-9', traceId: 'caller-trace' }, () =>
        inSpan('parent', {}, (span) => {
          ids = span.spanContext();
          logger.info('inside');
          carried = carriedTrace();
          return Promise.resolve();
        }),
      );
      await inSpan('exec.job', { parent: contextOf(carried), kind: 'consumer' }, () => Promise.resolve());
      await tracing.forceFlush();

      const [before, inside] = records();
      assert.equal(before?.span_id, undefined);
      assert.equal(inside?.span_id, ids.spanId);
      assert.equal(inside?.otel_trace_id, ids.traceId);
      assert.equal(inside?.request_id, 'req-9');
      assert.equal(inside?.trace_id, 'caller-trace');
      assert.deepEqual(carried, {
        traceparent: `00-${ids.traceId}-${ids.spanId}-01`,
        traceId: 'caller-trace',
      });
      const job = exporter.getFinishedSpans().find((s) => s.name === 'exec.job');
      assert.equal(job?.spanContext().traceId, ids.traceId);
      assert.equal(job?.parentSpanId, ids.spanId);
      assert.equal(job?.resource.attributes['service.name'], 'axle-runner');
      assert.equal(typeof job?.resource.attributes['service.version'], 'string');
    } finally {
      await tracing.shutdown();
    }
    // Shut down: the API is a no-op again.
    assert.equal(trace.getTracer('t').startSpan('after').isRecording(), false);
    assert.equal(trace.getSpan(context.active()), undefined);
  });

  test('a failing span records the error and rethrows', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({ ...base, spanExporter: exporter });
    try {
      await assert.rejects(
        inSpan('boom', {}, () => Promise.reject(new Error('nope'))),
        /nope/,
      );
      await tracing.forceFlush();
      assert.equal(exporter.getFinishedSpans()[0]?.status.code, 2);
    } finally {
      await tracing.shutdown();
    }
  });

  test('starting twice in one process is refused', async () => {
    const tracing = startTracing({ ...base, spanExporter: new InMemorySpanExporter() });
    try {
      assert.throws(() => startTracing({ ...base, spanExporter: new InMemorySpanExporter() }), /already/);
    } finally {
      await tracing.shutdown();
    }
  });
});
