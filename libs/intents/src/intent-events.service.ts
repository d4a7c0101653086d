import {
  type AppendEventInput,
  type AppendEventResult,
  IntentRepository,
  type TenantScope,
} from '@axle/data';
import { axleMetrics, boundedLabel } from '@axle/observability';
import { AxleError, type DeliveryMode, isDeliveryMode, isTerminal, REDIS_CHANNELS } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { EventBus } from './event-bus.service';

/** The one way to record an intent event: persist it, then wake the streams that show it. */
@Injectable()
export class IntentEventsService {
  constructor(
    private readonly intents: IntentRepository,
    private readonly bus: EventBus,
  ) {}

  /**
   * Metrics (docs/metrics.md): a terminal status counts in axle_intents_terminal_total when its event
   * is written, which happens once per intent (events are deduped per workflow step, and nothing is
   * appended after a terminal one), so a retry never counts twice. A delivery to a
   * stream/poll/inbox/internal agent is this event reaching the agent's stream; http deliveries
   * count where the POST happens.
   */
  async record(scope: TenantScope, intentId: string, input: AppendEventInput): Promise<AppendEventResult> {
    const binding = streamDelivery(input);
    let result: AppendEventResult;
    try {
      result = await this.intents.appendEvent(scope, intentId, input);
    } catch (err) {
      if (binding && !(err instanceof AxleError && err.kind !== 'unavailable')) {
        axleMetrics.deliveryAttempts.inc({ binding });
        axleMetrics.deliveryFailures.inc({ binding, reason: 'store_error' });
      }
      throw err;
    }
    const { intent, created } = result;
    if (created && binding) axleMetrics.deliveryAttempts.inc({ binding });
    if (created && isTerminal(intent.status))
      axleMetrics.intentsTerminal.inc({
        status: intent.status,
        intent_type: boundedLabel('intent_type', intent.intentType),
      });
    await this.notify(intentId, input.deliverTo);
    return result;
  }

  async notify(intentId: string, agentAddress?: string | null): Promise<void> {
    await Promise.all([
      this.bus.publish(REDIS_CHANNELS.intentEvents(intentId)),
      agentAddress ? this.bus.publish(REDIS_CHANNELS.agentStream(agentAddress)) : undefined,
    ]);
  }
}

/** The binding of an `intent.delivered` event that itself is the delivery (not an http POST), else null. */
function streamDelivery(input: AppendEventInput): DeliveryMode | null {
  if (input.eventType !== 'intent.delivered' || !input.deliverTo) return null;
  const binding = input.details?.binding;
  const mode = isDeliveryMode(binding) ? binding : 'stream';
  return mode === 'http' ? null : mode;
}
