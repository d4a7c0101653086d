import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseCidr } from '@axle/config';
import { Egress, EgressRefusedError } from './egress';

// The servers are the "inside" a callback URL must not reach: 127.0.0.1 answers, 127.0.0.2
// redirects there, so a refusal is Axle's and never a connection error.
let inside: Server;
let redirector: Server;
let port: number;
let redirectPort: number;

const cidr = (text: string) => parseCidr(text) ?? assert.fail(text);

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port)),
  );
}

async function refusal(egress: Egress, url: string, init = {}): Promise<EgressRefusedError> {
  const err: unknown = await egress.fetch(url, init).then(
    () => assert.fail(`${url} was reached`),
    (e: unknown) => e,
  );
  const refused = Egress.refusalOf(err);
  assert.ok(refused, `${url}: ${String(err)}`);
  return refused;
}

describe('Egress', () => {
  before(async () => {
    inside = createServer((_req, res) => res.end('inside'));
    redirector = createServer((_req, res) =>
      res.writeHead(302, { location: `http://127.0.0.1:${port}/` }).end(),
    );
    port = await listen(inside, '127.0.0.1');
    redirectPort = await listen(redirector, '127.0.0.2');
  });
  after(() => {
    inside.close();
    redirector.close();
  });

  test('non-public addresses are refused, public ones are not', () => {
    const egress = new Egress({ allowPrivate: false, allowedCidrs: [] });
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.5',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:a9fe:a9fe',
    ])
      assert.equal(egress.refuses(address), true, address);
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111'])
      assert.equal(egress.refuses(address), false, address);
  });

  test('a URL naming or resolving to a private address is refused before anything is sent', async () => {
    const egress = new Egress({ allowPrivate: false, allowedCidrs: [] });
    try {
      const literal = await refusal(egress, `http://127.0.0.1:${port}/`);
      assert.equal(literal.address, '127.0.0.1');
      assert.match(literal.message, /127\.0\.0\.1 is not a public address/);
      const named = await refusal(egress, `http://localhost:${port}/`);
      assert.equal(named.host, 'localhost');
      assert.match(named.message, /localhost resolves to (127\.0\.0\.1|::1), which is not a public address/);
      await refusal(egress, `http://[::1]:${port}/`);
      await refusal(egress, `http://[::ffff:127.0.0.1]:${port}/`);
      await refusal(egress, `http://127.0.0.2:${redirectPort}/`, { redirect: 'follow' });
    } finally {
      await egress.close();
    }
  });

  test('an allowed network is reached, and a redirect out of it is refused', async () => {
    const egress = new Egress({ allowPrivate: false, allowedCidrs: [cidr('127.0.0.2/32')] });
    try {
      const redirected = await refusal(egress, `http://127.0.0.2:${redirectPort}/`, { redirect: 'follow' });
      assert.equal(redirected.address, '127.0.0.1');
      const manual = await egress.fetch(`http://127.0.0.2:${redirectPort}/`, { redirect: 'manual' });
      assert.equal(manual.status, 302);
      await manual.body?.cancel();
    } finally {
      await egress.close();
    }
    const wide = new Egress({ allowPrivate: false, allowedCidrs: [cidr('127.0.0.0/8')] });
    try {
      assert.equal(await (await wide.fetch(`http://localhost:${port}/`)).text(), 'inside');
    } finally {
      await wide.close();
    }
  });

  test('allowPrivate reaches everything (development and tests)', async () => {
    const egress = new Egress({ allowPrivate: true, allowedCidrs: [] });
    try {
      assert.equal(await (await egress.fetch(`http://127.0.0.2:${redirectPort}/`)).text(), 'inside');
    } finally {
      await egress.close();
    }
  });
});
