import { type Principal } from '@axle/auth';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import {
  AXP_RPC_ERRORS,
  AXP_RPC_MAX_BATCH,
  AXP_RPC_METHODS,
  type AxpRpcMethod,
  AxleError,
  CapTokenError,
  ConflictError,
  JSON_MAX_DEPTH,
  NotFoundError,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { ExecJobService } from './exec-job.service';
import { type ExecCommand, ExecSessionService } from './exec-session.service';
import { ExecToolService } from './tools/exec-tool.service';

type RpcId = string | number | null;
type RpcErrorBody = { code: number; message: string; data?: Record<string, unknown> };
export type RpcResponse =
  { jsonrpc: '2.0'; id: RpcId; result: unknown } | { jsonrpc: '2.0'; id: RpcId; error: RpcErrorBody };

/** Marks a body that was not JSON (the gateway's parser hands it over instead of answering 400). */
export const AXP_PARSE_ERROR = Symbol('axp-parse-error');

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** One message for an unknown session and a bad token alike: no existence oracle. */
const unauthorized = () =>
  new RpcError(AXP_RPC_ERRORS.UNAUTHORIZED, 'unauthorized: unknown session or invalid capability token');

const METHODS = new Set<string>(AXP_RPC_METHODS);

/**
 * The AXP JSON-RPC 2.0 facade `POST /axp` (docs/exec.md "JSON-RPC facade"): each method adapts to
 * the same use cases as the REST routes (ExecSessionService, ExecJobService, ExecToolService).
 * Protocol errors are answered in the body; the API key is checked by the gateway before this.
 */
@Injectable()
export class AxpRpcService {
  constructor(
    private readonly sessions: ExecSessionService,
    private readonly jobs: ExecJobService,
    private readonly tools: ExecToolService,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {}

  /** A request or a batch; null when nothing is to be answered (only notifications). */
  async handle(
    caller: { principal: Principal; requestId: string },
    payload: unknown,
  ): Promise<RpcResponse | RpcResponse[] | null> {
    if (payload === AXP_PARSE_ERROR)
      return errorResponse(
        null,
        new RpcError(
          AXP_RPC_ERRORS.PARSE_ERROR,
          `parse error: the body is not JSON, or nests deeper than ${JSON_MAX_DEPTH} levels`,
        ),
      );
    if (!Array.isArray(payload)) return this.one(caller, payload);
    if (payload.length === 0)
      return errorResponse(
        null,
        new RpcError(AXP_RPC_ERRORS.INVALID_REQUEST, 'invalid request: empty batch'),
      );
    if (payload.length > AXP_RPC_MAX_BATCH)
      return errorResponse(
        null,
        new RpcError(
          AXP_RPC_ERRORS.INVALID_REQUEST,
          `invalid request: at most ${AXP_RPC_MAX_BATCH} per batch`,
        ),
      );
    const out: RpcResponse[] = [];
    for (const item of payload) {
      const response = await this.one(caller, item);
      if (response) out.push(response);
    }
    return out.length ? out : null;
  }

  private async one(
    caller: { principal: Principal; requestId: string },
    message: unknown,
  ): Promise<RpcResponse | null> {
    const m = message as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown } | null;
    const validId = (id: unknown): id is RpcId =>
      id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
    if (
      !m ||
      typeof m !== 'object' ||
      Array.isArray(m) ||
      m.jsonrpc !== '2.0' ||
      typeof m.method !== 'string'
    )
      return errorResponse(
        m && typeof m === 'object' && validId(m.id) ? m.id : null,
        new RpcError(
          AXP_RPC_ERRORS.INVALID_REQUEST,
          'invalid request: a JSON-RPC 2.0 request object is expected',
        ),
      );
    if (m.id !== undefined && !validId(m.id))
      return errorResponse(
        null,
        new RpcError(
          AXP_RPC_ERRORS.INVALID_REQUEST,
          'invalid request: id must be a string, a number or null',
        ),
      );
    const id: RpcId = m.id ?? null;
    const notification = m.id === undefined;
    try {
      if (
        m.params !== undefined &&
        (typeof m.params !== 'object' || m.params === null || Array.isArray(m.params))
      )
        throw new RpcError(AXP_RPC_ERRORS.INVALID_PARAMS, 'invalid params: params must be an object');
      const params = (m.params ?? {}) as Record<string, unknown>;
      if (m.method === 'job.attach')
        throw new RpcError(
          AXP_RPC_ERRORS.INVALID_REQUEST,
          'job.attach is not a JSON-RPC method: use GET /v1/exec/jobs/{job_id}/attach (Server-Sent Events)',
          { attach: '/v1/exec/jobs/{job_id}/attach' },
        );
      if (!METHODS.has(m.method))
        throw new RpcError(AXP_RPC_ERRORS.METHOD_NOT_FOUND, `method not found: ${m.method.slice(0, 100)}`);
      const result = await this.dispatch(caller, m.method as AxpRpcMethod, params);
      return notification ? null : { jsonrpc: '2.0', id, result };
    } catch (err) {
      return notification ? null : errorResponse(id, this.toRpcError(err));
    }
  }

  private async dispatch(
    caller: { principal: Principal; requestId: string },
    method: AxpRpcMethod,
    params: Record<string, unknown>,
  ): Promise<unknown> {
    const capToken = typeof params.cap_token === 'string' ? params.cap_token : undefined;
    const command: ExecCommand = { ...caller, capToken };
    if (method === 'session.open') {
      const { cap_token: _ignored, ...body } = params;
      return withoutOk(await this.sessions.open({ ...command, body }));
    }
    const sessionId = stringParam(params, 'session_id');
    // Every other method presents a live token of the session: anything else is UNAUTHORIZED.
    try {
      await this.sessions.authorize(command, sessionId);
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof CapTokenError) throw unauthorized();
      throw err;
    }
    switch (method) {
      case 'session.close':
        return withoutOk(await this.sessions.close({ ...command, sessionId, body: {} }));
      case 'axp.index':
        return withoutOk(await this.tools.index({ ...command, sessionId }));
      case 'axp.describe':
        return withoutOk(
          await this.tools.describe({ ...command, sessionId, name: stringParam(params, 'name') }),
        );
      case 'job.start': {
        const { kind, session_id: _s, cap_token: _c, ...rest } = params;
        if (kind === 'capability') {
          const input = rest.params ?? {};
          return withoutOk(
            await this.tools.call({
              ...command,
              sessionId,
              name: stringParam(params, 'name'),
              body: { input },
            }),
          );
        }
        if (kind !== undefined && kind !== 'command' && kind !== 'code')
          throw new RpcError(
            AXP_RPC_ERRORS.INVALID_PARAMS,
            'invalid params: kind is command, code or capability',
          );
        const body = {
          ...rest,
          session_id: sessionId,
          ...(typeof rest.command === 'string' ? { command: ['sh', '-c', rest.command] } : {}),
          ...(rest.lang !== undefined && rest.language === undefined ? { language: rest.lang } : {}),
        };
        delete (body as Record<string, unknown>).lang;
        return withoutOk(await this.jobs.create({ ...command, body }));
      }
      case 'job.status': {
        const job = await this.jobOfSession(command, sessionId, stringParam(params, 'job_id'));
        return { ...job, seq: job.last_seq };
      }
      case 'job.cancel': {
        const job = await this.jobOfSession(command, sessionId, stringParam(params, 'job_id'));
        try {
          return withoutOk(await this.jobs.cancel({ ...command, jobId: job.job_id, body: {} }));
        } catch (err) {
          if (err instanceof ConflictError) return { ok: false, job_id: job.job_id, status: job.status };
          throw err;
        }
      }
    }
  }

  /** The job if it belongs to this session; NOT_FOUND for a missing job and another session's alike. */
  private async jobOfSession(command: ExecCommand, sessionId: string, jobId: string) {
    const notFound = () => new RpcError(AXP_RPC_ERRORS.NOT_FOUND, `job ${jobId.slice(0, 100)} not found`);
    try {
      const { job } = await this.jobs.get({ ...command, jobId });
      if (job.session_id !== sessionId) throw notFound();
      return job;
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof CapTokenError) throw notFound();
      throw err;
    }
  }

  private toRpcError(err: unknown): RpcError {
    if (err instanceof RpcError) return err;
    if (err instanceof AxleError) {
      const data = { code: err.code, ...err.details };
      switch (err.kind) {
        case 'validation':
        case 'malformed':
        case 'too_large':
          return new RpcError(AXP_RPC_ERRORS.INVALID_PARAMS, `invalid params: ${err.message}`, data);
        case 'not_found':
          return new RpcError(AXP_RPC_ERRORS.NOT_FOUND, err.message, data);
        case 'forbidden':
        case 'conflict':
        case 'gone':
        case 'rate_limited':
          return new RpcError(AXP_RPC_ERRORS.DENIED, err.message, data);
        case 'unauthenticated':
          return unauthorized();
        case 'unavailable':
        case 'internal':
          return new RpcError(AXP_RPC_ERRORS.INTERNAL_ERROR, err.message, data);
      }
    }
    this.logger.error({ err }, 'AXP JSON-RPC method failed');
    return new RpcError(AXP_RPC_ERRORS.INTERNAL_ERROR, 'internal error');
  }
}

function stringParam(params: Record<string, unknown>, name: string): string {
  const value = params[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 1000)
    throw new RpcError(AXP_RPC_ERRORS.INVALID_PARAMS, `invalid params: ${name} must be a non-empty string`, {
      errors: [{ path: name, message: 'must be a non-empty string' }],
    });
  return value;
}

function withoutOk<T extends { ok: unknown }>(value: T): Omit<T, 'ok'> {
  const { ok: _ok, ...rest } = value;
  return rest;
}

function errorResponse(id: RpcId, err: RpcError): RpcResponse {
  return {
    jsonrpc: '2.0',
    id,
    error: { code: err.code, message: err.message, ...(err.data ? { data: err.data } : {}) },
  };
}
