// Loads @prisma/schema-engine-wasm (Prisma's schema engine compiled to WebAssembly) and builds an
// engine on top of the PostgreSQL driver adapter.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';

import { createAdapterFactory } from './postgres.mjs';
import { installPanicRegistry } from './protocol.mjs';

const require = createRequire(import.meta.url);
const WASM_PACKAGE = '@prisma/schema-engine-wasm';

/** The package's entry point imports the .wasm file as an ES module, which Node 20 cannot do
 *  without a flag; so instantiate it by hand, as Prisma's own loader does. */
async function loadRuntime() {
  installPanicRegistry();
  const runtime = await import(`${WASM_PACKAGE}/schema_engine_bg`);
  const wasmPath = require.resolve(`${WASM_PACKAGE}/schema_engine_bg`).replace(/\.js$/, '.wasm');
  const module = new WebAssembly.Module(await readFile(wasmPath));
  const instance = new WebAssembly.Instance(module, { './schema_engine_bg.js': runtime });
  runtime.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  return runtime;
}

/** Version of the wasm engine, e.g. "59be4fda…" (the prisma-engines commit). */
export function wasmEngineCommit() {
  // package.json is not in the package's "exports"; read it next to the module.
  const packageJson = join(dirname(require.resolve(`${WASM_PACKAGE}/schema_engine_bg`)), 'package.json');
  return JSON.parse(readFileSync(packageJson, 'utf8')).version.split('.').at(-1);
}

/**
 * @param {{ datamodels: [string, string][] | undefined, datasource: { url?: string, shadowDatabaseUrl?: string }, log: (line: string) => void }} options
 */
export async function createSchemaEngine({ datamodels, datasource, log }) {
  const runtime = await loadRuntime();
  const adapter = bindMigrationAwareSqlAdapterFactory(
    createAdapterFactory({ url: datasource.url, shadowDatabaseUrl: datasource.shadowDatabaseUrl }),
  );
  const { errorRegistry } = adapter;
  try {
    // `datamodels` must be undefined or non-empty. new() connects to the database right away.
    const engine = await runtime.SchemaEngine.new({ datamodels }, log, adapter);
    return { engine, errorRegistry };
  } catch (error) {
    throw error !== null && typeof error === 'object' ? Object.assign(error, { errorRegistry }) : error;
  }
}
