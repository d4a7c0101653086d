// Mesh health (docs/mesh.md): a pure function of the kill switch and the last heartbeat's age, so a
// listing, a filter and a heartbeat's event all agree. The SQL filters below select exactly the
// agents that meshHealth() classifies the same way at the same `now`.
import { type HeartbeatTransition, type MeshAgentFilter, type NewMeshEvent } from '@axle/data';
import { type MeshHealthStatus } from '@axle/protocol';

export type HealthThresholds = { degradedAfterSeconds: number; unreachableAfterSeconds: number };

type HealthInputs = { lastHeartbeatAt: Date | null; killedAt: Date | null };

/**
 * killed while killedAt is set; unknown before the first heartbeat; otherwise by the age of the last
 * heartbeat: healthy below `degradedAfterSeconds`, degraded below `unreachableAfterSeconds`,
 * unreachable from then on. A heartbeat "from the future" (clock skew between gateways) is healthy.
 */
export function meshHealth(agent: HealthInputs, now: Date, thresholds: HealthThresholds): MeshHealthStatus {
  if (agent.killedAt) return 'killed';
  if (!agent.lastHeartbeatAt) return 'unknown';
  const ageMs = now.getTime() - agent.lastHeartbeatAt.getTime();
  if (ageMs < thresholds.degradedAfterSeconds * 1000) return 'healthy';
  if (ageMs < thresholds.unreachableAfterSeconds * 1000) return 'degraded';
  return 'unreachable';
}

/** The repository filter that selects the agents meshHealth() puts in `status` at `now`. */
export function healthFilter(
  status: MeshHealthStatus,
  now: Date,
  thresholds: HealthThresholds,
): MeshAgentFilter {
  const degradedCut = new Date(now.getTime() - thresholds.degradedAfterSeconds * 1000);
  const unreachableCut = new Date(now.getTime() - thresholds.unreachableAfterSeconds * 1000);
  switch (status) {
    case 'killed':
      return { killed: true };
    case 'unknown':
      return { killed: false, heartbeat: null };
    case 'healthy':
      return { killed: false, heartbeat: { after: degradedCut } };
    case 'degraded':
      return { killed: false, heartbeat: { after: unreachableCut, atOrBefore: degradedCut } };
    case 'unreachable':
      return { killed: false, heartbeat: { atOrBefore: unreachableCut } };
  }
}

/**
 * The event a heartbeat writes, if any: `agent.heartbeat_first` for an agent's first heartbeat,
 * `agent.health_changed` when it moves the derived state (a degraded or unreachable agent is healthy
 * again), nothing otherwise, so a steady agent does not write an event every 30 s.
 */
export function heartbeatEvent(
  { before, after }: HeartbeatTransition,
  now: Date,
  thresholds: HealthThresholds,
): NewMeshEvent | null {
  const from = meshHealth(before, now, thresholds);
  const to = meshHealth(after, now, thresholds);
  if (!before.lastHeartbeatAt)
    return { eventType: 'agent.heartbeat_first', actorId: after.id, details: { health_status: to } };
  if (from === to) return null;
  return {
    eventType: 'agent.health_changed',
    actorId: after.id,
    details: {
      from,
      to,
      previous_heartbeat_at: before.lastHeartbeatAt.toISOString(),
      silent_for_seconds: Math.max(0, Math.round((now.getTime() - before.lastHeartbeatAt.getTime()) / 1000)),
    },
  };
}
