export { InboxDeliveryService } from './inbox-delivery.service';
export { InboxModule } from './inbox.module';
export { InboxNotifier } from './inbox-notifier.service';
export { type Decision, type InboxCommand, InboxService } from './inbox.service';
export { toThreadView } from './inbox.view';
