import 'reflect-metadata';
// First: tracing starts before the modules it instruments are loaded.
import { tracing } from './instrument';
import { loadConfigOrExit } from '@axle/config';
import { AuditRepository, ExecRepository, PrismaService } from '@axle/data';
import { ExecRunner, RUNNER_REPORT_INTERVAL_MS, RunnerRegistry } from '@axle/exec';
import { createLogger, initMetrics, startHealthServer } from '@axle/observability';
import { QUEUES } from '@axle/protocol';
import { availableTiers } from '@axle/sandbox';
import { Redis } from 'ioredis';

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
  // The gateway offers the sandbox tiers that live runners enforce (RunnerRegistry): say which.
  const tiers = availableTiers({ allowNone: config.exec.allowNone });
  const registryRedis = new Redis(config.redis.url, { maxRetriesPerRequest: 1 });
  registryRedis.on('error', () => undefined);
  const registry = new RunnerRegistry(registryRedis);
  const report = () =>
    registry
      .report(runner.runnerId, tiers)
      .catch((err: unknown) => logger.warn({ err: String(err) }, 'could not report the runner tiers'));
  await report();
  const reporting = setInterval(() => void report(), RUNNER_REPORT_INTERVAL_MS);
  logger.info(
    { queue: QUEUES.execJobs, runner_id: runner.runnerId, concurrency: config.runner.concurrency, tiers },
    'runner ready',
  );

  let stopping = false;
  initMetrics('runner');
  const health = await startHealthServer({
    host: config.http.host,
    port: config.health.runnerPort,
    metrics: true,
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
    clearInterval(reporting);
    await registry.withdraw(runner.runnerId).catch(() => undefined);
    registryRedis.disconnect();
    const result = await runner.shutdown(config.runner.shutdownGraceSeconds * 1000);
    logger.info({ result }, 'runner stopped');
    health.close();
    await prisma.onModuleDestroy().catch(() => undefined);
    await tracing.shutdown();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`runner failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
