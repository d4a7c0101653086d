// What the Prisma CLI expects from a schema-engine process, beyond the JSON-RPC results themselves:
// JSON log lines on stderr, and JSON-RPC error objects shaped like the native engine's.

const LOG_TARGET = 'schema_engine::logger';

/** One log line on stderr, in the native engine's tracing format. The CLI parses every stderr line
 *  as JSON: it shows ERROR lines' `fields.message` (and `fields.error_code`) when the engine fails. */
export function logLine(level, message, fields = {}) {
  process.stderr.write(
    `${JSON.stringify({ timestamp: new Date().toISOString(), level, fields: { message, ...fields }, target: LOG_TARGET })}\n`,
  );
}

/** Nothing but protocol messages may reach stdout, so stray console output goes to stderr as logs. */
export function keepStdoutForProtocol() {
  for (const method of ['log', 'info', 'debug', 'warn', 'error']) {
    console[method] = (...args) => logLine(method === 'error' ? 'ERROR' : 'INFO', args.map(String).join(' '));
  }
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logLine('WARN', `${warning.name}: ${warning.message}`));
}

/**
 * Turns anything the wasm engine (or this stand-in) throws into the JSON-RPC error the CLI reads:
 * `data.error_code` makes it print "<code>: <message>"; `data.message` alone prints the message.
 * @param {unknown} error
 * @param {{ consumeError(id: number): { error: unknown } | undefined } | undefined} errorRegistry
 */
export function toRpcError(error, errorRegistry) {
  const original = unwrapExternalError(error, errorRegistry);
  const message = original instanceof Error ? original.message : String(original);
  const data = { is_panic: false, message: panicFree(original, message) };
  if (typeof original?.code === 'string' && /^P\d{4}$/.test(original.code)) {
    data.error_code = original.code;
    data.meta = original.meta ?? {};
  }
  return { code: 4466, message: 'An error happened. Check the data field for details.', data };
}

/** Errors thrown by our JS side of the adapter (not DriverAdapterErrors) reach the engine as
 *  `GenericJs { id }` and come back as "External error id#N": fetch the original from the registry. */
function unwrapExternalError(error, errorRegistry) {
  const id = /External error id#(\d+)/.exec(error?.message ?? '')?.[1];
  const registered = id === undefined ? undefined : errorRegistry?.consumeError(Number(id));
  return registered?.error ?? error;
}

/** A Rust panic in wasm surfaces as a RuntimeError ("unreachable"); the real message is in the
 *  panic registry. Reported as a plain error on purpose: the CLI would otherwise offer to send a
 *  crash report to Prisma about an engine it did not start. */
function panicFree(error, message) {
  return isWasmPanic(error) ? panicMessage(error) : message;
}

export function panicMessage(error) {
  return `The schema engine (wasm stand-in) panicked: ${lastPanicMessage() ?? error?.stack ?? error}`;
}

export function isWasmPanic(error) {
  return error instanceof WebAssembly.RuntimeError;
}

/** The wasm's panic hook stores the Rust panic message here before trapping (Prisma's CLI installs
 *  the same global); without it a panic becomes an unrelated TypeError that kills the process. */
export function installPanicRegistry() {
  globalThis.PRISMA_WASM_PANIC_REGISTRY ??= {
    message: '',
    set_message(message) {
      this.message = String(message);
    },
  };
}

/** The Rust panic message behind a wasm RuntimeError, if the engine recorded one. */
export function lastPanicMessage() {
  return globalThis.PRISMA_WASM_PANIC_REGISTRY?.message || undefined;
}
