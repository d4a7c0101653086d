import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  type HumanTaskRecord,
  HumanTaskRepository,
  type IntentRecord,
  IntentRepository,
  type OrgScope,
  orgScope,
} from '@axle/data';
import { InboxDeliveryService } from '@axle/inbox';
import {
  type CloseHumanTasksInput,
  NotFoundError,
  type NotifyHumanTaskInput,
  type OpenHumanTaskInput,
  type OpenHumanTaskResult,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { taskEmail } from './html';
import { Mailer } from './mailer';
import { hashMagicToken, isEmail, newMagicToken } from './magic-link-token';

/**
 * The worker's side of human tasks (SPEC §6): opening one (its HumanTask row, whose id is the
 * approval id and the inbox thread id, the thread in the handler's inbox, and a single-use magic
 * link emailed to each email assignee and `notify_email`), and the reminder/escalation emails.
 * Opening is idempotent under activity retries: the row and thread are found again, and a recipient
 * who has a link for the task already is not emailed again.
 */
@Injectable()
export class HumanTaskService {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly intents: IntentRepository,
    private readonly tasks: HumanTaskRepository,
    private readonly inbox: InboxDeliveryService,
    private readonly mailer: Mailer,
  ) {}

  async open(
    input: OpenHumanTaskInput,
  ): Promise<OpenHumanTaskResult & { taskId: string; assignees: string[] }> {
    const scope = orgScope(input.orgId);
    const intent = await this.intent(scope, input.intentId);
    const stepId = input.stepId ?? '';
    const given = input.task ?? intent.humanTask ?? {};
    const spec = { ...given, title: typeof given.title === 'string' ? given.title : intent.intentType };
    const handler = intent.handler ?? intent.toAgent;
    const { task } = await this.tasks.createOrGet(scope, {
      id: randomUUID(),
      intentId: intent.id,
      stepId,
      spec,
      assignees: assigneesOf(spec, handler),
      dueAt: intent.deadlineAt,
    });
    const { threadId } = await this.inbox.openTaskThread(intent, {
      threadId: task.id,
      task: task.spec,
      stepId: stepId || null,
    });
    if (task.threadId !== threadId) await this.tasks.setThread(scope, task.id, threadId);
    await this.email(scope, intent, task, 'assigned');
    return { threadId, taskId: task.id, assignees: task.assignees };
  }

  /**
   * A scenario step moved on: the step's task takes its decision (unless a decision path recorded it
   * first) and every other open task of the intent closes, so no page or /v1/me/tasks offers it.
   */
  async closeTasks(input: CloseHumanTasksInput): Promise<{ closed: number }> {
    const scope = orgScope(input.orgId);
    if (input.decision) {
      const { stepId, ...decision } = input.decision;
      const task = await this.tasks.findForStep(scope, input.intentId, stepId);
      if (task) await this.tasks.decide(scope, task.id, decision);
    }
    return { closed: await this.tasks.closeOpenForIntent(scope, input.intentId) };
  }

  /** A reminder or escalation of the waiting task: each recipient gets a fresh link. */
  async notify(input: NotifyHumanTaskInput): Promise<{ emailed: number }> {
    const scope = orgScope(input.orgId);
    const intent = await this.intents.findById(scope, input.intentId);
    const task = intent ? await this.tasks.findForStep(scope, intent.id, input.stepId ?? '') : null;
    if (!intent || !task || task.status !== 'open') return { emailed: 0 };
    return {
      emailed: await this.email(scope, intent, task, input.reason, input.remindCount),
    };
  }

  /**
   * Emails every recipient of the task a link. A recipient who has a link for this email already is
   * skipped (the activity ran before: a retry after one recipient's failure does not mail the others
   * again); for `assigned`, any link counts, links from before purposes were recorded included. A
   * link whose email fails is removed again, so the retry of the activity sends it; the first
   * failure is thrown after the other recipients were tried.
   */
  private async email(
    scope: OrgScope,
    intent: IntentRecord,
    task: HumanTaskRecord,
    reason: 'assigned' | 'reminder' | 'escalation',
    remindCount?: number,
  ): Promise<number> {
    if (!this.mailer.enabled) {
      this.mailer.warnIfDisabled();
      return 0;
    }
    let sent = 0;
    let failure: Error | null = null;
    const purpose = reason === 'reminder' ? `reminder:${remindCount ?? 0}` : reason;
    for (const recipient of recipientsOf(task.spec)) {
      const mailed = await this.tasks.hasMagicLink(
        scope,
        task.id,
        recipient,
        reason === 'assigned' ? undefined : purpose,
      );
      if (mailed) continue;
      const token = newMagicToken();
      const expiresAt = new Date(Date.now() + this.config.humans.magicLinkTtlSeconds * 1000);
      const link = await this.tasks.createMagicLink(scope, {
        id: randomUUID(),
        taskId: task.id,
        recipient,
        tokenHash: hashMagicToken(token),
        expiresAt,
        purpose,
      });
      const spec = task.spec;
      const message = taskEmail({
        reason,
        title: typeof spec.title === 'string' ? spec.title : intent.intentType,
        description: typeof spec.description === 'string' ? spec.description : null,
        intentType: intent.intentType,
        link: `${this.config.publicUrl}/h/${token}`,
        expiresAt,
        ...(remindCount !== undefined ? { remindCount } : {}),
      });
      try {
        await this.mailer.send({ to: recipient, ...message });
        sent += 1;
      } catch (err) {
        await this.tasks.deleteMagicLink(scope, link.id);
        failure ??= err instanceof Error ? err : new Error('sending the email failed');
      }
    }
    if (failure) throw failure;
    return sent;
  }

  private async intent(scope: OrgScope, id: string): Promise<IntentRecord> {
    const intent = await this.intents.findById(scope, id);
    if (!intent) throw new NotFoundError('intent_not_found', `intent ${id} not found`);
    return intent;
  }
}

/**
 * Who may decide the task (lower-cased): its `assignees` and `notify_email`; without either, the
 * handler that received the intent (so its owner sees it in GET /v1/me/tasks).
 */
export function assigneesOf(spec: Record<string, unknown>, handler: string): string[] {
  const listed = Array.isArray(spec.assignees)
    ? spec.assignees.filter((a): a is string => typeof a === 'string' && a.trim() !== '')
    : [];
  if (typeof spec.notify_email === 'string' && spec.notify_email.trim() !== '')
    listed.push(spec.notify_email);
  const all = [...new Set(listed.map((a) => a.trim().toLowerCase()))];
  return all.length > 0 ? all : [handler.toLowerCase()];
}

/** The email addresses among the assignees and notify_email. */
export function recipientsOf(spec: Record<string, unknown>): string[] {
  return assigneesOf(spec, '').filter(isEmail);
}
