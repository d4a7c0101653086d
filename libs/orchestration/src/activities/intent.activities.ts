import { orgScope } from '@axle/data';
import { IntentEventsService } from '@axle/intents';
import {
  AxleError,
  FAILURE_TYPES,
  type IntentActivities,
  type RecordEventInput,
  type RecordEventResult,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { ApplicationFailure } from '@temporalio/common';

/** Activity implementations; the workflow sees only the IntentActivities type from the protocol lib. */
@Injectable()
export class IntentActivitiesService {
  constructor(private readonly events: IntentEventsService) {}

  async recordEvent(input: RecordEventInput): Promise<RecordEventResult> {
    const { intentId, orgId, ...event } = input;
    try {
      const { event: recorded, intent } = await this.events.record(orgScope(orgId), intentId, event);
      return { seq: recorded.seq, status: intent.status };
    } catch (err) {
      // Business rejections must not be retried; infrastructure errors are (the default).
      if (err instanceof AxleError && err.kind === 'conflict')
        throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.invalidTransition);
      if (err instanceof AxleError && err.kind === 'not_found')
        throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.intentNotFound);
      throw err;
    }
  }

  /** The object handed to the Temporal Worker: bound methods, named as the workflow calls them. */
  asActivities(): IntentActivities {
    return { recordEvent: this.recordEvent.bind(this) };
  }
}
