// The engine's one-shot `cli` subcommands. The CLI runs them before migrate/db commands to make
// sure the database exists: on P1003 it runs `create-database`, any other code is shown as an error.
import { canConnect, createDatabase } from './postgres.mjs';
import { logLine } from './protocol.mjs';

const COMMANDS = {
  'can-connect-to-database': (url) => canConnect(url),
  'create-database': async (url) => {
    const name = await createDatabase(url);
    logLine('INFO', `Database '${name}' was successfully created.`);
  },
};

export async function runCliCommand(command, datasource) {
  // The CLI skips the first stderr line and parses the rest as JSON log lines.
  logLine('INFO', 'Starting schema engine (wasm stand-in) CLI', { command });
  const run = COMMANDS[command];
  if (!run) {
    logLine('ERROR', `Unknown schema engine cli command: ${command}`);
    return 1;
  }
  try {
    await run(datasource.url);
    return 0;
  } catch (error) {
    const fields =
      typeof error?.code === 'string' && /^P\d{4}$/.test(error.code) ? { error_code: error.code } : {};
    logLine('ERROR', error?.message ?? String(error), { is_panic: false, ...fields });
    return 1;
  }
}
