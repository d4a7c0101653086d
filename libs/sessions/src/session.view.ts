import { type SessionEventRecord, type SessionRecord } from '@axle/data';
import { type SessionFeedEntryView, type SessionMessageView, type SessionView } from '@axle/protocol';

export function toSessionView(session: SessionRecord): SessionView {
  return {
    session_id: session.id,
    type: session.type,
    status: session.status,
    project_id: session.projectId,
    parent_session_id: session.parentSessionId,
    depends_on: session.dependsOn,
    metadata: session.metadata,
    result: session.result,
    created_by: session.createdBy,
    created_at: session.createdAt.toISOString(),
    updated_at: session.updatedAt.toISOString(),
    completed_at: session.completedAt?.toISOString() ?? null,
    last_seq: session.lastSeq,
  };
}

export function toSessionMessageView(event: SessionEventRecord): SessionMessageView {
  return {
    message_id: event.id,
    seq: event.seq,
    role: event.role ?? '',
    content: event.content,
    content_type: event.contentType ?? 'application/json',
    created_at: event.createdAt.toISOString(),
    actor: event.actor,
  };
}

/** A feed entry: the common fields, plus the message on session.message and the result on session.completed. */
export function toSessionFeedEntryView(event: SessionEventRecord): SessionFeedEntryView {
  const base = {
    session_id: event.sessionId,
    seq: event.seq,
    event_type: event.eventType,
    actor: event.actor,
    created_at: event.createdAt.toISOString(),
  };
  switch (event.eventType) {
    case 'session.message': {
      const message = toSessionMessageView(event);
      return {
        ...base,
        message_id: message.message_id,
        role: message.role,
        content: message.content,
        content_type: message.content_type,
      };
    }
    case 'session.completed':
      return { ...base, result: event.content };
    case 'session.created':
      return base;
  }
}
