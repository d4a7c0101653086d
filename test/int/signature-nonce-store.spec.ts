// Replay protection for signed requests against real Redis: a nonce is accepted once per key
// within the window (also under concurrency), is forgotten after its TTL, keys do not share
// nonces, the Redis key is the documented one, and an unreachable Redis refuses (fail-closed).
import { SignatureNonceStore } from '@axle/auth';
import { DependencyUnavailableError, SIGNATURE_NONCE_TTL_SECONDS } from '@axle/protocol';
import { freePort, requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';

const stores: SignatureNonceStore[] = [];
function store(options: { redisUrl?: string; prefix?: string; ttlSeconds?: number } = {}) {
  const created = new SignatureNonceStore({
    redisUrl: options.redisUrl ?? requireEnv('REDIS_URL'),
    prefix: options.prefix ?? `axle:test:sig-nonce:${randomUUID()}`,
    ...(options.ttlSeconds !== undefined ? { ttlSeconds: options.ttlSeconds } : {}),
  });
  stores.push(created);
  return created;
}

const KEY = 'ed25519.00112233445566778899aabbccddeeff';
const OTHER_KEY = 'ed25519.ffeeddccbbaa99887766554433221100';

describe('SignatureNonceStore (real Redis)', () => {
  const redis = new Redis(requireEnv('REDIS_URL'));
  after(async () => {
    await Promise.all(stores.map((s) => s.onModuleDestroy()));
    await redis.quit();
  });

  test('a nonce is accepted once per key; another key may use the same nonce', async () => {
    const nonces = store();
    const nonce = `n-${randomUUID()}`;
    assert.equal(await nonces.claim(KEY, nonce), true);
    assert.equal(await nonces.claim(KEY, nonce), false);
    assert.equal(await nonces.claim(KEY, nonce), false);
    assert.equal(await nonces.claim(OTHER_KEY, nonce), true);
  });

  test('two gateways (two stores) racing with one nonce: exactly one wins', async () => {
    const prefix = `axle:test:sig-nonce:${randomUUID()}`;
    const a = store({ prefix });
    const b = store({ prefix });
    const nonce = `race-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claim(KEY, nonce)),
    );
    assert.equal(results.filter(Boolean).length, 1);
  });

  test('the default key is axle:sig-nonce:v1:<keyId>:<nonce>, kept for the replay window', async () => {
    const nonces = store();
    // The default prefix, with a key id of this run so nothing else collides.
    const keyId = `ed25519.${randomUUID().replace(/-/g, '')}`;
    const nonce = `ttl-${randomUUID()}`;
    const real = new SignatureNonceStore({ redisUrl: requireEnv('REDIS_URL') });
    stores.push(real);
    assert.equal(await real.claim(keyId, nonce), true);
    const ttl = await redis.ttl(`axle:sig-nonce:v1:${keyId}:${nonce}`);
    assert.ok(ttl > SIGNATURE_NONCE_TTL_SECONDS - 5 && ttl <= SIGNATURE_NONCE_TTL_SECONDS, `ttl ${ttl}`);
    assert.equal(SIGNATURE_NONCE_TTL_SECONDS, 600);
    assert.equal(await nonces.claim(keyId, nonce), true, 'another prefix is another namespace');
  });

  test('a nonce is forgotten after its TTL', async () => {
    const nonces = store({ ttlSeconds: 1 });
    const nonce = `short-${randomUUID()}`;
    assert.equal(await nonces.claim(KEY, nonce), true);
    assert.equal(await nonces.claim(KEY, nonce), false);
    const deadline = Date.now() + 10_000;
    while (!(await nonces.claim(KEY, nonce))) {
      assert.ok(Date.now() < deadline, 'the nonce never expired');
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  test('an unreachable Redis refuses with DependencyUnavailableError (fail-closed)', async () => {
    const nonces = store({ redisUrl: `redis://127.0.0.1:${await freePort()}` });
    await assert.rejects(nonces.claim(KEY, `down-${randomUUID()}`), (err: unknown) => {
      assert.ok(err instanceof DependencyUnavailableError);
      assert.equal(err.dependency, 'redis');
      return true;
    });
  });
});
