import { type InboxThreadDetail, orgScope } from '@axle/data';
import { INBOX_WEBHOOK_SOURCE, type WebhookEventType } from '@axle/protocol';
import { WebhooksService } from '@axle/webhooks';
import { Injectable } from '@nestjs/common';

/**
 * Inbox changes as webhook events (reference §1.3 "Webhooks": inbox.thread_created,
 * inbox.thread_updated, inbox.reply_received) for the owner's subscriptions. Each emission is keyed
 * by the timeline entry that caused it, so a retried writer emits it once.
 */
@Injectable()
export class InboxNotifier {
  constructor(private readonly webhooks: WebhooksService) {}

  async notify(
    thread: InboxThreadDetail,
    eventType: WebhookEventType,
    timelineId: string,
    options: { ownerAgent?: string; extra?: Record<string, unknown>; traceId?: string | null } = {},
  ): Promise<void> {
    const owner = options.ownerAgent ?? thread.ownerAgent;
    const entry = thread.timeline.find((t) => t.id === timelineId);
    await this.webhooks.emit(orgScope(thread.orgId), {
      ownerAgent: owner,
      eventType,
      source: INBOX_WEBHOOK_SOURCE,
      payload: {
        thread_id: thread.id,
        intent_id: thread.intentId,
        kind: thread.kind,
        status: thread.status,
        owner_agent: thread.ownerAgent,
        from_agent: thread.fromAgent,
        to_agent: thread.toAgent,
        subject: thread.subject,
        intent_type: thread.intentType,
        updated_at: thread.updatedAt.toISOString(),
        change: entry
          ? {
              event_id: entry.id,
              event_type: entry.eventType,
              actor: entry.actor,
              at: entry.at.toISOString(),
              details: entry.details,
            }
          : null,
        ...options.extra,
      },
      traceId: options.traceId ?? null,
      dedupeKey: `${eventType}:${timelineId}:${owner}`,
    });
  }
}
