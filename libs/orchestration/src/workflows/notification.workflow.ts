// A scenario notification step (SPEC §6): started by the intent workflow as a child it does not wait
// for, so a slow mail server or webhook never holds the flow. A few retries with backoff, then it gives
// up and says so in its result; the intent has moved on either way.
import {
  type NotificationActivities,
  type NotificationInput,
  type NotificationResult,
} from '@axle/protocol/workflow';
import { proxyActivities } from '@temporalio/workflow';

const { sendNotification } = proxyActivities<NotificationActivities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});

export async function notificationWorkflow(input: NotificationInput): Promise<NotificationResult> {
  try {
    return await sendNotification(input);
  } catch (err) {
    return { delivered: false, detail: err instanceof Error ? err.message : String(err) };
  }
}
