import { DependencyUnavailableError } from '@axle/protocol';

/** Connection-level failures of Postgres (refused, reset, pool timeout, shutdown) as a typed 503. */
export function toDatabaseError(err: unknown): unknown {
  const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : '';
  const text = err instanceof Error ? `${err.name} ${err.message} ${code}` : '';
  if (
    /ECONNREFUSED|ECONNRESET|ETIMEDOUT|timeout exceeded when trying to connect|Connection terminated|DatabaseNotReachable|P1001|P1017|57P01|57P03|the database system is (starting up|shutting down)/i.test(
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
