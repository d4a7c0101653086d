import { isUuid, ValidationFailedError } from '@axle/protocol';

/**
 * The opaque `cursor` of lists ordered by (created_at, id), newest first: the last row's key, so a
 * page after it misses nothing and repeats nothing while rows are added.
 */
export function encodeKeysetCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify({ c: row.createdAt.toISOString(), i: row.id })).toString('base64url');
}

/** The key in a cursor this server issued; anything else is a 422 on `cursor`. */
export function decodeKeysetCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      c?: unknown;
      i?: unknown;
    };
    const createdAt = typeof parsed.c === 'string' ? new Date(parsed.c) : null;
    if (createdAt && !Number.isNaN(createdAt.getTime()) && typeof parsed.i === 'string' && isUuid(parsed.i))
      return { createdAt, id: parsed.i };
  } catch {
    // fall through
  }
  throw new ValidationFailedError([
    {
      path: 'cursor',
      loc: ['query', 'cursor'],
      message: 'not a cursor this server issued',
      type: 'invalid_cursor',
    },
  ]);
}
