import 'reflect-metadata';
import { loadConfigOrExit } from '@axle/config';
import { createLogger, startHealthServer } from '@axle/observability';
import { QUEUES } from '@axle/protocol';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';

/**
 * The job runner: a BullMQ worker on the exec-jobs queue. Sandboxed execution arrives with issue #6;
 * until then it connects, reports health, and refuses any job loudly rather than pretending to run it.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.logLevel, app: 'runner' });
  const worker = new Worker(
    QUEUES.execJobs,
    (job) => {
      throw new UnrecoverableError(`job ${job.id}: sandboxed execution is not available in this version`);
    },
    { connection: { url: config.redis.url, maxRetriesPerRequest: null }, concurrency: 1, autorun: true },
  );
  worker.on('error', (err) => logger.warn({ err: String(err) }, 'runner queue connection error'));
  await worker.waitUntilReady();
  logger.info({ queue: QUEUES.execJobs }, 'runner ready');

  const probe = new Redis(config.redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  probe.on('error', () => undefined);
  const health = await startHealthServer({
    host: config.http.host,
    port: config.health.runnerPort,
    ready: async () => {
      const redis = await probe.ping().then(
        () => 'up',
        () => 'down',
      );
      return {
        ok: redis === 'up' && worker.isRunning(),
        checks: { redis, queue: worker.isRunning() ? 'running' : 'stopped' },
      };
    },
  });

  const stop = async (signal: string) => {
    logger.info({ signal }, 'runner draining');
    await worker.close();
    probe.disconnect();
    health.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`runner failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
