import { SIGNATURE_HEADER_MAX_LENGTH, SIGNING_KEY_ID_PATTERN, signingPayload } from '@axle/protocol';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  bodySha256,
  isFresh,
  keyIdOf,
  parsePublicKey,
  parseSignatureHeader,
  type SignatureHeader,
  toKeyObject,
  verifyRequestSignature,
} from './signature';

// RFC 8032 §7.1 TEST 1: the secret key 9d61b1…7f60 has this public key and signs the empty message so.
const RFC_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
const RFC_EMPTY_SIGNATURE = Buffer.from(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  'hex',
);
// Computed independently with Python's hashlib and `cryptography` (the snippet in docs/signed-agents.md).
const RFC_KEY_ID = 'ed25519.21fe31dfa154a261626bf854046fd227';
const RFC_PUBLIC_PEM =
  '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n';
const RFC_PRIVATE_PEM =
  '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n';

/** A signed create-intent request, signed by the RFC key with Python `cryptography`. */
const VECTOR = {
  method: 'POST',
  path: '/v1/intents?owner_agent=agent%3A%2F%2Fdefault%2Fdefault%2Fbot',
  rawBody: Buffer.from(
    '{"intent_type":"ops.deploy.v1","to_agent":"agent://default/default/deployer","payload":{"v":1}}',
  ),
  bodySha256: 'db5933072628f2e27706084e34a76b128d578916248cf5c2e5f91e2fa7485461',
  timestamp: 1_700_000_000,
  nonce: 'n0nce-0123456789abcdef',
  sigBase64: 'x+LOlzJGxkGFXnfBt7JimhUV/UCcu2dTWtdmGiaIML+J2EWAGlA1xjMtm54h0Ew7HuGT5v2yBVkiRBjrWgxwCQ==',
  sigBase64Url: 'x-LOlzJGxkGFXnfBt7JimhUV_UCcu2dTWtdmGiaIML-J2EWAGlA1xjMtm54h0Ew7HuGT5v2yBVkiRBjrWgxwCQ',
};

function headerOf(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const validFields = {
  keyId: RFC_KEY_ID,
  ts: String(VECTOR.timestamp),
  nonce: VECTOR.nonce,
  sig: VECTOR.sigBase64,
};

function parsed(fields: Record<string, string> = validFields): SignatureHeader {
  const result = parseSignatureHeader(headerOf(fields));
  assert.ok(!('error' in result), JSON.stringify(result));
  return result;
}

describe('signing key ids', () => {
  test('are ed25519. + hex of the first 16 bytes of SHA-256(raw public key) (known vector)', () => {
    assert.equal(keyIdOf(RFC_PUBLIC), RFC_KEY_ID);
    assert.match(RFC_KEY_ID, SIGNING_KEY_ID_PATTERN);
  });

  test('need a 32-byte key', () => {
    assert.throws(() => keyIdOf(Buffer.alloc(31)));
    assert.throws(() => keyIdOf(Buffer.alloc(33)));
  });
});

describe('public keys on registration', () => {
  test('base64, base64url (padded or not) and PEM SPKI give the same key and id', () => {
    const forms = [
      RFC_PUBLIC.toString('base64'),
      RFC_PUBLIC.toString('base64url'),
      `${RFC_PUBLIC.toString('base64url')}=`,
      `  ${RFC_PUBLIC.toString('base64')}\n`,
      RFC_PUBLIC_PEM,
      RFC_PUBLIC_PEM.replace(/\n/g, '\r\n'),
    ];
    for (const form of forms) {
      const result = parsePublicKey(form);
      assert.ok(!('error' in result), `${JSON.stringify(form)}: ${JSON.stringify(result)}`);
      assert.deepEqual(result.raw, RFC_PUBLIC);
      assert.equal(result.keyId, RFC_KEY_ID);
    }
  });

  test('a key node:crypto generates round-trips through its PEM and its raw form', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const fromPem = parsePublicKey(pem);
    assert.ok(!('error' in fromPem));
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    assert.deepEqual(fromPem.raw, raw);
  });

  test('refuses private keys, other key types, wrong lengths and junk, with a reason', () => {
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const cases: [string, RegExp][] = [
      [RFC_PRIVATE_PEM, /private key/],
      [x25519, /not an Ed25519 key/],
      [Buffer.alloc(31, 1).toString('base64'), /32 bytes/],
      [Buffer.alloc(64, 1).toString('base64'), /32 bytes/],
      ['not a key at all!', /base64/],
      ['', /base64|32 bytes/],
      // Both alphabets at once is no encoding anyone produces.
      [`${RFC_PUBLIC.toString('base64').slice(0, 10)}-_${RFC_PUBLIC.toString('base64').slice(12)}`, /base64/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /not a valid public key/],
      ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /PUBLIC KEY/],
    ];
    for (const [input, reason] of cases) {
      const result = parsePublicKey(input);
      assert.ok('error' in result, `accepted ${JSON.stringify(input)}`);
      assert.match(result.error, reason, JSON.stringify(input));
    }
  });
});

describe('X-Axle-Signature header', () => {
  test('parses the four fields in any order, with spaces after commas', () => {
    const header = parsed();
    assert.equal(header.keyId, RFC_KEY_ID);
    assert.equal(header.timestamp, VECTOR.timestamp);
    assert.equal(header.nonce, VECTOR.nonce);
    assert.equal(header.signature.length, 64);
    const reordered = parseSignatureHeader(
      `sig=${VECTOR.sigBase64}, nonce=${VECTOR.nonce}, ts=${VECTOR.timestamp}, keyId=${RFC_KEY_ID}`,
    );
    assert.deepEqual(reordered, header);
    assert.deepEqual(parsed({ ...validFields, sig: VECTOR.sigBase64Url }).signature, header.signature);
  });

  test('refuses every malformed variant with a reason', () => {
    const cases: [string, RegExp][] = [
      ['', /name=value/],
      ['garbage', /name=value/],
      [headerOf({ keyId: RFC_KEY_ID, ts: '1', nonce: VECTOR.nonce }), /needs keyId, ts, nonce and sig/],
      [`${headerOf(validFields)},ts=1`, /twice/],
      [`${headerOf(validFields)},alg=ed25519`, /unknown field/],
      [headerOf({ ...validFields, keyId: 'ed25519.ABC' }), /keyId/],
      [headerOf({ ...validFields, keyId: RFC_KEY_ID.toUpperCase() }), /keyId/],
      [headerOf({ ...validFields, keyId: 'rsa.21fe31dfa154a261626bf854046fd227' }), /keyId/],
      [headerOf({ ...validFields, ts: '-5' }), /ts/],
      [headerOf({ ...validFields, ts: '1.5' }), /ts/],
      [headerOf({ ...validFields, ts: '1e9' }), /ts/],
      [headerOf({ ...validFields, ts: '9999999999999' }), /ts/],
      [headerOf({ ...validFields, nonce: 'short' }), /nonce/],
      [headerOf({ ...validFields, nonce: 'a'.repeat(129) }), /nonce/],
      [headerOf({ ...validFields, nonce: 'has space in it 0123' }), /nonce/],
      [headerOf({ ...validFields, nonce: 'dots.are.not.allowed' }), /nonce/],
      [headerOf({ ...validFields, sig: VECTOR.sigBase64.slice(0, 40) }), /64-byte/],
      [headerOf({ ...validFields, sig: `${VECTOR.sigBase64Url}AAAA` }), /64-byte/],
      [headerOf({ ...validFields, sig: '!!!' }), /64-byte/],
      [headerOf({ ...validFields, sig: '' }), /64-byte/],
      [`${headerOf(validFields)},${'x'.repeat(SIGNATURE_HEADER_MAX_LENGTH)}`, /longer than/],
    ];
    for (const [value, reason] of cases) {
      const result = parseSignatureHeader(value);
      assert.ok('error' in result, `accepted ${value.slice(0, 80)}`);
      assert.match(result.error, reason, value.slice(0, 80));
    }
  });
});

describe('request signatures', () => {
  test('toKeyObject builds a key that verifies RFC 8032 test 1', () => {
    assert.equal(verify(null, Buffer.alloc(0), toKeyObject(RFC_PUBLIC), RFC_EMPTY_SIGNATURE), true);
  });

  test('the signing payload is the documented lines, and body hashes are hex SHA-256', () => {
    assert.equal(bodySha256(VECTOR.rawBody), VECTOR.bodySha256);
    assert.equal(bodySha256(undefined), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(bodySha256(Buffer.alloc(0)), bodySha256(undefined));
    assert.equal(
      signingPayload({ method: 'post', path: '/v1/x?a=1', bodySha256: 'ab', timestamp: 5, nonce: 'n' }),
      'AXLE-SIG-V1\nPOST\n/v1/x?a=1\nab\n5\nn',
    );
  });

  test('a request signed by another implementation verifies (known vector, base64 and base64url)', () => {
    assert.equal(verifyRequestSignature(RFC_PUBLIC, VECTOR, parsed()), true);
    assert.equal(
      verifyRequestSignature(RFC_PUBLIC, VECTOR, parsed({ ...validFields, sig: VECTOR.sigBase64Url })),
      true,
    );
    assert.equal(verifyRequestSignature(toKeyObject(RFC_PUBLIC), VECTOR, parsed()), true);
  });

  test('any change to what is signed breaks the signature', () => {
    const header = parsed();
    const tampered = [
      { ...VECTOR, method: 'PUT' },
      { ...VECTOR, path: '/v1/intents' },
      { ...VECTOR, path: VECTOR.path.replace('bot', 'bot2') },
      { ...VECTOR, rawBody: Buffer.from(VECTOR.rawBody.toString().replace('"v":1', '"v":2')) },
      { ...VECTOR, rawBody: Buffer.concat([VECTOR.rawBody, Buffer.from(' ')]) },
      { ...VECTOR, rawBody: undefined },
    ];
    for (const request of tampered) assert.equal(verifyRequestSignature(RFC_PUBLIC, request, header), false);
    assert.equal(
      verifyRequestSignature(RFC_PUBLIC, VECTOR, { ...header, timestamp: header.timestamp + 1 }),
      false,
    );
    assert.equal(verifyRequestSignature(RFC_PUBLIC, VECTOR, { ...header, nonce: `${header.nonce}x` }), false);
    const flipped = Buffer.from(header.signature);
    flipped[10] = flipped[10]! ^ 1;
    assert.equal(verifyRequestSignature(RFC_PUBLIC, VECTOR, { ...header, signature: flipped }), false);
    const other = generateKeyPairSync('ed25519').publicKey;
    assert.equal(verifyRequestSignature(other, VECTOR, header), false);
  });

  test('a fresh node:crypto key signs and verifies a request end to end', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const request = { method: 'GET', path: '/v1/intents?status=SUBMITTED', rawBody: undefined };
    const timestamp = 1_800_000_000;
    const nonce = 'abcdefghijklmnop_-12';
    const payload = signingPayload({ ...request, bodySha256: bodySha256(undefined), timestamp, nonce });
    const signature = sign(null, Buffer.from(payload), privateKey);
    assert.equal(
      verifyRequestSignature(raw, request, { keyId: keyIdOf(raw), timestamp, nonce, signature }),
      true,
    );
  });
});

describe('timestamp freshness', () => {
  const now = 1_700_000_000_000;
  test('accepts up to 300 s either way and refuses beyond', () => {
    assert.equal(isFresh(now / 1000, now), true);
    assert.equal(isFresh(now / 1000 - 300, now), true);
    assert.equal(isFresh(now / 1000 + 300, now), true);
    assert.equal(isFresh(now / 1000 - 301, now), false);
    assert.equal(isFresh(now / 1000 + 301, now), false);
    assert.equal(isFresh(0, now), false);
  });
});
