import { createServer, type Server } from 'node:http';
import { scrapeMetrics } from './metrics';

export type HealthCheck = () => Promise<{ ok: boolean; checks: Record<string, string> }>;

/**
 * A minimal HTTP server for processes without an API (worker, runner): `/health` answers while the
 * process lives, `/ready` runs the check (200 or 503), and with `metrics: true` `/metrics` serves
 * the process's Prometheus registry (initMetrics). Used by `npm start`, Kubernetes probes and scrapes.
 * Once `draining()` is true (SIGTERM, docs/lifecycle.md), `/ready` answers 503 `checks.draining`.
 */
export async function startHealthServer(options: {
  host: string;
  port: number;
  ready: HealthCheck;
  metrics?: boolean;
  draining?: () => boolean;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health') return send(200, { ok: true });
    if (options.metrics && req.url?.split('?')[0] === '/metrics') return serveMetrics(req.method, res, send);
    if (req.url === '/ready' && options.draining?.()) {
      res.setHeader('retry-after', '1');
      return send(503, { ok: false, checks: { draining: 'true' } });
    }
    if (req.url === '/ready') {
      options.ready().then(
        (result) => send(result.ok ? 200 : 503, result),
        (err: unknown) => send(503, { ok: false, error: String(err) }),
      );
      return;
    }
    send(404, { ok: false, error: { code: 'route_not_found', message: 'not found' } });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}

function serveMetrics(
  method: string | undefined,
  res: import('node:http').ServerResponse,
  send: (status: number, body: unknown) => void,
): void {
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(405, {
      ok: false,
      error: { code: 'method_not_allowed', message: 'use GET /metrics' },
      detail: 'use GET /metrics',
    });
  }
  scrapeMetrics().then(
    ({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(method === 'HEAD' ? undefined : body);
    },
    (err: unknown) =>
      send(500, { ok: false, error: { code: 'internal_error', message: String(err) }, detail: String(err) }),
  );
}
