// Identity contracts shared by the gateway, the workers and clients (SPEC §1, §2): roles, the JWT
// claims Axle reads, and the signed-request header. Workflow-safe: no Node built-ins.

/** Org roles, strongest first: an admin may do what an operator may, an operator what a member may. */
export const ROLES = ['admin', 'operator', 'member'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when `held` is at least as strong as `needed`. */
export function roleAtLeast(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) <= ROLES.indexOf(needed);
}

/** User and operator tokens (SPEC §1): `aud` must be this, unless the token carries AXME's scope. */
export const JWT_AUDIENCE = 'axle';
export const AXME_API_SCOPE = 'axme.api';

/**
 * Signed agents (SPEC §2): `X-Axle-Signature: keyId=<ed25519.hex16>,ts=<unix s>,nonce=<text>,sig=<b64>`,
 * an Ed25519 signature over `signingPayload(...)`.
 */
export const SIGNATURE_HEADER = 'x-axle-signature';
export const SIGNATURE_MAX_SKEW_SECONDS = 300;

/** The exact bytes a signed request signs: one field per line. */
export function signingPayload(parts: {
  method: string;
  /** Path and query exactly as sent. */
  path: string;
  /** Lower-case hex SHA-256 of the raw body (of the empty string when there is none). */
  bodySha256: string;
  timestamp: number;
  nonce: string;
}): string {
  return [
    'AXLE-SIG-V1',
    parts.method.toUpperCase(),
    parts.path,
    parts.bodySha256,
    String(parts.timestamp),
    parts.nonce,
  ].join('\n');
}
