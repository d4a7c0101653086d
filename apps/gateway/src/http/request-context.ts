import { type Principal } from '@axle/auth';
import { type CorrelationContext, type Logger, runWithCorrelation } from '@axle/observability';
import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    traceId?: string;
    /** The request's one correlation context: every phase runs in it, so marks made in one are seen by all. */
    correlation?: CorrelationContext;
  }
}

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request ids on every response, X-Trace-Id echoed, and both in every log line of the request. */
export function installRequestContext(fastify: FastifyInstance, logger: Logger): void {
  const contextOf = (request: FastifyRequest): CorrelationContext =>
    (request.correlation ??= {
      requestId: request.id,
      traceId: request.traceId ?? null,
      route: routeOf(request),
    });
  fastify.addHook('onRequest', (request, reply, done) => {
    const incoming = request.headers['x-trace-id'];
    const traceId = typeof incoming === 'string' && TRACE_ID.test(incoming) ? incoming : randomUUID();
    request.traceId = traceId;
    void reply.header('x-request-id', request.id).header('x-trace-id', traceId);
    runWithCorrelation(contextOf(request), done);
  });
  // Body parsing continues on the socket's async context, so the handler's context is set again here.
  fastify.addHook('preHandler', (request, _reply, done) => runWithCorrelation(contextOf(request), done));
  fastify.addHook('onResponse', (request, reply, done) => {
    runWithCorrelation(contextOf(request), () =>
      logger.info(
        {
          method: request.method,
          route: request.routeOptions.url ?? null,
          status: reply.statusCode,
          duration_ms: Math.round(reply.elapsedTime),
        },
        'request',
      ),
    );
    done();
  });
}

/** `METHOD /route/:pattern`, or null for a request that matched no route. */
export function routeOf(request: FastifyRequest): string | null {
  const pattern = request.routeOptions.url;
  return pattern ? `${request.method} ${pattern}` : null;
}

export const generateRequestId = (): string => randomUUID();

export const PUBLIC_ROUTE = 'axle:public';
/** Marks a route that needs no credential (health checks). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const request = ctx.switchToHttp().getRequest<FastifyRequest>();
  if (!request.principal) throw new Error('route has no authenticated principal');
  return request.principal;
});

export function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
