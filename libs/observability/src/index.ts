export { type CorrelationContext, currentCorrelation, markAudited, runWithCorrelation } from './correlation';
export { createLogger, PinoNestLogger } from './logger';
export { AXLE_LOGGER, ObservabilityModule } from './observability.module';
export type { Logger } from 'pino';
export { type HealthCheck, startHealthServer } from './health-server';
export {
  activeSpan,
  activeSpanIds,
  type CarriedTrace,
  carriedTrace,
  contextOf,
  inSpan,
  runInContext,
  savedContext,
  startTracing,
  type TracedService,
  type Tracing,
  type TracingExporter,
  type TracingOptions,
} from './tracing';
export { temporalClientInterceptors } from './temporal-tracing';
export { axleVersion } from './version';
export {
  type AxleMetricKey,
  axleMetrics,
  type AxleMetrics,
  type AxleProcess,
  BoundedLabelValues,
  boundedLabel,
  DELIVERY_FAILURE_REASONS,
  type DeliveryFailureReason,
  initMetrics,
  LABEL_VALUE_LIMIT,
  METRICS_BY_PROCESS,
  OTHER_LABEL_VALUE,
  QUEUE_JOB_STATES,
  type QueueJobState,
  type ScrapeSources,
  scrapeMetrics,
  secondsSince,
  setScrapeSources,
  SSE_STREAM_KINDS,
  type SseStreamKind,
} from './metrics';
