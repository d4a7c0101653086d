export { type CorrelationContext, currentCorrelation, markAudited, runWithCorrelation } from './correlation';
export { createLogger, PinoNestLogger } from './logger';
export { AXLE_LOGGER, ObservabilityModule } from './observability.module';
export type { Logger } from 'pino';
export { type HealthCheck, startHealthServer } from './health-server';
