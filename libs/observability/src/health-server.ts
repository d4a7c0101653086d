import { createServer, type Server } from 'node:http';

export type HealthCheck = () => Promise<{ ok: boolean; checks: Record<string, string> }>;

/**
 * A minimal HTTP server for processes without an API (worker, runner): `/health` answers while the
 * process lives, `/ready` runs the check (200 or 503). Used by `npm start` and Kubernetes probes.
 * Once `draining()` is true (SIGTERM, docs/lifecycle.md), `/ready` answers 503 `checks.draining`.
 */
export async function startHealthServer(options: {
  host: string;
  port: number;
  ready: HealthCheck;
  draining?: () => boolean;
}): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/health') return send(200, { ok: true });
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
