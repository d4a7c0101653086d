// The gRPC contract (SPEC §8): where the protos are, the metadata Axle reads and writes, and how an
// error kind becomes a gRPC status. Clients load the same .proto files (docs/grpc.md).
import { type ErrorKind } from './errors';

/** The proto include root: libs/protocol/proto, copied beside the compiled code by the build. */
export const GRPC_PROTO_ROOT = `${__dirname}/../proto`;
/** The files under GRPC_PROTO_ROOT (package axle.v1: services Intents, Agents, Jobs and Tasks). */
export const GRPC_PROTO_FILES = [
  'axle/v1/intents.proto',
  'axle/v1/agents.proto',
  'axle/v1/jobs.proto',
  'axle/v1/tasks.proto',
];
/** How @grpc/proto-loader must load them: field names as written, 64-bit ints as numbers. */
export const GRPC_LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true } as const;

/** Metadata: the REST credentials as they are (lower-case keys), and the error's code and details. */
export const GRPC_METADATA = {
  apiKey: 'x-api-key',
  authorization: 'authorization',
  errorCode: 'axle-error-code',
  errorDetails: 'axle-error-details',
  retryAfter: 'retry-after',
  requestId: 'x-request-id',
} as const;

/** gRPC status numbers (grpc/doc/statuscodes.md); kept here so the contract needs no gRPC import. */
export const GRPC_STATUS = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The status of each error kind: the gRPC reading of the HTTP status REST answers. */
export const GRPC_STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  malformed: GRPC_STATUS.INVALID_ARGUMENT,
  validation: GRPC_STATUS.INVALID_ARGUMENT,
  too_large: GRPC_STATUS.RESOURCE_EXHAUSTED,
  unauthenticated: GRPC_STATUS.UNAUTHENTICATED,
  forbidden: GRPC_STATUS.PERMISSION_DENIED,
  not_found: GRPC_STATUS.NOT_FOUND,
  // A state conflict (a second resume, an idempotency key reused): the caller must look again.
  conflict: GRPC_STATUS.ABORTED,
  gone: GRPC_STATUS.FAILED_PRECONDITION,
  rate_limited: GRPC_STATUS.RESOURCE_EXHAUSTED,
  unavailable: GRPC_STATUS.UNAVAILABLE,
  internal: GRPC_STATUS.INTERNAL,
};
