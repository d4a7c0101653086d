import { axleMetrics, boundedLabel } from '@axle/observability';
import { type FastifyInstance } from 'fastify';
import { isEventStream } from './sse';

/**
 * axle_http_request_duration_seconds per method, route pattern (never the raw URL; `unmatched` when
 * no route matched) and status. SSE streams are left out (their duration is the stream's life, see
 * axle_sse_streams_open), and so is /metrics (scrapes would only measure themselves).
 */
export function installHttpMetrics(fastify: FastifyInstance): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (route !== '/metrics' && !isEventStream(request))
      axleMetrics.httpRequestDuration.observe(
        {
          method: boundedLabel('method', request.method),
          route: boundedLabel('route', route),
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
    done();
  });
}
