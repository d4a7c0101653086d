import { CAP_TOKEN_PATTERN } from '@axle/protocol';
import { createHash, randomBytes } from 'node:crypto';

/** A new capability token (`axp_ct_` + 32 random bytes as hex) and the SHA-256 stored for it. */
export function newCapToken(): { token: string; hash: string } {
  const token = `axp_ct_${randomBytes(32).toString('hex')}`;
  return { token, hash: hashCapToken(token) };
}

export function hashCapToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function isCapTokenShaped(token: string): boolean {
  return CAP_TOKEN_PATTERN.test(token);
}
