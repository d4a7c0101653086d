import { type Logger, type Tracing } from '@axle/observability';
import { TASK_QUEUES } from '@axle/protocol';
import { NativeConnection, Worker } from '@temporalio/worker';
import { workflowInterceptorModules } from './workflow-interceptors';
import { workerTracingOptions } from './worker-tracing';

export type IntentWorkerOptions = {
  address: string;
  namespace: string;
  /**
   * A prebuilt bundle (production: workflowBundlePath(), traced or not like `tracing`) or the
   * workflows module to bundle at start (tests).
   */
  workflows: { bundlePath: string } | { workflowsPath: string };
  /** Stop trying to reach Temporal at start after this long (0 = keep trying). */
  connectTimeoutMs?: number;
  /** The process's tracing (startTracing): workflow spans go to its processor. Absent = off. */
  tracing?: Tracing;
  /**
   * How long running activities may still finish after stop() (AXLE_SHUTDOWN_GRACE_SECONDS); then
   * they are canceled, and their attempt fails so Temporal retries it on another worker.
   */
  shutdownGraceMs?: number;
  /**
   * Workflow executions kept in the sticky cache (AXLE_WORKER_MAX_CACHED_WORKFLOWS). Absent = the
   * SDK's default, which grows with the V8 heap limit (thousands on a large host).
   */
  maxCachedWorkflows?: number;
};

/** A provider of activities (IntentActivitiesService, WebhookActivitiesService, …). */
export type ActivitySource = { asActivities(): object };

export type WorkerState = 'connecting' | 'running' | 'stopping' | 'stopped' | 'failed';

/**
 * Runs the Temporal worker for intent workflows and activities. start() returns once the worker
 * polls; stop() drains in-flight activities (Temporal hands unfinished ones to another worker).
 */
export class IntentWorkerRunner {
  private worker: Worker | null = null;
  private connection: NativeConnection | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;
  state: WorkerState = 'connecting';

  constructor(
    private readonly options: IntentWorkerOptions,
    /** Every activity provider the task queue's workflows call; their names must not collide. */
    private readonly activities: readonly ActivitySource[],
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.connection = await this.connect();
    const tracing = workerTracingOptions(this.options.tracing, this.logger);
    this.worker = await Worker.create({
      connection: this.connection,
      namespace: this.options.namespace,
      taskQueue: TASK_QUEUES.intents,
      activities: mergeActivities(this.activities),
      // A prebuilt bundle has the workflow interceptor modules in it (scripts/build.mjs).
      shutdownGraceTime: this.options.shutdownGraceMs ?? 0,
      ...(this.options.maxCachedWorkflows !== undefined
        ? {
            maxCachedWorkflows: this.options.maxCachedWorkflows,
            // Temporal needs concurrent workflow tasks ≤ the cache (its default is 40).
            ...(this.options.maxCachedWorkflows > 0
              ? { maxConcurrentWorkflowTaskExecutions: Math.min(40, this.options.maxCachedWorkflows) }
              : {}),
          }
        : {}),
      ...('bundlePath' in this.options.workflows
        ? { workflowBundle: { codePath: this.options.workflows.bundlePath } }
        : { workflowsPath: this.options.workflows.workflowsPath }),
      interceptors: {
        activity: tracing.activityInterceptors,
        ...('bundlePath' in this.options.workflows
          ? {}
          : { workflowModules: workflowInterceptorModules(this.options.tracing?.enabled ?? false) }),
      },
      sinks: tracing.sinks,
    });
    this.running = this.worker.run().then(
      () => {
        this.state = 'stopped';
      },
      (err: unknown) => {
        this.state = 'failed';
        this.logger.error({ err }, 'temporal worker failed');
        throw err;
      },
    );
    this.state = 'running';
    this.logger.info(
      { taskQueue: TASK_QUEUES.intents, address: this.options.address },
      'temporal worker running',
    );
  }

  /** Workflow executions in the worker's sticky cache now (0 before start). */
  cachedWorkflows(): number {
    return this.worker?.getStatus().numCachedWorkflows ?? 0;
  }

  /** Resolves when the worker stops; rejects when it fails. */
  async done(): Promise<void> {
    await this.running;
  }

  /** Stops polling; resolves once running activities finished or were canceled after the grace. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.worker && this.state === 'running') {
      this.state = 'stopping';
      this.worker.shutdown();
    }
    await this.running?.catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    this.state = 'stopped';
  }

  private async connect(): Promise<NativeConnection> {
    const deadline = this.options.connectTimeoutMs ? Date.now() + this.options.connectTimeoutMs : Infinity;
    for (let attempt = 1; ; attempt++) {
      try {
        return await NativeConnection.connect({ address: this.options.address });
      } catch (err) {
        if (this.stopping || Date.now() > deadline) throw err;
        this.logger.warn(
          { attempt, address: this.options.address, err: String(err) },
          'temporal not reachable yet; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }
}

function mergeActivities(sources: readonly ActivitySource[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const source of sources) {
    for (const [name, fn] of Object.entries(source.asActivities())) {
      if (name in merged) throw new Error(`activity ${name} is registered twice`);
      merged[name] = fn;
    }
  }
  return merged;
}
