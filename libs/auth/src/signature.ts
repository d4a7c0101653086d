// Signed agents (SPEC §2, docs/signed-agents.md): Ed25519 keys, their ids, the X-Axle-Signature
// header and its verification. Pure functions over node:crypto; the gateway's guard adds the
// agent's registered key, the clock and the nonce store (RequestSignatureVerifier).
import {
  SIGNATURE_HEADER_MAX_LENGTH,
  SIGNATURE_MAX_SKEW_SECONDS,
  SIGNATURE_NONCE_PATTERN,
  SIGNING_KEY_ID_PATTERN,
  signingPayload,
} from '@axle/protocol';
import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';

const RAW_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const BASE64_ANY = /^[A-Za-z0-9+/_-]+={0,2}$/;
const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\s*$/;

/** `ed25519.` + hex of the first 16 bytes of SHA-256(raw 32-byte public key). */
export function keyIdOf(publicKey: Buffer): string {
  if (publicKey.length !== RAW_KEY_BYTES) throw new Error('an Ed25519 public key is 32 bytes');
  return `ed25519.${createHash('sha256').update(publicKey).digest().subarray(0, 16).toString('hex')}`;
}

/** Decodes canonical base64 or base64url (padding optional); null for anything else. */
function decodeBase64(text: string): Buffer | null {
  if (!BASE64_ANY.test(text)) return null;
  const url = /[-_]/.test(text);
  // One alphabet or the other, not a mix; padding, when present, completes a 4-character group.
  if (url && /[+/]/.test(text)) return null;
  if (text.includes('=') && text.length % 4 !== 0) return null;
  const encoding = url ? 'base64url' : 'base64';
  const bytes = Buffer.from(text, encoding);
  // Round trip: refuses non-canonical trailing bits, which Buffer.from would silently drop.
  if (bytes.toString(encoding).replace(/=+$/, '') !== text.replace(/=+$/, '')) return null;
  return bytes;
}

export type ParsedPublicKey = { raw: Buffer; keyId: string };

/**
 * A public key as given on registration: the raw 32 bytes as base64 or base64url, or a PEM
 * `-----BEGIN PUBLIC KEY-----` (SPKI) Ed25519 key. Returns the raw bytes and the key id, or a reason.
 * A private key is refused, whatever its form (it must never be sent).
 */
export function parsePublicKey(input: string): ParsedPublicKey | { error: string } {
  const text = input.trim();
  if (/PRIVATE KEY-----/.test(text))
    return { error: 'this is a private key: send only the public key, and treat this one as leaked' };
  let raw: Buffer | null = null;
  if (text.startsWith('-----BEGIN')) {
    if (!PEM_PUBLIC_KEY.test(text)) return { error: 'not a PEM "PUBLIC KEY" (SPKI) block' };
    let key: KeyObject;
    try {
      key = createPublicKey({ key: text, format: 'pem' });
    } catch {
      return { error: 'the PEM block is not a valid public key' };
    }
    if (key.asymmetricKeyType !== 'ed25519') return { error: 'the PEM key is not an Ed25519 key' };
    const x = key.export({ format: 'jwk' }).x;
    raw = typeof x === 'string' ? Buffer.from(x, 'base64url') : null;
  } else {
    raw = decodeBase64(text);
    if (!raw) return { error: 'not base64/base64url or PEM' };
  }
  if (!raw || raw.length !== RAW_KEY_BYTES)
    return { error: `an Ed25519 public key is ${RAW_KEY_BYTES} bytes (got ${raw?.length ?? 0})` };
  try {
    toKeyObject(raw);
  } catch {
    return { error: 'not a valid Ed25519 public key' };
  }
  return { raw, keyId: keyIdOf(raw) };
}

/** A node:crypto KeyObject for a raw 32-byte Ed25519 public key (through its JWK form). */
export function toKeyObject(raw: Buffer): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

export type SignatureHeader = { keyId: string; timestamp: number; nonce: string; signature: Buffer };

/**
 * Parses `keyId=<id>,ts=<unix s>,nonce=<nonce>,sig=<b64>`: each field exactly once, in any order,
 * optional spaces after commas, nothing else. Returns the fields or why the header is malformed.
 */
export function parseSignatureHeader(value: string): SignatureHeader | { error: string } {
  if (value.length > SIGNATURE_HEADER_MAX_LENGTH)
    return { error: `header is longer than ${SIGNATURE_HEADER_MAX_LENGTH} characters` };
  const fields = new Map<string, string>();
  for (const part of value.split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq <= 0) return { error: 'header is not a list of name=value fields' };
    const name = item.slice(0, eq);
    if (!['keyId', 'ts', 'nonce', 'sig'].includes(name))
      return { error: `unknown field ${name.slice(0, 16)}` };
    if (fields.has(name)) return { error: `field ${name} appears twice` };
    fields.set(name, item.slice(eq + 1));
  }
  const keyId = fields.get('keyId');
  const ts = fields.get('ts');
  const nonce = fields.get('nonce');
  const sig = fields.get('sig');
  if (keyId === undefined || ts === undefined || nonce === undefined || sig === undefined)
    return { error: 'header needs keyId, ts, nonce and sig' };
  if (!SIGNING_KEY_ID_PATTERN.test(keyId)) return { error: 'keyId is not ed25519.<32 hex digits>' };
  if (!/^[0-9]{1,12}$/.test(ts)) return { error: 'ts is not unix seconds' };
  if (!SIGNATURE_NONCE_PATTERN.test(nonce))
    return { error: 'nonce is not 16-128 characters of [A-Za-z0-9_-]' };
  const signature = decodeBase64(sig);
  if (!signature || signature.length !== SIGNATURE_BYTES)
    return { error: `sig is not a base64/base64url ${SIGNATURE_BYTES}-byte Ed25519 signature` };
  return { keyId, timestamp: Number(ts), nonce, signature };
}

/** SHA-256 of the raw body as lower-case hex (of the empty string when there is no body). */
export function bodySha256(rawBody: Buffer | string | undefined): string {
  return createHash('sha256')
    .update(rawBody ?? '')
    .digest('hex');
}

/** Whether `signature` is the key's Ed25519 signature of the request's signing payload. */
export function verifyRequestSignature(
  publicKey: Buffer | KeyObject,
  request: { method: string; path: string; rawBody: Buffer | string | undefined },
  header: SignatureHeader,
): boolean {
  const payload = signingPayload({
    method: request.method,
    path: request.path,
    bodySha256: bodySha256(request.rawBody),
    timestamp: header.timestamp,
    nonce: header.nonce,
  });
  const key = Buffer.isBuffer(publicKey) ? toKeyObject(publicKey) : publicKey;
  try {
    return verify(null, Buffer.from(payload, 'utf8'), key, header.signature);
  } catch {
    return false;
  }
}

/** Whether a signed timestamp (unix seconds) is within the allowed skew of `nowMs`, either way. */
export function isFresh(timestamp: number, nowMs: number): boolean {
  return Math.abs(nowMs / 1000 - timestamp) <= SIGNATURE_MAX_SKEW_SECONDS;
}
