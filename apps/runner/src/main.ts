import 'reflect-metadata';
import { loadConfigOrExit } from '@axle/config';
import { AuditRepository, ExecRepository, PrismaService } from '@axle/data';
import { ExecRunner } from '@axle/exec';
import { createLogger, startHealthServer } from '@axle/observability';
import { QUEUES } from '@axle/protocol';

/**
 * The job runner: a BullMQ worker on the exec-jobs queue running each job in its sandbox
 * (ExecRunner in @axle/exec, docs/exec.md). SIGTERM stops taking jobs and gives running ones
 * AXLE_RUNNER_SHUTDOWN_GRACE_SECONDS to finish; the ones still running then are handed back.
 */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.logLevel, app: 'runner' });
  const prisma = new PrismaService(config.database.url);
  const runner = new ExecRunner(config, new ExecRepository(prisma), new AuditRepository(prisma), logger);
  await runner.start();
  logger.info(
    { queue: QUEUES.execJobs, runner_id: runner.runnerId, concurrency: config.runner.concurrency },
    'runner ready',
  );

  let stopping = false;
  const health = await startHealthServer({
    host: config.http.host,
    port: config.health.runnerPort,
    draining: () => stopping,
    ready: async () => {
      const redis = (await runner.ping()) ? 'up' : 'down';
      const postgres = await prisma.ping().then(
        () => 'up',
        () => 'down',
      );
      const queue = runner.isRunning() ? 'running' : 'stopped';
      return {
        ok: redis === 'up' && postgres === 'up' && queue === 'running',
        checks: { redis, postgres, queue },
      };
    },
  });

  // SIGTERM/SIGINT (docs/lifecycle.md): /ready turns 503, no new jobs; running ones get the grace,
  // then are killed and handed back to the queue for another runner.
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, grace_seconds: config.runner.shutdownGraceSeconds }, 'runner draining');
    const result = await runner.shutdown(config.runner.shutdownGraceSeconds * 1000);
    logger.info({ result }, 'runner stopped');
    health.close();
    await prisma.onModuleDestroy().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`runner failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
