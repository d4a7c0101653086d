import { tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  type ExecJobRecord,
  ExecRepository,
  IdempotencyRepository,
  orgScope,
  type TenantScope,
} from '@axle/data';
import {
  type Capability,
  capTokenBodySchema,
  ConflictError,
  createExecJobSchema,
  DependencyUnavailableError,
  execCancelKey,
  type ExecJobStatus,
  type ExecExitFrame,
  type ExecJobData,
  type ExecLimits,
  type ExecLogFrame,
  ForbiddenError,
  formatCapability,
  isUuid,
  NotFoundError,
  parseOrThrow,
  QUEUES,
  REDIS_CHANNELS,
  type StalledPolicy,
  TERMINAL_JOB_STATUSES,
  ValidationFailedError,
} from '@axle/protocol';
import { carriedTrace } from '@axle/observability';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { isAscii, isUtf8 } from 'node:buffer';
import { EXEC_REDIS } from './exec-redis';
import { clampLimits, codeArgv, type StoredJobSpec, workspaceRelative } from './exec-spec';
import { type AuthorizedSession, type ExecCommand, ExecSessionService } from './exec-session.service';
import { toExecJobView } from './exec.view';
import { type ExecLogEntry, ExecLogStore } from './log-store';

/**
 * Entries read per Redis call while replaying or following a job's log. An entry holds up to
 * LOG_ENTRY_MAX_BYTES (1 MiB) of coalesced output, so one read carries at most 16 MiB.
 */
const READ_BATCH = 16;
/** How long a cancel request stays visible to a runner that has not picked the job up yet. */
const CANCEL_KEY_TTL_SECONDS = 7 * 24 * 3600;

/**
 * One SSE frame of an attach stream. `ascii` (log frames): the frame's JSON is plain ASCII (base64,
 * or text that is ASCII), so the gateway may encode it with a straight copy instead of UTF-8.
 */
export type AttachFrame =
  | { id: number; event: 'log'; data: ExecLogFrame; ascii: boolean }
  | { id: number; event: 'exit'; data: ExecExitFrame };

/** How a job is queued (by the gateway, and again by the runners' requeue): one BullMQ job per row. */
export function jobOptions(jobId: string) {
  return { jobId, attempts: 1, removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } };
}

/** What the gateway's attach route pulls frames from (replay, then live). */
export type AttachSource = {
  job: ExecJobRecord;
  /**
   * Frames after `cursor`: at once when the stream has some, else after waiting up to `waitMs` on
   * `blocking` (a Redis connection of the caller's own). An `exit` frame is the last.
   */
  next(blocking: Redis, cursor: number, waitMs: number): Promise<AttachFrame[]>;
};

/**
 * Exec jobs (SPEC §7): checked against the presented token's capabilities (jobs only narrow),
 * limits clamped to the configured ceilings, queued on BullMQ for the runner pool; their output is
 * a Redis stream that attach replays and follows.
 */
@Injectable()
export class ExecJobService implements OnModuleDestroy {
  private readonly queue: Queue<ExecJobData>;
  readonly logs: ExecLogStore;

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    @Inject(EXEC_REDIS) private readonly redis: Redis,
    private readonly exec: ExecRepository,
    private readonly sessions: ExecSessionService,
    private readonly audit: AuditRepository,
    private readonly idempotency: IdempotencyRepository,
  ) {
    this.queue = new Queue<ExecJobData>(QUEUES.execJobs, {
      connection: { url: config.redis.url, maxRetriesPerRequest: 1, enableOfflineQueue: false },
    });
    this.queue.on('error', () => undefined);
    this.logs = new ExecLogStore(redis);
  }

  /**
   * `POST /v1/exec/jobs`. `idempotencyClaim`: the request's Idempotency-Key claim; its answer is
   * stored with the job row, so a retry after a crash replays it instead of starting a second job.
   */
  async create(command: ExecCommand & { body: unknown; idempotencyClaim?: string | undefined }) {
    const body = parseOrThrow(createExecJobSchema, command.body ?? {});
    const authorized = await this.sessions.authorize(command, body.session_id);
    const requested = body.capabilities ?? authorized.capabilities;
    await this.sessions.decide(command, authorized, requested, 'job');
    if (!requested.some((c) => c.kind === 'proc.spawn'))
      throw new ForbiddenError(
        'capability_denied',
        'running a command or code needs the proc.spawn capability',
      );
    const cwd = workspaceRelative(body.cwd);
    if (cwd === null)
      throw new ValidationFailedError([
        { path: 'cwd', loc: ['body', 'cwd'], message: 'must be a path inside the workspace', type: 'custom' },
      ]);
    const spec: StoredJobSpec = {
      argv: body.command ?? codeArgv(body.language!, body.code!),
      env: body.env,
      cwd,
    };
    return this.enqueue(command, authorized, {
      spec: { ...spec, ...(body.code !== undefined ? { language: body.language } : {}) },
      capabilities: requested,
      limits: clampLimits(body.limits, this.config.exec.ceilings, body.timeout_ms),
      stalledPolicy: body.stalled_policy,
      idempotencyClaim: command.idempotencyClaim,
    });
  }

  /**
   * Creates the job row and queues it for the runners (the one way a job starts: `POST
   * /v1/exec/jobs` and tool calls). `capabilities` must already be covered by the token's.
   */
  async enqueue(
    command: ExecCommand,
    authorized: AuthorizedSession,
    input: {
      spec: StoredJobSpec & Record<string, unknown>;
      capabilities: readonly Capability[];
      limits: ExecLimits;
      stalledPolicy: StalledPolicy;
      audit?: Record<string, unknown>;
      idempotencyClaim?: string | undefined;
    },
  ) {
    const { spec, limits, idempotencyClaim } = input;
    const { session } = authorized;
    const scope = tenantScopeOf(command.principal);
    const answer = (job: ExecJobRecord) => ({
      ok: true as const,
      job_id: job.id,
      session_id: job.sessionId,
      status: job.status,
      capabilities: job.capabilities,
      limits,
      stalled_policy: job.stalledPolicy,
    });
    const job = await this.exec.createJob(
      scope,
      session,
      {
        sessionId: session.id,
        ownerAgent: session.ownerAgent,
        spec,
        capabilities: input.capabilities.map(formatCapability),
        limits,
        stalledPolicy: input.stalledPolicy,
      },
      idempotencyClaim
        ? { token: idempotencyClaim, response: (j) => ({ status: 200, body: answer(j) }) }
        : undefined,
    );
    try {
      await this.queue.add('run', { jobId: job.id, orgId: job.orgId, ...carriedTrace() }, jobOptions(job.id));
    } catch {
      await this.exec.endJob(scope, job.id, ['pending'], {
        status: 'failed',
        exitCode: null,
        signal: null,
        error: { code: 'queue_unavailable', message: 'the job could not be queued' },
      });
      // The stored answer said "started"; the client's retry must start the job anew.
      if (idempotencyClaim) await this.idempotency.forget(orgScope(job.orgId), idempotencyClaim);
      throw new DependencyUnavailableError('redis');
    }
    await this.record(command, job, 'exec.job.start', 'success', {
      argv0: spec.mcp ? null : spec.argv[0],
      ...(spec.tool ? { tool: spec.tool } : {}),
      capabilities: job.capabilities,
      limits,
      stalled_policy: job.stalledPolicy,
      token_id: authorized.token.id,
      ...input.audit,
    });
    return answer(job);
  }

  /** `GET /v1/exec/jobs/{id}`. */
  async get(command: ExecCommand & { jobId: string }) {
    const job = await this.authorizedJob(command, command.jobId);
    return { ok: true, job: toExecJobView(job) };
  }

  /**
   * `POST /v1/exec/jobs/{id}/cancel`: a pending job leaves the queue and is killed at once; a
   * running one is killed by its runner (Redis notice, plus a key a runner checks when it picks the
   * job up). 409 when it has ended already.
   */
  async cancel(command: ExecCommand & { jobId: string; body: unknown }) {
    parseOrThrow(capTokenBodySchema, command.body ?? {});
    const job = await this.authorizedJob(command, command.jobId);
    const scope = tenantScopeOf(command.principal);
    if (TERMINAL_JOB_STATUSES.has(job.status)) {
      throw new ConflictError('job_ended', `job ${job.id} has ended already (${job.status})`, {
        status: job.status,
      });
    }
    const status = await this.stop(scope, job);
    await this.record(command, job, 'exec.job.cancel', 'success', { status_before: job.status });
    return { ok: true, job_id: job.id, status, cancel_requested: true };
  }

  /**
   * Stops a job that has not ended: the runner running it kills it (Redis notice), a runner picking
   * it up later refuses it (a key it checks), and a pending one leaves the queue and is killed now.
   * Answers its status afterwards. Also how an intent's exec_job step cancels its job.
   */
  async stop(scope: TenantScope, job: ExecJobRecord): Promise<ExecJobStatus> {
    await this.redis.set(execCancelKey(job.id), '1', 'EX', CANCEL_KEY_TTL_SECONDS);
    await this.redis.publish(REDIS_CHANNELS.execCancel, job.id);
    if (job.status !== 'pending') return job.status;
    await this.queue.remove(job.id).catch(() => 0);
    const ended = await this.exec.endJob(scope, job.id, ['pending'], {
      status: 'killed',
      exitCode: null,
      signal: null,
      error: { code: 'canceled', message: 'canceled before it started' },
    });
    if (!ended) return job.status;
    const seq = (await this.logs.lastSeq(job.id)) + 1;
    await this.logs.append(job.id, seq, 'exit', Buffer.from(JSON.stringify(exitOf(ended, seq))));
    await this.logs.expire(job.id, this.config.exec.logTtlSeconds);
    return 'killed';
  }

  /** The source of `GET /v1/exec/jobs/{id}/attach`. */
  async attach(command: ExecCommand & { jobId: string }): Promise<AttachSource> {
    const job = await this.authorizedJob(command, command.jobId);
    const scope = tenantScopeOf(command.principal);
    const logs = this.logs;
    const exec = this.exec;
    return {
      job,
      async next(blocking, cursor, waitMs) {
        // XREAD BLOCK answers at once when there are entries: one round trip per batch, live or not.
        const entries =
          waitMs > 0
            ? await ExecLogStore.follow(blocking, job.id, cursor, READ_BATCH, waitMs)
            : await logs.readAfter(job.id, cursor, READ_BATCH);
        if (entries.length > 0) return entries.map(toFrame);
        // Nothing came: a job that ended without its exit entry (its runner died at the wrong moment)
        // still ends the stream.
        const now = await exec.findJob(scope, job.id);
        if (now && TERMINAL_JOB_STATUSES.has(now.status)) {
          const late = await logs.readAfter(job.id, cursor, READ_BATCH);
          if (late.length > 0) return late.map(toFrame);
          const seq = Math.max(cursor, now.lastSeq) + 1;
          return [{ id: seq, event: 'exit', data: exitOf(now, seq) }];
        }
        return [];
      },
    };
  }

  /** The job, if the caller may see its session and presented a live token of that session. */
  private async authorizedJob(command: ExecCommand, jobId: string): Promise<ExecJobRecord> {
    const job = isUuid(jobId) ? await this.exec.findJob(tenantScopeOf(command.principal), jobId) : null;
    if (!job) throw new NotFoundError('exec_job_not_found', `exec job ${jobId} not found`);
    try {
      await this.sessions.authorize(command, job.sessionId);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new NotFoundError('exec_job_not_found', `exec job ${jobId} not found`);
      throw err;
    }
    return job;
  }

  private async record(
    command: ExecCommand,
    job: ExecJobRecord,
    action: string,
    outcome: 'success' | 'failure' | 'denied',
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record({
      orgId: job.orgId,
      actorType: command.principal.kind,
      actorId: command.principal.actorId,
      action,
      targetType: 'exec_job',
      targetId: job.id,
      outcome,
      requestId: command.requestId,
      details: { session_id: job.sessionId, ...details },
    });
  }

  /** Jobs of the exec-jobs queue by state (axle_queue_jobs, read per scrape; throws while Redis is down). */
  async queueCounts(): Promise<Record<'waiting' | 'active' | 'delayed' | 'failed', number>> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return {
      waiting: counts.waiting ?? 0,
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}

export function exitOf(job: ExecJobRecord, seq: number): ExecExitFrame {
  return { seq, status: job.status, exit_code: job.exitCode, signal: job.signal, error: job.error };
}

/**
 * A log entry as an SSE frame: text when the bytes are UTF-8, else base64. The checks are native
 * (simdutf); ASCII, the common case, becomes a one-byte string with a plain copy, which
 * JSON.stringify then escapes fastest.
 */
export function toFrame(entry: ExecLogEntry): AttachFrame {
  if (entry.stream === 'exit') {
    const exit = JSON.parse(entry.data.toString('utf8')) as ExecExitFrame;
    return { id: entry.seq, event: 'exit', data: { ...exit, seq: entry.seq } };
  }
  const { data } = entry;
  const ascii = isAscii(data);
  const text = ascii ? data.toString('latin1') : isUtf8(data) ? data.toString('utf8') : null;
  return text === null
    ? {
        id: entry.seq,
        event: 'log',
        data: { seq: entry.seq, stream: entry.stream, data_b64: data.toString('base64') },
        ascii: true,
      }
    : { id: entry.seq, event: 'log', data: { seq: entry.seq, stream: entry.stream, data: text }, ascii };
}
