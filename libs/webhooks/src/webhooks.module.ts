import { Module } from '@nestjs/common';
import { WebhookDeliverer } from './webhook-deliverer.service';
import { WebhookWorkflowClient } from './webhook-workflow.client';
import { WebhooksService } from './webhooks.service';

const services = [WebhooksService, WebhookDeliverer, WebhookWorkflowClient];

/**
 * Webhooks for the gateway (routes) and the worker (delivery attempts, emit from other libs). Needs
 * the global ConfigModule, ObservabilityModule and DataModule.
 */
@Module({ providers: services, exports: services })
export class WebhooksModule {}
