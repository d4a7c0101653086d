import { mayActAs, type Principal, tenantScopeOf } from '@axle/auth';
import { IntentRepository, MeshRepository } from '@axle/data';
import {
  agentAddressOrThrow,
  ForbiddenError,
  INTENT_STATUSES,
  type IntentStatus,
  isIntentStatus,
  REDIS_CHANNELS,
  TERMINAL_STATUSES,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { EventBus } from './event-bus.service';
import { IntentQueries } from './intent-queries.service';
import { toEventView, toIntentView } from './intent.view';
import { ReadCoalescer } from './read-coalescer';

/** One SSE frame; `at` is when its event was recorded (axle_event_delivery_lag_seconds). */
export type StreamFrame = { id: number; event: string; data: Record<string, unknown>; at?: Date };

/** What a stream source gives back for one read: frames to send and the cursor after them. */
export type StreamBatch = { frames: StreamFrame[]; cursor: number; finished: boolean };

export type StreamSource = {
  channel: string;
  read(cursor: number): Promise<StreamBatch>;
};

/**
 * Sources for the long-poll SSE endpoints (SPEC §4). The HTTP layer drives them: read after the
 * cursor; when empty, wait for a Redis notice (subscribed before reading, so nothing slips between).
 */
@Injectable()
export class EventStreamService {
  /** Streams following one intent that are woken together read its new events once (SSE fan-out). */
  private readonly eventReads = new ReadCoalescer<StreamBatch>();

  constructor(
    private readonly queries: IntentQueries,
    private readonly intents: IntentRepository,
    private readonly mesh: MeshRepository,
    readonly bus: EventBus,
  ) {}

  async intentEvents(principal: Principal, intentId: string): Promise<StreamSource> {
    await this.queries.get(principal, intentId);
    const scope = tenantScopeOf(principal);
    return {
      channel: REDIS_CHANNELS.intentEvents(intentId),
      read: (cursor) =>
        this.eventReads.read(
          `${scope.kind === 'org' ? scope.orgId : '*'}|${intentId}|${cursor}`,
          async () => {
            const events = await this.intents.listEvents(scope, intentId, cursor, 500);
            const last = events[events.length - 1];
            return {
              frames: events.map((e) => ({
                id: e.seq,
                event: e.eventType,
                data: { ...toEventView(e) },
                at: e.at,
              })),
              cursor: last?.seq ?? cursor,
              finished: last ? TERMINAL_STATUSES.has(last.status) : false,
            };
          },
        ),
    };
  }

  /**
   * The agent's delivery stream: one frame per delivery, by the per-agent cursor. While an operator
   * has killed the agent (docs/mesh.md) a read yields nothing and the cursor stays put, so the
   * deliveries queued meanwhile come out after the resume, whose notice wakes waiting streams.
   */
  agentStream(principal: Principal, addressText: string, statusFilter?: string): StreamSource {
    const address = agentAddressOrThrow(addressText, 'address', 'path');
    if (!mayActAs(principal, address)) {
      throw new ForbiddenError(
        'owner_scope_violation',
        'a credential may listen only to its own agent address',
      );
    }
    const statuses = parseStatuses(statusFilter);
    const scope = tenantScopeOf(principal);
    return {
      channel: REDIS_CHANNELS.agentStream(address.canonical),
      read: async (cursor) => {
        if (await this.mesh.isKilled(scope, address.canonical))
          return { frames: [], cursor, finished: false };
        const { items, scannedTo } = await this.intents.listAgentStream(
          scope,
          address.canonical,
          cursor,
          statuses,
          200,
        );
        return {
          frames: items.map((item) => ({
            id: item.agentSeq,
            event: item.eventType,
            data: {
              ...toIntentView(item.intent),
              seq: item.agentSeq,
              event_seq: item.eventSeq,
              event_type: item.eventType,
            },
            at: item.at,
          })),
          cursor: scannedTo,
          finished: false,
        };
      },
    };
  }
}

/** `?status=A,B` selects statuses; by default terminal intents are left out (no zombie intents). */
function parseStatuses(filter?: string): IntentStatus[] {
  if (!filter) return INTENT_STATUSES.filter((s) => !TERMINAL_STATUSES.has(s));
  const wanted = filter
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const bad = wanted.filter((s) => !isIntentStatus(s));
  if (bad.length > 0) {
    throw new ValidationFailedError([
      { path: 'status', loc: ['query', 'status'], message: `unknown status ${bad.join(', ')}`, type: 'enum' },
    ]);
  }
  return wanted as IntentStatus[];
}
