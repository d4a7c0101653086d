import {
  ConflictError,
  canTransition,
  type IntentEventType,
  type IntentStatus,
  isTerminal,
  NotFoundError,
  parseAgentAddress,
  type PendingWith,
  type WaitingReason,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Prisma } from '../generated/prisma/client';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { jsonParam, preparedRows, rawTransaction, selectList } from '../raw-sql';
import { orgFilter, type OrgScope, type TenantScope } from '../tenancy';

export type IntentRecord = {
  id: string;
  orgId: string;
  workspaceId: string;
  intentType: string;
  correlationId: string;
  fromAgent: string;
  toAgent: string;
  replyTo: string | null;
  status: IntentStatus;
  waitingReason: WaitingReason | null;
  handler: string | null;
  pendingWith: PendingWith | null;
  payload: Record<string, unknown>;
  humanTask: Record<string, unknown> | null;
  result: unknown;
  error: unknown;
  deadlineAt: Date | null;
  remindAfterSeconds: number | null;
  remindIntervalSeconds: number | null;
  maxReminders: number | null;
  escalateTo: string | null;
  maxDeliveryAttempts: number;
  deliveryAttempt: number;
  remindCount: number;
  policyGeneration: number;
  controls: Record<string, unknown>;
  grants: Record<string, { allow: string[] }>;
  envelope: Record<string, unknown>;
  workflowStartedAt: Date | null;
  lastSeq: number;
  traceId: string | null;
  /** The send policy's decision at create when it escalated: {decision, code, rule, approver}. */
  policyDecision: Record<string, unknown> | null;
  /** Scenario intents (docs/humans.md): the bundle's id, its compiled plan and the current step. */
  scenarioId: string | null;
  workflowPlan: Record<string, unknown> | null;
  currentStep: string | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
};

export type IntentEventRecord = {
  intentId: string;
  seq: number;
  eventType: string;
  status: IntentStatus;
  waitingReason: WaitingReason | null;
  handler: string | null;
  actor: string | null;
  details: Record<string, unknown>;
  at: Date;
};

export type NewIntent = Omit<
  IntentRecord,
  | 'orgId'
  | 'status'
  | 'waitingReason'
  | 'lastSeq'
  | 'createdAt'
  | 'updatedAt'
  | 'completedAt'
  | 'result'
  | 'error'
  | 'deliveryAttempt'
  | 'remindCount'
  | 'policyGeneration'
  | 'controls'
  | 'grants'
  | 'envelope'
  | 'workflowStartedAt'
  | 'policyDecision'
  | 'scenarioId'
  | 'workflowPlan'
  | 'currentStep'
> & {
  policyDecision?: Record<string, unknown> | null;
  scenarioId?: string | null;
  workflowPlan?: Record<string, unknown> | null;
};

export type IdempotencyClaim = {
  callerId: string;
  route: string;
  key: string;
  requestHash: string;
  expiresAt: Date;
  /** The response to replay; computed from the created intent. */
  response: (intent: IntentRecord) => { status: number; body: Record<string, unknown> };
};

export type AppendEventInput = {
  eventType: IntentEventType;
  /** The status the intent enters; omit for events that do not change it (transfer, reminder…). */
  status?: IntentStatus;
  waitingReason?: WaitingReason | null;
  handler?: string | null;
  pendingWith?: PendingWith | null;
  actor: string;
  details?: Record<string, unknown>;
  /** Makes the append idempotent: a retried writer gets the event it already wrote. */
  dedupeKey?: string;
  result?: unknown;
  error?: unknown;
  /** Also append this event to the agent's delivery stream (per-agent cursor). */
  deliverTo?: string;
  remindCount?: number;
  deliveryAttempt?: number;
  /** Scenario intents: the step the intent moves to. */
  currentStep?: string | null;
};

export type AppendEventResult = {
  event: IntentEventRecord;
  intent: IntentRecord;
  created: boolean;
  agentSeq: number | null;
};

export type AgentStreamItem = {
  agentSeq: number;
  eventSeq: number;
  eventType: string;
  intent: IntentRecord;
  /** When the delivery entered the agent's stream. */
  at: Date;
};

type Tx = Prisma.TransactionClient;
type IntentRow = Awaited<ReturnType<PrismaService['client']['intent']['findFirstOrThrow']>>;
type EventRow = Awaited<ReturnType<PrismaService['client']['intentEvent']['findFirstOrThrow']>>;

/** The intents columns a raw read selects, as IntentRow's fields (raw-sql.ts). */
const INTENT_SELECT = selectList<IntentRow>('i', {
  id: 'id',
  orgId: 'org_id',
  workspaceId: 'workspace_id',
  intentType: 'intent_type',
  correlationId: 'correlation_id',
  fromAgent: 'from_agent',
  toAgent: 'to_agent',
  replyTo: 'reply_to',
  status: 'status',
  waitingReason: 'waiting_reason',
  handler: 'handler',
  handlerOrgId: 'handler_org_id',
  pendingWith: 'pending_with',
  payload: 'payload',
  humanTask: 'human_task',
  result: 'result',
  error: 'error',
  deadlineAt: 'deadline_at',
  remindAfterSeconds: 'remind_after_seconds',
  remindIntervalSeconds: 'remind_interval_seconds',
  maxReminders: 'max_reminders',
  escalateTo: 'escalate_to',
  maxDeliveryAttempts: 'max_delivery_attempts',
  deliveryAttempt: 'delivery_attempt',
  remindCount: 'remind_count',
  policyGeneration: 'policy_generation',
  controls: 'controls',
  grants: 'grants',
  envelope: 'envelope',
  workflowStartedAt: 'workflow_started_at',
  lastSeq: 'last_seq',
  traceId: 'trace_id',
  policyDecision: 'policy_decision',
  scenarioId: 'scenario_id',
  workflowPlan: 'workflow_plan',
  currentStep: 'current_step',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  completedAt: 'completed_at',
});

/** The intent_events columns a raw read selects, as EventRow's fields (not its int8 id: unused). */
const EVENT_SELECT = selectList<Omit<EventRow, 'id'>>('e', {
  intentId: 'intent_id',
  orgId: 'org_id',
  seq: 'seq',
  eventType: 'event_type',
  status: 'status',
  waitingReason: 'waiting_reason',
  handler: 'handler',
  actor: 'actor',
  details: 'details',
  dedupeKey: 'dedupe_key',
  at: 'at',
});

/**
 * A create's writes as one statement (IntentRepository.createSubmitted's values, in order): the
 * intent, with the handler's org when it is another org's agent, and its events 1 and 2.
 */
const CREATE_INTENT_SQL = `
  WITH intent AS (
    INSERT INTO intents (id, org_id, workspace_id, intent_type, correlation_id, from_agent, to_agent, reply_to,
      status, handler, handler_org_id, pending_with, payload, human_task, deadline_at, remind_after_seconds,
      remind_interval_seconds, max_reminders, escalate_to, max_delivery_attempts, trace_id, policy_decision,
      scenario_id, workflow_plan, last_seq, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'SUBMITTED', $9,
      (SELECT o.id FROM organizations o WHERE o.slug = $10 AND o.id <> $2),
      $11::jsonb, $12::jsonb, $13::jsonb, $14, $15, $16, $17, $18, $19, $20, $21::jsonb, $22, $23::jsonb, 2, $24, $24)
    RETURNING *
  ), events AS (
    INSERT INTO intent_events (intent_id, org_id, seq, event_type, status, handler, actor, dedupe_key, at)
    SELECT i.id, i.org_id, e.seq, e.event_type, e.status, i.handler, $25, e.dedupe_key, i.created_at
    FROM intent i CROSS JOIN (VALUES (1, 'intent.created', 'CREATED', 'created'),
                                     (2, 'intent.submitted', 'SUBMITTED', 'submitted')) AS e(seq, event_type, status, dedupe_key)
  )
  SELECT ${INTENT_SELECT} FROM intent i`;

/**
 * One event's writes after its intent is locked and its transition checked (appendEvent's values,
 * in order): the intent's new state (each optional field changes only when its flag is set; the
 * handler's org is looked up only when the handler changes), the event, and when it is delivered,
 * the agent's next stream seq and entry, in the listening agent's org.
 */
const APPEND_EVENT_SQL = `
  WITH updated AS (
    UPDATE intents SET
      status = $2,
      waiting_reason = $3,
      last_seq = last_seq + 1,
      handler = CASE WHEN $4::boolean THEN $5 ELSE handler END,
      handler_org_id = CASE WHEN $4::boolean AND $5 IS DISTINCT FROM handler
        THEN (SELECT o.id FROM organizations o WHERE o.slug = $6 AND o.id <> intents.org_id)
        ELSE handler_org_id END,
      pending_with = CASE WHEN $7::boolean THEN $8::jsonb ELSE pending_with END,
      result = CASE WHEN $9::boolean THEN $10::jsonb ELSE result END,
      error = CASE WHEN $11::boolean THEN $12::jsonb ELSE error END,
      remind_count = COALESCE($13, remind_count),
      delivery_attempt = COALESCE($14, delivery_attempt),
      current_step = CASE WHEN $15::boolean THEN $16 ELSE current_step END,
      completed_at = CASE WHEN $17::boolean THEN $18 ELSE completed_at END,
      updated_at = $18
    WHERE id = $1
    RETURNING *
  ), event AS (
    INSERT INTO intent_events (intent_id, org_id, seq, event_type, status, waiting_reason, handler, actor, details, dedupe_key, at)
    SELECT u.id, u.org_id, u.last_seq, $19, u.status, u.waiting_reason, u.handler, $20, $21::jsonb, $22, $18
    FROM updated u
  ), stream AS (
    SELECT CASE WHEN $23 = u.handler THEN COALESCE(u.handler_org_id, u.org_id)
           ELSE COALESCE((SELECT o.id FROM organizations o WHERE o.slug = $24 AND o.id <> u.org_id), u.org_id)
           END AS org_id
    FROM updated u WHERE $23::text IS NOT NULL
  ), cursor AS (
    -- Its row lock is held to commit, so an agent's stream order is commit order.
    INSERT INTO agent_stream_cursors (address, org_id, last_seq) SELECT $23, s.org_id, 1 FROM stream s
    ON CONFLICT (address) DO UPDATE SET last_seq = agent_stream_cursors.last_seq + 1
    RETURNING last_seq
  ), entry AS (
    INSERT INTO agent_stream_entries (org_id, address, seq, intent_id, event_seq, event_type, at)
    SELECT s.org_id, $23, c.last_seq, u.id, u.last_seq, $19, $18 FROM stream s, cursor c, updated u
  )
  SELECT ${INTENT_SELECT}, (SELECT c.last_seq FROM cursor c) AS "agentSeq" FROM updated i`;

/**
 * The intents a scope may read: its org's own, and those another org sent to one of its agents
 * (the current handler's org). Writes stay in the sender's org, through the intent's workflow.
 */
function visibleTo(scope: TenantScope): Prisma.IntentWhereInput {
  return scope.kind === 'org' ? { OR: [{ orgId: scope.orgId }, { handlerOrgId: scope.orgId }] } : {};
}

@Injectable()
export class IntentRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Stores a new intent with events 1 `intent.created`/CREATED and 2 `intent.submitted`/SUBMITTED,
   * and, for a create under an Idempotency-Key, the key's record with the answer to replay, all in
   * one transaction. Plain SQL (raw-sql.ts): one statement without a key, and with one the key's
   * claim in the same transaction; it throws IdempotencyKeyTakenError when a live record holds it.
   */
  async createSubmitted(
    scope: OrgScope,
    input: NewIntent,
    actor: string,
    idempotency?: IdempotencyClaim,
  ): Promise<IntentRecord> {
    const now = new Date();
    const values = [
      input.id,
      scope.orgId,
      input.workspaceId,
      input.intentType,
      input.correlationId,
      input.fromAgent,
      input.toAgent,
      input.replyTo,
      input.handler,
      (input.handler && parseAgentAddress(input.handler)?.org) ?? null,
      jsonParam(input.pendingWith),
      jsonParam(input.payload) ?? '{}',
      jsonParam(input.humanTask),
      input.deadlineAt,
      input.remindAfterSeconds,
      input.remindIntervalSeconds,
      input.maxReminders,
      input.escalateTo,
      input.maxDeliveryAttempts,
      input.traceId,
      jsonParam(input.policyDecision),
      input.scenarioId ?? null,
      jsonParam(input.workflowPlan),
      now,
      actor,
    ];
    const insert = async (db: pg.Pool | pg.PoolClient) => {
      const [row] = await preparedRows<IntentRow>(db, 'intent_create', CREATE_INTENT_SQL, values);
      return toIntent(row!);
    };
    if (!idempotency) return insert(this.prisma.pool);
    return rawTransaction(this.prisma.pool, async (client) => {
      const intent = await insert(client);
      const response = idempotency.response(intent);
      // An expired record of the same key (in this org) does not block it: the key is new again.
      const claimed = await preparedRows(
        client,
        'intent_create_idempotency',
        `INSERT INTO idempotency_records
           (id, org_id, caller_id, route, key, request_hash, response_status, response_body, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)
         ON CONFLICT (caller_id, route, key) DO UPDATE SET
           id = EXCLUDED.id, request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
           response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
         WHERE idempotency_records.expires_at <= EXCLUDED.created_at AND idempotency_records.org_id = EXCLUDED.org_id
         RETURNING id`,
        [
          randomUUID(),
          scope.orgId,
          idempotency.callerId,
          idempotency.route,
          idempotency.key,
          idempotency.requestHash,
          response.status,
          jsonParam(response.body) ?? '{}',
          now,
          idempotency.expiresAt,
        ],
      );
      if (claimed.length === 0) throw new IdempotencyKeyTakenError();
      return intent;
    });
  }

  /** One intent as `scope` may read it (see visibleTo), in plain SQL: every `GET /v1/intents/{id}` reads it. */
  async findById(scope: TenantScope, id: string): Promise<IntentRecord | null> {
    const [row] =
      scope.kind === 'org'
        ? await preparedRows<IntentRow>(
            this.prisma.pool,
            'intent_by_id_for_org',
            `SELECT ${INTENT_SELECT} FROM intents i WHERE i.id = $1 AND (i.org_id = $2 OR i.handler_org_id = $2)`,
            [id, scope.orgId],
          )
        : await preparedRows<IntentRow>(
            this.prisma.pool,
            'intent_by_id',
            `SELECT ${INTENT_SELECT} FROM intents i WHERE i.id = $1`,
            [id],
          );
    return row ? toIntent(row) : null;
  }

  async listEvents(
    scope: TenantScope,
    intentId: string,
    since: number,
    limit: number,
  ): Promise<IntentEventRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.intentEvent.findMany({
        where: { intentId, seq: { gt: since }, intent: visibleTo(scope) },
        orderBy: { seq: 'asc' },
        take: limit,
      });
      return rows.map(toEvent);
    });
  }

  /**
   * Appends one event under a row lock on the intent, so seq is gapless and in commit order, the
   * transition is checked against the status actually stored, and a retried writer with the same
   * dedupeKey gets its first event back instead of a second one.
   */
  async appendEvent(
    scope: TenantScope,
    intentId: string,
    input: AppendEventInput,
  ): Promise<AppendEventResult> {
    return rawTransaction(this.prisma.pool, async (client) => {
      const [current] = await preparedRows<IntentRow>(
        client,
        'intent_lock_for_event',
        `SELECT ${INTENT_SELECT} FROM intents i
         WHERE i.id = $1 AND ($2::uuid IS NULL OR i.org_id = $2)
         FOR UPDATE`,
        [intentId, scope.kind === 'org' ? scope.orgId : null],
      );
      if (!current) throw new NotFoundError('intent_not_found', `intent ${intentId} not found`);
      if (input.dedupeKey) {
        // Its own statement, after the lock: a statement sees what was committed when it began, so a
        // concurrent writer of the same key that held the lock is seen only by a later statement.
        const [existing] = await preparedRows<Omit<EventRow, 'id'>>(
          client,
          'intent_event_by_dedupe_key',
          `SELECT ${EVENT_SELECT} FROM intent_events e WHERE e.intent_id = $1 AND e.dedupe_key = $2`,
          [intentId, input.dedupeKey],
        );
        if (existing)
          return { event: toEvent(existing), intent: toIntent(current), created: false, agentSeq: null };
      }
      const from = current.status as IntentStatus;
      const to = input.status ?? from;
      if (isTerminal(from) || (to !== from && !canTransition(from, to, current.waitingReason))) {
        throw new ConflictError(
          isTerminal(from) ? 'intent_terminal' : 'invalid_transition',
          `intent is ${from}; ${input.eventType} (${to}) is not allowed`,
          { status: from },
        );
      }
      const now = new Date();
      const waitingReason = to === 'WAITING' ? (input.waitingReason ?? null) : null;
      const details = jsonParam(input.details) ?? '{}';
      const slugOf = (address: string | null | undefined) =>
        (address && parseAgentAddress(address)?.org) ?? null;
      const [row] = await preparedRows<IntentRow & { agentSeq: number | null }>(
        client,
        'intent_append_event',
        APPEND_EVENT_SQL,
        [
          intentId,
          to,
          waitingReason,
          input.handler !== undefined,
          input.handler ?? null,
          slugOf(input.handler),
          input.pendingWith !== undefined,
          jsonParam(input.pendingWith),
          input.result !== undefined,
          jsonParam(input.result),
          input.error !== undefined,
          jsonParam(input.error),
          input.remindCount ?? null,
          input.deliveryAttempt ?? null,
          input.currentStep !== undefined,
          input.currentStep ?? null,
          isTerminal(to),
          now,
          input.eventType,
          input.actor,
          details,
          input.dedupeKey ?? null,
          input.deliverTo ?? null,
          slugOf(input.deliverTo),
        ],
      );
      const { agentSeq, ...updated } = row!;
      const event: IntentEventRecord = {
        intentId,
        seq: updated.lastSeq,
        eventType: input.eventType,
        status: to,
        waitingReason,
        handler: updated.handler,
        actor: input.actor,
        details: JSON.parse(details) as Record<string, unknown>,
        at: now,
      };
      return { event, intent: toIntent(updated), created: true, agentSeq };
    });
  }

  /** Newest first, keyset-paged on (createdAt, id) so pages stay stable while intents arrive. */
  async list(scope: TenantScope, filter: IntentListFilter): Promise<IntentRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.intent.findMany({
        where: {
          ...visibleTo(scope),
          ...(filter.statuses?.length ? { status: { in: [...filter.statuses] } } : {}),
          ...(filter.toAgent ? { toAgent: filter.toAgent } : {}),
          ...(filter.fromAgent ? { fromAgent: filter.fromAgent } : {}),
          ...(filter.intentType ? { intentType: filter.intentType } : {}),
          ...(filter.createdAfter || filter.createdBefore
            ? {
                createdAt: {
                  ...(filter.createdAfter ? { gte: filter.createdAfter } : {}),
                  ...(filter.createdBefore ? { lt: filter.createdBefore } : {}),
                },
              }
            : {}),
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
      return rows.map(toIntent);
    });
  }

  /**
   * Compare-and-set on policy_generation (reference §1.4): the change applies only when the stored
   * generation is the expected one (or none is expected), and bumps it by one.
   */
  async changePolicy(
    scope: TenantScope,
    intentId: string,
    change: PolicyChange,
  ): Promise<PolicyChangeResult> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        const locked = await lockIntent(tx, scope, intentId);
        if (!locked) throw new NotFoundError('intent_not_found', `intent ${intentId} not found`);
        const current = toIntent(await tx.intent.findUniqueOrThrow({ where: { id: intentId } }));
        if (isTerminal(current.status)) return { applied: false, reason: 'intent_terminal', intent: current };
        if (change.expectedGeneration !== undefined && change.expectedGeneration !== current.policyGeneration)
          return { applied: false, reason: 'stale_policy_generation', intent: current };
        const row = await tx.intent.update({
          where: { id: intentId },
          data: {
            policyGeneration: { increment: 1 },
            ...(change.controls ? { controls: json({ ...current.controls, ...change.controls }) ?? {} } : {}),
            ...(change.grants ? { grants: json(mergeGrants(current.grants, change.grants)) ?? {} } : {}),
            ...(change.envelope ? { envelope: json({ ...current.envelope, ...change.envelope }) ?? {} } : {}),
            ...(change.deadlineAt !== undefined ? { deadlineAt: change.deadlineAt } : {}),
          },
        });
        return { applied: true, intent: toIntent(row) };
      }),
    );
  }

  /** The projection's delivery_attempt, written by the http delivery between events. */
  async setDeliveryAttempt(scope: TenantScope, intentId: string, attempt: number): Promise<void> {
    await guarded(() =>
      this.prisma.client.intent.updateMany({
        where: { id: intentId, deliveryAttempt: { lt: attempt }, ...orgFilter(scope) },
        data: { deliveryAttempt: attempt },
      }),
    );
  }

  /**
   * The intent and the highest N among its events recorded by its workflow (dedupe key `step-N`, or
   * 0), read in one statement so both are of one moment: the gateway may record the delivery step
   * meanwhile, and a status from before it with a step count from after it would repeat the step.
   */
  async findWithLastWorkflowStep(
    scope: OrgScope,
    intentId: string,
  ): Promise<{ intent: IntentRecord; lastWorkflowStep: number } | null> {
    const [row] = await preparedRows<IntentRow & { lastWorkflowStep: number | null }>(
      this.prisma.pool,
      'intent_with_last_workflow_step',
      `SELECT ${INTENT_SELECT},
         (SELECT max(substring(e.dedupe_key FROM 6)::int) FROM intent_events e
           WHERE e.intent_id = i.id AND e.org_id = i.org_id AND e.dedupe_key ~ '^step-[0-9]+$') AS "lastWorkflowStep"
       FROM intents i WHERE i.id = $1 AND i.org_id = $2`,
      [intentId, scope.orgId],
    );
    if (!row) return null;
    const { lastWorkflowStep, ...intent } = row;
    return { intent: toIntent(intent), lastWorkflowStep: lastWorkflowStep ?? 0 };
  }

  /** Every create makes this write right after its workflow starts, so it is plain SQL (raw-sql.ts). */
  async markWorkflowStarted(scope: OrgScope, intentId: string): Promise<void> {
    await preparedRows(
      this.prisma.pool,
      'intent_workflow_started',
      `UPDATE intents SET workflow_started_at = $3, updated_at = $3
        WHERE id = $1 AND org_id = $2 AND workflow_started_at IS NULL`,
      [intentId, scope.orgId, new Date()],
    );
  }

  /** Intents whose workflow start was never confirmed (e.g. Temporal was down at create). */
  async findStranded(scope: TenantScope, olderThan: Date, limit: number): Promise<IntentRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.intent.findMany({
        where: { workflowStartedAt: null, createdAt: { lt: olderThan }, ...orgFilter(scope) },
        orderBy: { createdAt: 'asc' },
        take: limit,
      });
      return rows.map(toIntent);
    });
  }

  /**
   * Deliveries on an agent's stream after `since`, with their intents, skipping intents whose current
   * status is not in `statuses`. `scannedTo` is the highest cursor looked at, so a client can move past
   * a page that was filtered out entirely.
   */
  async listAgentStream(
    scope: TenantScope,
    address: string,
    since: number,
    statuses: readonly IntentStatus[],
    limit: number,
  ): Promise<{ items: AgentStreamItem[]; scannedTo: number }> {
    return guarded(async () => {
      const entries = await this.prisma.client.agentStreamEntry.findMany({
        where: { address, seq: { gt: since }, ...orgFilter(scope) },
        orderBy: { seq: 'asc' },
        take: limit,
      });
      if (entries.length === 0) return { items: [], scannedTo: since };
      const intents = await this.prisma.client.intent.findMany({
        // A transferred intent leaves its old handler's stream: deliveries follow the handler.
        where: {
          id: { in: [...new Set(entries.map((e) => e.intentId))] },
          status: { in: [...statuses] },
          handler: address,
        },
      });
      const byId = new Map(intents.map((row) => [row.id, toIntent(row)]));
      const items: AgentStreamItem[] = [];
      for (const entry of entries) {
        const intent = byId.get(entry.intentId);
        if (intent)
          items.push({
            agentSeq: entry.seq,
            eventSeq: entry.eventSeq,
            eventType: entry.eventType,
            intent,
            at: entry.at,
          });
      }
      return { items, scannedTo: entries[entries.length - 1]!.seq };
    });
  }
}

export type IntentListFilter = {
  statuses?: readonly string[];
  toAgent?: string;
  fromAgent?: string;
  intentType?: string;
  createdAfter?: Date;
  createdBefore?: Date;
  /** Keyset cursor: the createdAt and id of the last intent of the previous page. */
  after?: { createdAt: Date; id: string };
  limit: number;
};

export type PolicyChange = {
  expectedGeneration?: number;
  controls?: Record<string, unknown>;
  grants?: Record<string, { allow: string[] } | null>;
  envelope?: Record<string, unknown>;
  /** undefined = leave the deadline alone; null = no deadline. */
  deadlineAt?: Date | null;
};

export type PolicyChangeResult =
  | { applied: true; intent: IntentRecord }
  | { applied: false; reason: 'stale_policy_generation' | 'intent_terminal'; intent: IntentRecord };

/** A concurrent request with the same idempotency key committed first; re-read and replay it. */
export class IdempotencyKeyTakenError extends Error {
  constructor() {
    super('idempotency key taken concurrently');
    this.name = 'IdempotencyKeyTakenError';
  }
}

type LockedIntent = {
  status: string;
  last_seq: number;
  waiting_reason: string | null;
  org_id: string;
  handler: string | null;
};

async function lockIntent(tx: Tx, scope: TenantScope, intentId: string): Promise<LockedIntent | null> {
  const rows =
    scope.kind === 'org'
      ? await tx.$queryRaw<
          LockedIntent[]
        >`SELECT status, last_seq, waiting_reason, org_id::text, handler FROM intents WHERE id = ${intentId}::uuid AND org_id = ${scope.orgId}::uuid FOR UPDATE`
      : await tx.$queryRaw<
          LockedIntent[]
        >`SELECT status, last_seq, waiting_reason, org_id::text, handler FROM intents WHERE id = ${intentId}::uuid FOR UPDATE`;
  return rows[0] ?? null;
}

/** A grant set to null is removed; others replace the grant for that key. */
function mergeGrants(
  current: Record<string, { allow: string[] }>,
  patch: Record<string, { allow: string[] } | null>,
): Record<string, { allow: string[] }> {
  const merged = { ...current };
  for (const [key, grant] of Object.entries(patch)) {
    if (grant === null) delete merged[key];
    else merged[key] = grant;
  }
  return merged;
}

function toIntent(row: IntentRow): IntentRecord {
  return {
    ...row,
    status: row.status as IntentStatus,
    waitingReason: row.waitingReason as WaitingReason | null,
    pendingWith: row.pendingWith as PendingWith | null,
    payload: row.payload as Record<string, unknown>,
    humanTask: row.humanTask as Record<string, unknown> | null,
    policyDecision: row.policyDecision as Record<string, unknown> | null,
    workflowPlan: row.workflowPlan as Record<string, unknown> | null,
    controls: row.controls as Record<string, unknown>,
    grants: row.grants as Record<string, { allow: string[] }>,
    envelope: row.envelope as Record<string, unknown>,
  };
}

function toEvent(row: Omit<EventRow, 'id'>): IntentEventRecord {
  return {
    intentId: row.intentId,
    seq: row.seq,
    eventType: row.eventType,
    status: row.status as IntentStatus,
    waitingReason: row.waitingReason as WaitingReason | null,
    handler: row.handler,
    actor: row.actor,
    details: row.details as Record<string, unknown>,
    at: row.at,
  };
}
