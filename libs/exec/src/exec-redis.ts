/** The Redis connection of the exec services (log streams, cancel notices, runner reports). */
export const EXEC_REDIS = Symbol('EXEC_REDIS');
