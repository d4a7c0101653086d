export { requestHash } from './request-hash';
export { signBody, verifySignature } from './signature';
export { WebhookDeliverer } from './webhook-deliverer.service';
export { WebhookWorkflowClient } from './webhook-workflow.client';
export {
  deliveryCounters,
  type DeliveryCounters,
  toDeliveryView,
  toEventView,
  toSubscriptionView,
} from './webhook.view';
export { WebhooksModule } from './webhooks.module';
export {
  type WebhookCommand,
  type WebhookEmission,
  type WebhookResult,
  WebhooksService,
} from './webhooks.service';
