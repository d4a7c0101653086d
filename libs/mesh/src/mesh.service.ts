import { type Principal, requireRole, tenantScopeOf } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import {
  AuditRepository,
  type KillSwitchResult,
  type MeshAgentRecord,
  MeshRepository,
  orgScope,
  type TenantScope,
} from '@axle/data';
import { EventBus } from '@axle/intents';
import {
  ForbiddenError,
  isUuid,
  MESH_HEALTH_STATUSES,
  MESH_HEARTBEAT_MAX_BYTES,
  MESH_WINDOW_SECONDS,
  meshAgentsQuerySchema,
  type MeshAgentView,
  meshEventsQuerySchema,
  type MeshHealthStatus,
  meshHeartbeatSchema,
  meshKillSchema,
  meshResumeSchema,
  type MeshSummaryView,
  NotFoundError,
  parseOrThrow,
  PayloadTooLargeError,
  REDIS_CHANNELS,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';
import { type HealthThresholds, healthFilter, heartbeatEvent, meshHealth } from './health';
import { costInWindow, toMeshAgentView, toMeshEventView } from './mesh.view';

/** What every mesh route gets from the gateway. */
export type MeshCommand = { principal: Principal; requestId: string };

/** Recent events shown with one agent (`GET /v1/mesh/agents/{address_id}`). */
const AGENT_DETAIL_EVENTS = 20;

/**
 * The agent mesh (SPEC §2 "Mesh health", docs/mesh.md): heartbeats, health from heartbeat age, the
 * operator kill switch and mesh events. Deliveries consult the kill switch themselves
 * (MeshRepository.isKilled in the http delivery activity and the agent stream).
 */
@Injectable()
export class MeshService {
  private readonly thresholds: HealthThresholds;

  constructor(
    @Inject(AXLE_CONFIG) config: AxleConfig,
    private readonly mesh: MeshRepository,
    private readonly audit: AuditRepository,
    private readonly bus: EventBus,
  ) {
    this.thresholds = {
      degradedAfterSeconds: config.mesh.degradedAfterSeconds,
      unreachableAfterSeconds: config.mesh.unreachableAfterSeconds,
    };
  }

  /**
   * `POST /v1/mesh/heartbeat`: the calling agent is alive (and reports metrics). Only an agent's own
   * API key heartbeats; a person's token is not an agent. Not audited: one every 30 s per agent would
   * drown the audit trail, and the heartbeat itself is kept (last_heartbeat_at, mesh events on change).
   */
  async heartbeat(command: MeshCommand & { body: unknown; bodyBytes: number }) {
    const { principal } = command;
    if (principal.kind !== 'service_account')
      throw new ForbiddenError(
        'agent_credential_required',
        "a heartbeat comes from an agent's own API key, not a user token",
      );
    if (command.bodyBytes > MESH_HEARTBEAT_MAX_BYTES)
      throw new PayloadTooLargeError(MESH_HEARTBEAT_MAX_BYTES, command.bodyBytes);
    const body = parseOrThrow(meshHeartbeatSchema, command.body ?? {});
    const now = new Date();
    const result = await this.mesh.recordHeartbeat(
      orgScope(principal.orgId),
      principal.actorId,
      { at: now, metrics: body.metrics ?? null },
      (transition) => heartbeatEvent(transition, now, this.thresholds),
    );
    if (!result) throw agentNotFound(principal.actorId);
    return {
      ok: true,
      address_id: result.agent.id,
      address: result.agent.address,
      health_status: meshHealth(result.agent, now, this.thresholds),
      last_heartbeat_at: now.toISOString(),
    };
  }

  /**
   * `GET /v1/mesh/agents?limit&health&window`: the scope's agents (oldest first) with their health;
   * `summary` counts every agent of the scope, whatever `health` and `limit` select.
   */
  async listAgents(command: MeshCommand & { query: unknown }) {
    const query = parseOrThrow(meshAgentsQuerySchema, command.query, 'query');
    const scope = tenantScopeOf(command.principal);
    const now = new Date();
    const filter = query.health ? healthFilter(query.health, now, this.thresholds) : {};
    const [agents, summary] = await Promise.all([
      this.mesh.listAgents(scope, filter, query.limit),
      this.summary(scope, now),
    ]);
    return {
      ok: true,
      agents: await this.views(scope, agents, now, query.window),
      summary,
    };
  }

  /** `GET /v1/mesh/agents/{address_id}`: one agent with its latest metrics and recent events. */
  async getAgent(command: MeshCommand & { addressId: string }) {
    const scope = tenantScopeOf(command.principal);
    const agent = isUuid(command.addressId) ? await this.mesh.findAgent(scope, command.addressId) : null;
    if (!agent) throw agentNotFound(command.addressId);
    const now = new Date();
    const [[view], events] = await Promise.all([
      this.views(scope, [agent], now, 'day'),
      this.mesh.listEvents(scope, { limit: AGENT_DETAIL_EVENTS, address: agent.address }),
    ]);
    return {
      ok: true,
      agent: view,
      metrics: agent.heartbeatMetrics,
      events: events.map(toMeshEventView),
    };
  }

  /**
   * `POST /v1/mesh/agents/{address_id}/kill {reason?}`: operators and admins (and the platform admin)
   * stop every delivery to the agent until it is resumed. Killing a killed agent is a 200 that
   * changes nothing (`changed: false`); the kill time and reason of the first kill stay.
   */
  async kill(command: MeshCommand & { addressId: string; body: unknown }) {
    return this.killSwitch(command, 'kill', async (scope, now) => {
      const body = parseOrThrow(meshKillSchema, command.body ?? {});
      return this.mesh.kill(scope, command.addressId, {
        at: now,
        actorId: command.principal.actorId,
        reason: body.reason ?? null,
      });
    });
  }

  /**
   * `POST /v1/mesh/agents/{address_id}/resume`: deliveries start again; held http deliveries are
   * retried and waiting agent streams are woken. Resuming an agent that is not killed is a 200 with
   * `changed: false`.
   */
  async resume(command: MeshCommand & { addressId: string; body: unknown }) {
    return this.killSwitch(command, 'resume', async (scope, now) => {
      parseOrThrow(meshResumeSchema, command.body ?? {});
      const result = await this.mesh.resume(scope, command.addressId, {
        at: now,
        actorId: command.principal.actorId,
      });
      // Streams wait on the agent's channel; the notice makes them re-read now (a lost one only
      // delays them until their next poll).
      if (result?.changed) await this.bus.publish(REDIS_CHANNELS.agentStream(result.agent.address));
      return result;
    });
  }

  /** `GET /v1/mesh/events?limit&event_type`: newest first. */
  async listEvents(command: MeshCommand & { query: unknown }) {
    const query = parseOrThrow(meshEventsQuerySchema, command.query, 'query');
    const events = await this.mesh.listEvents(tenantScopeOf(command.principal), {
      limit: query.limit,
      ...(query.event_type ? { eventType: query.event_type } : {}),
    });
    return { ok: true, events: events.map(toMeshEventView) };
  }

  private async killSwitch(
    command: MeshCommand & { addressId: string },
    action: 'kill' | 'resume',
    apply: (scope: TenantScope, now: Date) => Promise<KillSwitchResult | null>,
  ) {
    const { principal } = command;
    try {
      requireRole(principal, 'operator');
    } catch (err) {
      await this.audit.record({
        orgId: principal.orgId,
        actorType: principal.kind,
        actorId: principal.actorId,
        action: `mesh.${action}`,
        targetType: 'agent',
        targetId: isUuid(command.addressId) ? command.addressId : null,
        outcome: 'denied',
        requestId: command.requestId,
        details: { reason: 'insufficient_role', role: principal.role },
      });
      throw err;
    }
    const scope = tenantScopeOf(principal);
    const now = new Date();
    if (!isUuid(command.addressId)) throw agentNotFound(command.addressId);
    const result = await apply(scope, now);
    if (!result) throw agentNotFound(command.addressId);
    await this.audit.record({
      orgId: result.agent.orgId,
      actorType: principal.kind,
      actorId: principal.actorId,
      action: `mesh.${action}`,
      targetType: 'agent',
      targetId: result.agent.id,
      outcome: 'success',
      requestId: command.requestId,
      details: {
        address: result.agent.address,
        changed: result.changed,
        ...(action === 'kill' && result.event ? { reason: result.event.details.reason ?? null } : {}),
      },
    });
    const [view] = await this.views(scope, [result.agent], now, 'day');
    return {
      ok: true,
      changed: result.changed,
      killed_at: result.killedAt?.toISOString() ?? null,
      agent: view,
    };
  }

  private async summary(scope: TenantScope, now: Date): Promise<MeshSummaryView> {
    const counted = MESH_HEALTH_STATUSES.filter(
      (s): s is Exclude<MeshHealthStatus, 'unknown'> => s !== 'unknown',
    );
    const filters = Object.fromEntries(
      counted.map((status) => [status, healthFilter(status, now, this.thresholds)]),
    ) as Record<(typeof counted)[number], ReturnType<typeof healthFilter>>;
    const counts = await this.mesh.countAgents(scope, { total: {}, ...filters });
    return {
      total: counts.total,
      healthy: counts.healthy,
      degraded: counts.degraded,
      unreachable: counts.unreachable,
      killed: counts.killed,
    };
  }

  private async views(
    scope: TenantScope,
    agents: MeshAgentRecord[],
    now: Date,
    window: keyof typeof MESH_WINDOW_SECONDS,
  ): Promise<MeshAgentView[]> {
    const windowStart = new Date(now.getTime() - MESH_WINDOW_SECONDS[window] * 1000);
    const intents = await this.mesh.countIntentsTo(
      scope,
      agents.map((a) => a.address),
      windowStart,
    );
    return agents.map((agent) =>
      toMeshAgentView(agent, meshHealth(agent, now, this.thresholds), {
        intents: intents.get(agent.address) ?? 0,
        cost: costInWindow(agent.heartbeatMetrics, windowStart),
      }),
    );
  }
}

function agentNotFound(addressId: string): NotFoundError {
  return new NotFoundError('agent_not_found', `agent ${addressId} not found`);
}
