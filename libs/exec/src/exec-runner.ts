import { type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  type ExecJobEnd,
  type ExecJobRecord,
  ExecRepository,
  orgScope,
  platformScope,
  type TenantScope,
} from '@axle/data';
import {
  activeSpan,
  axleMetrics,
  contextOf,
  inSpan,
  type Logger,
  runWithCorrelation,
  secondsSince,
} from '@axle/observability';
import {
  execCancelKey,
  type ExecJobData,
  type ExecLimits,
  QUEUES,
  REDIS_CHANNELS,
  type SandboxSpec,
  TERMINAL_JOB_STATUSES,
} from '@axle/protocol';
import { Egress } from '@axle/egress';
import { type SandboxProcess, sandboxOwner, spawnSandboxed, TierUnavailableError } from '@axle/sandbox';
import { type Job, Queue, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { chown, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { exitOf, jobOptions } from './exec-job.service';
import { sandboxSpecOf, type StoredJobSpec, type StoredMcpCall } from './exec-spec';
import { LogAppender } from './log-appender';
import { ExecLogStore } from './log-store';
import { McpError, withMcpSession } from './tools/mcp-client';

/** How often a running job's last_seq/log_bytes are written to PostgreSQL (they are exact at the end). */
const PROGRESS_EVERY_MS = 1000;
/** After the shutdown grace: how long the killed jobs get to be handed back before the runner exits. */
const HAND_BACK_MS = 5_000;
/** Pending jobs looked at per sweep for requeueing. */
const REQUEUE_BATCH = 100;

type Active = { kill(reason: 'cancel' | 'shutdown'): void };

/**
 * The runner pool's use case (SPEC §7, docs/exec.md "Runner pool and stalled jobs"): a BullMQ worker
 * on the exec-jobs queue. Each job is claimed in PostgreSQL (pending → running), run through
 * @axle/sandbox, its stdout/stderr chunks appended to the job's Redis stream with a monotonic seq,
 * and ended exited/killed/failed with a last `exit` entry. A job redelivered by BullMQ's stalled-job
 * check (its runner died) follows its stalled_policy: fail → failed runner_lost, retry → runs again.
 */
export class ExecRunner {
  readonly runnerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly logs: ExecLogStore;
  private readonly egress: Egress;
  private readonly active = new Map<string, Active>();
  private worker: Worker<ExecJobData> | null = null;
  private readonly queue: Queue<ExecJobData>;
  private sweeper: NodeJS.Timeout | null = null;
  private shuttingDown = false;

  constructor(
    private readonly config: AxleConfig,
    private readonly exec: ExecRepository,
    private readonly audit: AuditRepository,
    private readonly logger: Logger,
  ) {
    this.redis = new Redis(config.redis.url, { maxRetriesPerRequest: 3 });
    this.redis.on('error', () => undefined);
    this.subscriber = new Redis(config.redis.url, { maxRetriesPerRequest: null });
    this.subscriber.on('error', () => undefined);
    this.logs = new ExecLogStore(this.redis);
    this.egress = new Egress(config.egress);
    this.queue = new Queue<ExecJobData>(QUEUES.execJobs, {
      connection: { url: config.redis.url, maxRetriesPerRequest: 1, enableOfflineQueue: false },
    });
    this.queue.on('error', () => undefined);
  }

  /** Listens for cancel notices, then starts taking jobs. */
  async start(): Promise<Worker<ExecJobData>> {
    this.subscriber.on('message', (_channel: string, jobId: string) =>
      this.active.get(jobId)?.kill('cancel'),
    );
    await this.subscriber.subscribe(REDIS_CHANNELS.execCancel);
    const { runner } = this.config;
    this.worker = new Worker<ExecJobData>(
      QUEUES.execJobs,
      (job: Job<ExecJobData>, token?: string) => this.deliver(job, token),
      {
        connection: { url: this.config.redis.url, maxRetriesPerRequest: null },
        concurrency: runner.concurrency,
        lockDuration: runner.lockDurationMs,
        stalledInterval: runner.stalledIntervalMs,
        // Our own attempts count (the job row) decides; BullMQ only has to hand a stalled job back.
        maxStalledCount: runner.maxAttempts + 1,
        autorun: true,
      },
    );
    this.worker.on('error', (err) => this.logger.warn({ err: String(err) }, 'runner queue connection error'));
    this.worker.on('stalled', (jobId) =>
      this.logger.warn({ job_id: jobId }, 'exec job stalled: its runner is gone'),
    );
    await this.worker.waitUntilReady();
    const every = Math.min(15_000, Math.max(500, Math.floor(runner.requeueAfterMs / 2)));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
    void this.sweep();
    return this.worker;
  }

  private async sweep(): Promise<void> {
    try {
      const requeued = await this.requeueStranded();
      if (requeued) this.logger.warn({ requeued }, 'queued stranded pending exec jobs again');
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'could not look for stranded exec jobs');
    }
  }

  /**
   * Queues again the jobs whose row has been `pending` for AXLE_RUNNER_REQUEUE_AFTER_MS but that no
   * runner will take: never queued (the gateway died between writing the row and queueing it, or
   * the queue was unreachable and ending the row failed too), or failed in the queue before a runner
   * claimed the row (an infrastructure error). A job still waiting in the queue is left alone, and
   * a duplicate delivery is harmless: a runner claims the row pending → running exactly once.
   * Answers how many were queued again.
   */
  async requeueStranded(): Promise<number> {
    const olderThan = new Date(Date.now() - this.config.runner.requeueAfterMs);
    const pending = await this.exec.findPendingJobs(platformScope(), olderThan, REQUEUE_BATCH);
    let requeued = 0;
    for (const job of pending) {
      const queued = await this.queue.getJob(job.id);
      if (!queued) {
        await this.queue.add('run', { jobId: job.id, orgId: job.orgId }, jobOptions(job.id));
        requeued++;
      } else if (await queued.isFailed()) {
        await queued.retry('failed');
        requeued++;
      }
    }
    return requeued;
  }

  isRunning(): boolean {
    return this.worker?.isRunning() ?? false;
  }

  async ping(): Promise<boolean> {
    return this.redis.ping().then(
      () => true,
      () => false,
    );
  }

  /**
   * SIGTERM: take no new jobs and let running ones finish within the grace period. After it, their
   * processes are killed and the jobs handed back to the queue unfinished (deliver()), so another
   * runner takes them up at once and applies each job's stalled_policy: retry runs it again, fail
   * ends it runner_lost. If handing back fails, the stalled-job check hands them over after the lock
   * expires (AXLE_RUNNER_LOCK_DURATION_MS), as for a runner that died.
   */
  async shutdown(graceMs: number): Promise<'drained' | 'abandoned'> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.queue.close().catch(() => undefined);
    const worker = this.worker;
    if (!worker) return 'drained';
    const closing = worker.close();
    const result = await Promise.race([
      closing.then(() => 'drained' as const),
      new Promise<'abandoned'>((resolve) => setTimeout(() => resolve('abandoned'), graceMs).unref()),
    ]);
    if (result === 'abandoned') {
      this.shuttingDown = true;
      for (const job of this.active.values()) job.kill('shutdown');
      await Promise.race([
        closing,
        new Promise<void>((resolve) => setTimeout(resolve, HAND_BACK_MS).unref()),
      ]);
    }
    this.subscriber.disconnect();
    this.redis.disconnect();
    await this.egress.close();
    return result;
  }

  /**
   * One delivery of a job inside a span `exec.job`, a child of the span that queued it (the
   * gateway request or the worker's exec_job activity) when its trace travelled with it, and with
   * `job_id` and the submitter's `trace_id` on every log line.
   */
  private traced(data: ExecJobData): Promise<void> {
    return runWithCorrelation({ jobId: data.jobId, traceId: data.traceId ?? null }, () =>
      inSpan(
        'exec.job',
        { parent: contextOf(data), kind: 'consumer', attributes: { 'axle.job.id': data.jobId } },
        () => this.process(data),
      ),
    );
  }

  /**
   * One delivery from the queue. Once the shutdown grace is over, the job goes back to the queue
   * instead of being completed in it (WaitingError tells BullMQ it was moved): its row is still
   * `running`, which is how the next runner knows it was interrupted. A job that ended meanwhile is
   * skipped by the next runner.
   */
  private async deliver(job: Job<ExecJobData>, token: string | undefined): Promise<void> {
    await this.traced(job.data);
    if (!this.shuttingDown) return;
    try {
      await job.moveToWait(token);
    } catch (err) {
      this.logger.warn(
        { job_id: job.data.jobId, err: String(err) },
        'could not hand the job back; the stalled-job check will',
      );
      // Never settle: BullMQ must not complete the job; the process exits with it still active.
      await new Promise<never>(() => undefined);
    }
    this.logger.info({ job_id: job.data.jobId }, 'exec job handed back to the queue');
    throw new WaitingError();
  }

  /** One delivery of a job. Job-level failures end the job; only infrastructure errors throw. */
  async process(data: ExecJobData): Promise<void> {
    const scope = orgScope(data.orgId);
    if (this.active.has(data.jobId)) return; // a duplicate delivery of a job this runner is running
    const job = await this.exec.findJob(scope, data.jobId);
    if (!job || TERMINAL_JOB_STATUSES.has(job.status)) return;
    let retry = false;
    if (job.status === 'running') {
      // Handed back by the stalled-job check: the runner that had it died mid-job.
      if (job.stalledPolicy === 'fail' || job.attempts >= this.config.runner.maxAttempts) {
        const seq = await this.logs.lastSeq(job.id);
        const why =
          job.stalledPolicy === 'fail'
            ? 'its stalled_policy is fail'
            : `it has had ${job.attempts} attempts (AXLE_RUNNER_MAX_ATTEMPTS)`;
        await this.logs.append(
          job.id,
          seq + 1,
          'stderr',
          Buffer.from(`\n[axle] the runner running this job was lost; ${why}\n`),
        );
        await this.finish(scope, job, ['running'], seq + 1, job.logBytes, {
          status: 'failed',
          exitCode: null,
          signal: null,
          error: { code: 'runner_lost', message: `the runner running the job was lost mid-job; ${why}` },
        });
        return;
      }
      retry = true;
    }
    const claimed = await this.exec.claimJob(
      scope,
      job.id,
      job.status as 'pending' | 'running',
      this.runnerId,
      job.attempts + 1,
    );
    if (!claimed) return;
    try {
      await this.run(scope, claimed, retry);
    } catch (err) {
      if (this.shuttingDown) return;
      this.logger.error({ job_id: job.id, err: String(err) }, 'exec job failed inside the runner');
      await this.finish(
        scope,
        claimed,
        ['running'],
        await this.logs.lastSeq(job.id).catch(() => claimed.lastSeq),
        claimed.logBytes,
        {
          status: 'failed',
          exitCode: null,
          signal: null,
          error: { code: 'runner_error', message: 'the runner failed while running the job' },
        },
      ).catch(() => undefined);
    }
  }

  private async run(scope: TenantScope, job: ExecJobRecord, retry: boolean): Promise<void> {
    let seq = await this.logs.lastSeq(job.id);
    let bytes = retry ? job.logBytes : 0;
    if (retry)
      await this.logs.append(
        job.id,
        ++seq,
        'stderr',
        Buffer.from(
          `\n[axle] the runner running this job was lost; running it again (attempt ${job.attempts})\n`,
        ),
      );
    const session = await this.exec.findSession(scope, job.sessionId);
    const limits = job.limits as ExecLimits;
    const end = (e: ExecJobEnd) => this.finish(scope, job, ['running'], seq, bytes, e);
    if (!session) return void (await end(failure('session_gone', 'the job’s session no longer exists')));
    if (await this.redis.exists(execCancelKey(job.id)))
      return void (await end({ status: 'killed', exitCode: null, signal: null, error: canceled() }));

    const stored = job.spec as StoredJobSpec;
    activeSpan()?.setAttribute('axle.job.tier', stored.mcp ? 'mcp' : session.grantedTier);
    if (stored.mcp) return this.runMcp(scope, job, stored.mcp, limits, () => seq, end);

    let proc: SandboxProcess;
    try {
      const spec = sandboxSpecOf(
        { spec: job.spec as StoredJobSpec, capabilities: job.capabilities, limits },
        session,
      );
      await prepareWorkspace(spec);
      proc = spawnSandboxed(spec, { allowNone: this.config.exec.allowNone });
    } catch (err) {
      if (err instanceof TierUnavailableError)
        return void (await end(failure('tier_unavailable', err.message)));
      return void (await end(failure('spawn_failed', err instanceof Error ? err.message : String(err))));
    }

    let stoppedBy: 'cancel' | 'shutdown' | 'output' | null = null;
    // Chunks are appended in arrival order, one write in flight; those arriving meanwhile are
    // coalesced into the next write (LogAppender). A pipe pauses only while too much waits.
    let lastProgress = Date.now();
    let progressing = false;
    const logs = new LogAppender({
      write: (entries) => this.logs.appendMany(job.id, entries),
      seq,
      bytes,
      maxBytes: limits.output_bytes,
      onOverflow: () => {
        stoppedBy ??= 'output';
        proc.kill();
      },
      // About once a second, off the append path (a slow or failed write only delays the figure;
      // it is exact at the end).
      onWritten: (storedSeq, storedBytes) => {
        if (progressing || Date.now() - lastProgress < PROGRESS_EVERY_MS) return;
        lastProgress = Date.now();
        progressing = true;
        this.exec
          .recordProgress(scope, job.id, storedSeq, storedBytes)
          .catch((err: unknown) =>
            this.logger.warn({ job_id: job.id, err: String(err) }, 'could not record the job’s log progress'),
          )
          .finally(() => (progressing = false));
      },
    });
    for (const [stream, readable] of [
      ['stdout', proc.stdout],
      ['stderr', proc.stderr],
    ] as const) {
      readable.on('data', (chunk: Buffer) => {
        if (logs.push(stream, chunk)) return;
        readable.pause();
        void logs.drained().then(() => readable.resume());
      });
    }
    await this.track(job.id, {
      kill: (reason) => {
        stoppedBy ??= reason;
        proc.kill();
      },
    });
    const exit = await proc.exited;
    this.active.delete(job.id);
    await logs.flushed();
    seq = logs.seq;
    bytes = logs.bytes;
    if (stoppedBy === 'shutdown' || this.shuttingDown) {
      // Handed back (deliver()): the next runner continues the log after this seq and these bytes.
      await this.exec.recordProgress(scope, job.id, seq, bytes).catch(() => undefined);
      return;
    }
    if (stoppedBy === 'output') {
      await this.logs.append(
        job.id,
        ++seq,
        'stderr',
        Buffer.from(`\n[axle] output limit of ${limits.output_bytes} bytes exceeded; the job was killed\n`),
      );
      return void (await end(
        failure(
          'output_limit_exceeded',
          `the job wrote more than its output limit of ${limits.output_bytes} bytes`,
        ),
      ));
    }
    if (stoppedBy === 'cancel')
      return void (await end({
        status: 'killed',
        exitCode: null,
        signal: exit.signal ?? 'SIGKILL',
        error: canceled(),
      }));
    if (exit.reason === 'wall_time') {
      await this.logs.append(
        job.id,
        ++seq,
        'stderr',
        Buffer.from(`\n[axle] wall-time limit of ${limits.wall_seconds} s reached; the job was killed\n`),
      );
      return void (await end({
        status: 'failed',
        exitCode: null,
        signal: exit.signal,
        error: { code: 'time_limit_exceeded', message: `the job ran longer than ${limits.wall_seconds} s` },
      }));
    }
    if (exit.code !== null)
      return void (await end({ status: 'exited', exitCode: exit.code, signal: null, error: null }));
    if (exit.signal === 'SIGXCPU')
      return void (await end({
        status: 'failed',
        exitCode: null,
        signal: exit.signal,
        error: {
          code: 'cpu_limit_exceeded',
          message: `the job used more than ${limits.cpu_seconds} s of CPU`,
        },
      }));
    if (exit.signal !== null)
      return void (await end({
        status: 'killed',
        exitCode: null,
        signal: exit.signal,
        error: { code: 'signaled', message: `the job was terminated by ${exit.signal}` },
      }));
    await end(failure('spawn_failed', 'the job could not be started'));
  }

  /**
   * Makes a started job killable by a cancel notice and by the shutdown. Either may have come
   * between the claim and this and found nothing to kill: the shutdown left its flag, a cancel its
   * key (its notice is gone), so both are looked at once the job is registered.
   */
  private async track(jobId: string, job: Active): Promise<void> {
    this.active.set(jobId, job);
    if (this.shuttingDown) return job.kill('shutdown');
    // Unreadable: the notice is then the only way, as before this look.
    if (await this.redis.exists(execCancelKey(jobId)).catch(() => 0)) job.kill('cancel');
  }

  /**
   * An MCP tool call (docs/exec.md "Tools"): no sandbox, the runner itself makes the `tools/call`
   * (network egress from Axle, not from a sandbox). The JSON result is the job's stdout; a result
   * with `isError` exits 1; an unreachable server or a JSON-RPC error fails the job.
   */
  private async runMcp(
    scope: TenantScope,
    job: ExecJobRecord,
    call: StoredMcpCall,
    limits: ExecLimits,
    lastSeq: () => number,
    end: (e: ExecJobEnd) => Promise<void>,
  ): Promise<void> {
    let seq = lastSeq();
    let bytes = 0;
    const finish = (e: ExecJobEnd) => this.finish(scope, job, ['running'], seq, bytes, e);
    const write = async (stream: 'stdout' | 'stderr', text: string) => {
      let data = Buffer.from(text, 'utf8');
      if (bytes + data.length > limits.output_bytes) data = data.subarray(0, limits.output_bytes - bytes);
      if (data.length === 0) return;
      bytes += data.length;
      await this.logs.append(job.id, ++seq, stream, data);
    };
    const server = await this.exec.findMcpServer(scope, call.server_id);
    if (!server || server.name !== call.server)
      return void (await end(
        failure('mcp_server_gone', `the MCP server ${call.server} is no longer registered`),
      ));
    const abort = new AbortController();
    let stoppedBy: 'cancel' | 'shutdown' | null = null;
    await this.track(job.id, {
      kill: (reason) => {
        stoppedBy ??= reason;
        abort.abort();
      },
    });
    const timer = setTimeout(() => abort.abort(), limits.wall_seconds * 1000);
    try {
      const result = await withMcpSession(
        { url: server.url, headers: server.headers, egress: this.egress },
        abort.signal,
        (session) => session.callTool(call.tool, call.arguments),
      );
      const text = `${JSON.stringify(result)}\n`;
      await write('stdout', text);
      if (Buffer.byteLength(text) > limits.output_bytes)
        return void (await finish(
          failure(
            'output_limit_exceeded',
            `the tool result is larger than the output limit of ${limits.output_bytes} bytes`,
          ),
        ));
      await finish({
        status: 'exited',
        exitCode: result.isError === true ? 1 : 0,
        signal: null,
        error: null,
      });
    } catch (err) {
      if (stoppedBy === 'shutdown' || this.shuttingDown) return;
      if (stoppedBy === 'cancel')
        return void (await finish({ status: 'killed', exitCode: null, signal: null, error: canceled() }));
      if (abort.signal.aborted)
        return void (await finish({
          status: 'failed',
          exitCode: null,
          signal: null,
          error: {
            code: 'time_limit_exceeded',
            message: `the MCP call ran longer than ${limits.wall_seconds} s`,
          },
        }));
      const code = err instanceof McpError ? err.code : 'mcp_error';
      const message = err instanceof Error ? err.message : String(err);
      await write('stderr', `[axle] ${message}\n`);
      await finish(failure(code, message));
    } finally {
      clearTimeout(timer);
      this.active.delete(job.id);
    }
  }

  /** Ends the job row, then writes the stream's last entry, `exit`, and audits the end. */
  private async finish(
    scope: TenantScope,
    job: ExecJobRecord,
    from: readonly ('pending' | 'running')[],
    seq: number,
    bytes: number,
    end: ExecJobEnd,
  ): Promise<void> {
    const ended = await this.exec.endJob(scope, job.id, from, { ...end, lastSeq: seq, logBytes: bytes });
    if (!ended) return;
    activeSpan()?.setAttributes({
      'axle.job.status': ended.status,
      ...(ended.exitCode !== null ? { 'axle.job.exit_code': ended.exitCode } : {}),
      ...(ended.error ? { 'axle.job.error': ended.error.code } : {}),
    });
    // Once per job: endJob moves it out of pending/running only once, whichever runner gets there.
    axleMetrics.execJobs.inc({ status: ended.status });
    axleMetrics.execJobDuration.observe(
      { status: ended.status },
      secondsSince(ended.startedAt ?? ended.createdAt, (ended.endedAt ?? new Date()).getTime()),
    );
    await this.logs.append(job.id, seq + 1, 'exit', Buffer.from(JSON.stringify(exitOf(ended, seq + 1))));
    await this.logs.expire(job.id, this.config.exec.logTtlSeconds);
    await this.audit.record({
      orgId: ended.orgId,
      actorType: 'system',
      actorId: `runner:${this.runnerId}`,
      action: 'exec.job.end',
      targetType: 'exec_job',
      targetId: ended.id,
      outcome: ended.status === 'exited' ? 'success' : 'failure',
      requestId: null,
      details: {
        session_id: ended.sessionId,
        status: ended.status,
        exit_code: ended.exitCode,
        signal: ended.signal,
        error: ended.error,
        attempts: ended.attempts,
        log_bytes: bytes,
        last_seq: seq,
      },
    });
    this.logger.info({ job_id: ended.id, status: ended.status, exit_code: ended.exitCode }, 'exec job ended');
  }
}

function failure(code: string, message: string): ExecJobEnd {
  return { status: 'failed', exitCode: null, signal: null, error: { code, message } };
}

function canceled() {
  return { code: 'canceled', message: 'canceled by request' };
}

/**
 * The workspace exists on this runner's disk (it may not share the gateway's) and, when the runner
 * is root, belongs to the uid that tiers process and kernel run jobs as, so jobs can write to it. That
 * uid must also be able to reach it: a directory above it without o+x fails the job with its name.
 */
async function prepareWorkspace(spec: SandboxSpec): Promise<void> {
  const workspace = spec.workspace ?? spec.cwd;
  await mkdir(spec.cwd, { recursive: true, mode: 0o755 });
  const owner = spec.tier === 'none' ? null : sandboxOwner({ allowNone: false });
  if (!owner) return;
  await chown(workspace, owner.uid, owner.gid);
  for (let dir = dirname(workspace); dir !== dirname(dir); dir = dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0)
      throw new Error(
        `${dir} is mode ${(mode & 0o777).toString(8)}: the sandbox user cannot reach the workspace below it (give it o+x, or put AXLE_EXEC_WORKSPACES_DIR elsewhere)`,
      );
  }
}
