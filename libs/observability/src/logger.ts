import { type LoggerService } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import { CAP_TOKEN_HEADER, SIGNATURE_HEADER, WEBHOOK_HEADERS } from '@axle/protocol';
import { currentCorrelation } from './correlation';
import { activeSpanIds } from './tracing';

/** Headers carrying a credential: API keys and JWTs, signatures, exec cap tokens, session cookies. */
export const SECRET_HEADER_NAMES = [
  'authorization',
  'x-api-key',
  SIGNATURE_HEADER,
  WEBHOOK_HEADERS.signature.toLowerCase(),
  CAP_TOKEN_HEADER,
  'cookie',
  'set-cookie',
];
const SECRET_HEADERS = SECRET_HEADER_NAMES.map((h) => (/^[a-z]+$/.test(h) ? h : `["${h}"]`));
const SECRET_KEYS = [
  'apiKey',
  'api_key',
  'secret',
  'webhookSecret',
  'webhook_secret',
  'password',
  'token',
  'cap_token',
  'capToken',
  'authorization',
  'signature',
];
const member = (key: string) => (key.startsWith('[') ? key : `.${key}`);

/**
 * Keys whose values never reach a log line (SPEC §2: secrets never appear in logs): credential and
 * signature headers wherever a request or its headers are logged, and secret-named fields at the
 * top level and one level down. Nothing logs raw headers or bodies today; this is the safety net.
 */
export const REDACT_PATHS = [
  ...SECRET_HEADERS.flatMap((h) => [
    `req.headers${member(h)}`,
    `headers${member(h)}`,
    `*.headers${member(h)}`,
  ]),
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
];

export function createLogger(
  options: { level: string; app: string },
  destination?: DestinationStream,
): Logger {
  const settings = {
    level: options.level,
    base: { app: options.app },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    mixin() {
      const ctx = currentCorrelation();
      const span = activeSpanIds();
      if (!ctx) return span ?? {};
      return {
        ...(ctx.requestId ? { request_id: ctx.requestId } : {}),
        ...(ctx.traceId ? { trace_id: ctx.traceId } : {}),
        ...(ctx.intentId ? { intent_id: ctx.intentId } : {}),
        ...(ctx.jobId ? { job_id: ctx.jobId } : {}),
        ...span,
      };
    },
  } satisfies pino.LoggerOptions;
  return destination ? pino(settings, destination) : pino(settings);
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
