// The protocol's entry for workflow code (`@axle/protocol/workflow`). Temporal's reusable V8 context
// evaluates a workflow bundle's modules again for every workflow it instantiates (per-workflow
// isolation), so whatever workflow code imports is paid per intent. Building the full entry's zod
// schemas was 30 % of the workflow thread's CPU in `npm run bench -- e2e --cpu-prof`; this entry
// exports only the zod-free contracts, and every type.
export type * from './index';
export * from './lifecycle';
export * from './temporal';
export * from './webhook-delivery';
