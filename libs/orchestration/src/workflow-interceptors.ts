import { join } from 'node:path';

/**
 * The workflow interceptor modules, in one place: scripts/build.mjs bundles them into the prebuilt
 * dist/workflow-bundle.js, workers that bundle at start (tests) and history replays pass them as
 * `interceptors.workflowModules`. OpenTelemetry's (workflow, update and activity-scheduling spans,
 * exported through the worker's `exporter` sink) and Axle's trace-id header for activities.
 * Changing this list changes what every workflow runs: the replay spec checks it against
 * test/histories.
 */
export const WORKFLOW_INTERCEPTOR_MODULES: readonly string[] = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
  join(__dirname, 'workflows', 'correlation.interceptors'),
];
