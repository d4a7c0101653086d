import { type MeshAgentRecord, type MeshEventRecord } from '@axle/data';
import { type MeshAgentView, type MeshEventView, type MeshHealthStatus } from '@axle/protocol';

/**
 * The SDKs' `MeshAgent`, field for field. intents_period and cost_period are computed by the service
 * for the requested window; metadata carries what an operator needs next to the health.
 */
export function toMeshAgentView(
  agent: MeshAgentRecord,
  health: MeshHealthStatus,
  period: { intents: number; cost: number },
): MeshAgentView {
  return {
    address_id: agent.id,
    address: agent.address,
    display_name: agent.displayName ?? agent.name,
    health_status: health,
    last_heartbeat_at: agent.lastHeartbeatAt?.toISOString() ?? null,
    created_at: agent.createdAt.toISOString(),
    intents_period: period.intents,
    cost_period: period.cost,
    metadata: {
      name: agent.name,
      workspace_id: agent.workspaceId,
      delivery_mode: agent.deliveryMode,
      killed_at: agent.killedAt?.toISOString() ?? null,
    },
  };
}

export function toMeshEventView(event: MeshEventRecord): MeshEventView {
  return {
    event_id: event.id,
    address: event.address,
    event_type: event.eventType,
    details: event.details,
    actor_id: event.actorId,
    created_at: event.createdAt.toISOString(),
  };
}

/**
 * cost_period: the cost of the latest metrics report when that report falls in the window, else 0.
 * The SDKs report per-interval figures and Axle keeps only the latest report (docs/mesh.md).
 */
export function costInWindow(metrics: Record<string, unknown> | null, windowStart: Date): number {
  if (!metrics) return 0;
  const cost = metrics.cost_usd;
  const reportedAt = typeof metrics.reported_at === 'string' ? Date.parse(metrics.reported_at) : NaN;
  if (typeof cost !== 'number' || !Number.isFinite(cost) || Number.isNaN(reportedAt)) return 0;
  return reportedAt >= windowStart.getTime() ? cost : 0;
}
