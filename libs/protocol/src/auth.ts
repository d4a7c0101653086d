// Identity contracts shared by the gateway, the workers and clients (SPEC §1, §2): roles, the JWT
// claims Axle reads, and the signed-request header. Workflow-safe: no Node built-ins.
import { z } from 'zod';

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
 * Signed agents (SPEC §2, docs/signed-agents.md):
 * `X-Axle-Signature: keyId=<ed25519.hex32>,ts=<unix s>,nonce=<16-128 of [A-Za-z0-9_-]>,sig=<b64>`,
 * an Ed25519 signature (base64 or base64url, 64 bytes) over `signingPayload(...)`.
 */
export const SIGNATURE_HEADER = 'x-axle-signature';
export const SIGNATURE_MAX_SKEW_SECONDS = 300;
/**
 * How long a nonce is remembered. A timestamp is accepted within ±SIGNATURE_MAX_SKEW_SECONDS, so a
 * request stays acceptable for at most twice that after its first use; the window covers all of it.
 */
export const SIGNATURE_NONCE_TTL_SECONDS = 2 * SIGNATURE_MAX_SKEW_SECONDS;
/** Longest header value read; a longer one is refused before parsing (it cannot be valid). */
export const SIGNATURE_HEADER_MAX_LENGTH = 512;
export const SIGNATURE_NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
/** `ed25519.` + hex of the first 16 bytes of SHA-256(raw 32-byte public key). */
export const SIGNING_KEY_ID_PATTERN = /^ed25519\.[0-9a-f]{32}$/;
export const SIGNING_PAYLOAD_VERSION = 'AXLE-SIG-V1';

/** The exact bytes a signed request signs: one field per line, UTF-8, no trailing newline. */
export function signingPayload(parts: {
  method: string;
  /** Path and query exactly as sent (the request target, e.g. `/v1/intents?owner_agent=...`). */
  path: string;
  /** Lower-case hex SHA-256 of the raw body (of the empty string when there is none). */
  bodySha256: string;
  timestamp: number;
  nonce: string;
}): string {
  return [
    SIGNING_PAYLOAD_VERSION,
    parts.method.toUpperCase(),
    parts.path,
    parts.bodySha256,
    String(parts.timestamp),
    parts.nonce,
  ].join('\n');
}

/** `PUT /v1/agents/{org}/{ws}/{name}/signing-key`: register or replace the key, and/or set the flag. */
export const signingKeyRequestSchema = z
  .object({
    /** Raw 32-byte Ed25519 public key as base64/base64url, or a PEM `PUBLIC KEY` (SPKI). */
    public_key: z.string().min(1).max(2048).optional(),
    require_signature: z.boolean().optional(),
  })
  .refine((body) => body.public_key !== undefined || body.require_signature !== undefined, {
    message: 'give public_key, require_signature or both',
    path: [],
  });
export type SigningKeyRequest = z.infer<typeof signingKeyRequestSchema>;
