#!/usr/bin/env node
// Stand-in for Prisma's native `schema-engine` binary, which the CLI downloads from a host these
// machines cannot reach. prisma.config.ts points PRISMA_SCHEMA_ENGINE_BINARY here; this script
// speaks the binary's command line and JSON-RPC protocol and runs Prisma's own schema engine
// compiled to wasm (@prisma/schema-engine-wasm) over @prisma/adapter-pg. See docs/database.md.
//
//   schema-engine.mjs --version
//   schema-engine.mjs --datamodels <file>… --datasource '{"url":…,"shadowDatabaseUrl":…}'   (RPC on stdio)
//   schema-engine.mjs --datasource '{"url":…}' cli can-connect-to-database|create-database
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { runCliCommand } from './cli-commands.mjs';
import { keepStdoutForProtocol, logLine } from './protocol.mjs';
import { serveRpc } from './rpc-server.mjs';
import { wasmEngineCommit } from './wasm-engine.mjs';

function parseArgs(argv) {
  const args = { datamodelPaths: [], datasource: {}, cli: undefined, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--version' || arg === '-V') args.version = true;
    else if (arg === '--datamodels') args.datamodelPaths.push(argv[++i]);
    else if (arg === '--datasource') args.datasource = JSON.parse(argv[++i] ?? '{}');
    else if (arg === 'cli') args.cli = argv[++i];
    // --enabled-preview-features and --extension-types have no counterpart in the wasm engine.
    else if (arg === '--enabled-preview-features' || arg === '--extension-types') i++;
  }
  return args;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.version) {
    // The CLI shows this in `prisma --version`; it names the engine that really runs.
    process.stdout.write(`schema-engine-cli ${wasmEngineCommit()} (wasm stand-in)\n`);
    return;
  }
  keepStdoutForProtocol();
  if (args.cli !== undefined) {
    runCliCommand(args.cli, args.datasource).then((code) => process.exit(code));
    return;
  }
  const datamodels = args.datamodelPaths.map((path) => [path, readFileSync(resolve(path), 'utf8')]);
  serveRpc({ datamodels: datamodels.length > 0 ? datamodels : undefined, datasource: args.datasource });
}

try {
  main();
} catch (error) {
  // Exit code 1 makes the CLI report "Error in Schema engine: <last ERROR message>".
  logLine('ERROR', error?.message ?? String(error));
  process.exit(1);
}
