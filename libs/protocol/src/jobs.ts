// BullMQ queues shared by whoever enqueues (gateway) and whoever processes (runner).
export const QUEUES = { execJobs: 'axle-exec-jobs' } as const;
