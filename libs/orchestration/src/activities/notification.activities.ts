import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { IntentRepository, orgScope, RegistryRepository } from '@axle/data';
import { Egress } from '@axle/egress';
import { escapeHtml, Mailer } from '@axle/humans';
import {
  DELIVERY_HEADERS,
  type NotificationActivities,
  type NotificationInput,
  type NotificationResult,
} from '@axle/protocol';
import { signBody } from '@axle/webhooks';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { ApplicationFailure } from '@temporalio/common';

/**
 * Scenario notification steps: a signed webhook POST (X-Axme-Signature with the submitting agent's
 * webhook secret, like agent deliveries) or an email. A failure throws so the activity retries; the
 * notification workflow gives up after a few attempts without touching the intent.
 */
@Injectable()
export class NotificationActivitiesService implements OnModuleDestroy {
  private readonly egress: Egress;

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly intents: IntentRepository,
    private readonly registry: RegistryRepository,
    private readonly mailer: Mailer,
  ) {
    this.egress = new Egress(config.egress);
  }

  async onModuleDestroy(): Promise<void> {
    await this.egress.close();
  }

  async sendNotification(input: NotificationInput): Promise<NotificationResult> {
    const scope = orgScope(input.orgId);
    const intent = await this.intents.findById(scope, input.intentId);
    if (!intent) return { delivered: false, detail: 'intent not found' };
    if (input.channel === 'email') return this.email(input, intent.id);
    const raw = JSON.stringify({
      type: 'intent.notification',
      intent_id: intent.id,
      intent_type: intent.intentType,
      scenario_id: intent.scenarioId,
      step_id: input.stepId,
      status: intent.status,
      subject: input.subject,
      message: input.message,
      sent_at: new Date().toISOString(),
    });
    const secret = await this.registry.findWebhookSecret(scope, intent.fromAgent);
    const res = await this.egress
      .fetch(input.url!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'axle-notification/1',
          [DELIVERY_HEADERS.timestamp]: String(Math.floor(Date.now() / 1000)),
          [DELIVERY_HEADERS.intentId]: intent.id,
          ...(secret ? { [DELIVERY_HEADERS.signature]: signBody(secret, raw) } : {}),
        },
        body: raw,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.delivery.timeoutMs),
      })
      .catch((err: unknown) => {
        // A refused address stays refused: retrying cannot help.
        const refused = Egress.refusalOf(err);
        if (refused) throw ApplicationFailure.nonRetryable(`webhook refused: ${refused.message}`);
        throw ApplicationFailure.retryable(
          `webhook unreachable: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
    await res.body?.cancel().catch(() => undefined);
    if (res.status < 200 || res.status >= 300)
      throw ApplicationFailure.retryable(`webhook answered HTTP ${res.status}`);
    return { delivered: true, detail: `HTTP ${res.status}` };
  }

  /** One message per recipient; a failed send throws so the activity retries the whole notice. */
  private async email(input: NotificationInput, intentId: string): Promise<NotificationResult> {
    const text = `${input.message}\n\nIntent ${intentId}, step ${input.stepId}.`;
    let sent = 0;
    for (const to of input.to)
      if (await this.mailer.send({ to, subject: input.subject, text, html: `<p>${escapeHtml(text)}</p>` }))
        sent += 1;
    return { delivered: sent > 0, detail: `emailed ${sent} of ${input.to.length}` };
  }

  /** The object handed to the Temporal Worker: bound methods, named as the workflow calls them. */
  asActivities(): NotificationActivities {
    return { sendNotification: this.sendNotification.bind(this) };
  }
}
