import { type WebhookActivities, type WebhookAttemptInput, type WebhookAttemptResult } from '@axle/protocol';
import { WebhookDeliverer } from '@axle/webhooks';
import { Injectable } from '@nestjs/common';

/** Webhook delivery activities; the workflow sees only the WebhookActivities type from the protocol lib. */
@Injectable()
export class WebhookActivitiesService {
  constructor(private readonly deliverer: WebhookDeliverer) {}

  /** One POST of a delivery; receiver failures come back as results, infrastructure errors throw (retried). */
  async attemptWebhookDelivery(input: WebhookAttemptInput): Promise<WebhookAttemptResult> {
    return this.deliverer.attempt(input);
  }

  /** The object handed to the Temporal Worker: bound methods, named as the workflow calls them. */
  asActivities(): WebhookActivities {
    return { attemptWebhookDelivery: this.attemptWebhookDelivery.bind(this) };
  }
}
