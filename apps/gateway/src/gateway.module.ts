import {
  AuthModule,
  QuotaModule,
  RateLimiter,
  RequestSignatureVerifier,
  SignatureNonceStore,
  SigningKeyService,
} from '@axle/auth';
import { type AxleConfig, ConfigModule } from '@axle/config';
import { DataModule } from '@axle/data';
import { ExecModule } from '@axle/exec';
import { HumansModule } from '@axle/humans';
import { InboxModule } from '@axle/inbox';
import { IntentsModule } from '@axle/intents';
import { MeshModule } from '@axle/mesh';
import { ScenariosModule } from '@axle/scenarios';
import { type Logger, ObservabilityModule } from '@axle/observability';
import { RegistryModule } from '@axle/registry';
import { PoliciesModule } from '@axle/policies';
import { SessionsModule } from '@axle/sessions';
import { WebhooksModule } from '@axle/webhooks';
import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { HealthController } from './health/health.controller';
import { MetricsController } from './health/metrics.controller';
import { AllExceptionsFilter } from './http/all-exceptions.filter';
import { AuthGuard } from './http/auth.guard';
import { IdempotencySweeper } from './http/idempotency-sweeper';
import { IdempotencyInterceptor } from './http/idempotency.interceptor';
import { QuotaGuard } from './http/quota.guard';
import { RateLimitGuard } from './http/rate-limit.guard';
import { SignatureGuard } from './http/signature.guard';
import { AuditController, QuotasController } from './governance/governance.controller';
import { MagicLinkController, MeController } from './humans/humans.controller';
import { ApprovalsController, InboxController } from './inbox/inbox.controller';
import { CapabilitiesController, IntentsController } from './intents/intents.controller';
import { StreamsController } from './intents/streams.controller';
import {
  AgentsController,
  OrganizationsController,
  ServiceAccountsController,
} from './registry/registry.controller';
import { SigningKeyController } from './registry-signing/signing-key.controller';
import { MeshController } from './mesh/mesh.controller';
import { ScenariosController } from './scenarios/scenarios.controller';
import { PoliciesController } from './policies/policies.controller';
import { SessionsController } from './sessions/sessions.controller';
import { AxpController } from './exec/axp.controller';
import {
  ExecJobsController,
  ExecMcpServersController,
  ExecSessionsController,
  ExecToolsController,
} from './exec/exec.controller';
import { WebhooksController } from './webhooks/webhooks.controller';
import { AgentsGrpcService } from './grpc/agents.grpc';
import { GrpcCallGate } from './grpc/grpc-call';
import { GrpcServer } from './grpc/grpc.server';
import { IntentsGrpcService } from './grpc/intents.grpc';
import { JobsGrpcService } from './grpc/jobs.grpc';
import { TasksGrpcService } from './grpc/tasks.grpc';

@Module({})
export class GatewayModule {
  static forRoot(config: AxleConfig, logger: Logger) {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule.forRoot(logger),
        DataModule.forRoot({ databaseUrl: config.database.url }),
        AuthModule,
        QuotaModule,
        IntentsModule.forRoot({ redisUrl: config.redis.url, temporal: config.temporal }),
        WebhooksModule,
        InboxModule,
        HumansModule,
        RegistryModule,
        MeshModule,
        ScenariosModule,
        PoliciesModule,
        SessionsModule,
        ExecModule.forRoot({ redisUrl: config.redis.url }),
      ],
      controllers: [
        HealthController,
        MetricsController,
        IntentsController,
        CapabilitiesController,
        StreamsController,
        WebhooksController,
        InboxController,
        ApprovalsController,
        MeController,
        MagicLinkController,
        OrganizationsController,
        ServiceAccountsController,
        AgentsController,
        SigningKeyController,
        MeshController,
        ScenariosController,
        AuditController,
        QuotasController,
        PoliciesController,
        SessionsController,
        ExecSessionsController,
        ExecJobsController,
        ExecToolsController,
        ExecMcpServersController,
        AxpController,
      ],
      providers: [
        // Guards run in this order: authenticate, verify X-Axle-Signature (or require it), count
        // against the key's and the agent's rate limits, then against the daily request quotas.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: SignatureGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_GUARD, useClass: QuotaGuard },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        // The gRPC face: its own gate does what the guards do for HTTP.
        GrpcCallGate,
        IntentsGrpcService,
        AgentsGrpcService,
        JobsGrpcService,
        TasksGrpcService,
        GrpcServer,
        {
          provide: RateLimiter,
          useFactory: () =>
            new RateLimiter({
              redisUrl: config.redis.url,
              perMinute: config.rateLimit.perMinute,
              agentPerMinute: config.rateLimit.agentPerMinute,
              logger,
            }),
        },
        {
          provide: SignatureNonceStore,
          useFactory: () => new SignatureNonceStore({ redisUrl: config.redis.url }),
        },
        RequestSignatureVerifier,
        SigningKeyService,
        IdempotencySweeper,
      ],
    };
  }
}
