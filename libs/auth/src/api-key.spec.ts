import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateApiKey, hashSecret, parseApiKey, verifySecret } from './api-key';

describe('API keys', () => {
  test('generated keys have the AXME form and parse back', () => {
    const { key, serviceAccountId, secret } = generateApiKey();
    assert.match(key, /^axme_sa_[0-9a-f-]{36}_[0-9a-f]{64}$/);
    assert.deepEqual(parseApiKey(key), { serviceAccountId, secret });
  });

  test('malformed keys do not parse', () => {
    for (const bad of ['', 'axme_sa_', 'axme_sa_x_y', `axme_sa_${'0'.repeat(36)}_abc`, 'Bearer abc'])
      assert.equal(parseApiKey(bad), null);
  });

  test('only the right secret verifies against the stored hash, which does not contain it', async () => {
    const { secret } = generateApiKey();
    const stored = await hashSecret(secret);
    assert.ok(!stored.includes(secret));
    assert.equal(await verifySecret(secret, stored), true);
    assert.equal(await verifySecret(generateApiKey().secret, stored), false);
    assert.equal(await verifySecret(secret, 'plain$text'), false);
  });
});
