// Idempotency-Key on every POST (SPEC §1, docs/api-conventions.md). Same caller + route pattern +
// key + request fingerprint → the stored answer again; same key with another fingerprint → 409
// idempotency_conflict; a request while the first with that key still runs waits for its answer
// (up to WAIT_FOR_FIRST_MS), then 409 idempotency_in_progress with Retry-After. Answers below 500
// are stored (the same input gives the same answer); 5xx and 429 (rate limit, quota) answers release
// the key for a retry: they say "later", not "never".
import { type Principal } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  type IdempotencyKeyRef,
  IdempotencyRepository,
  type OrgScope,
  orgScope,
  requestHash,
} from '@axle/data';
import { type Logger } from '@axle/observability';
import {
  ConflictError,
  HTTP_HEADERS,
  IDEMPOTENCY_KEY_MAX_LENGTH,
  IdempotencyInProgressError,
  ValidationFailedError,
} from '@axle/protocol';
import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { type Observable } from 'rxjs';
import { headerValue } from './request-context';

/** How long a request waits for a concurrent first request with the same key to answer. */
const WAIT_FOR_FIRST_MS = 10_000;
const POLL_MS = 100;
/** An unanswered claim older than this belongs to a request whose process died; it may be taken over. */
const ABANDONED_AFTER_MS = 60_000;

type Finish = (status: number, body: Record<string, unknown> | null) => Promise<void>;

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The validated Idempotency-Key and the request fingerprint, when the request has a key; `claim`
     * is the token of this request's claim on it, for a use case that stores its answer with its
     * effect in one transaction (exec jobs).
     */
    idempotency?: { key: string; requestHash: string; claim?: string };
    /** Set by the interceptor; the onSend hook calls it once with the answer. */
    idempotencyFinish?: Finish;
  }
}

const OWN_IDEMPOTENCY = 'axle:own-idempotency';

/**
 * Marks a route whose use case stores its success answer itself, in the same transaction as its
 * effect (create intent). The interceptor then only validates the key and remembers 4xx answers;
 * replays and conflicts are answered by the use case, so clients see the same behaviour.
 */
export const OwnIdempotency = () => SetMetadata(OWN_IDEMPOTENCY, true);

const SHOWN_ONCE = 'axle:shown-once';

/**
 * Marks answer fields that hold a secret shown once (a new API key, a webhook secret). They are
 * never stored with the idempotent answer: a replay carries `null` there and `secrets_redacted`.
 */
export const ShownOnce = (...paths: string[]) => SetMetadata(SHOWN_ONCE, paths);

/**
 * A stored answer sent again instead of running the handler. Thrown (so it also works for
 * handlers that write the reply themselves); the exception filter sends it as it was stored.
 */
export class ReplayedResponse extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super('idempotent replay');
    this.name = 'ReplayedResponse';
  }
}

/** The `Idempotency-Key` header: undefined when absent, 422 when not 1..255 characters. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const key = headerValue(request, HTTP_HEADERS.idempotencyKey);
  if (key === undefined) return undefined;
  if (key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
    throw new ValidationFailedError([
      {
        path: 'Idempotency-Key',
        loc: ['header', HTTP_HEADERS.idempotencyKey],
        message: `must be 1-${IDEMPOTENCY_KEY_MAX_LENGTH} characters`,
        type: 'string_length',
      },
    ]);
  }
  return key;
}

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly records: IdempotencyRepository,
    private readonly reflector: Reflector,
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (request.method !== 'POST') return next.handle();
    const key = idempotencyKeyOf(request);
    // Keys are per caller; a route without a credential has nobody to scope them to.
    const principal: Principal | undefined = request.principal;
    if (key === undefined || !principal) return next.handle();

    const scope = orgScope(principal.orgId);
    const ref: IdempotencyKeyRef = {
      callerId: principal.actorId,
      route: `${request.method} ${request.routeOptions.url ?? request.url}`,
      key,
    };
    const hash = requestHash(request.body, { params: request.params, query: request.query });
    const expiresAt = new Date(Date.now() + this.config.limits.idempotencyTtlHours * 3_600_000);
    request.idempotency = { key, requestHash: hash };

    if (
      this.reflector.getAllAndOverride<boolean>(OWN_IDEMPOTENCY, [context.getHandler(), context.getClass()])
    ) {
      request.idempotencyFinish = async (status, body) => {
        if (status >= 400 && status < 500 && status !== 429 && body)
          await this.records.storeIfAbsent(scope, {
            ...ref,
            requestHash: hash,
            expiresAt,
            response: { status, body },
          });
      };
      return next.handle();
    }

    const token = await this.acquire(scope, ref, hash, expiresAt);
    request.idempotency.claim = token;
    const secrets = this.reflector.get<string[] | undefined>(SHOWN_ONCE, context.getHandler()) ?? [];
    request.idempotencyFinish = async (status, body) => {
      // A 429 is not the answer to the request, only to its timing: the same key works once allowed.
      if (status < 500 && status !== 429 && body)
        await this.records.complete(scope, token, { status, body: redacted(body, secrets) });
      else await this.records.release(scope, token);
    };
    return next.handle();
  }

  /** Claims the key, or answers from the record that holds it (replay, conflict, in progress). */
  private async acquire(
    scope: OrgScope,
    ref: IdempotencyKeyRef,
    hash: string,
    expiresAt: Date,
  ): Promise<string> {
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    for (;;) {
      const result = await this.records.claim(scope, {
        ...ref,
        requestHash: hash,
        expiresAt,
        staleAfterMs: ABANDONED_AFTER_MS,
      });
      if (result.claimed) return result.token;
      const { existing } = result;
      if (existing.requestHash !== hash)
        throw new ConflictError('idempotency_conflict', 'idempotency key reused with different payload');
      if (existing.responseStatus !== null)
        throw new ReplayedResponse(existing.responseStatus, existing.responseBody ?? {});
      if (Date.now() >= deadline) throw new IdempotencyInProgressError();
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

/**
 * Completes the claim with the answer actually sent, whoever produced it (the handler, a filter,
 * a handler that writes the reply itself), before the client can see it, so a retry after the
 * answer always finds it stored.
 */
export function installIdempotencyHooks(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onSend', async (request, reply, payload) => {
    const finish = request.idempotencyFinish;
    if (!finish) return payload;
    request.idempotencyFinish = undefined;
    const status = reply.statusCode;
    const body = jsonObject(payload);
    try {
      await finish(status, body);
    } catch (err) {
      // The answer still goes out; the record is stored (or the key released) once the database is
      // back, so the client's retry after Retry-After finds it.
      logger.warn({ err: errorText(err) }, 'idempotency record not stored; retrying in the background');
      retryFinish(
        () => finish(status, body),
        FINISH_RETRY,
        (outcome) => {
          if (outcome.ok)
            logger.info({ attempts: outcome.attempts }, 'idempotency record stored after a retry');
          else
            logger.warn({ attempts: outcome.attempts, err: outcome.err }, 'idempotency record never stored');
        },
      );
    }
    return payload;
  });
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export type FinishRetryOptions = { giveUpAfterMs: number; delayMs: (attempt: number) => number };

/** Retry every second (half a second at first) while a claim could still be live. */
const FINISH_RETRY: FinishRetryOptions = {
  giveUpAfterMs: ABANDONED_AFTER_MS,
  delayMs: (attempt) => (attempt === 0 ? 500 : 1000),
};

/**
 * Retries a claim's completion or release that failed because the database went away between the
 * claim and the answer, until it lands or the claim would count as abandoned anyway (after that a
 * late write with the old token changes nothing). Without it, a 503 answered during a PostgreSQL
 * outage left its key "in progress" for ABANDONED_AFTER_MS, so the client's retry after Retry-After
 * got 409 idempotency_in_progress instead of running again (chaos scenario `restarts`).
 * Timers are unref'd: a pending retry does not hold a draining gateway open.
 */
export function retryFinish(
  attempt: () => Promise<void>,
  options: FinishRetryOptions,
  report: (outcome: { ok: boolean; attempts: number; err?: string }) => void,
): void {
  const started = Date.now();
  let attempts = 0;
  const run = () => {
    attempts++;
    attempt().then(
      () => report({ ok: true, attempts }),
      (err: unknown) => {
        const delay = options.delayMs(attempts);
        if (Date.now() - started + delay > options.giveUpAfterMs)
          report({ ok: false, attempts, err: errorText(err) });
        else setTimeout(run, delay).unref();
      },
    );
  };
  setTimeout(run, options.delayMs(0)).unref();
}

function jsonObject(payload: unknown): Record<string, unknown> | null {
  const text =
    typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function redacted(body: Record<string, unknown>, paths: string[]): Record<string, unknown> {
  if (paths.length === 0) return body;
  const copy = structuredClone(body);
  let removed = false;
  for (const path of paths) {
    const parts = path.split('.');
    const leaf = parts.pop()!;
    let node: unknown = copy;
    for (const part of parts)
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
    if (node && typeof node === 'object' && leaf in node) {
      (node as Record<string, unknown>)[leaf] = null;
      removed = true;
    }
  }
  return removed ? { ...copy, secrets_redacted: true } : copy;
}
