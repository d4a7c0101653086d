import {
  HumanTaskRepository,
  type InboxThreadDetail,
  type IntentRecord,
  InboxRepository,
  type OrgScope,
  orgScope,
  RegistryRepository,
} from '@axle/data';
import {
  type CompletionDelivery,
  isTerminal,
  parseAgentAddress,
  POLICY_APPROVAL_THREAD_KIND,
  policyApprovalOf,
  SYSTEM_ACTOR,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { InboxNotifier } from './inbox-notifier.service';

/**
 * What the intent lifecycle puts into inboxes: the completion for reply_to (thread id = intent id,
 * reference §3.6) and the human task thread in the handler's inbox. Both are idempotent, because the
 * worker's activities that call them may run more than once; so is the inbox.thread_created webhook
 * event each new thread emits (keyed by the thread's first timeline entry).
 */
@Injectable()
export class InboxDeliveryService {
  constructor(
    private readonly inbox: InboxRepository,
    private readonly notifier: InboxNotifier,
    private readonly registry: RegistryRepository,
    private readonly humanTasks: HumanTaskRepository,
  ) {}

  async deliverCompletion(intent: IntentRecord): Promise<CompletionDelivery> {
    const scope = orgScope(intent.orgId);
    await this.closeTaskThreads(intent);
    if (!intent.replyTo) return { delivered: false, reason: 'reply_to_not_set' };
    if (!isTerminal(intent.status)) return { delivered: false, reason: 'intent_not_terminal' };
    const completion = {
      type: 'intent.completion',
      intent_id: intent.id,
      intent_type: intent.intentType,
      status: intent.status,
      result: intent.result ?? null,
      error: intent.error ?? null,
      completed_at: intent.completedAt?.toISOString() ?? null,
    };
    const { thread, messageId } = await this.inbox.createThread(
      scope,
      {
        id: intent.id,
        ownerAgent: intent.replyTo,
        intentId: intent.id,
        kind: 'completion',
        status: 'pending',
        fromAgent: SYSTEM_ACTOR,
        toAgent: intent.replyTo,
        subject: `${intent.intentType} ${intent.status}`,
        intentType: intent.intentType,
      },
      {
        message: {
          role: 'system',
          author: SYSTEM_ACTOR,
          content: {
            ...completion,
            text: `Intent ${intent.id} (${intent.intentType}) ended ${intent.status}.`,
          },
        },
        timeline: {
          eventType: 'intent_completion_delivered',
          actor: SYSTEM_ACTOR,
          details: { intent_id: intent.id, status: intent.status },
        },
      },
    );
    await this.announce(thread, intent);
    return {
      delivered: true,
      reply_to: intent.replyTo,
      thread_id: thread.id,
      ...(messageId ? { message_id: messageId } : {}),
      completion,
    };
  }

  /**
   * A human task of an intent as a thread in its handler's inbox, where approve/reject act on it.
   * The intent's own human_task by default; a scenario step's task passes its spec, and the thread id
   * (= the HumanTask id, so approval_id, task_id and thread_id are one id), so every task of the
   * intent is its own thread. Idempotent: a retried activity finds the thread it created.
   */
  async openTaskThread(
    intent: IntentRecord,
    options: { threadId?: string; task?: Record<string, unknown> | null; stepId?: string | null } = {},
  ): Promise<{ threadId: string }> {
    const scope = orgScope(intent.orgId);
    if (!options.threadId) {
      const existing = await this.inbox.findByIntent(scope, intent.id, 'human_task');
      if (existing) {
        // A retried activity: the thread exists; its creation event may not have gone out yet.
        const thread = await this.inbox.findThread(scope, existing.id);
        if (thread) await this.announce(thread, intent);
        return { threadId: existing.id };
      }
    }
    const task = options.task ?? intent.humanTask ?? {};
    const title = typeof task.title === 'string' ? task.title : intent.intentType;
    const { thread } = await this.inbox.createThread(
      scope,
      {
        ...(options.threadId ? { id: options.threadId } : {}),
        ownerAgent: intent.handler ?? intent.toAgent,
        intentId: intent.id,
        kind: 'human_task',
        status: 'pending',
        fromAgent: intent.fromAgent,
        toAgent: intent.handler ?? intent.toAgent,
        subject: title,
        intentType: intent.intentType,
      },
      {
        message: {
          role: 'agent',
          author: intent.fromAgent,
          content: { text: title, human_task: task, payload: intent.payload },
        },
        timeline: {
          eventType: 'human_task_assigned',
          actor: SYSTEM_ACTOR,
          details: {
            intent_id: intent.id,
            ...(options.threadId ? { task_id: options.threadId } : {}),
            ...(options.stepId ? { step_id: options.stepId } : {}),
          },
        },
      },
    );
    await this.announce(thread, intent);
    return { threadId: thread.id };
  }

  /**
   * The approval task of an intent a send/receive policy escalated (SPEC §2 "Policies"): a thread of
   * kind `approval` in the approver's inbox, in the approver's org (the recipient's, which may not be
   * the intent's). Approving or rejecting it there releases or fails the intent.
   */
  async openApprovalThread(intent: IntentRecord): Promise<{ threadId: string }> {
    const approval = policyApprovalOf(intent.policyDecision);
    if (!approval) throw new Error(`intent ${intent.id} was not escalated by a policy`);
    const scope = await this.approverScope(intent, approval.approver);
    const existing = await this.inbox.findByIntent(scope, intent.id, POLICY_APPROVAL_THREAD_KIND);
    if (existing) {
      const thread = await this.inbox.findThread(scope, existing.id);
      if (thread) await this.announce(thread, intent);
      return { threadId: existing.id };
    }
    const subject = `Approve ${intent.intentType} from ${intent.fromAgent} to ${intent.toAgent}`;
    const { thread } = await this.inbox.createThread(
      scope,
      {
        ownerAgent: approval.approver,
        intentId: intent.id,
        kind: POLICY_APPROVAL_THREAD_KIND,
        status: 'pending',
        fromAgent: intent.fromAgent,
        toAgent: intent.toAgent,
        subject,
        intentType: intent.intentType,
      },
      {
        message: {
          role: 'system',
          author: SYSTEM_ACTOR,
          content: {
            text: `${subject}? A policy asks for your approval before it is delivered.`,
            policy_decision: intent.policyDecision,
            intent: {
              intent_id: intent.id,
              intent_type: intent.intentType,
              from_agent: intent.fromAgent,
              to_agent: intent.toAgent,
              payload: intent.payload,
            },
          },
        },
        timeline: {
          eventType: 'approval_requested',
          actor: SYSTEM_ACTOR,
          details: { intent_id: intent.id, rule: approval.rule },
        },
      },
    );
    await this.announce(thread, intent);
    return { threadId: thread.id };
  }

  /** The approver's org; an approver whose org is gone falls back to the intent's org. */
  private async approverScope(intent: IntentRecord, approver: string): Promise<OrgScope> {
    const slug = parseAgentAddress(approver)?.org;
    const org = slug ? await this.registry.findOrgBySlug(slug) : null;
    return orgScope(org?.id ?? intent.orgId);
  }

  /** inbox.thread_created for the thread's owner, once per thread. */
  private async announce(thread: InboxThreadDetail, intent: IntentRecord): Promise<void> {
    const first = thread.timeline[0];
    if (first)
      await this.notifier.notify(thread, 'inbox.thread_created', first.id, { traceId: intent.traceId });
  }

  /** The intent ended: its task threads are done (with an `intent_ended` entry), announced once. */
  private async closeTaskThreads(intent: IntentRecord): Promise<void> {
    const scope = orgScope(intent.orgId);
    // Tasks nobody decided close with their intent (GET /v1/me/tasks stops listing them as open).
    await this.humanTasks.closeOpenForIntent(scope, intent.id);
    for (const thread of await this.inbox.listByIntent(scope, intent.id, 'human_task'))
      await this.closeThread(intent, scope, 'human_task', thread.id);
    const approval = policyApprovalOf(intent.policyDecision);
    if (approval)
      await this.closeThread(
        intent,
        await this.approverScope(intent, approval.approver),
        POLICY_APPROVAL_THREAD_KIND,
      );
  }

  private async closeThread(
    intent: IntentRecord,
    scope: OrgScope,
    kind: string,
    threadId?: string,
  ): Promise<void> {
    const found = threadId
      ? await this.inbox.findThread(scope, threadId)
      : await this.inbox.findByIntent(scope, intent.id, kind);
    if (!found) return;
    let thread: InboxThreadDetail | null;
    let timelineId: string | null;
    if (found.status !== 'done') {
      const closed = await this.inbox.addEntry(
        scope,
        found.id,
        {
          timeline: {
            eventType: 'intent_ended',
            actor: SYSTEM_ACTOR,
            details: { intent_id: intent.id, status: intent.status },
          },
        },
        { status: 'done' },
      );
      thread = closed.thread;
      timelineId = closed.timelineId;
    } else {
      // A retried activity: the thread was closed; its event may not have gone out yet.
      thread = await this.inbox.findThread(scope, found.id);
      timelineId = thread?.timeline.findLast((t) => t.eventType === 'intent_ended')?.id ?? null;
    }
    if (thread && timelineId)
      await this.notifier.notify(thread, 'inbox.thread_updated', timelineId, { traceId: intent.traceId });
  }
}
