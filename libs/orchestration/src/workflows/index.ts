// Every workflow the worker registers. Bundled by scripts/build.mjs; imported by nothing else.
export { intentWorkflow } from './intent.workflow';
export { webhookDeliveryWorkflow } from './webhook-delivery.workflow';
export { reconcileIntentsWorkflow } from './reconcile.workflow';
export { notificationWorkflow } from './notification.workflow';
