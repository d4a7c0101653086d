// Typed domain errors. They carry a stable machine code and a kind; each transport (HTTP, gRPC,
// workflow failures) maps the kind to its own status once, at its edge. No HTTP imports here.
import { SIGNATURE_HEADER } from './auth';

export type ErrorKind =
  | 'malformed'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'gone'
  | 'too_large'
  | 'validation'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export type FieldError = { path: string; loc: (string | number)[]; message: string; type: string };

export class AxleError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class MalformedRequestError extends AxleError {
  constructor(message = 'request body is not valid JSON', details?: Record<string, unknown>) {
    super('malformed', 'malformed_json', message, details);
  }
}

export class UnauthenticatedError extends AxleError {
  constructor(
    code: 'missing_platform_api_key' | 'invalid_platform_api_key' | 'invalid_actor_token',
    message: string,
  ) {
    super(
      'unauthenticated',
      code,
      message,
      code === 'missing_platform_api_key' ? { header: 'x-api-key' } : undefined,
    );
  }
}

/** Why a signed request (or a missing signature) was refused (SPEC §2 "Signed agents"). */
export const SIGNATURE_ERROR_CODES = [
  'invalid_signature',
  'signature_expired',
  'signature_replayed',
  'signature_required',
] as const;
export type SignatureErrorCode = (typeof SIGNATURE_ERROR_CODES)[number];

/** 401: the X-Axle-Signature header is malformed, wrong, stale, replayed, or required and missing. */
export class SignatureError extends AxleError {
  constructor(
    readonly signatureCode: SignatureErrorCode,
    message: string,
  ) {
    super('unauthenticated', signatureCode, message, { header: SIGNATURE_HEADER });
  }
}

export class ForbiddenError extends AxleError {
  constructor(code: string, message: string) {
    super('forbidden', code, message);
  }
}

export class NotFoundError extends AxleError {
  constructor(code: string, message: string) {
    super('not_found', code, message);
  }
}

export class ConflictError extends AxleError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super('conflict', code, message, details);
  }
}

/** 410: the thing existed but is used up or expired for good (a magic link). */
export class GoneError extends AxleError {
  constructor(code: string, message: string) {
    super('gone', code, message);
  }
}

export class PayloadTooLargeError extends AxleError {
  constructor(limitBytes: number, actualBytes?: number) {
    super('too_large', 'payload_too_large', `payload exceeds ${limitBytes} bytes`, {
      limit_bytes: limitBytes,
      ...(actualBytes === undefined ? {} : { actual_bytes: actualBytes }),
    });
  }
}

export class ValidationFailedError extends AxleError {
  constructor(
    readonly fields: FieldError[],
    code = 'validation_error',
    message = fields.map((f) => `${f.path || '(body)'}: ${f.message}`).join('; ') || 'invalid request',
  ) {
    super('validation', code, message, { errors: fields });
  }
}

/** Too many requests for one credential and route (SPEC §1, §2); retry after the given seconds. */
export class RateLimitedError extends AxleError {
  constructor(
    readonly retryAfterSeconds: number,
    details: { limit: number; reset_seconds: number; scope?: 'key' | 'agent' },
  ) {
    super('rate_limited', 'rate_limit_exceeded', `rate limit exceeded; retry in ${retryAfterSeconds} s`, {
      ...details,
      retry_after_seconds: retryAfterSeconds,
    });
  }
}

/**
 * A daily quota is used up (reference §1.2 `quota_exceeded`): 429 with Retry-After until the
 * counter resets at the next UTC midnight.
 */
export class QuotaExceededError extends AxleError {
  constructor(
    readonly retryAfterSeconds: number,
    details: { dimension: string; subject: string; used: number; limit: number; reset_at: string },
  ) {
    super(
      'rate_limited',
      'quota_exceeded',
      `quota ${details.dimension} of ${details.subject} exceeded (${details.used}/${details.limit}); resets at ${details.reset_at}`,
      details,
    );
  }
}

/** The same Idempotency-Key is still being processed by another request. */
export class IdempotencyInProgressError extends AxleError {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('conflict', 'idempotency_in_progress', 'a request with this idempotency key is still in progress');
  }
}

export class DependencyUnavailableError extends AxleError {
  constructor(
    readonly dependency: 'postgres' | 'redis' | 'temporal',
    readonly retryAfterSeconds = 5,
  ) {
    super('unavailable', 'dependency_unavailable', `${dependency} is unavailable; retry later`, {
      dependency,
    });
  }
}

/** A gateway replica that is draining (SIGTERM, docs/lifecycle.md): retry, another replica answers. */
export class ShuttingDownError extends AxleError {
  constructor(readonly retryAfterSeconds = 1) {
    super('unavailable', 'shutting_down', 'this gateway is shutting down; retry the request', {
      retry_after_seconds: retryAfterSeconds,
    });
  }
}

/** Why an exec capability token was refused (docs/exec.md): 401 when missing, else 403. */
export class CapTokenError extends AxleError {
  constructor(
    code: 'cap_token_required' | 'invalid_cap_token' | 'cap_token_expired' | 'cap_token_revoked',
    message: string,
  ) {
    super(code === 'cap_token_required' ? 'unauthenticated' : 'forbidden', code, message, {
      header: 'x-axp-cap-token',
    });
  }
}
