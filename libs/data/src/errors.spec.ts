import { DependencyUnavailableError } from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toDatabaseError } from './errors';

/** Error shapes as Prisma 7 with the pg adapter produces them (checked against a stopped server). */
function prismaError(message: string, extra: Record<string, unknown>): Error {
  return Object.assign(new Error(message), { name: 'PrismaClientKnownRequestError' }, extra);
}

describe('toDatabaseError', () => {
  test('an unreachable database is a 503, for model queries and raw queries alike', () => {
    const raw = prismaError(
      "Raw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:1`",
      {
        code: 'P2010',
        meta: { driverAdapterError: { name: 'DriverAdapterError', cause: { kind: 'DatabaseNotReachable' } } },
      },
    );
    const model = prismaError('connection closed', { cause: { kind: 'ConnectionClosed' } });
    for (const err of [
      raw,
      model,
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ]) {
      const mapped = toDatabaseError(err);
      assert.ok(mapped instanceof DependencyUnavailableError, err.message);
      assert.equal(mapped.dependency, 'postgres');
    }
  });

  test('no pooled connection for a transaction in time (P2028) is a 503, not a 500', () => {
    const busy = prismaError('Transaction API error: Unable to start a transaction in the given time.', {
      code: 'P2028',
      meta: {},
    });
    const mapped = toDatabaseError(busy);
    assert.ok(mapped instanceof DependencyUnavailableError);
    assert.equal(mapped.dependency, 'postgres');
    const expired = prismaError('Transaction API error: Transaction already closed: timeout', {
      code: 'P2028',
    });
    assert.equal(toDatabaseError(expired), expired, 'a transaction past its own timeout is no outage');
  });

  test('query errors stay what they are', () => {
    const unique = prismaError('Unique constraint failed', {
      code: 'P2002',
      cause: { kind: 'UniqueConstraintViolation' },
    });
    assert.equal(toDatabaseError(unique), unique);
    assert.equal(toDatabaseError('not an error'), 'not an error');
  });
});
