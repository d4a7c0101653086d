export { INBOX_SYSTEM_ACTOR, InboxDeliveryService } from './inbox-delivery.service';
export { InboxModule } from './inbox.module';
export { toThreadView } from './inbox.view';
