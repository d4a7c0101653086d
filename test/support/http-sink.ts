import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';

export type SinkRequest = {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  /** The body parsed as JSON, or null when it is not JSON. */
  body: Record<string, unknown> | null;
};

/** A local http agent endpoint (a true external edge) that answers from a script and keeps what it got. */
export class HttpSink {
  readonly received: SinkRequest[] = [];
  private readonly script = new Map<string, number[]>();
  private server: Server | null = null;
  url = '';

  /** Listens on `host` (another loopback address, 127.0.0.2, is another network to an egress rule). */
  async start(host = '127.0.0.1'): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.received.push({ path, headers: req.headers, raw, body: parseJson(raw) });
        const status = this.script.get(path)?.shift() ?? 200;
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"ack":true}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  /** The statuses `path` answers, one per request; 200 once they run out. */
  answer(path: string, statuses: number[]): void {
    this.script.set(path, statuses);
  }

  for(path: string): SinkRequest[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

function parseJson(raw: string): Record<string, unknown> | null {
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
}
