import { activeSpan, runInContext, savedContext } from '@axle/observability';
import { type FastifyInstance, type FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The OpenTelemetry context of the request's server span (restored for the handler). */
    otelContext?: ReturnType<typeof savedContext>;
  }
}

/**
 * Names the request's server span (from instrumentation-http) after its route pattern,
 * `POST /v1/intents/:id/resume`, never the raw URL, sets `http.route`, and keeps the span's
 * context active in the handler (body parsing continues on the socket's async context, which
 * would lose it). A path that may carry a secret (`/h/:token` magic links) is recorded as its
 * pattern; query strings are never recorded.
 */
export function installHttpTracing(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    request.otelContext = savedContext();
    const span = activeSpan();
    if (span?.isRecording()) {
      const pattern = request.routeOptions.url;
      if (pattern) {
        span.updateName(`${request.method} ${pattern}`);
        span.setAttribute('http.route', pattern);
      }
      const target = safeTarget(request, pattern);
      span.setAttribute('http.target', target);
      span.setAttribute('http.url', `${request.protocol}://${request.host}${target}`);
      span.setAttribute('axle.request_id', request.id);
    }
    done();
  });
  fastify.addHook('preHandler', (request, _reply, done) => {
    if (request.otelContext) runInContext(request.otelContext, done);
    else done();
  });
}

function safeTarget(request: FastifyRequest, pattern: string | undefined): string {
  if (pattern && /:(token|key|secret)\b/i.test(pattern)) return pattern;
  return request.url.split('?')[0] ?? '';
}
