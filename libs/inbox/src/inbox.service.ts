import { mayActAs, type Principal, tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  HumanTaskRepository,
  type IdempotencyWrite,
  IdempotencyKeyTakenError,
  IdempotencyRepository,
  type InboxDeleteResult,
  InboxRepository,
  type InboxThreadDetail,
  InboxThreadGoneError,
  type InboxWriteResult,
  orgScope,
  type TenantScope,
} from '@axle/data';
import {
  DecidePolicyApprovalUseCase,
  IntentQueries,
  RecipientResolver,
  ResumeIntentUseCase,
  TransferIntentUseCase,
} from '@axle/intents';
import {
  agentAddressOrThrow,
  approvalDecisionSchema,
  ConflictError,
  decisionOutcome,
  ForbiddenError,
  INBOX_CURSOR_WIDTH,
  inboxChangesQuerySchema,
  inboxDecisionSchema,
  inboxDelegateSchema,
  inboxDeleteMessagesSchema,
  inboxListQuerySchema,
  inboxReplySchema,
  isTerminal,
  isUuid,
  NotFoundError,
  parseOrThrow,
  PayloadTooLargeError,
  POLICY_APPROVAL_THREAD_KIND,
} from '@axle/protocol';
import { requestHash } from '@axle/webhooks';
import { Inject, Injectable } from '@nestjs/common';
import { InboxNotifier } from './inbox-notifier.service';
import { toThreadView } from './inbox.view';

/** What every inbox and approvals route gets from the gateway. */
export type InboxCommand = {
  principal: Principal;
  /** `?owner_agent` / `x-owner-agent`: whose inbox (default: the caller's own). */
  ownerAgent?: string | undefined;
  idempotencyKey?: string | undefined;
  requestId: string;
  traceId?: string | null;
};

export type Decision = 'approved' | 'rejected';

type Owner = { address: string; scope: TenantScope };
type Body = Record<string, unknown>;
type Claim = <T>(response: (result: T) => Body) => IdempotencyWrite<T> | undefined;

/**
 * The inbox (reference/axme-wire.md §1.3 "Inbox / human actions") and approvals decisions: threads
 * are read and written only in their owner's name, every write is audited and emitted as a webhook
 * event, and approve/reject/delegate act on the intent through the same use cases as
 * /v1/intents/{id}/resume and /transfer.
 */
@Injectable()
export class InboxService {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly inbox: InboxRepository,
    private readonly idempotency: IdempotencyRepository,
    private readonly audit: AuditRepository,
    private readonly queries: IntentQueries,
    private readonly recipients: RecipientResolver,
    private readonly resumeIntent: ResumeIntentUseCase,
    private readonly transferIntent: TransferIntentUseCase,
    private readonly notifier: InboxNotifier,
    private readonly policyApprovals: DecidePolicyApprovalUseCase,
    private readonly humanTasks: HumanTaskRepository,
  ) {}

  /** `GET /v1/inbox`: the owner's threads, most recently changed first. */
  async list(cmd: InboxCommand & { query: unknown }): Promise<Body> {
    const q = parseOrThrow(inboxListQuerySchema, cmd.query ?? {}, 'query');
    const owner = this.owner(cmd);
    const threads = await this.inbox.listThreads(owner.scope, owner.address, {
      ...(q.status ? { status: q.status } : {}),
      limit: q.limit,
    });
    return { ok: true, threads: threads.map((t) => toThreadView(t)) };
  }

  /**
   * `GET /v1/inbox/changes`: threads changed after the cursor, oldest change first; a thread that
   * changes again moves to the end. Passing next_cursor back misses nothing and repeats nothing.
   */
  async changes(cmd: InboxCommand & { query: unknown }): Promise<Body> {
    const q = parseOrThrow(inboxChangesQuerySchema, cmd.query ?? {}, 'query');
    const owner = this.owner(cmd);
    const after = q.cursor === undefined ? 0n : BigInt(q.cursor);
    const rows = await this.inbox.listChanges(owner.scope, owner.address, after, q.limit + 1);
    const page = rows.slice(0, q.limit);
    return {
      ok: true,
      changes: page.map((t) => ({ cursor: encodeCursor(t.changeSeq), thread: toThreadView(t) })),
      next_cursor: encodeCursor(page.at(-1)?.changeSeq ?? after),
      has_more: rows.length > q.limit,
    };
  }

  async get(cmd: InboxCommand & { threadId: string }): Promise<Body> {
    return threadBody(await this.thread(this.owner(cmd), cmd.threadId));
  }

  /** Marks the thread read (pending → active). Reading a read thread changes nothing. */
  async read(cmd: InboxCommand & { threadId: string }): Promise<Body> {
    const owner = this.owner(cmd);
    const thread = await this.thread(owner, cmd.threadId);
    const route = `POST /v1/inbox/${thread.id}/read`;
    return this.idempotent(cmd, route, { owner: owner.address }, async (claim) => {
      const result = await this.write(() =>
        this.inbox.markRead(owner.scope, thread.id, owner.address, {
          idempotency: claim((r: InboxWriteResult) => threadBody(r.thread)),
          ownerAgent: owner.address,
        }),
      );
      if (result.timelineId) await this.changed(cmd, result, 'inbox.thread_updated', 'inbox.read');
      return threadBody(result.thread);
    });
  }

  /** Adds the owner's message (text, or a structured object) to the thread. */
  async reply(cmd: InboxCommand & { threadId: string; body: unknown }): Promise<Body> {
    const { message } = parseOrThrow(inboxReplySchema, cmd.body ?? {});
    if (typeof message !== 'string') {
      const bytes = Buffer.byteLength(JSON.stringify(message));
      if (bytes > this.config.limits.maxPayloadBytes)
        throw new PayloadTooLargeError(this.config.limits.maxPayloadBytes, bytes);
    }
    const owner = this.owner(cmd);
    const thread = await this.thread(owner, cmd.threadId);
    const route = `POST /v1/inbox/${thread.id}/reply`;
    return this.idempotent(cmd, route, { owner: owner.address, body: cmd.body }, async (claim) => {
      const result = await this.write(() =>
        this.inbox.addEntry(
          owner.scope,
          thread.id,
          {
            message: {
              role: 'owner',
              author: owner.address,
              content: typeof message === 'string' ? { text: message } : message,
            },
            timeline: { eventType: 'reply', actor: owner.address },
          },
          { markRead: true },
          { idempotency: claim((r: InboxWriteResult) => threadBody(r.thread)), ownerAgent: owner.address },
        ),
      );
      const added = result.thread.messages.find((m) => m.id === result.messageId);
      await this.changed(cmd, result, 'inbox.reply_received', 'inbox.reply', {
        message: added
          ? {
              message_id: added.id,
              role: added.role,
              author: added.author,
              text: typeof added.content.text === 'string' ? added.content.text : null,
            }
          : null,
      });
      return threadBody(result.thread);
    });
  }

  /**
   * Hands the thread to another agent's inbox. When the thread's intent is still running, its handler
   * changes too (intent.transfer with cause `delegate`), so the delegate can decide the task. A policy
   * approval moves alone: its new owner is the approver who decides it.
   */
  async delegate(cmd: InboxCommand & { threadId: string; body: unknown }): Promise<Body> {
    const request = parseOrThrow(inboxDelegateSchema, cmd.body ?? {});
    const owner = this.owner(cmd);
    const thread = await this.thread(owner, cmd.threadId);
    const route = `POST /v1/inbox/${thread.id}/delegate`;
    return this.idempotent(cmd, route, { owner: owner.address, body: cmd.body }, async (claim) => {
      const target = await this.recipients.resolve(cmd.principal, request.delegate_to, 'delegate_to', {
        requestId: cmd.requestId,
        operation: 'delegate',
      });
      if (target === thread.ownerAgent)
        throw new ConflictError('already_owner', `${target} owns this thread already`);
      let transferred = false;
      // A policy approval changes approver, not handler: the intent is not delivered yet.
      if (thread.intentId && thread.kind !== POLICY_APPROVAL_THREAD_KIND) {
        const intent = await this.queries.get(cmd.principal, thread.intentId);
        if (!isTerminal(intent.status) && (intent.handler ?? intent.toAgent) !== target) {
          await this.transferIntent.execute({
            principal: cmd.principal,
            intentId: intent.id,
            body: { to_agent: target, ...(request.note ? { reason: request.note } : {}) },
            ownerAgent: thread.ownerAgent,
            idempotencyKey: cmd.idempotencyKey ? `inbox:${cmd.idempotencyKey}` : undefined,
            requestId: cmd.requestId,
            cause: 'delegate',
          });
          transferred = true;
        }
      }
      const result = await this.write(() =>
        this.inbox.addEntry(
          owner.scope,
          thread.id,
          {
            timeline: {
              eventType: 'delegated',
              actor: thread.ownerAgent,
              details: {
                from_owner: thread.ownerAgent,
                to_owner: target,
                note: request.note ?? null,
                intent_transferred: transferred,
              },
            },
          },
          // Unread in the new inbox; a finished thread stays finished.
          { ownerAgent: target, readAt: null, ...(thread.status === 'done' ? {} : { status: 'pending' }) },
          {
            idempotency: claim((r: InboxWriteResult) => threadBody(r.thread)),
            ownerAgent: thread.ownerAgent,
          },
        ),
      );
      await this.changed(cmd, result, 'inbox.thread_updated', 'inbox.delegate', {}, thread.ownerAgent);
      if (result.timelineId)
        await this.notifier.notify(result.thread, 'inbox.thread_created', result.timelineId, {
          traceId: cmd.traceId ?? null,
        });
      return threadBody(result.thread);
    });
  }

  /**
   * `POST /v1/inbox/{id}/approve|reject`: the human task's result, as resume with task_result; or,
   * on a policy approval thread, the approver's decision on the escalated intent.
   */
  async decide(cmd: InboxCommand & { threadId: string; body: unknown; outcome: Decision }): Promise<Body> {
    const request = parseOrThrow(inboxDecisionSchema, cmd.body ?? {});
    const owner = this.owner(cmd);
    const thread = await this.thread(owner, cmd.threadId);
    const route = `POST /v1/inbox/${thread.id}/${cmd.outcome === 'approved' ? 'approve' : 'reject'}`;
    return this.idempotent(cmd, route, { owner: owner.address, body: cmd.body ?? null }, async (claim) => {
      const result = await this.applyDecision(
        cmd,
        owner.scope,
        thread,
        cmd.outcome,
        request.comment ?? null,
        'intent_terminal',
        claim((r: InboxWriteResult) => threadBody(r.thread)),
      );
      return threadBody(result.thread);
    });
  }

  /**
   * `POST /v1/approvals/{id}/decision`: the id is the human task's (or policy approval's) thread id,
   * or its intent id. A platform admin without owner_agent may decide any approval; everyone else
   * only their own.
   */
  async decideApproval(cmd: InboxCommand & { approvalId: string; body: unknown }): Promise<Body> {
    const request = parseOrThrow(approvalDecisionSchema, cmd.body ?? {});
    const ownerAddress =
      cmd.ownerAgent !== undefined || !cmd.principal.platformAdmin ? this.owner(cmd).address : null;
    const scope = tenantScopeOf(cmd.principal);
    const thread = await this.approvalThread(scope, cmd.approvalId, ownerAddress);
    const outcome: Decision = request.decision === 'approve' ? 'approved' : 'rejected';
    const comment = request.comment ?? null;
    const body = (r: InboxWriteResult): Body => {
      const entry = r.thread.timeline.find((t) => t.id === r.timelineId);
      return {
        ok: true,
        approval: {
          approval_id: r.thread.id,
          decision: request.decision,
          comment,
          decided_at: (entry?.at ?? r.thread.updatedAt).toISOString(),
        },
      };
    };
    const route = `POST /v1/approvals/${thread.id}/decision`;
    return this.idempotent(cmd, route, { owner: ownerAddress, body: cmd.body }, async (claim) =>
      body(
        await this.applyDecision(
          cmd,
          scope,
          thread,
          outcome,
          comment,
          'approval_already_decided',
          claim(body),
        ),
      ),
    );
  }

  /** `POST /v1/inbox/{id}/messages/delete`. */
  async deleteMessages(cmd: InboxCommand & { threadId: string; body: unknown }): Promise<Body> {
    const request = parseOrThrow(inboxDeleteMessagesSchema, cmd.body ?? {});
    const owner = this.owner(cmd);
    const thread = await this.thread(owner, cmd.threadId);
    const body = (r: InboxDeleteResult): Body => ({
      ok: true,
      thread: toThreadView(r.thread),
      mode: request.mode,
      deleted_count: r.messageIds.length,
      message_ids: r.messageIds,
    });
    const route = `POST /v1/inbox/${thread.id}/messages/delete`;
    return this.idempotent(cmd, route, { owner: owner.address, body: cmd.body }, async (claim) => {
      const result = await this.write(() =>
        this.inbox.deleteMessages(
          owner.scope,
          thread.id,
          {
            mode: request.mode,
            ...(request.message_ids ? { messageIds: request.message_ids } : {}),
            limit: request.limit ?? 100,
            actor: owner.address,
          },
          { idempotency: claim(body), ownerAgent: owner.address },
        ),
      );
      if (result.timelineId)
        await this.changed(cmd, result, 'inbox.thread_updated', 'inbox.messages.delete', {});
      return body(result);
    });
  }

  // -------------------------------------------------------------------------------------------

  /**
   * The human task's result through ResumeIntentUseCase (which checks it against the task spec: a
   * 422 there changes nothing), or a policy approval's decision through DecidePolicyApprovalUseCase;
   * then the thread's `approved`/`rejected` entry and status done.
   */
  private async applyDecision(
    cmd: InboxCommand,
    scope: TenantScope,
    thread: InboxThreadDetail,
    outcome: Decision,
    comment: string | null,
    decidedCode: string,
    claim: IdempotencyWrite<InboxWriteResult> | undefined,
  ): Promise<InboxWriteResult> {
    const isApproval = thread.kind === POLICY_APPROVAL_THREAD_KIND;
    if ((thread.kind !== 'human_task' && !isApproval) || !thread.intentId)
      throw new ConflictError(
        'not_a_human_task',
        `thread ${thread.id} is not a human task; only human tasks and approvals are approved or rejected`,
        { kind: thread.kind },
      );
    const intentId = thread.intentId;
    const decided = (intentStatus: string | null, message: string) => {
      const earlier = thread.timeline.findLast(
        (t) => t.eventType === 'approved' || t.eventType === 'rejected',
      );
      return new ConflictError(decidedCode, message, {
        ...(intentStatus ? { intent_status: intentStatus } : {}),
        ...(earlier
          ? {
              decision: earlier.eventType === 'approved' ? 'approve' : 'reject',
              decided_at: earlier.at.toISOString(),
            }
          : {}),
      });
    };
    let intentStatus: string | null;
    if (isApproval) {
      // The approver may be in another org than the intent: the workflow is the judge of whether it
      // still waits for this approval (a decided, timed-out or canceled one is a 409).
      if (thread.status === 'done')
        throw decided(null, 'the approval is decided already or its intent ended');
      const decision = await this.policyApprovals.execute({
        principal: cmd.principal,
        thread,
        decision: outcome,
        comment,
        idempotencyKey: cmd.idempotencyKey ? `inbox:${cmd.idempotencyKey}` : undefined,
        requestId: cmd.requestId,
      });
      intentStatus = decision.status;
    } else {
      const intent = await this.queries.get(cmd.principal, intentId);
      if (isTerminal(intent.status))
        throw decided(intent.status, `the task is decided already: its intent is ${intent.status}`);
      // The thread's task (its id is the thread's); intents from before task rows use their human_task.
      const task = await this.humanTasks.findByThread(orgScope(intent.orgId), thread.id);
      if (task && task.status !== 'open') throw decided(intent.status, `the task is ${task.status} already`);
      // approve/reject stand for the task type's own outcomes (confirmed, completed, assigned, …).
      const taskOutcome = decisionOutcome(
        task?.spec ?? intent.humanTask ?? {},
        outcome === 'approved' ? 'approve' : 'reject',
      );
      const resumed = await this.resumeIntent.execute({
        principal: cmd.principal,
        intentId: intent.id,
        body: { task_result: { outcome: taskOutcome, ...(comment ? { comment } : {}) } },
        ownerAgent: thread.ownerAgent,
        idempotencyKey: cmd.idempotencyKey ? `inbox:${cmd.idempotencyKey}` : undefined,
        requestId: cmd.requestId,
        ...(task ? { taskId: task.id } : {}),
      });
      intentStatus = typeof resumed.status === 'string' ? resumed.status : null;
    }
    const result = await this.write(() =>
      this.inbox.addEntry(
        scope,
        thread.id,
        {
          timeline: {
            eventType: outcome,
            actor: thread.ownerAgent,
            details: { intent_id: intentId, outcome, comment, intent_status: intentStatus },
          },
        },
        { status: 'done', markRead: true },
        { idempotency: claim, ownerAgent: thread.ownerAgent },
      ),
    );
    await this.changed(
      cmd,
      result,
      'inbox.thread_updated',
      outcome === 'approved' ? 'inbox.approve' : 'inbox.reject',
      {},
      undefined,
      {
        intent_id: intentId,
        intent_status: intentStatus,
      },
    );
    return result;
  }

  /** After a committed write: the webhook event for the owner, then the audit row. */
  private async changed(
    cmd: InboxCommand,
    result: InboxWriteResult,
    eventType: 'inbox.thread_updated' | 'inbox.reply_received',
    action: string,
    extra: Body = {},
    ownerAgent?: string,
    auditDetails: Body = {},
  ): Promise<void> {
    if (!result.timelineId) return;
    const thread = result.thread;
    await this.notifier.notify(thread, eventType, result.timelineId, {
      ...(ownerAgent ? { ownerAgent } : {}),
      extra,
      traceId: cmd.traceId ?? null,
    });
    await this.audit.record({
      orgId: thread.orgId,
      actorType: cmd.principal.kind,
      actorId: cmd.principal.actorId,
      action,
      targetType: 'inbox_thread',
      targetId: thread.id,
      outcome: 'success',
      requestId: cmd.requestId,
      details: {
        owner_agent: ownerAgent ?? thread.ownerAgent,
        ...(ownerAgent && ownerAgent !== thread.ownerAgent ? { new_owner_agent: thread.ownerAgent } : {}),
        ...(result.messageId ? { message_id: result.messageId } : {}),
        ...auditDetails,
      },
    });
  }

  /**
   * The inbox a request acts on: owner_agent (query or header) or the caller's own address. Only a
   * platform admin may name another agent's inbox.
   */
  private owner(cmd: InboxCommand): Owner {
    const scope = tenantScopeOf(cmd.principal);
    if (cmd.ownerAgent === undefined) return { address: cmd.principal.address, scope };
    const address = agentAddressOrThrow(cmd.ownerAgent, 'owner_agent', 'query');
    if (!mayActAs(cmd.principal, address))
      throw new ForbiddenError(
        'owner_scope_violation',
        `${cmd.principal.address} may not read or act on ${address.canonical}'s inbox`,
      );
    return { address: address.canonical, scope };
  }

  /** 404 alike for unknown ids, other owners' threads and other orgs' threads. */
  private async thread(owner: Owner, id: string): Promise<InboxThreadDetail> {
    const thread = isUuid(id)
      ? await this.inbox.findThread(owner.scope, id, { ownerAgent: owner.address })
      : null;
    if (!thread) throw threadNotFound(id);
    return thread;
  }

  private async approvalThread(
    scope: TenantScope,
    id: string,
    ownerAgent: string | null,
  ): Promise<InboxThreadDetail> {
    const notFound = new NotFoundError('approval_not_found', `approval ${id} not found`);
    if (!isUuid(id)) throw notFound;
    // A HumanTask id (the approval_id of GET /v1/me/tasks); new tasks share it with their thread.
    const task = await this.humanTasks.findById(scope, id);
    if (task?.threadId && task.threadId !== id) {
      const byTask = await this.inbox.findThread(scope, task.threadId, { ownerAgent, kind: 'human_task' });
      if (byTask) return byTask;
    }
    for (const kind of ['human_task', POLICY_APPROVAL_THREAD_KIND]) {
      const byThread = await this.inbox.findThread(scope, id, { ownerAgent, kind });
      if (byThread) return byThread;
    }
    for (const kind of ['human_task', POLICY_APPROVAL_THREAD_KIND]) {
      const byIntent = await this.inbox.findByIntent(scope, id, kind, ownerAgent);
      const thread = byIntent ? await this.inbox.findThread(scope, byIntent.id) : null;
      if (thread) return thread;
    }
    throw notFound;
  }

  /** A thread that disappears between the read and the write (delegated away) is a 404 too. */
  private async write<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof InboxThreadGoneError) throw threadNotFound(err.threadId);
      throw err;
    }
  }

  /**
   * Idempotency-Key (SPEC §1): the same caller, route, key and body get the stored answer; another
   * body is a 409. The record is written in the transaction of the thread write it protects.
   */
  private async idempotent(
    cmd: InboxCommand,
    route: string,
    request: unknown,
    work: (claim: Claim) => Promise<Body>,
  ): Promise<Body> {
    const key = cmd.idempotencyKey;
    const hash = requestHash(request);
    const stored = async (): Promise<Body | null> => {
      if (!key) return null;
      const record = await this.idempotency.find(
        tenantScopeOf(cmd.principal),
        cmd.principal.actorId,
        route,
        key,
      );
      if (!record) return null;
      if (record.requestHash !== hash)
        throw new ConflictError('idempotency_conflict', 'idempotency key reused with different payload');
      return record.responseBody ?? { ok: true };
    };
    const earlier = await stored();
    if (earlier) return earlier;
    const claim: Claim = (response) =>
      key
        ? {
            callerId: cmd.principal.actorId,
            route,
            key,
            requestHash: hash,
            expiresAt: new Date(Date.now() + this.config.limits.idempotencyTtlHours * 3_600_000),
            response: (result) => ({ status: 200, body: response(result) }),
          }
        : undefined;
    try {
      return await work(claim);
    } catch (err) {
      if (err instanceof IdempotencyKeyTakenError) {
        const raced = await stored();
        if (raced) return raced;
      }
      throw err;
    }
  }
}

function threadBody(thread: InboxThreadDetail): Body {
  return { ok: true, thread: toThreadView(thread) };
}

function threadNotFound(id: string): NotFoundError {
  return new NotFoundError('thread_not_found', `inbox thread ${id} not found`);
}

function encodeCursor(changeSeq: bigint): string {
  return changeSeq.toString().padStart(INBOX_CURSOR_WIDTH, '0');
}
