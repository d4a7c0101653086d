import { type Principal, tenantScopeOf } from '@axle/auth';
import {
  decodeKeysetCursor,
  encodeKeysetCursor,
  type IntentEventRecord,
  type IntentRecord,
  IntentRepository,
} from '@axle/data';
import {
  INTENT_STATUSES,
  isUuid,
  listIntentsQuerySchema,
  NotFoundError,
  parseAgentAddress,
  parseOrThrow,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { toEventView, toIntentView } from './intent.view';

/** Reads of intents and their events, confined to what the caller may see. */
@Injectable()
export class IntentQueries {
  constructor(private readonly intents: IntentRepository) {}

  /** 404 for unknown ids and for intents of another org alike, so existence does not leak. */
  async get(principal: Principal, id: string): Promise<IntentRecord> {
    const intent = isUuid(id) ? await this.intents.findById(tenantScopeOf(principal), id) : null;
    if (!intent) throw new NotFoundError('intent_not_found', `intent ${id} not found`);
    return intent;
  }

  async events(principal: Principal, id: string, since: number, limit: number): Promise<IntentEventRecord[]> {
    await this.get(principal, id);
    return this.intents.listEvents(tenantScopeOf(principal), id, since, limit);
  }

  /** The intent and the event a write recorded (seq), as resolve and transfer answer them. */
  async afterWrite(principal: Principal, id: string, seq: number): Promise<Record<string, unknown>> {
    const scope = tenantScopeOf(principal);
    const [updated, [event]] = await Promise.all([
      this.intents.findById(scope, id),
      this.intents.listEvents(scope, id, seq - 1, 1),
    ]);
    return {
      intent: updated ? toIntentView(updated) : null,
      event: event ? { ...toEventView(event), pending_with: updated?.pendingWith ?? null } : null,
    };
  }

  /** `GET /v1/intents`: newest first with an opaque keyset cursor. */
  async list(principal: Principal, query: unknown): Promise<Record<string, unknown>> {
    const q = parseOrThrow(listIntentsQuerySchema, query, 'query');
    const statuses = q.status?.map((s) => s.toUpperCase());
    const unknown = statuses?.filter((s) => !(INTENT_STATUSES as readonly string[]).includes(s)) ?? [];
    if (unknown.length > 0) throw queryError('status', `unknown status ${unknown.join(', ')}`, 'enum');
    const address = (field: 'to_agent' | 'from_agent') => {
      const text = q[field];
      if (text === undefined) return undefined;
      const parsed = parseAgentAddress(text);
      if (!parsed) throw queryError(field, 'invalid agent address', 'invalid_agent_address');
      return parsed.canonical;
    };
    const toAgent = address('to_agent');
    const fromAgent = address('from_agent');
    const rows = await this.intents.list(tenantScopeOf(principal), {
      ...(statuses ? { statuses } : {}),
      ...(toAgent ? { toAgent } : {}),
      ...(fromAgent ? { fromAgent } : {}),
      ...(q.intent_type ? { intentType: q.intent_type } : {}),
      ...(q.created_after ? { createdAfter: new Date(q.created_after) } : {}),
      ...(q.created_before ? { createdBefore: new Date(q.created_before) } : {}),
      ...(q.cursor ? { after: decodeKeysetCursor(q.cursor) } : {}),
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const hasMore = rows.length > q.limit;
    return {
      ok: true,
      intents: page.map(toIntentView),
      next_cursor: hasMore && last ? encodeKeysetCursor(last) : null,
      has_more: hasMore,
    };
  }
}

function queryError(field: string, message: string, type: string): ValidationFailedError {
  return new ValidationFailedError([{ path: field, loc: ['query', field], message, type }]);
}
