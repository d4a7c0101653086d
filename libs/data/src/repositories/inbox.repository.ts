import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Prisma } from '../generated/prisma/client';
import { guarded, isDuplicate } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, orgScope, type TenantScope } from '../tenancy';
import { IdempotencyKeyTakenError } from './intent.repository';
import { type IdempotencyWrite, writeIdempotency } from './webhook.repository';

export type InboxThreadStatus = 'pending' | 'active' | 'done';

export type InboxTimelineRecord = {
  id: string;
  eventType: string;
  actor: string;
  details: Record<string, unknown>;
  at: Date;
};

export type InboxMessageRecord = {
  id: string;
  role: string;
  author: string;
  content: Record<string, unknown>;
  hiddenForOwner: boolean;
  deletedAt: Date | null;
  createdAt: Date;
};

export type InboxThreadRecord = {
  id: string;
  orgId: string;
  ownerAgent: string;
  intentId: string | null;
  /** `completion` (reply_to) or `human_task`. */
  kind: string;
  status: InboxThreadStatus;
  fromAgent: string;
  toAgent: string;
  subject: string | null;
  intentType: string | null;
  readAt: Date | null;
  changeSeq: bigint;
  createdAt: Date;
  updatedAt: Date;
};

export type InboxThreadDetail = InboxThreadRecord & {
  messages: InboxMessageRecord[];
  timeline: InboxTimelineRecord[];
};

export type NewInboxThread = {
  id?: string;
  ownerAgent: string;
  intentId: string | null;
  kind: string;
  status: InboxThreadStatus;
  fromAgent: string;
  toAgent: string;
  subject: string | null;
  intentType: string | null;
};

export type NewInboxEntry = {
  message?: { role: string; author: string; content: Record<string, unknown> };
  timeline: { eventType: string; actor: string; details?: Record<string, unknown> };
};

/** How a write changes the thread row itself (besides drawing a new change_seq). */
export type InboxThreadChange = {
  status?: InboxThreadStatus;
  readAt?: Date | null;
  /** read_at = now() unless set, and pending → active. */
  markRead?: boolean;
  /** Moves the thread to another owner's inbox (delegate). */
  ownerAgent?: string;
};

/** What a thread write answers: the thread as committed, and the ids of what it added. */
export type InboxWriteResult = {
  thread: InboxThreadDetail;
  messageId: string | null;
  /** The timeline entry the write added; null when the write changed nothing. */
  timelineId: string | null;
};

export type InboxDeleteResult = InboxWriteResult & { messageIds: string[] };

export type InboxThreadFilter = { ownerAgent?: string | null; kind?: string };

export type InboxWriteOptions<T> = {
  /** The request's Idempotency-Key record, committed with the write. */
  idempotency?: IdempotencyWrite<T> | undefined;
  /** The owner the caller acts for: a thread that has another owner by now is not written. */
  ownerAgent?: string | undefined;
};

type Tx = Prisma.TransactionClient;
type ThreadRow = Awaited<ReturnType<PrismaService['client']['inboxThread']['findFirstOrThrow']>>;

/** Inbox threads (reply_to completions, human tasks), their messages and timelines. */
@Injectable()
export class InboxRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Creates the thread with its first entry, or, when a thread with that id exists already (a retried
   * writer), returns it with the message it got the first time.
   */
  async createThread(
    scope: OrgScope,
    thread: NewInboxThread,
    first: NewInboxEntry,
  ): Promise<{ thread: InboxThreadDetail; messageId: string | null; created: boolean }> {
    return guarded(async () => {
      const id = thread.id ?? randomUUID();
      try {
        return await this.prisma.client.$transaction(async (tx) => {
          await lockFeed(tx, thread.ownerAgent);
          await tx.inboxThread.create({ data: { ...thread, id, orgId: scope.orgId } });
          const { messageId } = await addEntry(tx, scope, id, first);
          return { thread: await loadDetail(tx, scope, id), messageId, created: true };
        });
      } catch (err) {
        if (!isDuplicate(err)) throw err;
        const existing = await loadDetail(this.prisma.client, scope, id);
        const message = existing.messages[0] ?? null;
        return { thread: existing, messageId: message?.id ?? null, created: false };
      }
    });
  }

  /**
   * Appends a message and/or timeline entry and moves the thread to the end of the change feed, with
   * the idempotency record of the request when one is given (same transaction).
   */
  async addEntry(
    scope: TenantScope,
    threadId: string,
    entry: NewInboxEntry,
    change: InboxThreadChange = {},
    options: InboxWriteOptions<InboxWriteResult> = {},
  ): Promise<InboxWriteResult> {
    return this.mutate(
      scope,
      threadId,
      async (tx, current) => {
        const added = await addEntry(tx, scope, threadId, entry, current.orgId);
        return { ...added, change };
      },
      options,
    );
  }

  /**
   * Marks the thread read: read_at and pending → active, with a `read` timeline entry. A thread that
   * was read already is answered as it is, without a write (timelineId null).
   */
  async markRead(
    scope: TenantScope,
    threadId: string,
    actor: string,
    options: InboxWriteOptions<InboxWriteResult> = {},
  ): Promise<InboxWriteResult> {
    return this.mutate(
      scope,
      threadId,
      async (tx, current) => {
        if (current.readAt !== null && current.status !== 'pending') return null;
        const added = await addEntry(
          tx,
          scope,
          threadId,
          { timeline: { eventType: 'read', actor } },
          current.orgId,
        );
        return { ...added, change: { markRead: true } };
      },
      options,
    );
  }

  /**
   * Hides (mode `self`) or deletes for everyone (mode `both`, content erased) the named messages, or
   * without ids the newest ones, up to `limit`; messages already gone in that mode are not counted.
   */
  async deleteMessages(
    scope: TenantScope,
    threadId: string,
    request: { mode: 'self' | 'both'; messageIds?: string[]; limit: number; actor: string },
    options: InboxWriteOptions<InboxDeleteResult> = {},
  ): Promise<InboxDeleteResult> {
    const { idempotency } = options;
    let messageIds: string[] = [];
    const result = await this.mutate(
      scope,
      threadId,
      async (tx, current) => {
        const candidates = await tx.inboxMessage.findMany({
          where: {
            threadId,
            deletedAt: null,
            ...(request.mode === 'self' ? { hiddenForOwner: false } : {}),
            ...(request.messageIds ? { id: { in: request.messageIds } } : {}),
          },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: request.limit,
          select: { id: true },
        });
        messageIds = candidates.map((m) => m.id);
        if (messageIds.length === 0) return null;
        await tx.inboxMessage.updateMany({
          where: { id: { in: messageIds } },
          data:
            request.mode === 'self'
              ? { hiddenForOwner: true }
              : { deletedAt: new Date(), content: { deleted: true } },
        });
        const added = await addEntry(
          tx,
          scope,
          threadId,
          {
            timeline: {
              eventType: 'messages_deleted',
              actor: request.actor,
              details: { mode: request.mode, message_ids: messageIds, deleted_count: messageIds.length },
            },
          },
          current.orgId,
        );
        return { ...added, change: {} };
      },
      {
        ownerAgent: options.ownerAgent,
        idempotency: idempotency && {
          ...idempotency,
          response: (r) => idempotency.response({ ...r, messageIds }),
        },
      },
    );
    return { ...result, messageIds };
  }

  async findThread(
    scope: TenantScope,
    id: string,
    filter: InboxThreadFilter = {},
  ): Promise<InboxThreadDetail | null> {
    return guarded(async () => {
      const exists = await this.prisma.client.inboxThread.findFirst({
        where: { id, ...threadFilter(filter), ...orgFilter(scope) },
        select: { id: true },
      });
      return exists ? loadDetail(this.prisma.client, scope, id) : null;
    });
  }

  async findByIntent(
    scope: TenantScope,
    intentId: string,
    kind: string,
    ownerAgent?: string | null,
  ): Promise<InboxThreadRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.inboxThread.findFirst({
        where: { intentId, kind, ...threadFilter({ ownerAgent }), ...orgFilter(scope) },
        orderBy: { createdAt: 'asc' },
      });
      return row ? toThread(row) : null;
    });
  }

  /** Every thread of the intent of that kind, oldest first (an intent may have several task threads). */
  async listByIntent(scope: TenantScope, intentId: string, kind: string): Promise<InboxThreadRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.inboxThread.findMany({
        where: { intentId, kind, ...orgFilter(scope) },
        orderBy: { createdAt: 'asc' },
      });
      return rows.map(toThread);
    });
  }

  async listThreads(
    scope: TenantScope,
    ownerAgent: string,
    options: { status?: InboxThreadStatus; limit: number },
  ): Promise<InboxThreadDetail[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.inboxThread.findMany({
        where: { ownerAgent, ...(options.status ? { status: options.status } : {}), ...orgFilter(scope) },
        orderBy: { updatedAt: 'desc' },
        take: options.limit,
        include: threadInclude,
      });
      return rows.map(toDetail);
    });
  }

  /** Threads changed after the cursor, oldest change first. */
  async listChanges(
    scope: TenantScope,
    ownerAgent: string,
    cursor: bigint,
    limit: number,
  ): Promise<InboxThreadDetail[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.inboxThread.findMany({
        where: { ownerAgent, changeSeq: { gt: cursor }, ...orgFilter(scope) },
        orderBy: { changeSeq: 'asc' },
        take: limit,
        include: threadInclude,
      });
      return rows.map(toDetail);
    });
  }

  /**
   * One thread write: locks the thread row (so its owner cannot change underneath), runs the work,
   * then draws the thread's new change_seq under the owner's feed lock and commits with the
   * idempotency record. Work that answers null changes nothing.
   */
  private async mutate(
    scope: TenantScope,
    threadId: string,
    work: (
      tx: Tx,
      current: InboxThreadRecord,
    ) => Promise<{ messageId: string | null; timelineId: string; change: InboxThreadChange } | null>,
    options: InboxWriteOptions<InboxWriteResult>,
  ): Promise<InboxWriteResult> {
    return guarded(async () => {
      try {
        return await this.prisma.client.$transaction(async (tx) => {
          const found = await tx.inboxThread.findFirst({
            where: { id: threadId, ...orgFilter(scope) },
            select: { id: true },
          });
          if (!found) throw new InboxThreadGoneError(threadId);
          await tx.$queryRaw`SELECT id FROM inbox_threads WHERE id = ${threadId}::uuid FOR UPDATE`;
          const current = toThread(await tx.inboxThread.findUniqueOrThrow({ where: { id: threadId } }));
          if (options.ownerAgent !== undefined && current.ownerAgent !== options.ownerAgent)
            throw new InboxThreadGoneError(threadId);
          const done = await work(tx, current);
          if (done) {
            await lockFeed(tx, done.change.ownerAgent ?? current.ownerAgent);
            await touch(tx, threadId, done.change);
          }
          const result = {
            thread: await loadDetail(tx, scope, threadId),
            messageId: done?.messageId ?? null,
            timelineId: done?.timelineId ?? null,
          };
          await writeIdempotency(tx, orgScope(current.orgId), options.idempotency, result);
          return result;
        });
      } catch (err) {
        if (
          err instanceof Prisma.PrismaClientKnownRequestError &&
          err.code === 'P2002' &&
          /IdempotencyRecord|idempotency/i.test(`${JSON.stringify(err.meta ?? {})} ${err.message}`)
        )
          throw new IdempotencyKeyTakenError();
        throw err;
      }
    });
  }
}

/** The thread went away (or out of scope, or to another owner) between the caller's read and this write. */
export class InboxThreadGoneError extends Error {
  constructor(readonly threadId: string) {
    super(`inbox thread ${threadId} not found`);
    this.name = 'InboxThreadGoneError';
  }
}

const threadInclude = {
  messages: { orderBy: { createdAt: 'asc' as const } },
  timeline: { orderBy: { at: 'asc' as const } },
};

async function addEntry(
  tx: Tx,
  scope: TenantScope,
  threadId: string,
  entry: NewInboxEntry,
  orgId = scope.kind === 'org' ? scope.orgId : undefined,
): Promise<{ messageId: string | null; timelineId: string }> {
  if (!orgId) throw new Error('an inbox entry needs the thread org');
  let messageId: string | null = null;
  if (entry.message) {
    const message = await tx.inboxMessage.create({
      data: { ...entry.message, content: json(entry.message.content) ?? {}, threadId, orgId },
    });
    messageId = message.id;
  }
  const timeline = await tx.inboxTimelineEvent.create({
    data: {
      threadId,
      orgId,
      eventType: entry.timeline.eventType,
      actor: entry.timeline.actor,
      details: json({ ...entry.timeline.details, ...(messageId ? { message_id: messageId } : {}) }) ?? {},
    },
  });
  return { messageId, timelineId: timeline.id };
}

/**
 * Serializes the writers of one owner's change feed until commit, so change_seq values of that owner
 * become visible in increasing order and a reader holding cursor N never later finds a change < N.
 */
async function lockFeed(tx: Tx, ownerAgent: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`inbox-feed:${ownerAgent}`}))`;
}

function threadFilter(filter: InboxThreadFilter): { ownerAgent?: string; kind?: string } {
  return {
    ...(filter.ownerAgent ? { ownerAgent: filter.ownerAgent } : {}),
    ...(filter.kind ? { kind: filter.kind } : {}),
  };
}

/** Draws a new change_seq so the thread shows up again in /v1/inbox/changes. */
async function touch(tx: Tx, threadId: string, change: InboxThreadChange) {
  await tx.$executeRaw`UPDATE inbox_threads SET change_seq = nextval(pg_get_serial_sequence('inbox_threads', 'change_seq')), updated_at = now() WHERE id = ${threadId}::uuid`;
  if (change.markRead)
    await tx.$executeRaw`UPDATE inbox_threads SET read_at = COALESCE(read_at, now()), status = CASE WHEN status = 'pending' THEN 'active' ELSE status END WHERE id = ${threadId}::uuid`;
  if (change.status !== undefined || change.readAt !== undefined || change.ownerAgent !== undefined)
    await tx.inboxThread.update({
      where: { id: threadId },
      data: {
        ...(change.status !== undefined ? { status: change.status } : {}),
        ...(change.readAt !== undefined ? { readAt: change.readAt } : {}),
        ...(change.ownerAgent !== undefined ? { ownerAgent: change.ownerAgent } : {}),
      },
    });
}

async function loadDetail(
  client: Tx | PrismaService['client'],
  scope: TenantScope,
  id: string,
): Promise<InboxThreadDetail> {
  const row = await client.inboxThread.findFirstOrThrow({
    where: { id, ...orgFilter(scope) },
    include: threadInclude,
  });
  return toDetail(row);
}

function toThread(row: ThreadRow): InboxThreadRecord {
  return { ...row, status: row.status as InboxThreadStatus };
}

function toDetail(
  row: ThreadRow & {
    messages: (Omit<InboxMessageRecord, 'content'> & { content: unknown })[];
    timeline: (Omit<InboxTimelineRecord, 'details'> & { details: unknown })[];
  },
): InboxThreadDetail {
  const { messages, timeline, ...thread } = row;
  return {
    ...toThread(thread),
    messages: messages.map((m) => ({
      id: m.id,
      role: m.role,
      author: m.author,
      content: m.content as Record<string, unknown>,
      hiddenForOwner: m.hiddenForOwner,
      deletedAt: m.deletedAt,
      createdAt: m.createdAt,
    })),
    timeline: timeline.map((t) => ({
      id: t.id,
      eventType: t.eventType,
      actor: t.actor,
      details: t.details as Record<string, unknown>,
      at: t.at,
    })),
  };
}
