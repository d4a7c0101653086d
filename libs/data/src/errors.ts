import { DependencyUnavailableError } from '@axle/protocol';
import { Prisma } from './generated/prisma/client';

/** Driver-adapter error kinds that mean "the database is not there", not "the query is wrong". */
const UNAVAILABLE_KINDS = new Set([
  'DatabaseNotReachable',
  'ConnectionClosed',
  'SocketTimeout',
  'TooManyConnections',
  'TlsConnectionError',
]);

/** The driver adapter's error kind, wherever Prisma put it (raw queries nest it in meta). */
function adapterErrorKind(err: Error): string | null {
  const candidates: unknown[] = [
    (err as { cause?: unknown }).cause,
    (err as { meta?: { driverAdapterError?: { cause?: unknown } } }).meta?.driverAdapterError?.cause,
  ];
  for (const candidate of candidates) {
    const kind = (candidate as { kind?: unknown } | null | undefined)?.kind;
    if (typeof kind === 'string') return kind;
  }
  return null;
}

/** Connection-level failures of Postgres (refused, reset, pool timeout, shutdown) as a typed 503. */
export function toDatabaseError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const kind = adapterErrorKind(err);
  if (kind && UNAVAILABLE_KINDS.has(kind)) return new DependencyUnavailableError('postgres');
  const code = 'code' in err && typeof err.code === 'string' ? err.code : '';
  const text = `${err.name} ${err.message} ${code}`;
  // P2028 "Unable to start a transaction in the given time": no pooled connection came free in
  // time (overload or an outage). A retry later may succeed, so 503, not 500. (Other P2028s, e.g.
  // a transaction that ran past its timeout, stay errors.)
  if (code === 'P2028' && /unable to start a transaction/i.test(err.message))
    return new DependencyUnavailableError('postgres');
  if (
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|timeout exceeded when trying to connect|Connection terminated|DatabaseNotReachable|Can't reach database server|P1001|P1017|57P01|57P03|the database system is (starting up|shutting down)/i.test(
      text,
    )
  ) {
    return new DependencyUnavailableError('postgres');
  }
  return err;
}

/** Runs a repository operation, translating connection failures into DependencyUnavailableError. */
export async function guarded<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw toDatabaseError(err);
  }
}

/** A unique-key violation (Prisma P2002): the row exists already. */
export function isDuplicate(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}

/** Creates a row, or answers null when a unique key says it exists already (no check-then-insert race). */
export async function createUnlessDuplicate<T>(create: () => Promise<T>): Promise<T | null> {
  return guarded(async () => {
    try {
      return await create();
    } catch (err) {
      if (isDuplicate(err)) return null;
      throw err;
    }
  });
}
