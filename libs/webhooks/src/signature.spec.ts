import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { signBody, verifySignature } from './signature';

describe('webhook signature', () => {
  const secret = 'whsec_test_secret_0123456789';
  const body = '{"event_id":"e1","payload":{"a":1}}';

  test('is sha256= and the hex HMAC-SHA256 of the raw body', () => {
    const hex = createHmac('sha256', secret).update(body).digest('hex');
    assert.equal(signBody(secret, body), `sha256=${hex}`);
    assert.equal(signBody(secret, Buffer.from(body)), `sha256=${hex}`);
  });

  test('matches a known vector', () => {
    // printf %s 'hello' | openssl dgst -sha256 -hmac 'key'
    assert.equal(
      signBody('key', 'hello'),
      'sha256=9307b3b915efb5171ff14d8cb55fbcc798c6c0ef1456d66ded1a6aa723a58b7b',
    );
  });

  test('verification accepts the right signature only', () => {
    const header = signBody(secret, body);
    assert.equal(verifySignature(secret, body, header), true);
    assert.equal(verifySignature(secret, body, header.toUpperCase().replace('SHA256=', 'sha256=')), true);
    assert.equal(verifySignature('another-secret-entirely', body, header), false);
    assert.equal(verifySignature(secret, body.replace('1', '2'), header), false);
    assert.equal(verifySignature(secret, body, header.slice(0, -1)), false);
    assert.equal(verifySignature(secret, body, undefined), false);
    assert.equal(verifySignature(secret, body, 'sha1=abc'), false);
  });
});
