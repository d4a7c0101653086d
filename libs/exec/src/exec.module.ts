import { Module } from '@nestjs/common';
import { Redis } from 'ioredis';
import { AxpRpcService } from './axp-rpc.service';
import { ExecJobService } from './exec-job.service';
import { EXEC_REDIS } from './exec-redis';
import { ExecSessionService } from './exec-session.service';
import { ExecToolService } from './tools/exec-tool.service';
import { McpServerService } from './tools/mcp-server.service';

/** Exec sessions and jobs for the gateway. Needs the global ConfigModule and DataModule. */
@Module({})
export class ExecModule {
  static forRoot(options: { redisUrl: string }) {
    return {
      module: ExecModule,
      // Global: the worker's exec_job step activities use the same services as the gateway.
      global: true,
      providers: [
        {
          provide: EXEC_REDIS,
          useFactory: () => {
            const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
            redis.on('error', () => undefined);
            return redis;
          },
        },
        ExecSessionService,
        ExecJobService,
        ExecToolService,
        McpServerService,
        AxpRpcService,
      ],
      exports: [
        ExecSessionService,
        ExecJobService,
        ExecToolService,
        McpServerService,
        AxpRpcService,
        EXEC_REDIS,
      ],
    };
  }
}
