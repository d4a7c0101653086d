// @grpc/grpc-js clients of axle.v1 (Intents, Agents, Jobs, Tasks), loaded from the protocol lib's
// protos as any client would, with promise helpers: `call` answers the response, `failure` the
// status a call must end with.
import { GRPC_LOADER_OPTIONS, GRPC_METADATA, GRPC_PROTO_FILES, GRPC_PROTO_ROOT } from '@axle/protocol';
import {
  type Client,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import assert from 'node:assert/strict';

type Json = Record<string, unknown>;
type Unary = (req: Json, md: Metadata, cb: (err: ServiceError | null, res: Json) => void) => void;
type ServerStream = NodeJS.EventEmitter & { cancel(): void };
export type IntentsGrpcClient = Client &
  Record<string, Unary> & { StreamIntentEvents(req: Json, md: Metadata): ServerStream };
export type AgentsGrpcClient = Client & { Listen(req: Json, md: Metadata): ServerStream };
export type JobsGrpcClient = Client &
  Record<string, Unary> & { AttachJob(req: Json, md: Metadata): ServerStream };

/** What a refused call ended with: its status, and the REST error code and details of its trailers. */
export type GrpcFailure = {
  code: number;
  error: unknown;
  details: Json | null;
  retryAfter: unknown;
  requestId: unknown;
};

export function grpcMetadata(apiKey: string | null): Metadata {
  const md = new Metadata();
  if (apiKey) md.set(GRPC_METADATA.apiKey, apiKey);
  return md;
}

/** Clients of the gateway's axle.v1 services on `port`; `call`/`failure` take `Service.Method`, else an Intents method. */
export function axleGrpcClients(port: string | number) {
  const definition = loadSync(GRPC_PROTO_FILES, { ...GRPC_LOADER_OPTIONS, includeDirs: [GRPC_PROTO_ROOT] });
  const v1 = (loadPackageDefinition(definition).axle as GrpcObject).v1 as GrpcObject;
  const open = (service: string) =>
    new (v1[service] as ServiceClientConstructor)(`127.0.0.1:${port}`, credentials.createInsecure());
  const client = open('Intents') as unknown as IntentsGrpcClient;
  const agents = open('Agents') as unknown as AgentsGrpcClient;
  const jobs = open('Jobs') as unknown as JobsGrpcClient;
  const tasks = open('Tasks') as unknown as Client & Record<string, Unary>;
  const call = (method: string, req: Json, apiKey: string | null): Promise<Json> => {
    const [service, name] = method.includes('.') ? method.split('.') : ['Intents', method];
    const target = ({ Jobs: jobs, Tasks: tasks }[service!] ?? client) as Record<string, Unary>;
    return new Promise((resolve, reject) =>
      target[name!]!(req, grpcMetadata(apiKey), (err, res) => (err ? reject(err) : resolve(res))),
    );
  };
  const failure = async (method: string, req: Json, apiKey: string | null): Promise<GrpcFailure> => {
    const err = (await call(method, req, apiKey).then(
      (res) => assert.fail(`${method} answered ${JSON.stringify(res)}`),
      (e: unknown) => e,
    )) as ServiceError;
    const details = err.metadata.get(GRPC_METADATA.errorDetails)[0];
    return {
      code: err.code,
      error: err.metadata.get(GRPC_METADATA.errorCode)[0],
      details: typeof details === 'string' ? (JSON.parse(details) as Json) : null,
      retryAfter: err.metadata.get(GRPC_METADATA.retryAfter)[0],
      requestId: err.metadata.get(GRPC_METADATA.requestId)[0],
    };
  };
  const close = () => {
    for (const c of [client, agents, jobs, tasks]) c.close();
  };
  return { client, agents, jobs, call, failure, close };
}
