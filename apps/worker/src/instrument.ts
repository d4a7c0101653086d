// Loaded by main.ts before anything else: starts OpenTelemetry tracing when
// AXLE_TRACING_EXPORTER is not `none` (docs/tracing.md). `tracing.shutdown()` exports buffered spans:
// call it on SIGTERM.
import { loadConfigOrExit } from '@axle/config';
import { createLogger, startTracing } from '@axle/observability';

const config = loadConfigOrExit();

export const tracing = startTracing({
  service: 'axle-worker',
  ...config.tracing,
  logger: createLogger({ level: config.logLevel, app: 'worker' }),
});
