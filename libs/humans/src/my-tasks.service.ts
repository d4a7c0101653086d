import { humanIdentities, type Principal, tenantScopeOf } from '@axle/auth';
import { type HumanTaskListItem, HumanTaskRepository, type HumanTaskRowStatus } from '@axle/data';
import {
  humanTaskOutcomes,
  isUuid,
  meTasksQuerySchema,
  parseOrThrow,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';

const STATUSES: Record<'open' | 'decided' | 'all', HumanTaskRowStatus[]> = {
  open: ['open'],
  decided: ['decided'],
  all: ['open', 'decided', 'closed'],
};

/** Wire status of a task: WAITING while open (reference §1.4 "Human tasks list"). */
const WIRE_STATUS: Record<HumanTaskRowStatus, string> = {
  open: 'WAITING',
  decided: 'DECIDED',
  closed: 'CLOSED',
};

/**
 * `GET /v1/me/tasks`: the human tasks assigned to the signed-in person (a user token: their email,
 * member id and address; an API key: its own address), newest first, keyset-paged.
 */
@Injectable()
export class MyTasksService {
  constructor(private readonly tasks: HumanTaskRepository) {}

  async list(principal: Principal, query: unknown): Promise<Record<string, unknown>> {
    const q = parseOrThrow(meTasksQuerySchema, query ?? {}, 'query');
    const rows = await this.tasks.listForIdentities(tenantScopeOf(principal), {
      identities: humanIdentities(principal),
      statuses: STATUSES[q.status],
      ...(q.cursor ? { after: decodeCursor(q.cursor) } : {}),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      ok: true,
      tasks: page.map(toTaskView),
      next_cursor: rows.length > q.limit && last ? encodeCursor(last) : null,
    };
  }
}

export function toTaskView(task: HumanTaskListItem): Record<string, unknown> {
  return {
    task_id: task.id,
    approval_id: task.id,
    intent_id: task.intentId,
    intent_type: task.intent?.intentType ?? null,
    status: WIRE_STATUS[task.status],
    task_status: task.status,
    from_agent: task.intent?.fromAgent ?? null,
    assigned_at: task.createdAt.toISOString(),
    due_at: task.dueAt?.toISOString() ?? null,
    human_task: task.spec,
    step_id: task.stepId === '' ? null : task.stepId,
    thread_id: task.threadId,
    allowed_outcomes: humanTaskOutcomes(task.spec),
    assignees: task.assignees,
    outcome: task.outcome,
    decided_by: task.decidedBy,
    decided_at: task.decidedAt?.toISOString() ?? null,
  };
}

function encodeCursor(task: HumanTaskListItem): string {
  return Buffer.from(JSON.stringify({ c: task.createdAt.toISOString(), i: task.id })).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      c?: unknown;
      i?: unknown;
    };
    const createdAt = typeof parsed.c === 'string' ? new Date(parsed.c) : null;
    if (createdAt && !Number.isNaN(createdAt.getTime()) && typeof parsed.i === 'string' && isUuid(parsed.i))
      return { createdAt, id: parsed.i };
  } catch {
    // fall through
  }
  throw new ValidationFailedError([
    {
      path: 'cursor',
      loc: ['query', 'cursor'],
      message: 'not a cursor this server issued',
      type: 'invalid_cursor',
    },
  ]);
}
