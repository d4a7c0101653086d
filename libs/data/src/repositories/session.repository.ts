import { ConflictError, NotFoundError, type SessionEventType, type SessionStatus } from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { type Prisma } from '../generated/prisma/client';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

export type SessionRecord = {
  id: string;
  orgId: string;
  workspaceId: string;
  createdBy: string;
  type: string;
  projectId: string | null;
  parentSessionId: string | null;
  dependsOn: string[];
  metadata: Record<string, unknown>;
  status: SessionStatus;
  result: unknown;
  lastSeq: number;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
};

export type SessionEventRecord = {
  id: string;
  sessionId: string;
  orgId: string;
  seq: number;
  eventType: SessionEventType;
  role: string | null;
  content: unknown;
  contentType: string | null;
  actor: string;
  createdAt: Date;
};

export type NewSession = {
  workspaceId: string;
  createdBy: string;
  type: string;
  projectId: string | null;
  parentSessionId: string | null;
  dependsOn: string[];
  metadata: Record<string, unknown>;
};

export type NewSessionMessage = { role: string; content: unknown; contentType: string; actor: string };

export type SessionListFilter = {
  status?: SessionStatus;
  parentSessionId?: string;
  /** Keyset cursor: the createdAt and id of the last session of the previous page. */
  after?: { createdAt: Date; id: string };
  limit: number;
};

type Tx = Prisma.TransactionClient;
type SessionRow = Awaited<ReturnType<PrismaService['client']['session']['findFirstOrThrow']>>;
type EventRow = Awaited<ReturnType<PrismaService['client']['sessionEvent']['findFirstOrThrow']>>;

/**
 * Sessions and their feeds. Every feed entry is appended under a row lock on the session, which
 * bumps `last_seq`: seq is per session, gapless and in commit order, however many writers post at
 * once, and nothing is appended after session.completed.
 */
@Injectable()
export class SessionRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** The session with its first feed entry (seq 1, session.created), in one transaction. */
  async create(
    scope: OrgScope,
    input: NewSession,
  ): Promise<{ session: SessionRecord; event: SessionEventRecord }> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const now = new Date();
        const row = await tx.session.create({
          data: {
            id: randomUUID(),
            orgId: scope.orgId,
            workspaceId: input.workspaceId,
            createdBy: input.createdBy,
            type: input.type,
            projectId: input.projectId,
            parentSessionId: input.parentSessionId,
            dependsOn: input.dependsOn,
            metadata: json(input.metadata) ?? {},
            status: 'ACTIVE',
            lastSeq: 1,
            createdAt: now,
          },
        });
        const event = await tx.sessionEvent.create({
          data: {
            id: randomUUID(),
            sessionId: row.id,
            orgId: scope.orgId,
            seq: 1,
            eventType: 'session.created',
            actor: input.createdBy,
            createdAt: now,
          },
        });
        return { session: toSession(row), event: toEvent(event) };
      }),
    );
  }

  async findById(scope: TenantScope, id: string): Promise<SessionRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.session.findFirst({ where: { id, ...orgFilter(scope) } });
      return row ? toSession(row) : null;
    });
  }

  /** Newest first, keyset-paged on (createdAt, id) so pages stay stable while sessions arrive. */
  async list(scope: TenantScope, filter: SessionListFilter): Promise<SessionRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.session.findMany({
        where: {
          ...orgFilter(scope),
          ...(filter.status ? { status: filter.status } : {}),
          ...(filter.parentSessionId ? { parentSessionId: filter.parentSessionId } : {}),
          ...(filter.after
            ? {
                OR: [
                  { createdAt: { lt: filter.after.createdAt } },
                  { createdAt: filter.after.createdAt, id: { lt: filter.after.id } },
                ],
              }
            : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: filter.limit,
      });
      return rows.map(toSession);
    });
  }

  /** Feed entries with seq > since, oldest first; only one event type when given. */
  async listEvents(
    scope: TenantScope,
    sessionId: string,
    options: { since: number; limit: number; eventType?: SessionEventType },
  ): Promise<SessionEventRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.sessionEvent.findMany({
        where: {
          sessionId,
          seq: { gt: options.since },
          ...orgFilter(scope),
          ...(options.eventType ? { eventType: options.eventType } : {}),
        },
        orderBy: { seq: 'asc' },
        take: options.limit,
      });
      return rows.map(toEvent);
    });
  }

  /** Appends a session.message; 404 for a session out of scope, 409 once it is completed. */
  async appendMessage(
    scope: TenantScope,
    sessionId: string,
    message: NewSessionMessage,
  ): Promise<SessionEventRecord> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const locked = await lockActive(tx, scope, sessionId, 'post a message to');
        const seq = locked.last_seq + 1;
        await tx.session.update({ where: { id: sessionId }, data: { lastSeq: seq } });
        const event = await tx.sessionEvent.create({
          data: {
            id: randomUUID(),
            sessionId,
            orgId: locked.org_id,
            seq,
            eventType: 'session.message',
            role: message.role,
            content: json(message.content) ?? {},
            contentType: message.contentType,
            actor: message.actor,
          },
        });
        return toEvent(event);
      }),
    );
  }

  /** ACTIVE → COMPLETED with its last feed entry, session.completed; 409 when completed already. */
  async complete(
    scope: TenantScope,
    sessionId: string,
    input: { result: unknown; actor: string },
  ): Promise<{ session: SessionRecord; event: SessionEventRecord }> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const locked = await lockActive(tx, scope, sessionId, 'complete');
        const seq = locked.last_seq + 1;
        const now = new Date();
        const row = await tx.session.update({
          where: { id: sessionId },
          data: {
            status: 'COMPLETED',
            lastSeq: seq,
            completedAt: now,
            ...(input.result !== undefined && input.result !== null ? { result: json(input.result) } : {}),
          },
        });
        const event = await tx.sessionEvent.create({
          data: {
            id: randomUUID(),
            sessionId,
            orgId: locked.org_id,
            seq,
            eventType: 'session.completed',
            ...(input.result !== undefined && input.result !== null ? { content: json(input.result) } : {}),
            actor: input.actor,
            createdAt: now,
          },
        });
        return { session: toSession(row), event: toEvent(event) };
      }),
    );
  }
}

type LockedSession = { status: string; last_seq: number; org_id: string };

/** Locks the session row for the rest of the transaction; 404 out of scope, 409 when completed. */
async function lockActive(
  tx: Tx,
  scope: TenantScope,
  sessionId: string,
  what: string,
): Promise<LockedSession> {
  const rows =
    scope.kind === 'org'
      ? await tx.$queryRaw<
          LockedSession[]
        >`SELECT status, last_seq, org_id::text FROM sessions WHERE id = ${sessionId}::uuid AND org_id = ${scope.orgId}::uuid FOR UPDATE`
      : await tx.$queryRaw<
          LockedSession[]
        >`SELECT status, last_seq, org_id::text FROM sessions WHERE id = ${sessionId}::uuid FOR UPDATE`;
  const locked = rows[0];
  if (!locked) throw new NotFoundError('session_not_found', `session ${sessionId} not found`);
  if (locked.status !== 'ACTIVE')
    throw new ConflictError('session_completed', `session is ${locked.status}; cannot ${what} it`, {
      status: locked.status,
    });
  return locked;
}

function toSession(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    workspaceId: row.workspaceId,
    createdBy: row.createdBy,
    type: row.type,
    projectId: row.projectId,
    parentSessionId: row.parentSessionId,
    dependsOn: row.dependsOn,
    metadata: (row.metadata ?? {}) as Record<string, unknown>,
    status: row.status as SessionStatus,
    result: row.result ?? null,
    lastSeq: row.lastSeq,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    completedAt: row.completedAt,
  };
}

function toEvent(row: EventRow): SessionEventRecord {
  return {
    id: row.id,
    sessionId: row.sessionId,
    orgId: row.orgId,
    seq: row.seq,
    eventType: row.eventType as SessionEventType,
    role: row.role,
    content: row.content ?? null,
    contentType: row.contentType,
    actor: row.actor,
    createdAt: row.createdAt,
  };
}
