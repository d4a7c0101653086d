import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, Worker } from '@temporalio/worker';
import { requireEnv } from './env';

export type WorkflowWorker = { env: TestWorkflowEnvironment; stop(): Promise<void> };

/**
 * A worker for workflow specs on the harness's Temporal server: the given workflows module with stub
 * activities on a task queue of the spec's own, and a client (`env.client`) to start runs with.
 */
export async function startWorkflowWorker(
  workflowsPath: string,
  taskQueue: string,
  activities: object,
): Promise<WorkflowWorker> {
  Runtime.install({ logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
  const env = await TestWorkflowEnvironment.createFromExistingServer({
    address: requireEnv('TEMPORAL_ADDRESS'),
    namespace: 'default',
  });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowsPath,
    activities,
  });
  const running = worker.run();
  return {
    env,
    async stop() {
      worker.shutdown();
      await running;
      await env.teardown();
    },
  };
}
