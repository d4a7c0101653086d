import 'reflect-metadata';
// First: tracing starts before the modules it instruments are loaded.
import { tracing } from './instrument';
import { loadConfigOrExit } from '@axle/config';
import { PrismaService } from '@axle/data';
import {
  createLogger,
  initMetrics,
  PinoNestLogger,
  setScrapeSources,
  startHealthServer,
} from '@axle/observability';
import {
  ExecStepActivitiesService,
  IntentActivitiesService,
  IntentWorkerRunner,
  NotificationActivitiesService,
  ReconcileActivitiesService,
  WebhookActivitiesService,
  workflowBundlePath,
} from '@axle/orchestration';
import { IntentWorkflowClient } from '@axle/intents';
import { NestFactory } from '@nestjs/core';
import { WorkerModule } from './worker.module';

/** After the grace, canceled activities get this long to confirm before the process exits anyway. */
const FORCE_EXIT_MARGIN_MS = 5_000;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.logLevel, app: 'worker' });
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, logger), {
    logger: new PinoNestLogger(logger),
  });
  const runner = new IntentWorkerRunner(
    {
      address: config.temporal.address,
      namespace: config.temporal.namespace,
      workflows: { bundlePath: workflowBundlePath(tracing.enabled) },
      tracing,
      shutdownGraceMs: config.shutdownGraceSeconds * 1000,
      maxCachedWorkflows: config.worker.maxCachedWorkflows,
    },
    [
      app.get(IntentActivitiesService),
      app.get(ExecStepActivitiesService),
      app.get(NotificationActivitiesService),
      app.get(ReconcileActivitiesService),
      app.get(WebhookActivitiesService),
    ],
    logger,
  );
  const prisma = app.get(PrismaService);
  let stopping = false;
  initMetrics('worker');
  setScrapeSources({ cachedWorkflows: () => Promise.resolve(runner.cachedWorkflows()) });
  const health = await startHealthServer({
    host: config.http.host,
    port: config.health.workerPort,
    metrics: true,
    draining: () => stopping,
    ready: async () => {
      const postgres = await prisma.ping().then(
        () => 'up',
        () => 'down',
      );
      const ok = runner.state === 'running' && postgres === 'up';
      return { ok, checks: { temporal_worker: runner.state, postgres } };
    },
  });

  // SIGTERM/SIGINT (docs/lifecycle.md): /ready turns 503, the Temporal worker stops polling and gives
  // running activities AXLE_SHUTDOWN_GRACE_SECONDS, then cancels them (Temporal retries them on
  // another worker); then the app closes and the process exits 0. Stuck past the grace plus a
  // margin: exit 1.
  const graceMs = config.shutdownGraceSeconds * 1000;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, grace_seconds: config.shutdownGraceSeconds }, 'worker draining');
    setTimeout(() => {
      logger.error({ grace_seconds: config.shutdownGraceSeconds }, 'worker did not stop in time; exiting');
      process.exit(1);
    }, graceMs + FORCE_EXIT_MARGIN_MS);
    await runner.stop();
    health.close();
    await app.close();
    await tracing.shutdown();
    logger.info({ signal }, 'worker stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await runner.start();
  // Not fatal: without the schedule only intents stranded by a Temporal outage wait for the next start.
  await app
    .get(IntentWorkflowClient)
    .ensureReconcileSchedule(config.reconcileIntervalSeconds)
    .catch((err: unknown) => logger.warn({ err: String(err) }, 'could not create the reconcile schedule'));
  await runner.done();
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
