import { join } from 'node:path';

/**
 * The workflow interceptor modules, in one place: scripts/build.mjs bundles them into the prebuilt
 * bundles, workers that bundle at start (tests) and history replays pass them as
 * `interceptors.workflowModules`. Axle's trace-id header for activities always; OpenTelemetry's
 * (workflow, update and activity-scheduling spans, exported through the worker's `exporter` sink)
 * only with tracing on: with tracing off they still made and dropped a span per local activity,
 * 39 % of the worker's CPU per intent (`npm run bench -- e2e`: 52.8 → 32.2 ms). They add headers
 * only, so a workflow replays with either set: the replay spec checks both against test/histories.
 */
export function workflowInterceptorModules(traced: boolean): string[] {
  return [
    ...(traced ? [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')] : []),
    join(__dirname, 'workflows', 'correlation.interceptors'),
  ];
}

/** Where scripts/build.mjs writes the prebuilt bundle with the interceptors for `traced`. */
export function workflowBundlePath(traced: boolean): string {
  return join(__dirname, '..', '..', '..', traced ? 'workflow-bundle.js' : 'workflow-bundle.untraced.js');
}
