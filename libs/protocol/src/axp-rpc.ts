// The AXP JSON-RPC 2.0 facade `POST /axp` (SPEC §7, reference/agent-protocols.md §1.2): methods and
// error codes. Protocol errors travel in the body with HTTP 200.

export const AXP_RPC_METHODS = [
  'session.open',
  'session.close',
  'axp.index',
  'axp.describe',
  'job.start',
  'job.status',
  'job.cancel',
] as const;
export type AxpRpcMethod = (typeof AXP_RPC_METHODS)[number];

export const AXP_RPC_ERRORS = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  NOT_FOUND: -32001,
  DENIED: -32002,
  NOT_IMPLEMENTED: -32003,
  UNAUTHORIZED: -32004,
} as const;

/** The most requests one batch may carry. */
export const AXP_RPC_MAX_BATCH = 50;
