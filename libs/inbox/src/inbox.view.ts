// Wire shape of an inbox thread (reference §1.3 "Thread"; the examples also read subject,
// intent_type and messages[{role, content|text}]).
import { type InboxThreadDetail } from '@axle/data';

export function toThreadView(thread: InboxThreadDetail, viewer: 'owner' | 'other' = 'owner') {
  const messages = thread.messages.filter((m) => !m.deletedAt && !(viewer === 'owner' && m.hiddenForOwner));
  return {
    thread_id: thread.id,
    intent_id: thread.intentId,
    kind: thread.kind,
    status: thread.status,
    owner_agent: thread.ownerAgent,
    from_agent: thread.fromAgent,
    to_agent: thread.toAgent,
    subject: thread.subject,
    intent_type: thread.intentType,
    read: thread.readAt !== null,
    read_at: thread.readAt?.toISOString() ?? null,
    created_at: thread.createdAt.toISOString(),
    updated_at: thread.updatedAt.toISOString(),
    messages: messages.map((m) => ({
      message_id: m.id,
      role: m.role,
      author: m.author,
      content: m.content,
      text: typeof m.content.text === 'string' ? m.content.text : null,
      created_at: m.createdAt.toISOString(),
    })),
    timeline: thread.timeline.map((t) => ({
      event_id: t.id,
      event_type: t.eventType,
      actor: t.actor,
      at: t.at.toISOString(),
      details: t.details,
    })),
  };
}
