import { AuthService, type Principal, QuotaService, RateLimiter, RequestSignatureVerifier } from '@axle/auth';
import { AuditRepository } from '@axle/data';
import { AXLE_LOGGER, type CorrelationContext, type Logger, runWithCorrelation } from '@axle/observability';
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
    private readonly audit: AuditRepository,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * A unary handler: `run` answers the call's response. A `write` that no use case audited (refused
   * before one ran, or by one without a row of its own) gets a generic audit row, as HTTP writes do
   * (SPEC §2 "Audit": every write is a row).
   */
  unary<Req, Res>(
    method: string,
    run: (request: Req, call: GrpcCall) => Promise<Res>,
    options: { write?: boolean } = {},
  ) {
    return (
      call: ServerUnaryCall<Req, Res>,
      callback: (err: ServerErrorResponse | null, value?: Res) => void,
    ) => {
      const requestId = generateRequestId();
      const context: CorrelationContext = { requestId, route: `GRPC ${method}` };
      void runWithCorrelation(context, async () => {
        let principal: Principal | null = null;
        let failure: ServerErrorResponse | null = null;
        let answer: Res | undefined;
        try {
          principal = await this.admit(method, call.metadata, requestId);
          answer = await run(call.request, { principal, requestId });
        } catch (err) {
          failure = this.toStatus(method, err, requestId);
        }
        if (options.write && !context.audited)
          await this.auditWrite(method, call.request, principal, requestId, failure);
        callback(failure, answer);
      });
    };
  }

  /** A unary handler that writes: `unary` with the audit row guaranteed. */
  write<Req, Res>(method: string, run: (request: Req, call: GrpcCall) => Promise<Res>) {
    return this.unary(method, run, { write: true });
  }

  private async auditWrite(
    method: string,
    request: unknown,
    principal: Principal | null,
    requestId: string,
    failure: ServerErrorResponse | null,
  ): Promise<void> {
    const target = request as { intent_id?: unknown; job_id?: unknown };
    const [targetType, targetId] =
      typeof target.intent_id === 'string' && target.intent_id
        ? ['intent', target.intent_id]
        : typeof target.job_id === 'string' && target.job_id
          ? ['exec_job', target.job_id]
          : [null, null];
    const code: number = failure?.code ?? GRPC_STATUS.OK;
    // As REST's 401, 403 and 429: refused by identity, role or limits.
    const denied: number[] = [
      GRPC_STATUS.UNAUTHENTICATED,
      GRPC_STATUS.PERMISSION_DENIED,
      GRPC_STATUS.RESOURCE_EXHAUSTED,
    ];
    try {
      await this.audit.record({
        orgId: principal?.orgId ?? null,
        actorType: principal?.kind ?? 'anonymous',
        actorId: principal?.actorId ?? null,
        action: `grpc.${method}`,
        targetType,
        targetId: targetId?.slice(0, 200) ?? null,
        outcome: code === GRPC_STATUS.OK ? 'success' : denied.includes(code) ? 'denied' : 'failure',
        requestId,
        details: {
          grpc_status: code,
          ...(failure ? { error: failure.metadata?.get(GRPC_METADATA.errorCode)[0] } : {}),
        },
      });
    } catch (err) {
      // The answer still goes out; a database outage is already its error.
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'audit row not written');
    }
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
    metadata.set(GRPC_METADATA.requestId, requestId);
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
