import { PoliciesModule } from '@axle/policies';
import { Module } from '@nestjs/common';
import { BulkCancelUseCase } from './bulk-cancel.usecase';
import { ChangePolicyUseCase } from './change-policy.usecase';
import { DecidePolicyApprovalUseCase } from './decide-policy-approval.usecase';
import { EventBus, REDIS_URL } from './event-bus.service';
import { EventStreamService } from './event-stream.service';
import { IntentEventsService } from './intent-events.service';
import { IntentPlanner } from './intent-planner.service';
import { IntentQueries } from './intent-queries.service';
import { IntentWorkflowClient, TEMPORAL_OPTIONS, type TemporalOptions } from './intent-workflow.client';
import { RecipientResolver } from './recipient-resolver.service';
import { ResolveIntentUseCase } from './resolve-intent.usecase';
import { ResumeIntentUseCase } from './resume-intent.usecase';
import { SubmitIntentUseCase } from './submit-intent.usecase';
import { TransferIntentUseCase } from './transfer-intent.usecase';

const services = [
  BulkCancelUseCase,
  ChangePolicyUseCase,
  DecidePolicyApprovalUseCase,
  EventBus,
  EventStreamService,
  IntentEventsService,
  IntentPlanner,
  IntentQueries,
  IntentWorkflowClient,
  RecipientResolver,
  ResolveIntentUseCase,
  ResumeIntentUseCase,
  SubmitIntentUseCase,
  TransferIntentUseCase,
];

@Module({})
export class IntentsModule {
  static forRoot(options: { redisUrl: string; temporal: TemporalOptions }) {
    return {
      module: IntentsModule,
      // Global: the worker's activities and the gateway's controllers both use these services.
      global: true,
      imports: [PoliciesModule],
      providers: [
        { provide: REDIS_URL, useValue: options.redisUrl },
        { provide: TEMPORAL_OPTIONS, useValue: options.temporal },
        ...services,
      ],
      exports: services,
    };
  }
}
