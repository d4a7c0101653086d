import { join } from 'node:path';

export { ExecStepActivitiesService } from './activities/exec-step.activities';
export { IntentActivitiesService } from './activities/intent.activities';
export { NotificationActivitiesService } from './activities/notification.activities';
export { ReconcileActivitiesService } from './activities/reconcile.activities';
export { WebhookActivitiesService } from './activities/webhook.activities';
export {
  type ActivitySource,
  type IntentWorkerOptions,
  IntentWorkerRunner,
  type WorkerState,
} from './intent-worker.service';
export { OrchestrationModule } from './orchestration.module';
export { workflowBundlePath, workflowInterceptorModules } from './workflow-interceptors';
export { workerTracingOptions } from './worker-tracing';

/** The workflows module, for bundling at start (tests) and for replaying histories. */
export const WORKFLOWS_PATH = join(__dirname, 'workflows');
