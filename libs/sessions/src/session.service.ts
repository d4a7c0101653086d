import { hasRole, type Principal, tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  decodeKeysetCursor,
  encodeKeysetCursor,
  orgScope,
  type SessionEventRecord,
  type SessionRecord,
  SessionRepository,
} from '@axle/data';
import { EventBus, type StreamSource } from '@axle/intents';
import {
  completeSessionSchema,
  createSessionSchema,
  ForbiddenError,
  isUuid,
  listSessionsQuerySchema,
  NotFoundError,
  parseOrThrow,
  PayloadTooLargeError,
  postSessionMessageSchema,
  REDIS_CHANNELS,
  sessionFeedQuerySchema,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { toSessionFeedEntryView, toSessionMessageView, toSessionView } from './session.view';

/** What every session route gets from the gateway. */
export type SessionCommand = { principal: Principal; requestId: string };

/** Feed entries read per stream poll. */
const STREAM_BATCH = 500;

/**
 * AXME sessions (reference/axme-wire.md §1.3, docs/sessions.md): an org-scoped feed of messages
 * that any principal of the org may read and post to. Writes append under the session's row lock
 * (SessionRepository), then publish a wake-up notice so open feed streams on every gateway replica
 * re-read PostgreSQL.
 */
@Injectable()
export class SessionService {
  private readonly messageMaxBytes: number;

  constructor(
    @Inject(AXLE_CONFIG) config: AxleConfig,
    private readonly sessions: SessionRepository,
    private readonly audit: AuditRepository,
    readonly bus: EventBus,
  ) {
    this.messageMaxBytes = config.limits.sessionMessageMaxBytes;
  }

  /** `POST /v1/sessions`: the session and its feed entry 1, session.created. */
  async create(command: SessionCommand & { body: unknown }) {
    const { principal } = command;
    const body = parseOrThrow(createSessionSchema, command.body ?? {});
    const scope = orgScope(principal.orgId);
    // A parent is a session of the caller's own org; any other id is as unknown as a missing one.
    if (body.parent_session_id && !(await this.sessions.findById(scope, body.parent_session_id)))
      throw new NotFoundError('session_not_found', 'parent_session_id: no such session');
    const { session } = await this.sessions.create(scope, {
      workspaceId: principal.workspaceId,
      createdBy: actorOf(principal),
      type: body.type,
      projectId: body.project_id ?? null,
      parentSessionId: body.parent_session_id ?? null,
      dependsOn: body.depends_on ?? [],
      metadata: body.metadata ?? {},
    });
    await this.record(command, session, 'session.create', {
      type: session.type,
      parent_session_id: session.parentSessionId,
    });
    await this.bus.publish(REDIS_CHANNELS.sessionFeed(session.id));
    return {
      ok: true,
      session_id: session.id,
      status: session.status,
      type: session.type,
      created_at: session.createdAt.toISOString(),
    };
  }

  /** `GET /v1/sessions/{id}`: 404 for unknown ids and other orgs' sessions alike. */
  async get(command: SessionCommand & { sessionId: string }) {
    return { ok: true, session: toSessionView(await this.find(command.principal, command.sessionId)) };
  }

  /** `GET /v1/sessions?status&parent_session_id&limit&cursor`: newest first, keyset cursor. */
  async list(command: SessionCommand & { query: unknown }) {
    const query = parseOrThrow(listSessionsQuerySchema, command.query, 'query');
    const rows = await this.sessions.list(tenantScopeOf(command.principal), {
      ...(query.status ? { status: query.status } : {}),
      ...(query.parent_session_id ? { parentSessionId: query.parent_session_id } : {}),
      ...(query.cursor ? { after: decodeKeysetCursor(query.cursor) } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const hasMore = rows.length > query.limit;
    return {
      ok: true,
      sessions: page.map(toSessionView),
      next_cursor: hasMore && last ? encodeKeysetCursor(last) : null,
      has_more: hasMore,
    };
  }

  /** `POST /v1/sessions/{id}/messages`: appends a session.message; 409 once the session is completed. */
  async postMessage(command: SessionCommand & { sessionId: string; body: unknown }) {
    const { principal } = command;
    const body = parseOrThrow(postSessionMessageSchema, command.body ?? {});
    const bytes =
      typeof body.content === 'string'
        ? Buffer.byteLength(body.content)
        : Buffer.byteLength(JSON.stringify(body.content));
    if (bytes > this.messageMaxBytes) throw new PayloadTooLargeError(this.messageMaxBytes, bytes);
    if (!isUuid(command.sessionId)) throw sessionNotFound(command.sessionId);
    const event = await this.sessions.appendMessage(tenantScopeOf(principal), command.sessionId, {
      role: body.role,
      content: body.content,
      contentType:
        body.content_type ?? (typeof body.content === 'string' ? 'text/plain' : 'application/json'),
      actor: actorOf(principal),
    });
    await this.record(command, event, 'session.message', {
      seq: event.seq,
      role: event.role,
      content_type: event.contentType,
      bytes,
    });
    await this.bus.publish(REDIS_CHANNELS.sessionFeed(event.sessionId));
    return { ok: true, message_id: event.id, seq: event.seq };
  }

  /** `GET /v1/sessions/{id}/messages?since&limit`: messages with seq > since, oldest first. */
  async messages(command: SessionCommand & { sessionId: string; query: unknown }) {
    const query = parseOrThrow(sessionFeedQuerySchema, command.query, 'query');
    const session = await this.find(command.principal, command.sessionId);
    const events = await this.sessions.listEvents(tenantScopeOf(command.principal), session.id, {
      since: query.since,
      limit: query.limit,
      eventType: 'session.message',
    });
    return { ok: true, messages: events.map(toSessionMessageView) };
  }

  /** `GET /v1/sessions/{id}/feed?since&limit`: every feed entry with seq > since, and the cursor after them. */
  async feed(command: SessionCommand & { sessionId: string; query: unknown }) {
    const query = parseOrThrow(sessionFeedQuerySchema, command.query, 'query');
    const session = await this.find(command.principal, command.sessionId);
    const events = await this.sessions.listEvents(tenantScopeOf(command.principal), session.id, {
      since: query.since,
      limit: query.limit,
    });
    return {
      ok: true,
      feed: events.map(toSessionFeedEntryView),
      next_seq: events[events.length - 1]?.seq ?? query.since,
    };
  }

  /**
   * The source of `GET /v1/sessions/{id}/feed/stream`: feed entries after the cursor, one SSE frame
   * each (id = seq, event = event_type); the stream ends with session.completed.
   */
  async feedStream(principal: Principal, sessionId: string): Promise<StreamSource> {
    const session = await this.find(principal, sessionId);
    const scope = tenantScopeOf(principal);
    return {
      channel: REDIS_CHANNELS.sessionFeed(session.id),
      read: async (cursor) => {
        const events = await this.sessions.listEvents(scope, session.id, {
          since: cursor,
          limit: STREAM_BATCH,
        });
        const last = events[events.length - 1];
        return {
          frames: events.map((e) => ({
            id: e.seq,
            event: e.eventType,
            data: { ...toSessionFeedEntryView(e) },
            at: e.createdAt,
          })),
          cursor: last?.seq ?? cursor,
          finished: last?.eventType === 'session.completed',
        };
      },
    };
  }

  /**
   * `POST /v1/sessions/{id}/complete {result?}`: by the session's creator, or an operator or admin
   * of its org; a second complete is 409.
   */
  async complete(command: SessionCommand & { sessionId: string; body: unknown }) {
    const { principal } = command;
    const body = parseOrThrow(completeSessionSchema, command.body ?? {});
    const session = await this.find(principal, command.sessionId);
    if (session.createdBy !== actorOf(principal) && !hasRole(principal, 'operator')) {
      await this.record(
        command,
        session,
        'session.complete',
        { reason: 'not_creator', role: principal.role },
        'denied',
      );
      throw new ForbiddenError(
        'insufficient_role',
        "only the session's creator or an operator of its org may complete it",
      );
    }
    const { session: completed, event } = await this.sessions.complete(tenantScopeOf(principal), session.id, {
      result: body.result ?? null,
      actor: actorOf(principal),
    });
    await this.record(command, event, 'session.complete', { seq: event.seq });
    await this.bus.publish(REDIS_CHANNELS.sessionFeed(session.id));
    return { ok: true, session_id: completed.id, status: completed.status };
  }

  private async find(principal: Principal, sessionId: string): Promise<SessionRecord> {
    const session = isUuid(sessionId)
      ? await this.sessions.findById(tenantScopeOf(principal), sessionId)
      : null;
    if (!session) throw sessionNotFound(sessionId);
    return session;
  }

  private async record(
    command: SessionCommand,
    target: SessionRecord | SessionEventRecord,
    action: string,
    details: Record<string, unknown>,
    outcome: 'success' | 'denied' = 'success',
  ): Promise<void> {
    await this.audit.record({
      orgId: target.orgId,
      actorType: command.principal.kind,
      actorId: command.principal.actorId,
      action,
      targetType: 'session',
      targetId: 'sessionId' in target ? target.sessionId : target.id,
      outcome,
      requestId: command.requestId,
      details,
    });
  }
}

/** Who wrote a session entry: an agent's address, or `user:<sub>` for a person. */
function actorOf(principal: Principal): string {
  return principal.kind === 'user' ? principal.actorId : principal.address;
}

function sessionNotFound(sessionId: string): NotFoundError {
  return new NotFoundError('session_not_found', `session ${sessionId} not found`);
}
