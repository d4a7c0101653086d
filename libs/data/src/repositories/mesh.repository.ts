import { Injectable } from '@nestjs/common';
import { type Prisma } from '../generated/prisma/client';
import { guarded } from '../errors';
import { json } from '../json';
import { PrismaService } from '../prisma.service';
import { orgFilter, type TenantScope } from '../tenancy';

/** An agent (service account) with the inputs its mesh health is derived from. */
export type MeshAgentRecord = {
  id: string;
  orgId: string;
  workspaceId: string;
  name: string;
  address: string;
  displayName: string | null;
  deliveryMode: string;
  role: string;
  status: string;
  lastHeartbeatAt: Date | null;
  /** The latest metrics an agent reported, with `reported_at`; a heartbeat without metrics keeps them. */
  heartbeatMetrics: Record<string, unknown> | null;
  killedAt: Date | null;
  createdAt: Date;
};

export type MeshEventRecord = {
  id: string;
  orgId: string;
  address: string;
  eventType: string;
  details: Record<string, unknown>;
  actorId: string | null;
  createdAt: Date;
};

export type NewMeshEvent = { eventType: string; details?: Record<string, unknown>; actorId?: string | null };

/**
 * Which agents a listing keeps. `heartbeat: null` means never heartbeated; the bounds compare the
 * last heartbeat with `after` (exclusive) and `atOrBefore` (inclusive).
 */
export type MeshAgentFilter = {
  killed?: boolean;
  heartbeat?: null | { after?: Date; atOrBefore?: Date };
};

/** What a heartbeat's event decision sees: the agent before and after the heartbeat. */
export type HeartbeatTransition = { before: MeshAgentRecord; after: MeshAgentRecord };

export type HeartbeatResult = {
  agent: MeshAgentRecord;
  previousHeartbeatAt: Date | null;
  event: MeshEventRecord | null;
};

export type KillSwitchResult = {
  agent: MeshAgentRecord;
  /** false when the agent already was in the requested state (the call is idempotent). */
  changed: boolean;
  /** When the agent was killed: the new kill, or, for a resume, the kill that it lifted. */
  killedAt: Date | null;
  event: MeshEventRecord | null;
};

type Tx = Prisma.TransactionClient;

const AGENT_SELECT = {
  id: true,
  orgId: true,
  workspaceId: true,
  name: true,
  address: true,
  displayName: true,
  deliveryMode: true,
  role: true,
  status: true,
  lastHeartbeatAt: true,
  heartbeatMetrics: true,
  killedAt: true,
  createdAt: true,
} as const;

/**
 * Agent mesh state (SPEC §2 "Mesh health"): heartbeats, the operator kill switch and mesh events.
 * Agents are service accounts, so an agent's mesh id (`address_id`) is its service account id.
 */
@Injectable()
export class MeshRepository {
  constructor(private readonly prisma: PrismaService) {}

  /**
   * Records a heartbeat (and the metrics, when given) under the agent's row lock, and the event
   * `eventFor` picks from the state before and after, in the same transaction: concurrent heartbeats
   * of one agent cannot both be its first. Leaves `updated_at` alone (a heartbeat is not an edit).
   * Null when the agent is not in the scope.
   */
  async recordHeartbeat(
    scope: TenantScope,
    agentId: string,
    input: { at: Date; metrics: Record<string, unknown> | null },
    eventFor: (transition: HeartbeatTransition) => NewMeshEvent | null,
  ): Promise<HeartbeatResult | null> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        if (!(await lockAgent(tx, scope, agentId))) return null;
        const before = await findAgent(tx, scope, agentId);
        if (!before) return null;
        const metrics = input.metrics ? { ...input.metrics, reported_at: input.at.toISOString() } : null;
        if (metrics)
          await tx.$executeRaw`UPDATE service_accounts SET last_heartbeat_at = ${input.at}, heartbeat_metrics = ${JSON.stringify(metrics)}::jsonb WHERE id = ${agentId}::uuid`;
        else
          await tx.$executeRaw`UPDATE service_accounts SET last_heartbeat_at = ${input.at} WHERE id = ${agentId}::uuid`;
        const after: MeshAgentRecord = {
          ...before,
          lastHeartbeatAt: input.at,
          heartbeatMetrics: metrics ?? before.heartbeatMetrics,
        };
        const wanted = eventFor({ before, after });
        const event = wanted ? await insertEvent(tx, after, wanted) : null;
        return { agent: after, previousHeartbeatAt: before.lastHeartbeatAt, event };
      }),
    );
  }

  async findAgent(scope: TenantScope, agentId: string): Promise<MeshAgentRecord | null> {
    return guarded(() => findAgent(this.prisma.client, scope, agentId));
  }

  /** Agents of the scope, oldest first, keeping those the filter selects. */
  async listAgents(scope: TenantScope, filter: MeshAgentFilter, limit: number): Promise<MeshAgentRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.serviceAccount.findMany({
        where: { ...orgFilter(scope), ...agentWhere(filter) },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: limit,
        select: AGENT_SELECT,
      });
      return rows.map(toAgent);
    });
  }

  /** How many agents of the scope each filter selects (one count per named filter, all at once). */
  async countAgents<K extends string>(
    scope: TenantScope,
    filters: Record<K, MeshAgentFilter>,
  ): Promise<Record<K, number>> {
    return guarded(async () => {
      const entries = Object.entries(filters) as [K, MeshAgentFilter][];
      const counts = await this.prisma.client.$transaction(
        entries.map(([, filter]) =>
          this.prisma.client.serviceAccount.count({ where: { ...orgFilter(scope), ...agentWhere(filter) } }),
        ),
      );
      return Object.fromEntries(entries.map(([name], i) => [name, counts[i] ?? 0])) as Record<K, number>;
    });
  }

  /**
   * Sets killedAt and writes `agent.killed`, once: killing a killed agent changes nothing and writes
   * no event. Null when the agent is not in the scope.
   */
  async kill(
    scope: TenantScope,
    agentId: string,
    input: { at: Date; actorId: string; reason: string | null },
  ): Promise<KillSwitchResult | null> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        if (!(await lockAgent(tx, scope, agentId))) return null;
        const before = await findAgent(tx, scope, agentId);
        if (!before) return null;
        if (before.killedAt) return { agent: before, changed: false, killedAt: before.killedAt, event: null };
        await tx.serviceAccount.update({ where: { id: agentId }, data: { killedAt: input.at } });
        const agent = { ...before, killedAt: input.at };
        const event = await insertEvent(tx, agent, {
          eventType: 'agent.killed',
          actorId: input.actorId,
          details: { reason: input.reason, killed_at: input.at.toISOString() },
        });
        return { agent, changed: true, killedAt: input.at, event };
      }),
    );
  }

  /** Clears killedAt and writes `agent.resumed`, once. Null when the agent is not in the scope. */
  async resume(
    scope: TenantScope,
    agentId: string,
    input: { at: Date; actorId: string },
  ): Promise<KillSwitchResult | null> {
    return guarded(() =>
      this.prisma.client.$transaction(async (tx) => {
        if (!(await lockAgent(tx, scope, agentId))) return null;
        const before = await findAgent(tx, scope, agentId);
        if (!before) return null;
        const killedAt = before.killedAt;
        if (!killedAt) return { agent: before, changed: false, killedAt: null, event: null };
        await tx.serviceAccount.update({ where: { id: agentId }, data: { killedAt: null } });
        const agent = { ...before, killedAt: null };
        const event = await insertEvent(tx, agent, {
          eventType: 'agent.resumed',
          actorId: input.actorId,
          details: {
            killed_at: killedAt.toISOString(),
            killed_for_seconds: Math.max(0, Math.round((input.at.getTime() - killedAt.getTime()) / 1000)),
          },
        });
        return { agent, changed: true, killedAt, event };
      }),
    );
  }

  /** When the agent at `address` was killed, or null when it is not (or is not a registered agent). */
  async killedSince(scope: TenantScope, address: string): Promise<Date | null> {
    return guarded(async () => {
      const row = await this.prisma.client.serviceAccount.findFirst({
        where: { address, ...orgFilter(scope) },
        select: { killedAt: true },
      });
      return row?.killedAt ?? null;
    });
  }

  /** For the delivery paths: a killed agent gets no deliveries until it is resumed. */
  async isKilled(scope: TenantScope, address: string): Promise<boolean> {
    return (await this.killedSince(scope, address)) !== null;
  }

  /** Newest first; optionally one event type and/or one agent address. */
  async listEvents(
    scope: TenantScope,
    options: { limit: number; eventType?: string; address?: string },
  ): Promise<MeshEventRecord[]> {
    return guarded(async () => {
      const rows = await this.prisma.client.meshEvent.findMany({
        where: {
          ...orgFilter(scope),
          ...(options.eventType ? { eventType: options.eventType } : {}),
          ...(options.address ? { address: options.address } : {}),
        },
        orderBy: { id: 'desc' },
        take: options.limit,
      });
      return rows.map(toEvent);
    });
  }

  /**
   * Intents addressed to each of `addresses` created at or after `since` (the mesh's
   * intents_period), from the intents table.
   */
  async countIntentsTo(
    scope: TenantScope,
    addresses: readonly string[],
    since: Date,
  ): Promise<Map<string, number>> {
    if (addresses.length === 0) return new Map();
    return guarded(async () => {
      const groups = await this.prisma.client.intent.groupBy({
        by: ['toAgent'],
        where: { ...orgFilter(scope), toAgent: { in: [...addresses] }, createdAt: { gte: since } },
        _count: { _all: true },
      });
      return new Map(groups.map((g) => [g.toAgent, g._count._all]));
    });
  }
}

function agentWhere(filter: MeshAgentFilter): Prisma.ServiceAccountWhereInput {
  const where: Prisma.ServiceAccountWhereInput = {};
  if (filter.killed !== undefined) where.killedAt = filter.killed ? { not: null } : null;
  if (filter.heartbeat === null) where.lastHeartbeatAt = null;
  else if (filter.heartbeat)
    where.lastHeartbeatAt = {
      not: null,
      ...(filter.heartbeat.after ? { gt: filter.heartbeat.after } : {}),
      ...(filter.heartbeat.atOrBefore ? { lte: filter.heartbeat.atOrBefore } : {}),
    };
  return where;
}

/** Takes the agent's row lock for the rest of the transaction; false when it is not in the scope. */
async function lockAgent(tx: Tx, scope: TenantScope, agentId: string): Promise<boolean> {
  const rows =
    scope.kind === 'org'
      ? await tx.$queryRaw<
          { id: string }[]
        >`SELECT id::text FROM service_accounts WHERE id = ${agentId}::uuid AND org_id = ${scope.orgId}::uuid FOR UPDATE`
      : await tx.$queryRaw<
          { id: string }[]
        >`SELECT id::text FROM service_accounts WHERE id = ${agentId}::uuid FOR UPDATE`;
  return rows.length > 0;
}

async function findAgent(
  client: Pick<Tx, 'serviceAccount'>,
  scope: TenantScope,
  agentId: string,
): Promise<MeshAgentRecord | null> {
  const row = await client.serviceAccount.findFirst({
    where: { id: agentId, ...orgFilter(scope) },
    select: AGENT_SELECT,
  });
  return row ? toAgent(row) : null;
}

async function insertEvent(tx: Tx, agent: MeshAgentRecord, event: NewMeshEvent): Promise<MeshEventRecord> {
  const row = await tx.meshEvent.create({
    data: {
      orgId: agent.orgId,
      address: agent.address,
      eventType: event.eventType,
      details: json(event.details) ?? {},
      actorId: event.actorId ?? null,
    },
  });
  return toEvent(row);
}

function toAgent(
  row: Omit<MeshAgentRecord, 'heartbeatMetrics'> & { heartbeatMetrics: Prisma.JsonValue },
): MeshAgentRecord {
  const metrics = row.heartbeatMetrics;
  return {
    ...row,
    heartbeatMetrics:
      metrics !== null && typeof metrics === 'object' && !Array.isArray(metrics) ? metrics : null,
  };
}

function toEvent(row: {
  id: bigint;
  orgId: string;
  address: string;
  eventType: string;
  details: Prisma.JsonValue;
  actorId: string | null;
  createdAt: Date;
}): MeshEventRecord {
  const details = row.details;
  return {
    id: row.id.toString(),
    orgId: row.orgId,
    address: row.address,
    eventType: row.eventType,
    details: details !== null && typeof details === 'object' && !Array.isArray(details) ? details : {},
    actorId: row.actorId,
    createdAt: row.createdAt,
  };
}
