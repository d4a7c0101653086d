// HTTP conventions every route shares (SPEC §1): header names, and canonical JSON for request
// fingerprints. Workflow-safe: no Node built-ins (hashing happens in libs/data).

/** Header names, lower case as Node and Fastify present them. */
export const HTTP_HEADERS = {
  idempotencyKey: 'idempotency-key',
  /** Set on an answer that replays a stored idempotent response. */
  idempotentReplayed: 'idempotent-replayed',
  retryAfter: 'retry-after',
  rateLimitLimit: 'x-ratelimit-limit',
  rateLimitRemaining: 'x-ratelimit-remaining',
  rateLimitReset: 'x-ratelimit-reset',
} as const;

/** `Idempotency-Key` length bounds (reference §1.1; ≤ 255 as in the scenario schema). */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

/**
 * JSON with object keys sorted at every level, so two bodies that differ only in key order are the
 * same request. `undefined` members are dropped, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
