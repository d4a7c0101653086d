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
export { WORKFLOW_INTERCEPTOR_MODULES } from './workflow-interceptors';
export { workerTracingOptions } from './worker-tracing';

/** The workflows module, for bundling at start (tests) and for replaying histories. */
export const WORKFLOWS_PATH = join(__dirname, 'workflows');
/** Where scripts/build.mjs writes the prebuilt workflow bundle (dist/workflow-bundle.js). */
export const WORKFLOW_BUNDLE_PATH = join(__dirname, '..', '..', '..', 'workflow-bundle.js');
