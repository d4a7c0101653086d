import { Injectable } from '@nestjs/common';
import { createUnlessDuplicate, guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

export type HumanTaskRowStatus = 'open' | 'decided' | 'closed';

export type HumanTaskRecord = {
  id: string;
  orgId: string;
  intentId: string;
  /** "" for the intent's own human_task, else the scenario step id. */
  stepId: string;
  threadId: string | null;
  spec: Record<string, unknown>;
  assignees: string[];
  status: HumanTaskRowStatus;
  outcome: string | null;
  result: Record<string, unknown> | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  dueAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

export type NewHumanTask = {
  id: string;
  intentId: string;
  stepId: string;
  threadId?: string | null;
  spec: Record<string, unknown>;
  assignees: string[];
  dueAt?: Date | null;
};

/** A task of the `GET /v1/me/tasks` list, with the intent fields the list shows. */
export type HumanTaskListItem = HumanTaskRecord & {
  intent: { intentType: string; fromAgent: string; status: string } | null;
};

export type HumanTaskListFilter = {
  /** Lower-cased emails, member ids and addresses of the signed-in person; any overlap lists a task. */
  identities: string[];
  statuses: HumanTaskRowStatus[];
  /** Keyset: tasks strictly older than this (newest first). */
  after?: { createdAt: Date; id: string };
  limit: number;
};

export type MagicLinkRecord = {
  id: string;
  orgId: string;
  taskId: string;
  recipient: string;
  expiresAt: Date;
  usedAt: Date | null;
  createdAt: Date;
};

/** Why a token does not open its page: never issued (or tampered), used once already, or too old. */
export type MagicLinkState =
  | { state: 'valid'; link: MagicLinkRecord }
  | { state: 'used'; link: MagicLinkRecord }
  | { state: 'expired'; link: MagicLinkRecord }
  | { state: 'unknown' };

type Row = Awaited<ReturnType<PrismaService['client']['humanTask']['findFirstOrThrow']>>;

/** Human tasks (one row per intent and step, its id is the approval id) and their magic links. */
@Injectable()
export class HumanTaskRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Creates the task, or answers the one that exists for (intent, step) (a retried activity). */
  async createOrGet(
    scope: OrgScope,
    task: NewHumanTask,
  ): Promise<{ task: HumanTaskRecord; created: boolean }> {
    const created = await createUnlessDuplicate(() =>
      this.prisma.client.humanTask.create({
        data: {
          id: task.id,
          orgId: scope.orgId,
          intentId: task.intentId,
          stepId: task.stepId,
          threadId: task.threadId ?? null,
          spec: json(task.spec) ?? {},
          assignees: task.assignees,
          dueAt: task.dueAt ?? null,
        },
      }),
    );
    if (created) return { task: toRecord(created), created: true };
    const existing = await this.findForStep(scope, task.intentId, task.stepId);
    if (!existing) throw new Error(`human task of intent ${task.intentId} step "${task.stepId}" vanished`);
    return { task: existing, created: false };
  }

  async setThread(scope: OrgScope, id: string, threadId: string): Promise<void> {
    await guarded(() =>
      this.prisma.client.humanTask.updateMany({ where: { id, ...orgFilter(scope) }, data: { threadId } }),
    );
  }

  async findById(scope: TenantScope, id: string): Promise<HumanTaskRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.humanTask.findFirst({ where: { id, ...orgFilter(scope) } });
      return row ? toRecord(row) : null;
    });
  }

  async findByThread(scope: TenantScope, threadId: string): Promise<HumanTaskRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.humanTask.findFirst({
        where: { threadId, ...orgFilter(scope) },
      });
      return row ? toRecord(row) : null;
    });
  }

  async findForStep(scope: TenantScope, intentId: string, stepId: string): Promise<HumanTaskRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.humanTask.findFirst({
        where: { intentId, stepId, ...orgFilter(scope) },
      });
      return row ? toRecord(row) : null;
    });
  }

  /** The intent's open task (the newest, when a scenario opened several), or null. */
  async findOpenForIntent(scope: TenantScope, intentId: string): Promise<HumanTaskRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.humanTask.findFirst({
        where: { intentId, status: 'open', ...orgFilter(scope) },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      });
      return row ? toRecord(row) : null;
    });
  }

  /** The intent's latest task in any status (for "decided already" answers), or null. */
  async findLatestForIntent(scope: TenantScope, intentId: string): Promise<HumanTaskRecord | null> {
    return guarded(async () => {
      const row = await this.prisma.client.humanTask.findFirst({
        where: { intentId, ...orgFilter(scope) },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      });
      return row ? toRecord(row) : null;
    });
  }

  /** Tasks assigned to any of the identities, newest first, with their intents' list fields. */
  async listForIdentities(scope: TenantScope, filter: HumanTaskListFilter): Promise<HumanTaskListItem[]> {
    if (filter.identities.length === 0) return [];
    return guarded(async () => {
      const after = filter.after;
      const rows = await this.prisma.client.humanTask.findMany({
        where: {
          ...orgFilter(scope),
          assignees: { hasSome: filter.identities },
          status: { in: filter.statuses },
          ...(after
            ? {
                OR: [
                  { createdAt: { lt: after.createdAt } },
                  { createdAt: after.createdAt, id: { lt: after.id } },
                ],
              }
            : {}),
        },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: filter.limit,
      });
      const intents = await this.prisma.client.intent.findMany({
        where: { id: { in: [...new Set(rows.map((r) => r.intentId))] }, ...orgFilter(scope) },
        select: { id: true, intentType: true, fromAgent: true, status: true },
      });
      const byId = new Map(intents.map((i) => [i.id, i]));
      return rows.map((row) => {
        const intent = byId.get(row.intentId);
        return {
          ...toRecord(row),
          intent: intent
            ? { intentType: intent.intentType, fromAgent: intent.fromAgent, status: intent.status }
            : null,
        };
      });
    });
  }

  /**
   * Compare-and-set to decided, once: answers the decided task, or null when it was decided already.
   * A task the intent's end closed moments ago may still be decided: the caller records a decision
   * the workflow accepted, and that decision is what ended the intent (its completion closes the
   * open tasks before the workflow's answer reaches the caller).
   */
  async decide(
    scope: TenantScope,
    id: string,
    decision: { outcome: string; result: Record<string, unknown>; decidedBy: string },
  ): Promise<HumanTaskRecord | null> {
    return guarded(async () => {
      const { count } = await this.prisma.client.humanTask.updateMany({
        where: { id, status: { in: ['open', 'closed'] }, decidedAt: null, ...orgFilter(scope) },
        data: {
          status: 'decided',
          outcome: decision.outcome,
          result: json(decision.result) ?? {},
          decidedBy: decision.decidedBy,
          decidedAt: new Date(),
        },
      });
      if (count === 0) return null;
      const row = await this.prisma.client.humanTask.findFirst({ where: { id, ...orgFilter(scope) } });
      return row ? toRecord(row) : null;
    });
  }

  /** The intent ended (or moved on): its open tasks close without a decision. Answers how many. */
  async closeOpenForIntent(scope: TenantScope, intentId: string): Promise<number> {
    return guarded(async () => {
      const { count } = await this.prisma.client.humanTask.updateMany({
        where: { intentId, status: 'open', ...orgFilter(scope) },
        data: { status: 'closed' },
      });
      return count;
    });
  }

  /** Open (undecided) tasks in the scope: the axle_human_tasks_waiting gauge reads it per scrape. */
  async countOpen(scope: TenantScope): Promise<number> {
    return guarded(() =>
      this.prisma.client.humanTask.count({ where: { status: 'open', ...orgFilter(scope) } }),
    );
  }

  // ----- magic links ----------------------------------------------------------------------------

  async createMagicLink(
    scope: OrgScope,
    link: {
      id: string;
      taskId: string;
      recipient: string;
      tokenHash: string;
      expiresAt: Date;
      /** What its email is for (`assigned`, `reminder:<n>`, `escalation`): one link each. */
      purpose: string;
    },
  ): Promise<MagicLinkRecord> {
    return guarded(async () =>
      toLink(await this.prisma.client.magicLink.create({ data: { ...link, orgId: scope.orgId } })),
    );
  }

  /** Removes a link whose email could not be sent, so a retry sends a fresh one. */
  async deleteMagicLink(scope: OrgScope, id: string): Promise<void> {
    await guarded(() => this.prisma.client.magicLink.deleteMany({ where: { id, ...orgFilter(scope) } }));
  }

  /** Whether the recipient was sent a link for this task (for this purpose) already: activity retries send once. */
  async hasMagicLink(scope: OrgScope, taskId: string, recipient: string, purpose?: string): Promise<boolean> {
    return guarded(async () => {
      const found = await this.prisma.client.magicLink.findFirst({
        where: { taskId, recipient, ...(purpose !== undefined ? { purpose } : {}), ...orgFilter(scope) },
        select: { id: true },
      });
      return found !== null;
    });
  }

  /**
   * A token's link by its hash. The token is the credential (it names its own org), so the lookup
   * runs in the scope the caller passes: the platform scope for the public /h/{token} pages.
   */
  async findMagicLink(scope: TenantScope, tokenHash: string, now = new Date()): Promise<MagicLinkState> {
    return guarded(async () => {
      const row = await this.prisma.client.magicLink.findFirst({ where: { tokenHash, ...orgFilter(scope) } });
      return linkState(row ? toLink(row) : null, now);
    });
  }

  /**
   * Uses a token once: atomically marks it used if it is unused and unexpired. Answers the state it
   * was in (`valid` = this call consumed it).
   */
  async consumeMagicLink(scope: TenantScope, tokenHash: string): Promise<MagicLinkState> {
    return guarded(async () => {
      const orgId = scope.kind === 'org' ? scope.orgId : null;
      const rows = await this.prisma.client.$queryRaw<
        {
          id: string;
          org_id: string;
          task_id: string;
          recipient: string;
          expires_at: Date;
          used_at: Date | null;
          created_at: Date;
        }[]
      >`UPDATE magic_links SET used_at = now()
         WHERE token_hash = ${tokenHash} AND used_at IS NULL AND expires_at > now()
           AND (${orgId}::uuid IS NULL OR org_id = ${orgId}::uuid)
         RETURNING id, org_id, task_id, recipient, expires_at, used_at, created_at`;
      const row = rows[0];
      if (row)
        return {
          state: 'valid',
          link: {
            id: row.id,
            orgId: row.org_id,
            taskId: row.task_id,
            recipient: row.recipient,
            expiresAt: row.expires_at,
            usedAt: row.used_at,
            createdAt: row.created_at,
          },
        };
      const current = await this.prisma.client.magicLink.findFirst({
        where: { tokenHash, ...orgFilter(scope) },
      });
      const state = linkState(current ? toLink(current) : null, new Date());
      // Neither used nor expired by our clock, yet the UPDATE found nothing: the database's clock
      // says it expired (they differ by milliseconds at most).
      return state.state === 'valid' ? { state: 'expired', link: state.link } : state;
    });
  }

  /** Gives a consumed token back (the decision it was used for did not go through). */
  async releaseMagicLink(scope: TenantScope, id: string): Promise<void> {
    await guarded(() =>
      this.prisma.client.magicLink.updateMany({ where: { id, ...orgFilter(scope) }, data: { usedAt: null } }),
    );
  }
}

function linkState(link: MagicLinkRecord | null, now: Date): MagicLinkState {
  if (!link) return { state: 'unknown' };
  if (link.usedAt) return { state: 'used', link };
  if (link.expiresAt.getTime() <= now.getTime()) return { state: 'expired', link };
  return { state: 'valid', link };
}

function toRecord(row: Row): HumanTaskRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    intentId: row.intentId,
    stepId: row.stepId,
    threadId: row.threadId,
    spec: (row.spec ?? {}) as Record<string, unknown>,
    assignees: row.assignees,
    status: row.status as HumanTaskRowStatus,
    outcome: row.outcome,
    result: (row.result ?? null) as Record<string, unknown> | null,
    decidedBy: row.decidedBy,
    decidedAt: row.decidedAt,
    dueAt: row.dueAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toLink(row: {
  id: string;
  orgId: string;
  taskId: string;
  recipient: string;
  expiresAt: Date;
  usedAt: Date | null;
  createdAt: Date;
}): MagicLinkRecord {
  return {
    id: row.id,
    orgId: row.orgId,
    taskId: row.taskId,
    recipient: row.recipient,
    expiresAt: row.expiresAt,
    usedAt: row.usedAt,
    createdAt: row.createdAt,
  };
}
