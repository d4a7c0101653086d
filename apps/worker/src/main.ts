import 'reflect-metadata';
// First: tracing starts before the modules it instruments are loaded.
import { tracing } from './instrument';
import { loadConfigOrExit } from '@axle/config';
import { PrismaService } from '@axle/data';
import { createLogger, initMetrics, PinoNestLogger, startHealthServer } from '@axle/observability';
import {
  ExecStepActivitiesService,
  IntentActivitiesService,
  IntentWorkerRunner,
  NotificationActivitiesService,
  ReconcileActivitiesService,
  WebhookActivitiesService,
  WORKFLOW_BUNDLE_PATH,
} from '@axle/orchestration';
import { IntentWorkflowClient } from '@axle/intents';
import { NestFactory } from '@nestjs/core';
import { WorkerModule } from './worker.module';

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
      workflows: { bundlePath: WORKFLOW_BUNDLE_PATH },
      tracing,
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
  initMetrics('worker');
  const health = await startHealthServer({
    host: config.http.host,
    port: config.health.workerPort,
    metrics: true,
    ready: async () => {
      const postgres = await prisma.ping().then(
        () => 'up',
        () => 'down',
      );
      const ok = runner.state === 'running' && postgres === 'up';
      return { ok, checks: { temporal_worker: runner.state, postgres } };
    },
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker draining');
    await runner.stop();
    health.close();
    await app.close();
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
