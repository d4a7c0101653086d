import { AXLE_LOGGER, type Logger, temporalClientInterceptors } from '@axle/observability';
import {
  ConflictError,
  DependencyUnavailableError,
  FAILURE_TYPES,
  type IntentWorkflowInput,
  NotFoundError,
  policyApprovalUpdate,
  type PolicyApprovalUpdateInput,
  type PolicyApprovalUpdateResult,
  policyUpdate,
  RECONCILE_SCHEDULE_ID,
  type PolicyUpdateInput,
  type PolicyUpdateResult,
  resolveUpdate,
  type ResolveUpdateInput,
  type ResolveUpdateResult,
  resumeUpdate,
  type ResumeUpdateInput,
  type ResumeUpdateResult,
  TASK_QUEUES,
  transferUpdate,
  type TransferUpdateInput,
  type TransferUpdateResult,
  WORKFLOW_TYPES,
} from '@axle/protocol';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import {
  Client,
  Connection,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';

export const TEMPORAL_OPTIONS = Symbol('TEMPORAL_OPTIONS');

export type TemporalOptions = { address: string; namespace: string };

/**
 * Starts that may run after their create has answered. Beyond this many a create waits for its own
 * start, so a Temporal slower than the gateway's intake slows creates down instead of piling up.
 */
const MAX_DETACHED_STARTS = 256;

/** The gateway's side of the intent workflow: start it, send it updates, check the server. */
@Injectable()
export class IntentWorkflowClient implements OnModuleDestroy {
  private readonly connection: Connection;
  private readonly client: Client;
  /** Starts running after their caller went on (startDetached); shutdown waits for them. */
  private readonly detached = new Set<Promise<void>>();

  constructor(
    @Inject(TEMPORAL_OPTIONS) private readonly options: TemporalOptions,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
  ) {
    // Lazy: the gateway starts (and reports not-ready) while Temporal is down, and connects when it is back.
    // Few, short retries: while Temporal is down a call fails within about a second with a 503 and
    // Retry-After (the client retries), instead of holding the request through the SDK's default
    // ten attempts (~18 s). A blip shorter than that is still absorbed.
    this.connection = Connection.lazy({
      address: options.address,
      interceptors: [
        makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4, maxIntervalMs: () => 1_000 })),
      ],
    });
    this.client = new Client({
      connection: this.connection,
      namespace: options.namespace,
      interceptors: temporalClientInterceptors(),
    });
  }

  /** Starts the workflow whose id is the intent id; starting it again is a no-op. */
  async start(input: IntentWorkflowInput): Promise<void> {
    try {
      await this.client.workflow.start(WORKFLOW_TYPES.intent, {
        workflowId: input.intentId,
        taskQueue: TASK_QUEUES.intents,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        // A finished intent is never run again, e.g. by an idempotent replay of its create.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: input.traceId ? { traceId: input.traceId } : {},
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw toTemporalError(err);
    }
  }

  /**
   * Runs `start` (a workflow start and what the caller does once it is confirmed) without the
   * caller waiting for it, as long as few are running; see MAX_DETACHED_STARTS. Only for intents
   * already durable: a start lost here (a crash, Temporal down) is the reconciler's to redo. Its
   * failures are logged, never thrown.
   */
  async startDetached(start: () => Promise<void>): Promise<void> {
    const logged = async () => {
      try {
        await start();
      } catch (err) {
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          'workflow start left to the reconciler',
        );
      }
    };
    if (this.detached.size >= MAX_DETACHED_STARTS) return logged();
    const running = logged().finally(() => this.detached.delete(running));
    this.detached.add(running);
  }

  /** Runs an update; an intent whose workflow never started gets it started first (at most once). */
  async ensuring<T>(input: IntentWorkflowInput, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!(err instanceof WorkflowMissingError)) throw err;
      await this.start(input);
      return send();
    }
  }

  resume(intentId: string, input: ResumeUpdateInput, updateId?: string): Promise<ResumeUpdateResult> {
    return this.update(intentId, (handle) =>
      handle.executeUpdate(resumeUpdate, { args: [input], ...(updateId ? { updateId } : {}) }),
    );
  }

  resolve(intentId: string, input: ResolveUpdateInput, updateId?: string): Promise<ResolveUpdateResult> {
    return this.update(intentId, (handle) =>
      handle.executeUpdate(resolveUpdate, { args: [input], ...(updateId ? { updateId } : {}) }),
    );
  }

  transfer(intentId: string, input: TransferUpdateInput, updateId?: string): Promise<TransferUpdateResult> {
    return this.update(intentId, (handle) =>
      handle.executeUpdate(transferUpdate, { args: [input], ...(updateId ? { updateId } : {}) }),
    );
  }

  changePolicy(intentId: string, input: PolicyUpdateInput, updateId?: string): Promise<PolicyUpdateResult> {
    return this.update(intentId, (handle) =>
      handle.executeUpdate(policyUpdate, { args: [input], ...(updateId ? { updateId } : {}) }),
    );
  }

  /** The approver's decision on an intent a policy escalated. */
  decidePolicyApproval(
    intentId: string,
    input: PolicyApprovalUpdateInput,
    updateId?: string,
  ): Promise<PolicyApprovalUpdateResult> {
    return this.update(intentId, (handle) =>
      handle.executeUpdate(policyApprovalUpdate, { args: [input], ...(updateId ? { updateId } : {}) }),
    );
  }

  /**
   * What the update sent earlier under `updateId` answered, or null when none was sent. A write
   * retried with its Idempotency-Key after its first answer was lost (the gateway died after the
   * update, before storing the answer) finds the intent moved on; Temporal keeps update outcomes,
   * also of closed workflows, so the retry answers what its first attempt did. A failed update
   * throws its error again.
   */
  async priorOutcome<T>(intentId: string, updateId: string): Promise<T | null> {
    try {
      return await this.client.workflow.getHandle(intentId).getUpdateHandle<T>(updateId).result();
    } catch (err) {
      // NOT_FOUND: no update with this id (the SDK reports it as a missing workflow).
      if (err instanceof WorkflowNotFoundError) return null;
      throw toTemporalError(err);
    }
  }

  private async update<T>(
    intentId: string,
    send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>,
  ): Promise<T> {
    try {
      return await send(this.client.workflow.getHandle(intentId));
    } catch (err) {
      throw toTemporalError(err);
    }
  }

  /** Creates (or re-times) the Schedule that runs the reconciler every `everySeconds`. */
  async ensureReconcileSchedule(everySeconds: number): Promise<void> {
    const spec = { intervals: [{ every: `${everySeconds}s` as const }] };
    try {
      await this.client.schedule.create({
        scheduleId: RECONCILE_SCHEDULE_ID,
        spec,
        action: {
          type: 'startWorkflow',
          workflowType: WORKFLOW_TYPES.reconcile,
          taskQueue: TASK_QUEUES.intents,
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw toTemporalError(err);
      await this.client.schedule
        .getHandle(RECONCILE_SCHEDULE_ID)
        .update((previous) => ({ ...previous, spec }))
        .catch((updateErr: unknown) => {
          throw toTemporalError(updateErr);
        });
    }
  }

  async ping(): Promise<void> {
    try {
      await this.connection.withDeadline(Date.now() + 2_000, () =>
        this.connection.workflowService.getSystemInfo({}),
      );
    } catch {
      throw new DependencyUnavailableError('temporal');
    }
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.detached);
    await this.connection.close().catch(() => undefined);
  }
}

/** The intent has no workflow (its start was interrupted); callers start it and retry once. */
export class WorkflowMissingError extends ConflictError {
  constructor() {
    super('intent_terminal', 'the intent is no longer running');
  }
}

/**
 * Business failures from the workflow become domain errors; transport failures and an overloaded
 * server become 503 with Retry-After. Exported for its unit test.
 */
export function toTemporalError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    // An activity's rejection arrives wrapped in an ActivityFailure.
    const cause = err.cause instanceof ActivityFailure ? err.cause.cause : err.cause;
    if (cause instanceof ApplicationFailure) {
      const code = typeof cause.details?.[0] === 'string' ? cause.details[0] : 'invalid_transition';
      if (cause.type === FAILURE_TYPES.invalidTransition) return new ConflictError(code, cause.message);
      if (cause.type === FAILURE_TYPES.intentNotFound)
        return new NotFoundError('intent_not_found', cause.message);
    }
    return new ConflictError('update_rejected', cause?.message ?? err.message);
  }
  if (err instanceof WorkflowNotFoundError) return new WorkflowMissingError();
  const text = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  if (/already completed|workflow execution already completed/i.test(text))
    return new ConflictError('intent_terminal', 'the intent is no longer running');
  if (isTransportFailure(err)) return new DependencyUnavailableError('temporal');
  // RESOURCE_EXHAUSTED: a rate limit, or too many updates in flight on one workflow (Temporal
  // allows 10). Seen under load as 500s on resume; it is "later", not a failure.
  if (hasGrpcCode(err, GRPC_RESOURCE_EXHAUSTED, /RESOURCE_EXHAUSTED/))
    return new DependencyUnavailableError('temporal', 1);
  // The update's workflow task failed or timed out (a worker killed mid-task): Temporal aborts the
  // update unapplied with WorkflowNotReady. The write's retry (same update id) goes to the next task.
  if (
    err instanceof WorkflowUpdateRPCTimeoutOrCancelledError ||
    hasGrpcCode(err, GRPC_FAILED_PRECONDITION, /FAILED_PRECONDITION/)
  )
    return new DependencyUnavailableError('temporal', 1);
  return err;
}

/** gRPC status codes that mean the server could not be reached or did not answer in time. */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_FAILED_PRECONDITION = 9;

/** True when the server is down or unreachable. */
function isTransportFailure(err: unknown): boolean {
  return (
    hasGrpcCode(err, GRPC_UNAVAILABLE, /UNAVAILABLE|ECONNREFUSED|No connection established|transport/i) ||
    hasGrpcCode(err, GRPC_DEADLINE_EXCEEDED, /DEADLINE_EXCEEDED/)
  );
}

/**
 * True when the error or one of its causes carries the gRPC `code` or a message matching `text`.
 * The client wraps gRPC errors (ServiceError "Workflow Update failed", cause: `14 UNAVAILABLE …`).
 */
function hasGrpcCode(err: unknown, code: number, text: RegExp): boolean {
  for (let current: unknown = err, depth = 0; current && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === code) return true;
    if (current instanceof Error && text.test(`${current.name} ${current.message}`)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
