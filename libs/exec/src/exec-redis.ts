/**
 * The exec lib's Redis connection (BullMQ queue, log streams, runner reports). In its own module:
 * exec-job.service imports exec-session.service, so the token cannot live in either without a
 * require cycle that leaves it uninitialized when the other's decorators run.
 */
export const EXEC_REDIS = Symbol('EXEC_REDIS');
