// Client side of signed agents (SPEC §2, docs/signed-agents.md), for tests: the same steps a client
// takes, written from the documentation rather than from the gateway's verifier.
import { SIGNATURE_HEADER, signingPayload } from '@axle/protocol';
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';

export type SigningKeyPair = {
  privateKey: KeyObject;
  /** Base64 of the raw 32-byte public key (what `PUT …/signing-key` takes). */
  publicKey: string;
  /** The same key as a PEM `PUBLIC KEY` (SPKI) block. */
  publicKeyPem: string;
  /** `ed25519.` + hex of the first 16 bytes of SHA-256(raw public key). */
  keyId: string;
};

export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  return {
    privateKey,
    publicKey: raw.toString('base64'),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: `ed25519.${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`,
  };
}

export type SignRequestOptions = {
  privateKey: KeyObject;
  keyId: string;
  method: string;
  /** Path and query exactly as the request will send them. */
  path: string;
  /** The exact body bytes that will be sent (none for GET/DELETE). */
  body?: string | Buffer;
  /** Unix seconds; now by default. */
  timestamp?: number;
  /** 16-128 characters of [A-Za-z0-9_-]; random by default. */
  nonce?: string;
};

/** The X-Axle-Signature header value for one request. */
export function signRequest(options: SignRequestOptions): string {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const nonce = options.nonce ?? randomBytes(18).toString('base64url');
  const payload = signingPayload({
    method: options.method,
    path: options.path,
    bodySha256: createHash('sha256')
      .update(options.body ?? '')
      .digest('hex'),
    timestamp,
    nonce,
  });
  const sig = sign(null, Buffer.from(payload, 'utf8'), options.privateKey).toString('base64');
  return `keyId=${options.keyId},ts=${timestamp},nonce=${nonce},sig=${sig}`;
}

/** Headers for a signed JSON request: the signature, and the content type when there is a body. */
export function signedHeaders(options: SignRequestOptions): Record<string, string> {
  return {
    [SIGNATURE_HEADER]: signRequest(options),
    ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
  };
}
