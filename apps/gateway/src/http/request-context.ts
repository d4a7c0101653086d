import { type Principal } from '@axle/auth';
import { runWithCorrelation } from '@axle/observability';
import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    traceId?: string;
  }
}

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request ids on every response, X-Trace-Id echoed, and both in every log line of the request. */
export function installRequestContext(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const incoming = request.headers['x-trace-id'];
    const traceId = typeof incoming === 'string' && TRACE_ID.test(incoming) ? incoming : randomUUID();
    request.traceId = traceId;
    void reply.header('x-request-id', request.id).header('x-trace-id', traceId);
    runWithCorrelation({ requestId: request.id, traceId }, done);
  });
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
