import { AuthModule, RateLimiter } from '@axle/auth';
import { type AxleConfig, ConfigModule } from '@axle/config';
import { DataModule } from '@axle/data';
import { InboxModule } from '@axle/inbox';
import { IntentsModule } from '@axle/intents';
import { type Logger, ObservabilityModule } from '@axle/observability';
import { PoliciesModule } from '@axle/policies';
import { WebhooksModule } from '@axle/webhooks';
import { type BeforeApplicationShutdown, Injectable, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { HealthController } from './health/health.controller';
import { AllExceptionsFilter } from './http/all-exceptions.filter';
import { AuthGuard } from './http/auth.guard';
import { IdempotencySweeper } from './http/idempotency-sweeper';
import { IdempotencyInterceptor } from './http/idempotency.interceptor';
import { RateLimitGuard } from './http/rate-limit.guard';
import { streamsShutdown } from './http/sse';
import { ApprovalsController, InboxController } from './inbox/inbox.controller';
import { CapabilitiesController, IntentsController } from './intents/intents.controller';
import { StreamsController } from './intents/streams.controller';
import { PoliciesController } from './policies/policies.controller';
import { WebhooksController } from './webhooks/webhooks.controller';

@Injectable()
class StreamsDrain implements BeforeApplicationShutdown {
  beforeApplicationShutdown() {
    streamsShutdown.abort();
  }
}

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
        IntentsModule.forRoot({ redisUrl: config.redis.url, temporal: config.temporal }),
        WebhooksModule,
        InboxModule,
        PoliciesModule,
      ],
      controllers: [
        HealthController,
        IntentsController,
        CapabilitiesController,
        StreamsController,
        WebhooksController,
        InboxController,
        ApprovalsController,
        PoliciesController,
      ],
      providers: [
        // Guards run in this order: authenticate, then count against the credential's rate limit.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_INTERCEPTOR, useClass: IdempotencyInterceptor },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        {
          provide: RateLimiter,
          useFactory: () =>
            new RateLimiter({ redisUrl: config.redis.url, perMinute: config.rateLimit.perMinute, logger }),
        },
        IdempotencySweeper,
        StreamsDrain,
      ],
    };
  }
}
