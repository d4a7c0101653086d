// Loaded by main.ts before anything else, so before Fastify and Nest require node:http (which
// instrumentation-http patches as it is required): starts OpenTelemetry tracing when
// AXLE_TRACING_EXPORTER is not `none` (docs/tracing.md). `tracing.shutdown()` exports buffered
// spans: call it on SIGTERM.
import { loadConfigOrExit } from '@axle/config';
import { createLogger, startTracing } from '@axle/observability';

const config = loadConfigOrExit();

export const tracing = startTracing({
  service: 'axle-gateway',
  ...config.tracing,
  // Server spans for the gateway's requests (named by route in http/tracing.ts); probes are not traced.
  instrumentHttp: true,
  logger: createLogger({ level: config.logLevel, app: 'gateway' }),
});
