import {
  DependencyUnavailableError,
  IdempotencyInProgressError,
  RateLimitedError,
  ValidationFailedError,
} from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toErrorResponse } from './error-response';
import { ReplayedResponse } from './idempotency.interceptor';

describe('toErrorResponse', () => {
  test('a replayed answer goes out as it was stored, marked as a replay', () => {
    const res = toErrorResponse(
      new ReplayedResponse(404, { ok: false, error: { code: 'intent_not_found' } }),
    );
    assert.equal(res.status, 404);
    assert.deepEqual(res.body, { ok: false, error: { code: 'intent_not_found' } });
    assert.deepEqual(res.headers, { 'idempotent-replayed': 'true' });
    assert.equal(res.errorId, undefined);
  });

  test('429, 503 and 409 in progress carry Retry-After in whole seconds', () => {
    const limited = toErrorResponse(new RateLimitedError(7, { limit: 5, reset_seconds: 60 }));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '7');
    assert.deepEqual(limited.body.error, {
      code: 'rate_limit_exceeded',
      message: 'rate limit exceeded; retry in 7 s',
      details: { limit: 5, reset_seconds: 60, retry_after_seconds: 7 },
    });
    assert.equal(limited.body.detail, 'rate limit exceeded; retry in 7 s');
    const down = toErrorResponse(new DependencyUnavailableError('redis'));
    assert.equal(down.status, 503);
    assert.equal(down.headers['retry-after'], '5');
    const busy = toErrorResponse(new IdempotencyInProgressError());
    assert.equal(busy.status, 409);
    assert.equal(busy.headers['retry-after'], '1');
  });

  test('other errors have no Retry-After', () => {
    const res = toErrorResponse(new ValidationFailedError([]));
    assert.equal(res.status, 422);
    assert.deepEqual(res.headers, {});
  });

  test("Fastify's body errors keep our shape: 413 and 400, never 500", () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    const big = toErrorResponse(tooLarge);
    assert.equal(big.status, 413);
    assert.equal((big.body.error as { code: string }).code, 'payload_too_large');
    const malformed = Object.assign(new SyntaxError('Unexpected token } in JSON at position 1'), {
      statusCode: 400,
    });
    assert.equal(toErrorResponse(malformed).status, 400);
  });
});
