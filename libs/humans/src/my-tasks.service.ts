import { humanIdentities, type Principal, tenantScopeOf } from '@axle/auth';
import {
  decodeKeysetCursor,
  encodeKeysetCursor,
  type HumanTaskListItem,
  HumanTaskRepository,
  type HumanTaskRowStatus,
} from '@axle/data';
import { humanTaskOutcomes, meTasksQuerySchema, parseOrThrow } from '@axle/protocol';
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
      ...(q.cursor ? { after: decodeKeysetCursor(q.cursor) } : {}),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return {
      ok: true,
      tasks: page.map(toTaskView),
      next_cursor: rows.length > q.limit && last ? encodeKeysetCursor(last) : null,
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
