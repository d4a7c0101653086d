import { type LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { currentCorrelation } from './correlation';

/** Keys whose values never reach a log line, wherever they appear. */
const REDACT_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.password',
  '*.token',
];

export function createLogger(options: { level: string; app: string }): Logger {
  return pino({
    level: options.level,
    base: { app: options.app },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    mixin() {
      const ctx = currentCorrelation();
      if (!ctx) return {};
      return {
        request_id: ctx.requestId,
        ...(ctx.traceId ? { trace_id: ctx.traceId } : {}),
        ...(ctx.intentId ? { intent_id: ctx.intentId } : {}),
        ...(ctx.jobId ? { job_id: ctx.jobId } : {}),
      };
    },
  });
}

/** Routes Nest's own logs through pino so one process writes one JSON log format. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}
