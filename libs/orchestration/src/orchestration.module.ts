import { Module } from '@nestjs/common';
import { IntentActivitiesService } from './activities/intent.activities';

@Module({ providers: [IntentActivitiesService], exports: [IntentActivitiesService] })
export class OrchestrationModule {}
