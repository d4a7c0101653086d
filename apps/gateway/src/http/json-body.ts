import { AxleError, JSON_MAX_DEPTH, jsonDepthExceeds } from '@axle/protocol';
import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type RawServerDefault } from 'fastify';

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
