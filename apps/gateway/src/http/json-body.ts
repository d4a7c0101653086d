import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type RawServerDefault } from 'fastify';

/**
 * JSON bodies as Fastify parses them, except that an empty body with `content-type:
 * application/json` is no body rather than a 400: the official SDKs send that header on every call,
 * including POSTs without a body (webhook replay) and DELETEs (webhook subscription revoke).
 * Registered through Nest before init, so it replaces Nest's default JSON parser.
 */
export function acceptEmptyJsonBodies(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<RawServerDefault>(
    'application/json',
    { bodyLimit: fastify.initialConfig.bodyLimit },
    (request, body, done) => {
      const text = body.toString('utf8');
      if (text === '') {
        done(null, undefined);
        return;
      }
      void parseJson(request, text, done);
    },
  );
}
