// PostgreSQL side of the stand-in: connection settings, the `pg` client the wasm engine can read
// catalogs through, the driver-adapter factory (main + shadow database) and the CLI's connection
// error codes.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

import { PrismaPg } from '@prisma/adapter-pg';
import { ColumnTypeEnum } from '@prisma/driver-adapter-utils';
import pg from 'pg';

// pg-connection-string is pg's own URL parser; resolve it through pg so we use the copy pg ships with.
const { parse: parseConnectionString } = createRequire(createRequire(import.meta.url).resolve('pg'))(
  'pg-connection-string',
);

// The engine's introspection selects two catalog types adapter-pg cannot describe
// ("Unsupported column type"): `name` (OID 19, everywhere; adapter-pg 7.10 maps it itself) and
// `"char"` (OID 18: pg_constraint.contype, read for every CHECK constraint and, on PostgreSQL 18,
// for every NOT NULL). Both arrive as strings, so the client relabels them as text; the engine
// must still see `"char"` columns as Character (it reads contype as a char and panics on text),
// so their positions are remembered per result and patched into the adapter's column types.
const TEXT_OID = 25;
const NAME_OID = 19;
const CHAR_OID = 18;
const charColumnsByRows = new WeakMap();

// Prisma's default connect_timeout is 5 s; without one a black-holed host would hang the CLI.
const DEFAULT_CONNECT_TIMEOUT_S = 5;

/** Splits a Prisma PostgreSQL URL into discrete pg settings (never a connectionString: it would
 *  override the `database` we set for the shadow database). */
export function connectionSettings(url) {
  if (!url) {
    throw new UserFacingError(
      'P1012',
      'The datasource URL is empty: set DATABASE_URL (prisma.config.ts reads it) to a postgresql:// URL.',
    );
  }
  if (!/^postgres(ql)?:\/\//i.test(url)) {
    throw new UserFacingError('P1013', 'The stand-in schema engine only supports postgresql:// URLs.');
  }
  const parsed = parseConnectionString(url);
  const schema = parsed.schema || undefined;
  const connectTimeout = Number(parsed.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_S);
  const pool = {
    host: parsed.host || 'localhost',
    port: Number(parsed.port || 5432),
    user: parsed.user || undefined,
    password: parsed.password ?? undefined,
    database: parsed.database || 'postgres',
    ssl: parsed.ssl,
    // Like the native engine, `?schema=` is the search_path: unqualified DDL and _prisma_migrations
    // land in that schema, which is also the one the engine inspects.
    options:
      [parsed.options, schema && `-c search_path=${quoteIdent(schema).replaceAll(' ', '\\ ')}`]
        .filter(Boolean)
        .join(' ') || undefined,
    application_name: parsed.application_name ?? 'prisma-schema-engine-wasm',
    // 0 means "no timeout" for both Prisma and pg.
    connectionTimeoutMillis: connectTimeout > 0 ? connectTimeout * 1000 : 0,
  };
  return { pool, schema };
}

function relabelCatalogTypes(result) {
  for (const res of Array.isArray(result) ? result : [result]) {
    const charColumns = [];
    (res?.fields ?? []).forEach((field, index) => {
      if (field.dataTypeID === CHAR_OID) charColumns.push(index);
      if (field.dataTypeID === CHAR_OID || field.dataTypeID === NAME_OID) field.dataTypeID = TEXT_OID;
    });
    // adapter-pg hands `rows` through unchanged, which lets queryRaw find these columns again.
    if (charColumns.length > 0 && res.rows) charColumnsByRows.set(res.rows, charColumns);
  }
  return result;
}

/** Reports relabelled `"char"` columns as Character, the type the engine reads them as. */
function reportCharColumns(queryable) {
  const queryRaw = queryable.queryRaw.bind(queryable);
  queryable.queryRaw = async (query) => {
    const resultSet = await queryRaw(query);
    for (const index of charColumnsByRows.get(resultSet.rows) ?? []) {
      resultSet.columnTypes[index] = ColumnTypeEnum.Character;
    }
    return resultSet;
  };
  return queryable;
}

/** A pg client whose results describe `name` and `"char"` columns as text (see above). */
class CatalogTextClient extends pg.Client {
  query(config, values, callback) {
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    if (config && typeof config.submit === 'function') return super.query(config, values, callback);
    if (typeof callback === 'function') {
      return super.query(config, values, (err, res) => callback(err, err ? res : relabelCatalogTypes(res)));
    }
    return super.query(config, values).then(relabelCatalogTypes);
  }
}

function poolConfig(settings, database = settings.pool.database) {
  return {
    ...settings.pool,
    database,
    Client: CatalogTextClient,
    // One session: the engine's pg_advisory_lock and its unlock must run on the same connection.
    max: 1,
    // Let the process exit once the CLI closes stdin, even if a pool was not ended.
    allowExitOnIdle: true,
  };
}

/** Runs the whole script as one simple-protocol query, like the native engine does: statements are
 *  not split on ";" (that breaks function bodies and string literals), and PostgreSQL runs the
 *  batch in one implicit transaction, so a failing migration leaves nothing half-applied. */
function runWholeScripts(adapter) {
  const pool = adapter.underlyingDriver();
  adapter.executeScript = async (script) => {
    try {
      await pool.query(script);
    } catch (error) {
      adapter.onError(error);
    }
  };
  return adapter;
}

/** adapter-pg's adapter, adjusted for the engine (see reportCharColumns and runWholeScripts). */
function forEngine(adapter) {
  const startTransaction = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = async (isolationLevel) =>
    reportCharColumns(await startTransaction(isolationLevel));
  return runWholeScripts(reportCharColumns(adapter));
}

async function connectAdapter(settings, database = settings.pool.database) {
  const factory = new PrismaPg(poolConfig(settings, database), { schema: settings.schema });
  const adapter = await factory.connect();
  // Open the session now so a bad URL fails with the CLI's P1000/P1001/P1003 codes instead of
  // the engine's code-less message.
  try {
    (await adapter.underlyingDriver().connect()).release();
  } catch (error) {
    await adapter.dispose().catch(() => {});
    throw connectionError(error, { pool: { ...settings.pool, database } });
  }
  return forEngine(adapter);
}

async function dropDatabase(admin, database) {
  const ident = quoteIdent(database);
  try {
    await admin.executeScript(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
  } catch (error) {
    // WITH (FORCE) needs PostgreSQL 13+; older servers: end the sessions, then drop.
    if (error?.cause?.code !== '42601') throw error;
    await admin
      .underlyingDriver()
      .query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
    await admin.executeScript(`DROP DATABASE IF EXISTS ${ident}`);
  }
}

/**
 * The migration-aware adapter factory the wasm engine drives: adapter-pg's PrismaPg, except for the
 * shadow database. adapter-pg drops it while its own pool may still hold sessions on it (the DROP
 * fails, the database leaks), and derives its settings from a connectionString that overrides
 * `database`. Here the shadow pool is closed first, then the database is dropped WITH (FORCE).
 */
export function createAdapterFactory({ url, shadowDatabaseUrl }) {
  // Parsed when the engine connects, so a missing or bad URL becomes the answer to the CLI's
  // request rather than a crash before the RPC loop starts.
  const main = () => connectionSettings(url);
  return {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    connect: async () => connectAdapter(main()),
    async connectToShadowDb() {
      if (shadowDatabaseUrl) return connectExternalShadow(main(), connectionSettings(shadowDatabaseUrl));
      const admin = await connectAdapter(main());
      const database = `prisma_migrate_shadow_db_${randomUUID()}`;
      try {
        await admin.executeScript(`CREATE DATABASE ${quoteIdent(database)}`);
        liveShadowDatabases.set(database, main());
        const shadow = await connectAdapter(main(), database);
        const closeShadowPool = shadow.dispose.bind(shadow);
        shadow.dispose = async () => {
          try {
            await closeShadowPool();
            await dropDatabase(admin, database);
            liveShadowDatabases.delete(database);
          } finally {
            await admin.dispose();
          }
        };
        return shadow;
      } catch (error) {
        await dropDatabase(admin, database)
          .then(() => liveShadowDatabases.delete(database))
          .catch(() => {});
        await admin.dispose();
        throw error;
      }
    },
  };
}

/** Shadow databases created and not yet dropped, with the settings of the server they live on. */
const liveShadowDatabases = new Map();

/** Best effort, for a fatal exit (e.g. a wasm panic mid-diff): drop the shadow databases still
 *  around so they do not pile up on the server. */
export async function dropLeftoverShadowDatabases() {
  for (const [database, settings] of liveShadowDatabases) {
    await withClient(settings, settings.pool.database, (client) =>
      client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`),
    ).catch(() => {});
    liveShadowDatabases.delete(database);
  }
}

/** A configured shadowDatabaseUrl: like the native engine, refuse the main database and start from
 *  an empty schema (the engine replays every migration into it). */
async function connectExternalShadow(main, shadowSettings) {
  const { host, port, database } = shadowSettings.pool;
  if (host === main.pool.host && port === main.pool.port && database === main.pool.database) {
    throw new UserFacingError(
      'P3014',
      'The shadow database you configured appears to be the same as the main database. Please specify another shadow database.',
    );
  }
  const shadow = await connectAdapter(shadowSettings);
  const schema = quoteIdent(shadowSettings.schema ?? 'public');
  await shadow.executeScript(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};`);
  return shadow;
}

export function quoteIdent(name) {
  return `"${String(name).replaceAll('"', '""')}"`;
}

/** An error the CLI shows as `<code>: <message>` (Prisma's user-facing error codes). */
export class UserFacingError extends Error {
  constructor(code, message, meta = {}) {
    super(message);
    this.code = code;
    this.meta = meta;
  }
}

/** Maps a pg connection error to the codes the CLI acts on (P1003 makes it create the database). */
export function connectionError(error, { pool }) {
  const host = pool.host;
  const where = `${host}:${pool.port}`;
  const code = error?.code;
  if (code === '28P01' || code === '28000') {
    return new UserFacingError(
      'P1000',
      `Authentication failed against database server at \`${host}\`, the provided database credentials for \`${pool.user}\` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at \`${host}\`.`,
    );
  }
  if (code === '3D000') {
    return new UserFacingError(
      'P1003',
      `Database \`${pool.database}\` does not exist on the database server at \`${where}\`.`,
    );
  }
  if (error instanceof pg.DatabaseError) {
    // The server answered but refused (too many connections, starting up, …): no Prisma code fits.
    return new UserFacingError(
      undefined,
      `The database server at \`${where}\` refused the connection: ${error.message}`,
    );
  }
  // No answer from a PostgreSQL server: refused, unknown host, timeout, TLS or a dropped socket.
  return new UserFacingError(
    'P1001',
    `Can't reach database server at \`${where}\`\n\nPlease make sure your database server is running at \`${where}\`. (${error?.message ?? error})`,
  );
}

async function withClient(settings, database, fn) {
  const client = new pg.Client({ ...settings.pool, database });
  client.on('error', () => {}); // a dropped idle connection must not crash the process
  try {
    await client.connect();
  } catch (error) {
    throw connectionError(error, { pool: { ...settings.pool, database } });
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export function canConnect(url) {
  const settings = connectionSettings(url);
  return withClient(settings, settings.pool.database, async () => {});
}

/** CREATE DATABASE from the server's `postgres` database (the native engine does the same). */
export async function createDatabase(url) {
  const settings = connectionSettings(url);
  const { database } = settings.pool;
  await withClient(settings, 'postgres', async (client) => {
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
    } catch (error) {
      if (error?.code === '42P04') return; // created meanwhile by someone else: fine
      throw new UserFacingError('P1010', `Could not create database \`${database}\`: ${error.message}`);
    }
  });
  return database;
}
