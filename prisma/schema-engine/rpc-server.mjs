// The engine's RPC mode: newline-delimited JSON-RPC 2.0 on stdin/stdout, the CLI's requests
// forwarded to the wasm SchemaEngine one at a time.
import { createInterface } from 'node:readline';

import { createDatabase, dropLeftoverShadowDatabases } from './postgres.mjs';
import { isWasmPanic, logLine, panicMessage, toRpcError } from './protocol.mjs';
import { createSchemaEngine } from './wasm-engine.mjs';

/** CLI method names that differ from the wasm engine's. */
const RENAMED = { getDatabaseVersion: 'version' };

/** After `migrate dev` applied pending migrations, these two can fail with "PostgreSQL shadow DB
 *  must be provided through an external factory" (the wasm engine missed its shadow-database
 *  cache); one diagnoseMigrationHistory run that may use the shadow database rebuilds it. */
const RETRY_AFTER_DIAGNOSE = new Set(['evaluateDataLoss', 'createMigration']);
const SHADOW_CACHE_MISS = /shadow DB must be provided through an external factory/i;

/** The wasm engine's RPC methods (its prototype, minus memory management). */
const ENGINE_METHODS = new Set([
  'applyMigrations',
  'createMigration',
  'dbExecute',
  'debugPanic',
  'devDiagnostic',
  'diagnoseMigrationHistory',
  'diff',
  'ensureConnectionValidity',
  'evaluateDataLoss',
  'introspect',
  'introspectSql',
  'markMigrationApplied',
  'markMigrationRolledBack',
  'reset',
  'schemaPush',
  'version',
]);

/** Keeps the adapter's error registry with the error, to resolve "External error id#N" later. */
function withRegistry(error, errorRegistry) {
  return error !== null && typeof error === 'object' ? Object.assign(error, { errorRegistry }) : error;
}

/**
 * @param {{ datamodels: [string, string][] | undefined, datasource: { url?: string, shadowDatabaseUrl?: string } }} options
 */
export function serveRpc({ datamodels, datasource }) {
  let enginePromise;
  const engine = () =>
    (enginePromise ??= createSchemaEngine({
      datamodels,
      datasource,
      log: (line) => process.stderr.write(line.endsWith('\n') ? line : `${line}\n`),
    }));

  let nextPrintId = 1;
  const pendingPrints = new Map();

  const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

  /** The engine → CLI `print` request: the CLI writes `content` to its stdout (how `migrate diff`
   *  output reaches the user and `--output`) and answers with an empty result. */
  const printOnCli = (content) =>
    new Promise((resolve) => {
      const id = nextPrintId++;
      pendingPrints.set(id, resolve);
      send({ jsonrpc: '2.0', id, method: 'print', params: { content } });
    });

  async function call(method, params) {
    if (method === 'createDatabase') {
      const url = params?.datasource?.tag === 'ConnectionString' ? params.datasource.url : datasource.url;
      return { databaseName: await createDatabase(url) };
    }
    const name = RENAMED[method] ?? method;
    if (!ENGINE_METHODS.has(name)) {
      throw Object.assign(new Error(`Method not found: ${method}`), { rpcCode: -32601 });
    }
    const { engine: wasm, errorRegistry } = await engine();
    try {
      return await wasm[name](params);
    } catch (error) {
      if (!RETRY_AFTER_DIAGNOSE.has(name) || !SHADOW_CACHE_MISS.test(error?.message ?? '')) {
        throw withRegistry(error, errorRegistry);
      }
      logLine(
        'INFO',
        `${name}: shadow database state missing; running diagnoseMigrationHistory, then retrying`,
      );
      await wasm.diagnoseMigrationHistory({
        migrationsList: params.migrationsList,
        optInToShadowDatabase: true,
        filters: params.filters,
      });
      return await wasm[name](params).catch((retryError) => {
        throw withRegistry(retryError, errorRegistry);
      });
    }
  }

  let current; // the request being handled
  async function handle({ id, method, params }) {
    current = id;
    try {
      let result = await call(method, params);
      if (method === 'diff' && result?.stdout) {
        await printOnCli(result.stdout);
        result = { ...result, stdout: null };
      }
      send({ jsonrpc: '2.0', id, result: result ?? null });
    } catch (error) {
      if (error?.rpcCode) {
        send({ jsonrpc: '2.0', id, error: { code: error.rpcCode, message: error.message } });
        return;
      }
      send({ jsonrpc: '2.0', id, error: toRpcError(error, error?.errorRegistry) });
      // A panicked wasm instance is unusable: let the CLI see the engine go away.
      if (isWasmPanic(error)) process.exitCode = 101;
    } finally {
      current = undefined;
    }
  }

  // A wasm panic can also escape from an async task, outside any awaited promise. Always answer
  // the pending request: if this process just died, the CLI could hang or even exit 0 as if
  // `migrate diff` had found no difference. Clean up first: once answered, the CLI kills us.
  let dying = false;
  const fatal = async (error) => {
    if (dying) return;
    dying = true;
    const message = isWasmPanic(error)
      ? panicMessage(error)
      : `Schema engine (wasm stand-in) crashed: ${error?.stack ?? error}`;
    logLine('ERROR', message);
    await Promise.race([dropLeftoverShadowDatabases(), new Promise((done) => setTimeout(done, 5000))]);
    if (current !== undefined) send({ jsonrpc: '2.0', id: current, error: toRpcError(new Error(message)) });
    process.exit(101);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  // The CLI sends SIGTERM right after closing stdin, and Ctrl-C reaches us too: never leave a
  // shadow database behind (a no-op when none is open).
  const onSignal = (code) => () => {
    if (dying) return;
    void dropLeftoverShadowDatabases().finally(() => process.exit(current === undefined ? 0 : code));
  };
  process.on('SIGTERM', onSignal(143));
  process.on('SIGINT', onSignal(130));

  // One request at a time: the wasm engine is not reentrant.
  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    if (message.method === undefined) {
      pendingPrints.get(message.id)?.();
      pendingPrints.delete(message.id);
      return;
    }
    queue = queue.then(() => handle(message));
  });

  // The CLI stops the engine by closing stdin.
  lines.on('close', () => {
    queue
      .then(() => enginePromise)
      .then((created) => created?.engine.free())
      .catch(() => {})
      .finally(() => process.exit());
  });
}
