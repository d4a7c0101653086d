import { createHash, randomBytes } from 'node:crypto';

/** A new magic-link token: 32 random bytes, base64url (43 characters). Only its hash is stored. */
export function newMagicToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the database keeps of a token: its SHA-256, hex. */
export function hashMagicToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A string that could be a token we issued (anything else is a 404 without a lookup). */
export function looksLikeMagicToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

/** An email address (assignees may also be member ids or agent addresses, which get no email). */
export function isEmail(value: string): boolean {
  return /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/.test(value);
}
