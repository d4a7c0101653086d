import {
  type AppendEventInput,
  type AppendEventResult,
  IntentRepository,
  type TenantScope,
} from '@axle/data';
import { REDIS_CHANNELS } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { EventBus } from './event-bus.service';

/** The one way to record an intent event: persist it, then wake the streams that show it. */
@Injectable()
export class IntentEventsService {
  constructor(
    private readonly intents: IntentRepository,
    private readonly bus: EventBus,
  ) {}

  async record(scope: TenantScope, intentId: string, input: AppendEventInput): Promise<AppendEventResult> {
    const result = await this.intents.appendEvent(scope, intentId, input);
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
