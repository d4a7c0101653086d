import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Prisma } from '../generated/prisma/client';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

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
          await tx.inboxThread.create({ data: { ...thread, id, orgId: scope.orgId } });
          const messageId = await addEntry(tx, scope, id, first);
          return { thread: await loadDetail(tx, scope, id), messageId, created: true };
        });
      } catch (err) {
        if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002')) throw err;
        const existing = await loadDetail(this.prisma.client, scope, id);
        const message = existing.messages[0] ?? null;
        return { thread: existing, messageId: message?.id ?? null, created: false };
      }
    });
  }

  /** Appends a message and/or timeline entry and moves the thread to the end of the change feed. */
  async addEntry(
    scope: TenantScope,
    threadId: string,
    entry: NewInboxEntry,
    change: { status?: InboxThreadStatus; readAt?: Date | null } = {},
  ): Promise<{ thread: InboxThreadDetail; messageId: string | null }> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const thread = await tx.inboxThread.findFirstOrThrow({
          where: { id: threadId, ...orgFilter(scope) },
        });
        const messageId = await addEntry(tx, scope, threadId, entry, thread.orgId);
        await touch(tx, threadId, change);
        return { thread: await loadDetail(tx, scope, threadId), messageId };
      }),
    );
  }

  async findThread(scope: TenantScope, id: string): Promise<InboxThreadDetail | null> {
    return guarded(async () => {
      const exists = await this.prisma.client.inboxThread.findFirst({
        where: { id, ...orgFilter(scope) },
        select: { id: true },
      });
      return exists ? loadDetail(this.prisma.client, scope, id) : null;
    });
  }

  async findByIntent(scope: TenantScope, intentId: string, kind: string): Promise<InboxThreadRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.inboxThread.findFirst({
        where: { intentId, kind, ...orgFilter(scope) },
        orderBy: { createdAt: 'asc' },
      });
      return row ? toThread(row) : null;
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
): Promise<string | null> {
  if (!orgId) throw new Error('an inbox entry needs the thread org');
  let messageId: string | null = null;
  if (entry.message) {
    const message = await tx.inboxMessage.create({
      data: { ...entry.message, content: json(entry.message.content) ?? {}, threadId, orgId },
    });
    messageId = message.id;
  }
  await tx.inboxTimelineEvent.create({
    data: {
      threadId,
      orgId,
      eventType: entry.timeline.eventType,
      actor: entry.timeline.actor,
      details: json({ ...entry.timeline.details, ...(messageId ? { message_id: messageId } : {}) }) ?? {},
    },
  });
  return messageId;
}

/** Draws a new change_seq so the thread shows up again in /v1/inbox/changes. */
async function touch(tx: Tx, threadId: string, change: { status?: InboxThreadStatus; readAt?: Date | null }) {
  await tx.$executeRaw`UPDATE inbox_threads SET change_seq = nextval(pg_get_serial_sequence('inbox_threads', 'change_seq')), updated_at = now() WHERE id = ${threadId}::uuid`;
  if (change.status !== undefined || change.readAt !== undefined)
    await tx.inboxThread.update({
      where: { id: threadId },
      data: {
        ...(change.status !== undefined ? { status: change.status } : {}),
        ...(change.readAt !== undefined ? { readAt: change.readAt } : {}),
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
