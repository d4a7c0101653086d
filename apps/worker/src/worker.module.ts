import { QuotaModule } from '@axle/auth';
import { type AxleConfig, ConfigModule } from '@axle/config';
import { DataModule } from '@axle/data';
import { ExecModule } from '@axle/exec';
import { IntentsModule } from '@axle/intents';
import { type Logger, ObservabilityModule } from '@axle/observability';
import { OrchestrationModule } from '@axle/orchestration';
import { Module } from '@nestjs/common';

@Module({})
export class WorkerModule {
  static forRoot(config: AxleConfig, logger: Logger) {
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule.forRoot(logger),
        DataModule.forRoot({ databaseUrl: config.database.url }),
        // The intent use cases (global) count intents_per_day.
        QuotaModule,
        IntentsModule.forRoot({ redisUrl: config.redis.url, temporal: config.temporal }),
        // exec_job steps start jobs through the same use cases as the API.
        ExecModule.forRoot({ redisUrl: config.redis.url }),
        OrchestrationModule,
      ],
    };
  }
}
