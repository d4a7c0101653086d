import 'reflect-metadata';
// First: tracing starts before the modules it instruments are loaded.
import { tracing } from './instrument';
import { BootstrapService } from '@axle/auth';
import { type AxleConfig, loadConfigOrExit } from '@axle/config';
import { AuditRepository } from '@axle/data';
import { createLogger, initMetrics, type Logger, PinoNestLogger } from '@axle/observability';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatewayModule } from './gateway.module';
import { installAuditTrail } from './http/audit-trail';
import { GrpcServer } from './grpc/grpc.server';
import { gatewayDrain } from './http/drain';
import {
  answerExpectationFailures,
  clientErrorHandler,
  frameworkErrorHandler,
} from './http/framework-errors';
import { acceptEmptyJsonBodies, acceptFormBodies, drainUnreadBodies } from './http/json-body';
import { installHttpMetrics } from './http/http-metrics';
import { installIdempotencyHooks } from './http/idempotency.interceptor';
import { generateRequestId, installRequestContext } from './http/request-context';
import { installHttpTracing } from './http/tracing';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ level: config.logLevel, app: 'gateway' });
  const adapter = new FastifyAdapter({
    // Whole-body cap (413 payload_too_large, through the exception filter); the intent payload has
    // its own, smaller limit checked by the use case.
    bodyLimit: config.limits.maxBodyBytes,
    genReqId: generateRequestId,
    logger: false,
    // Errors answered before Nest sees the request get the SPEC §1 body too.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    GatewayModule.forRoot(config, logger),
    adapter,
    {
      logger: new PinoNestLogger(logger),
    },
  );
  const fastify = app.getHttpAdapter().getInstance();
  answerExpectationFailures(fastify.server);
  installRequestContext(fastify, logger);
  installHttpTracing(fastify);
  initMetrics('gateway');
  installHttpMetrics(fastify);
  acceptEmptyJsonBodies(app);
  acceptFormBodies(app);
  drainUnreadBodies(fastify, config.limits.maxBodyBytes);
  installIdempotencyHooks(fastify, logger);
  installAuditTrail(fastify, app.get(AuditRepository), logger);
  gatewayDrain.install(fastify);
  // SIGTERM/SIGINT drain the gateway (http/drain.ts) instead of Nest's shutdown hooks, which would
  // close Prisma and Redis before in-flight requests and open streams are done. A second signal
  // during the drain exits at once.
  const drain = (signal: NodeJS.Signals) => {
    if (gatewayDrain.draining) {
      logger.warn({ signal }, 'second signal during the drain; exiting now');
      process.exit(1);
    }
    void gatewayDrain.drain({
      server: fastify.server,
      graceMs: config.shutdownGraceSeconds * 1000,
      // Buffered spans are exported before the process exits.
      closeApp: () => app.close().finally(() => tracing.shutdown()),
      exit: (code) => process.exit(code),
      logger,
      reason: signal,
    });
  };
  process.on('SIGTERM', drain);
  process.on('SIGINT', drain);
  await app.init();

  await app.listen({ port: config.http.port, host: config.http.host });
  logger.info({ url: `http://${config.http.host}:${config.http.port}` }, 'gateway listening');
  await app.get(GrpcServer).listen();
  // Listening first: while Postgres is still down, requests get 503 + Retry-After and /ready says why.
  void bootstrapTenancy(app, config, logger);
}

/** First start: default org and admin key. Retries until Postgres answers. */
async function bootstrapTenancy(
  app: NestFastifyApplication,
  config: AxleConfig,
  logger: Logger,
): Promise<void> {
  const bootstrap = app.get(BootstrapService);
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await bootstrap.ensureBootstrapped({
        bootstrapApiKey: config.auth.bootstrapApiKey,
        dataDir: config.dataDir,
      });
      if (result.created) {
        logger.info(
          { address: result.address, key_source: result.keySource },
          'bootstrapped org default with an admin service account',
        );
        // Shown once, on the console only (never in the JSON logs): the generated admin key.
        if (result.keySource === 'generated')
          process.stdout.write(`\nAdmin API key (also in ${result.keyFile}):\n  ${result.key}\n\n`);
      }
      return;
    } catch (err) {
      logger.warn({ attempt, err: String(err) }, 'bootstrap failed; retrying');
      await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * attempt)));
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `gateway failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
