import { AxleError, JSON_MAX_DEPTH, jsonDepthExceeds } from '@axle/protocol';
import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyInstance, type RawServerDefault } from 'fastify';
import { type IncomingMessage } from 'node:http';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body bytes exactly as received (signed requests hash these, not a re-serialization). */
    rawBody?: Buffer;
    /**
     * `POST /axp` only: the body was not JSON, or nested too deep (JSON-RPC answers -32700 in the
     * body, not 400).
     */
    jsonParseFailed?: boolean;
  }
}

/**
 * JSON bodies as Fastify parses them, except that an empty body with `content-type:
 * application/json` is no body rather than a 400: the official SDKs send that header on every call,
 * including POSTs without a body (webhook replay) and DELETEs (webhook subscription revoke).
 * A body nested deeper than JSON_MAX_DEPTH is refused (400 json_too_deep) before anything walks it.
 * Registered through Nest before init, so it replaces Nest's default JSON parser. The raw bytes
 * are kept on the request for X-Axle-Signature verification (SigningGuard).
 */
export function acceptEmptyJsonBodies(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<RawServerDefault>(
    'application/json',
    { bodyLimit: fastify.initialConfig.bodyLimit },
    (request, body, done) => {
      request.rawBody = body;
      const text = body.toString('utf8');
      if (text === '') {
        done(null, undefined);
        return;
      }
      const axp = request.url.split('?')[0] === '/axp';
      void parseJson(request, text, (err: Error | null, value?: unknown) => {
        const failure = err ?? (jsonDepthExceeds(value, JSON_MAX_DEPTH) ? tooDeep() : null);
        if (!failure) done(null, value);
        else if (!axp) done(failure, undefined);
        else {
          // The JSON-RPC facade answers a parse error itself, in the body with HTTP 200.
          request.jsonParseFailed = true;
          done(null, undefined);
        }
      });
    },
  );
}

/**
 * HTML form posts (`application/x-www-form-urlencoded`), for the email magic-link pages: fields
 * become a flat object of strings (a repeated name keeps its last value).
 */
export function acceptFormBodies(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  app.useBodyParser<RawServerDefault>(
    'application/x-www-form-urlencoded',
    { bodyLimit: fastify.initialConfig.bodyLimit },
    (request, body, done) => {
      request.rawBody = body;
      const fields: Record<string, string> = {};
      for (const [key, value] of new URLSearchParams(body.toString('utf8'))) fields[key] = value;
      done(null, fields);
    },
  );
}

const tooDeep = () =>
  new AxleError(
    'malformed',
    'json_too_deep',
    `request body nests arrays and objects deeper than ${JSON_MAX_DEPTH} levels`,
    { max_depth: JSON_MAX_DEPTH },
  );

/** How long an early answer waits for the rest of its request's body (a client that stalls). */
const DRAIN_TIMEOUT_MS = 5_000;

/**
 * An answer sent before its request's body was read (a GET with a body, which Fastify does not
 * parse; a 404 or 415 answered before parsing) waits until the body has arrived and been dropped,
 * up to the body limit. Otherwise, on a `Connection: close` socket, the server closes with unread
 * bytes in it, the kernel answers them with a reset, and the client can lose the answer it was
 * reading (chaos fuzz: GET /metrics with a 64 KB body → ECONNRESET). A body over the limit is not
 * waited for: 413 and a close (docs/api-conventions.md).
 */
export function drainUnreadBodies(fastify: FastifyInstance, bodyLimit: number): void {
  fastify.addHook('onSend', (request, _reply, payload, done) => {
    if (request.raw.complete) done(null, payload);
    else dropBody(request.raw, bodyLimit, () => done(null, payload));
  });
}

function dropBody(raw: IncomingMessage, limit: number, then: () => void): void {
  let size = 0;
  const finish = () => {
    clearTimeout(timer);
    raw.off('data', count).off('end', finish).off('close', finish).off('error', finish);
    then();
  };
  const count = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) finish();
  };
  const timer = setTimeout(finish, DRAIN_TIMEOUT_MS);
  raw.on('data', count).once('end', finish).once('close', finish).once('error', finish);
  raw.resume();
}
