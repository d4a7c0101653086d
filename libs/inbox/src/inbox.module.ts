import { WebhooksModule } from '@axle/webhooks';
import { Module } from '@nestjs/common';
import { InboxDeliveryService } from './inbox-delivery.service';
import { InboxNotifier } from './inbox-notifier.service';
import { InboxService } from './inbox.service';

const services = [InboxDeliveryService, InboxNotifier, InboxService];

/**
 * The inbox for the gateway (routes) and the worker (deliveries from the intent workflow). Needs the
 * global ConfigModule, DataModule and IntentsModule.
 */
@Module({ imports: [WebhooksModule], providers: services, exports: services })
export class InboxModule {}
