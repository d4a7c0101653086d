import { HumansModule } from '@axle/humans';
import { InboxModule } from '@axle/inbox';
import { WebhooksModule } from '@axle/webhooks';
import { Module } from '@nestjs/common';
import { ExecStepActivitiesService } from './activities/exec-step.activities';
import { IntentActivitiesService } from './activities/intent.activities';
import { NotificationActivitiesService } from './activities/notification.activities';
import { ReconcileActivitiesService } from './activities/reconcile.activities';
import { WebhookActivitiesService } from './activities/webhook.activities';

const activities = [
  ExecStepActivitiesService,
  IntentActivitiesService,
  NotificationActivitiesService,
  ReconcileActivitiesService,
  WebhookActivitiesService,
];

@Module({ imports: [InboxModule, WebhooksModule, HumansModule], providers: activities, exports: activities })
export class OrchestrationModule {}
