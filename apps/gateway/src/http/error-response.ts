// The one place errors become HTTP responses (SPEC §1): `{ok:false, error:{code,message,details?},
// detail}`. Bad input never becomes a 500; a real 500 carries an error id that is in the logs.
import { AxleError, type ErrorKind, HTTP_HEADERS } from '@axle/protocol';
import { HttpException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ReplayedResponse } from './idempotency.interceptor';

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  malformed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  too_large: 413,
  validation: 422,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export type ErrorResponse = {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  errorId?: string;
};

function body(code: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { ok: false, error: { code, message, ...(details ? { details } : {}) }, detail: message };
}

/** The SPEC §1 error body, for errors answered outside the exception filter (http/framework-errors.ts). */
export const errorBody = body;

/** Fastify's own request errors (body parsing, limits, media type) by their codes. */
function fromFastify(err: { code?: string; statusCode?: number; message: string }): ErrorResponse | null {
  const code = err.code ?? '';
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return { status: 413, body: body('payload_too_large', 'request body is too large'), headers: {} };
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return {
      status: 415,
      body: body('unsupported_media_type', 'send the body as application/json'),
      headers: {},
    };
  if (
    code.startsWith('FST_ERR_CTP_') ||
    (err.statusCode === 400 && /JSON|Unexpected|token/i.test(err.message))
  ) {
    return { status: 400, body: body('malformed_json', 'request body is not valid JSON'), headers: {} };
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, body: body('bad_request', err.message), headers: {} };
  }
  return null;
}

export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof ReplayedResponse)
    return { status: err.status, body: err.body, headers: { [HTTP_HEADERS.idempotentReplayed]: 'true' } };
  if (err instanceof AxleError) {
    const status = STATUS_BY_KIND[err.kind];
    const headers: Record<string, string> = {};
    // 503 (dependency down), 429 (rate limited), 409 idempotency_in_progress say when to retry.
    if ('retryAfterSeconds' in err && typeof err.retryAfterSeconds === 'number')
      headers[HTTP_HEADERS.retryAfter] = String(Math.max(1, Math.ceil(err.retryAfterSeconds)));
    return { status, body: body(err.code, err.message, err.details), headers };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    // Nest hands Fastify's body-parser failures to the filters as 400 HttpExceptions.
    if (status === 400 && /JSON/i.test(err.message))
      return { status, body: body('malformed_json', 'request body is not valid JSON'), headers: {} };
    if (status === 413)
      return { status, body: body('payload_too_large', 'request body is too large'), headers: {} };
    if (status === 415)
      return {
        status,
        body: body('unsupported_media_type', 'send the body as application/json'),
        headers: {},
      };
    if (status === 404) return { status, body: body('route_not_found', 'no such route'), headers: {} };
    if (status < 500) return { status, body: body('bad_request', err.message), headers: {} };
  }
  if (err instanceof Error && ('statusCode' in err || 'code' in err)) {
    const mapped = fromFastify(err as { code?: string; statusCode?: number; message: string });
    if (mapped) return mapped;
  }
  const errorId = randomUUID();
  return {
    status: 500,
    body: body('internal_error', `internal error (error id ${errorId})`, { error_id: errorId }),
    headers: {},
    errorId,
  };
}
