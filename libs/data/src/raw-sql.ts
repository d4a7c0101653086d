// Hot queries in plain SQL on Prisma's own pool. Prisma 7 runs its query interpreter and maps every
// column in JavaScript: reading one intent row costs ~0.7 ms of CPU through `findFirst` and ~0.15 ms
// as the same SELECT through node-postgres (docs/benchmarks.md, read path). Only what nearly every
// request does takes this path: its credential, a send's recipient policies, a create's writes,
// an intent event's writes, an audit row, `GET /v1/intents/{id}`, a create's mark that its
// workflow started, the recipient's delivery binding and the plan load's intent read. Each is
// tested to answer and store exactly what the Prisma query it replaced did
// (test/int/raw-sql.spec.ts).
import type pg from 'pg';
import { guarded } from './errors';

/** Every field of a row type, each with the column it is stored in. */
export type ColumnsOf<Row> = { readonly [K in keyof Row]-?: string };

/**
 * The select list `alias."column" AS "field", …`, so node-postgres answers rows keyed as Prisma
 * does. Naming a column for every field is enforced by the type, so a new field cannot be missed.
 */
export function selectList<Row>(alias: string, columns: ColumnsOf<Row>): string {
  return Object.entries(columns)
    .map(([field, column]) => `${alias}."${String(column)}" AS "${field}"`)
    .join(', ');
}

/**
 * One prepared statement (parsed once per pooled connection, by its name), answering its rows.
 * Types come back as Prisma's do for these columns: uuid/text as strings, timestamptz as Date,
 * jsonb parsed, int4 as number (int8 and numeric would come back as strings: not used here).
 */
export async function preparedRows<Row extends pg.QueryResultRow>(
  db: pg.Pool | pg.PoolClient,
  name: string,
  text: string,
  values: unknown[],
): Promise<Row[]> {
  return guarded(async () => (await db.query<Row>({ name, text, values })).rows);
}

/** `op` in one transaction on one pooled connection: committed when it returns, rolled back when it throws. */
export async function rawTransaction<T>(
  pool: pg.Pool,
  op: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await guarded(() => pool.connect());
  let broken: unknown;
  try {
    await guarded(() => client.query('BEGIN'));
    const result = await op(client);
    await guarded(() => client.query('COMMIT'));
    return result;
  } catch (err) {
    // A failed ROLLBACK means the connection is gone: it is destroyed instead of pooled again.
    await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
    throw err;
  } finally {
    client.release(broken instanceof Error ? broken : undefined);
  }
}

/** A jsonb parameter: node-postgres would send a JS array as a Postgres array, so JSON goes as text. */
export function jsonParam(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
