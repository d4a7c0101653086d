/**
 * The Redis connection of the exec lib (job logs, cancel marks, runner reports). In its own file:
 * exec-job.service and exec-session.service import each other, and a token declared in either one
 * is still uninitialised when the other's decorators run, whichever loads first.
 */
export const EXEC_REDIS = Symbol('EXEC_REDIS');
