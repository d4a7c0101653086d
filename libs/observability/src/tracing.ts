// OpenTelemetry tracing (docs/tracing.md). Off by default: with exporter `none` nothing is registered,
// the OpenTelemetry API stays a no-op and no module is patched. Each app starts it first thing, before
// the modules that load `http` (instrumentation-http patches it as it is required), and calls
// `shutdown()` on SIGTERM so buffered spans are exported.
import {
  context,
  type Context,
  isSpanContextValid,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { type IncomingMessage } from 'node:http';
import { type Logger } from 'pino';
import { currentCorrelation } from './correlation';
import { axleVersion } from './version';

export type TracingExporter = 'none' | 'otlp' | 'console';
export type TracedService = 'axle-gateway' | 'axle-worker' | 'axle-runner';

export type TracingOptions = {
  service: TracedService;
  exporter: TracingExporter;
  /** OTLP/HTTP base URL (no trailing slash); spans go to `${otlpEndpoint}/v1/traces`. */
  otlpEndpoint: string;
  /** Share of new traces kept (0..1); a caller's sampling decision (traceparent) is always followed. */
  sampleRatio: number;
  logger?: Logger;
  /** Server and client spans for node:http (the gateway's requests, the worker's health server). */
  instrumentHttp?: boolean;
  /** Tests: export to this instead of the configured exporter (the exporter must not be `none`). */
  spanExporter?: SpanExporter;
};

/** What startTracing returns: `shutdown()` flushes buffered spans (call it on SIGTERM). */
export type Tracing = {
  readonly enabled: boolean;
  readonly service: TracedService;
  /**
   * The processor and resource spans from Temporal workflow sandboxes are handed to (the worker's
   * workflow exporter sink); null when tracing is off.
   */
  readonly spanProcessor: SpanProcessor | null;
  readonly resource: Resource | null;
  forceFlush(): Promise<void>;
  /** Exports what is buffered, then unregisters the global provider (idempotent). */
  shutdown(): Promise<void>;
};

/** Paths never traced: probes and scrapes. */
const UNTRACED_PATHS = new Set(['/health', '/v1/health', '/ready', '/metrics']);

let active: Tracing | null = null;

export function startTracing(options: TracingOptions): Tracing {
  if (options.exporter === 'none') return (active = disabled(options.service));
  if (active?.enabled) throw new Error('tracing is already started in this process');

  const exporter: SpanExporter =
    options.spanExporter ??
    (options.exporter === 'otlp'
      ? new OTLPTraceExporter({ url: `${options.otlpEndpoint}/v1/traces` })
      : new ConsoleSpanExporter());
  const resource = Resource.default().merge(
    new Resource({ 'service.name': options.service, 'service.version': axleVersion() }),
  );
  const spanProcessor = new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [spanProcessor],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  const unpatch = options.instrumentHttp
    ? registerInstrumentations({
        tracerProvider: provider,
        instrumentations: [
          new HttpInstrumentation({
            ignoreIncomingRequestHook: (req: IncomingMessage) =>
              UNTRACED_PATHS.has((req.url ?? '').split('?')[0] ?? ''),
          }),
        ],
      })
    : () => undefined;
  options.logger?.info(
    {
      exporter: options.exporter,
      ...(options.exporter === 'otlp' ? { endpoint: `${options.otlpEndpoint}/v1/traces` } : {}),
      sample_ratio: options.sampleRatio,
    },
    'tracing started',
  );

  let stopped: Promise<void> | null = null;
  const handle: Tracing = {
    enabled: true,
    service: options.service,
    spanProcessor,
    resource,
    forceFlush: () => provider.forceFlush(),
    shutdown: () =>
      (stopped ??= (async () => {
        unpatch();
        try {
          await provider.shutdown();
        } catch (err) {
          options.logger?.warn({ err: String(err) }, 'tracing: exporting the last spans failed');
        } finally {
          trace.disable();
          propagation.disable();
          context.disable();
          if (active === handle) active = null;
        }
      })()),
  };
  return (active = handle);
}

function disabled(service: TracedService): Tracing {
  return {
    enabled: false,
    service,
    spanProcessor: null,
    resource: null,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/** The active span's ids, for log lines (nothing when no span is active or tracing is off). */
export function activeSpanIds(): { span_id: string; otel_trace_id: string } | null {
  const spanContext = trace.getSpanContext(context.active());
  if (!spanContext || !isSpanContextValid(spanContext)) return null;
  return { span_id: spanContext.spanId, otel_trace_id: spanContext.traceId };
}

/**
 * What travels with a queued job so its runner continues the submitter's trace: the W3C
 * `traceparent`/`tracestate` of the active span, and the correlation trace id (X-Trace-Id).
 */
export type CarriedTrace = { traceparent?: string; tracestate?: string; traceId?: string };

export function carriedTrace(): CarriedTrace {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const traceId = currentCorrelation()?.traceId;
  return {
    ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
    ...(traceId ? { traceId } : {}),
  };
}

/** The context a carried trace continues (the active one when it carries none). */
export function contextOf(carried: CarriedTrace): Context {
  if (!carried.traceparent) return context.active();
  const carrier: Record<string, string> = { traceparent: carried.traceparent };
  if (carried.tracestate) carrier.tracestate = carried.tracestate;
  return propagation.extract(context.active(), carrier);
}

/**
 * Runs `fn` inside a new span (a child of `parent`, default the active context), ending it when
 * `fn` settles; an error sets the span's status and is rethrown. A no-op span when tracing is off.
 */
export async function inSpan<T>(
  name: string,
  options: {
    parent?: Context;
    kind?: 'internal' | 'consumer';
    attributes?: Record<string, string | number | boolean>;
  },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const tracer = trace.getTracer('axle');
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    {
      kind: options.kind === 'consumer' ? SpanKind.CONSUMER : SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

/** The active OpenTelemetry context, to restore later with runInContext (e.g. across body parsing). */
export function savedContext(): Context {
  return context.active();
}

export function runInContext<T>(saved: Context, fn: () => T): T {
  return context.with(saved, fn);
}

/** The active span (a non-recording one when there is none), to add attributes from deep inside. */
export function activeSpan(): Span | undefined {
  return trace.getActiveSpan();
}
