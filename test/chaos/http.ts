import { Agent, request } from 'node:http';

/** One request as the harness sends it: raw header pairs (duplicates allowed) and raw body bytes. */
export type RawRequest = {
  method: string;
  path: string;
  /** [name, value] pairs, sent as given (a name may repeat). */
  headers: [string, string][];
  body?: string | Buffer;
};

export type RawResponse =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; text: string }
  | { kind: 'error'; error: string };

/** Keep-alive agent without a socket cap: the storm needs 1,000 requests in flight at once. */
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

/**
 * Sends one request over node:http (fetch would normalise headers and refuse odd ones) and reads
 * the answer. An event stream is closed as soon as its headers arrive: the status is the answer.
 * `fresh` uses a connection of its own (fuzz: each case must be reproducible on its own).
 * Anything that is not an HTTP answer within timeoutMs is an error (`timeout`, `ECONNRESET`, …).
 */
export function send(
  baseUrl: string,
  req: RawRequest,
  timeoutMs = 15_000,
  options: { fresh?: boolean } = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: RawResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    // A name given twice is sent as two header lines (node:http does that for an array value).
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of req.headers) {
      const name = k.toLowerCase();
      const prev = headers[name];
      headers[name] = prev === undefined ? v : [...([] as string[]).concat(prev), v];
    }
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    if (body !== undefined && headers['content-length'] === undefined)
      headers['content-length'] = String(body.length);
    let r: ReturnType<typeof request>;
    try {
      r = request({
        // A fresh connection isolates a request from what an odd predecessor left on the socket.
        agent: options.fresh ? false : agent,
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers,
      });
    } catch (err) {
      // The client refused to send it (an invalid header or path): not the server's doing.
      resolve({ kind: 'error', error: `client: ${(err as Error).message}` });
      return;
    }
    const timer = setTimeout(() => {
      finish({ kind: 'error', error: 'timeout' });
      r.destroy();
    }, timeoutMs);
    r.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'error', error: err.code ?? err.message }));
    r.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        finish({ kind: 'response', status, headers: res.headers, text: '' });
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        finish({
          kind: 'response',
          status,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', (err: NodeJS.ErrnoException) =>
        finish({ kind: 'error', error: err.code ?? err.message }),
      );
    });
    r.end(body);
  });
}

export function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
