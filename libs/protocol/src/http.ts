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
 * The deepest nesting of arrays and objects a request body may have (serde_json's default). JSON.parse
 * takes any depth, but much that walks a body afterwards recurses (fingerprints, validation, the
 * database's JSON), and a few thousand levels overflowed the stack into a 500 (chaos fuzz).
 */
export const JSON_MAX_DEPTH = 128;

/** Whether arrays and objects nest more than `max` levels deep (a scalar is depth 0). Iterative. */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  const pending: [node: object, depth: number][] = [];
  if (value !== null && typeof value === 'object') pending.push([value, 1]);
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [node, depth] = next;
    if (depth > max) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node))
      if (child !== null && typeof child === 'object') pending.push([child as object, depth + 1]);
  }
  return false;
}

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
