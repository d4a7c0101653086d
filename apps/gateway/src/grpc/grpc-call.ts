import { AuthService, type Principal, QuotaService, RateLimiter, RequestSignatureVerifier } from '@axle/auth';
import { AXLE_LOGGER, type Logger, runWithCorrelation } from '@axle/observability';
import { AxleError, GRPC_METADATA, GRPC_STATUS, GRPC_STATUS_OF_KIND } from '@axle/protocol';
import {
  Metadata,
  type ServerErrorResponse,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { Inject, Injectable } from '@nestjs/common';
import { generateRequestId } from '../http/request-context';

/** What a handler gets: the authenticated caller and this call's request id. */
export type GrpcCall = { principal: Principal; requestId: string };

/**
 * What every gRPC call goes through before its handler, as an HTTP request goes through the guards:
 * authentication (the REST headers as metadata), the signed-agents rule (a gRPC call carries no
 * request signature, so an agent that requires one is refused), both rate-limit buckets and the
 * daily request quota. Errors leave as a gRPC status with the REST code in the trailers.
 */
@Injectable()
export class GrpcCallGate {
  constructor(
    private readonly auth: AuthService,
    private readonly verifier: RequestSignatureVerifier,
    private readonly limiter: RateLimiter,
    private readonly quotas: QuotaService,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {}

  /** A unary handler: `run` answers the call's response. */
  unary<Req, Res>(method: string, run: (request: Req, call: GrpcCall) => Promise<Res>) {
    return (
      call: ServerUnaryCall<Req, Res>,
      callback: (err: ServerErrorResponse | null, value?: Res) => void,
    ) => {
      const requestId = generateRequestId();
      void runWithCorrelation({ requestId }, async () => {
        try {
          const principal = await this.admit(method, call.metadata, requestId);
          callback(null, await run(call.request, { principal, requestId }));
        } catch (err) {
          callback(this.toStatus(method, err, requestId));
        }
      });
    };
  }

  /** A server-streaming handler: `run` writes to the stream; the gate ends it, or errors it. */
  serverStream<Req, Res>(
    method: string,
    run: (request: Req, call: GrpcCall, stream: ServerWritableStream<Req, Res>) => Promise<void>,
  ) {
    return (stream: ServerWritableStream<Req, Res>) => {
      const requestId = generateRequestId();
      void runWithCorrelation({ requestId }, async () => {
        try {
          const principal = await this.admit(method, stream.metadata, requestId);
          await run(stream.request, { principal, requestId }, stream);
          stream.end();
        } catch (err) {
          // grpc-js sends an 'error' emitted on the stream as the call's status.
          if (!stream.cancelled) stream.emit('error', this.toStatus(method, err, requestId));
        }
      });
    };
  }

  private async admit(method: string, metadata: Metadata, requestId: string): Promise<Principal> {
    const text = (key: string) => {
      const value = metadata.get(key)[0];
      return typeof value === 'string' ? value : undefined;
    };
    const principal = await this.auth.authenticate(
      { apiKey: text(GRPC_METADATA.apiKey), authorization: text(GRPC_METADATA.authorization) },
      requestId,
    );
    const route = `GRPC ${method}`;
    await this.verifier.check(
      principal,
      {
        method: 'GRPC',
        path: method,
        rawBody: undefined,
        signatureHeader: undefined,
        ownerAgentHeader: undefined,
        route,
      },
      requestId,
    );
    const refusal = (await this.limiter.admitRequest(principal, route))?.refusal;
    if (refusal) throw refusal;
    await this.quotas.countRequest(principal);
    return principal;
  }

  private toStatus(method: string, err: unknown, requestId: string): ServerErrorResponse {
    const metadata = new Metadata();
    metadata.set('x-request-id', requestId);
    if (err instanceof AxleError) {
      metadata.set(GRPC_METADATA.errorCode, err.code);
      if (err.details) metadata.set(GRPC_METADATA.errorDetails, JSON.stringify(err.details));
      // Rate limits, quotas and unavailable dependencies say when to come back, as REST's header does.
      if ('retryAfterSeconds' in err && typeof err.retryAfterSeconds === 'number')
        metadata.set(GRPC_METADATA.retryAfter, String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
      return Object.assign(new Error(err.message), {
        code: GRPC_STATUS_OF_KIND[err.kind],
        details: err.message,
        metadata,
      });
    }
    this.logger.error(
      { err: err instanceof Error ? (err.stack ?? err.message) : String(err), grpc_method: method },
      'gRPC call failed',
    );
    metadata.set(GRPC_METADATA.errorCode, 'internal_error');
    return Object.assign(new Error('internal error'), {
      code: GRPC_STATUS.INTERNAL,
      details: 'internal error',
      metadata,
    });
  }
}
