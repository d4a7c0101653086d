// X-Axme-Signature: `sha256=<hex HMAC-SHA256(secret, raw body)>` (SPEC §5, reference §3.7). Used by
// webhook deliveries and by the http delivery binding of intents.
import { WEBHOOK_SIGNATURE_PREFIX } from '@axle/protocol';
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The X-Axme-Signature value for a body exactly as sent (sign the bytes, not a re-serialization). */
export function signBody(secret: string, rawBody: string | Buffer): string {
  return `${WEBHOOK_SIGNATURE_PREFIX}${createHmac('sha256', secret).update(rawBody).digest('hex')}`;
}

/** Constant-time check of a received X-Axme-Signature against the raw body (what receivers do). */
export function verifySignature(
  secret: string,
  rawBody: string | Buffer,
  header: string | undefined,
): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(signBody(secret, rawBody));
  const actual = Buffer.from(header.trim().toLowerCase());
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
