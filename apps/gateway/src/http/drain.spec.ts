import Fastify, { type FastifyInstance } from 'fastify';
import assert from 'node:assert/strict';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { GatewayDrain } from './drain';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A Fastify app with the drain hooks, a slow route, a held SSE-like stream and a probe. */
async function serve(drain: GatewayDrain, streams: AbortController) {
  const fastify: FastifyInstance = Fastify();
  drain.install(fastify);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  fastify.get('/slow', async () => {
    await released;
    return { ok: true, slow: true };
  });
  fastify.get('/fast', () => Promise.resolve({ ok: true }));
  fastify.get('/ready', () => Promise.resolve({ ok: !drain.draining }));
  fastify.get('/stream', (_request, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive' });
    reply.raw.write(': open\n\n');
    const end = () => reply.raw.end('event: stream.interrupted\ndata: {"ok":false}\n\n');
    if (streams.signal.aborted) end();
    else streams.signal.addEventListener('abort', end, { once: true });
  });
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  const port = (fastify.server.address() as AddressInfo).port;
  return { fastify, port, release };
}

/** A raw connection: what it received, and whether the server ended or reset it. */
function rawClient(port: number, first: string) {
  const socket: Socket = connect(port, '127.0.0.1');
  let received = '';
  let outcome: 'open' | 'ended' | 'reset' = 'open';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const closed = new Promise<void>((resolve) => {
    socket.on('end', () => (outcome = 'ended'));
    socket.on('error', () => (outcome = 'reset'));
    socket.on('close', () => resolve());
  });
  socket.write(first);
  return {
    socket,
    closed,
    received: () => received,
    outcome: () => outcome,
    until: async (text: string) => {
      while (!received.includes(text)) {
        if (socket.destroyed) assert.fail(`closed before "${text}"; got ${received}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const head = (path: string) => `GET ${path} HTTP/1.1\r\nHost: test\r\n`;

describe('gateway drain', () => {
  const servers: FastifyInstance[] = [];
  after(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
  });

  test('streams end cleanly, in-flight requests finish with connection: close, then exit 0', async () => {
    const streams = new AbortController();
    const drain = new GatewayDrain(streams);
    const { fastify, port, release } = await serve(drain, streams);
    servers.push(fastify);
    // Kept-alive connections: one holds a stream, one a slow request, one is idle after a request.
    const stream = rawClient(port, `${head('/stream')}\r\n`);
    await stream.until(': open');
    const slow = rawClient(port, `${head('/slow')}\r\n`);
    const idle = rawClient(port, `${head('/fast')}\r\n`);
    await idle.until('"ok":true');
    assert.equal(drain.phase, 'serving');

    const exits: number[] = [];
    let appClosed = false;
    const done = drain.drain({
      server: fastify.server,
      graceMs: 30_000,
      closeApp: () => {
        appClosed = true;
        return Promise.resolve();
      },
      exit: (code) => exits.push(code),
      logger: quiet,
      reason: 'SIGTERM',
    });
    assert.equal(drain.drain({} as never), done, 'a second signal joins the same drain');
    assert.equal(drain.phase, 'draining');
    assert.ok(streams.signal.aborted, 'the drain ends the open streams');
    assert.ok(await refused(port), 'no new connections');

    await stream.closed;
    assert.match(stream.received(), /event: stream\.interrupted\ndata: \{"ok":false\}\n\n/);
    assert.ok(stream.received().endsWith('\r\n0\r\n\r\n'), 'the last chunk: the response is complete');
    assert.equal(stream.outcome(), 'ended', 'a clean end, not a reset');
    await idle.closed;
    assert.equal(idle.outcome(), 'ended');
    assert.equal(appClosed, false, 'the app stays open while a request is in flight');

    release();
    await slow.closed;
    assert.match(slow.received(), /^HTTP\/1\.1 200 /);
    assert.match(slow.received(), /\r\nconnection: close\r\n/i);
    assert.match(slow.received(), /"slow":true/);

    await done;
    assert.equal(appClosed, true);
    assert.deepEqual(exits, [0]);
    assert.equal(drain.phase, 'closing');
  });

  test('a request arriving while a request is in flight is served with connection: close', async () => {
    const streams = new AbortController();
    const drain = new GatewayDrain(streams);
    const { fastify, port, release } = await serve(drain, streams);
    servers.push(fastify);
    const slow = rawClient(port, `${head('/slow')}\r\n`);
    // A request whose head is still arriving when the drain starts: the connection is not idle.
    const late = rawClient(port, head('/fast'));
    await new Promise((r) => setTimeout(r, 50));
    const exits: number[] = [];
    const done = drain.drain({
      server: fastify.server,
      graceMs: 30_000,
      closeApp: () => Promise.resolve(),
      exit: (code) => exits.push(code),
      logger: quiet,
      reason: 'SIGTERM',
    });
    late.socket.write('\r\n');
    await late.closed;
    assert.match(late.received(), /^HTTP\/1\.1 200 /);
    assert.match(late.received(), /\r\nconnection: close\r\n/i);
    release();
    await slow.closed;
    await done;
    assert.deepEqual(exits, [0]);
  });

  test('near the end of the grace: 503 shutting_down with Retry-After, probes still answer; then exit 1', async () => {
    const streams = new AbortController();
    const drain = new GatewayDrain(streams);
    const { fastify, port } = await serve(drain, streams);
    servers.push(fastify);
    // Never released: the drain cannot finish in time.
    const stuck = rawClient(port, `${head('/slow')}\r\n`);
    const late = rawClient(port, head('/fast'));
    const probe = rawClient(port, head('/ready'));
    await new Promise((r) => setTimeout(r, 50));
    const exits: number[] = [];
    let closing!: () => void;
    const appClosing = new Promise<void>((resolve) => (closing = resolve));
    void drain.drain({
      server: fastify.server,
      graceMs: 400,
      // Closing the app hangs too: only the grace ends the process.
      closeApp: () => {
        closing();
        return new Promise<void>(() => undefined);
      },
      exit: (code) => exits.push(code),
      logger: quiet,
      reason: 'SIGTERM',
    });
    await appClosing;
    assert.equal(drain.phase, 'closing');
    late.socket.write('\r\n');
    probe.socket.write('\r\n');
    await late.closed;
    assert.match(late.received(), /^HTTP\/1\.1 503 /);
    assert.match(late.received(), /\r\nretry-after: 1\r\n/i);
    assert.match(late.received(), /\r\nconnection: close\r\n/i);
    const body = JSON.parse(late.received().slice(late.received().indexOf('\r\n\r\n') + 4)) as {
      ok: boolean;
      error: { code: string };
    };
    assert.equal(body.ok, false);
    assert.equal(body.error.code, 'shutting_down');
    await probe.closed;
    assert.match(probe.received(), /^HTTP\/1\.1 200 /);
    assert.match(probe.received(), /\{"ok":false\}/, 'the probe route itself says not ready');

    while (exits.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(exits, [1]);
    stuck.socket.destroy();
  });
});
