import { InboxModule } from '@axle/inbox';
import { Module } from '@nestjs/common';
import { IntentActivitiesService } from './activities/intent.activities';

@Module({ imports: [InboxModule], providers: [IntentActivitiesService], exports: [IntentActivitiesService] })
export class OrchestrationModule {}
