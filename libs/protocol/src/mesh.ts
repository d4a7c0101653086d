// Agent mesh (SPEC §2 "Mesh health", reference/axme-wire.md §1.3 "Agent Mesh"): heartbeat body,
// list/event queries, health states and mesh event types. Workflow-safe: zod only.
import { z } from 'zod';

/** Derived from heartbeat age and the kill switch (docs/mesh.md). */
export const MESH_HEALTH_STATUSES = ['healthy', 'degraded', 'unreachable', 'killed', 'unknown'] as const;
export type MeshHealthStatus = (typeof MESH_HEALTH_STATUSES)[number];

/**
 * Mesh events. A heartbeat writes one only when it changes the derived state (first heartbeat, or a
 * recovery from degraded/unreachable), never one per heartbeat.
 */
export const MESH_EVENT_TYPES = [
  'agent.heartbeat_first',
  'agent.health_changed',
  'agent.killed',
  'agent.resumed',
] as const;
export type MeshEventType = (typeof MESH_EVENT_TYPES)[number];

/** A heartbeat body is a few numbers; anything larger than this is refused with 413. */
export const MESH_HEARTBEAT_MAX_BYTES = 4096;

export const MESH_WINDOWS = ['day', 'week', 'month'] as const;
export type MeshWindow = (typeof MESH_WINDOWS)[number];
export const MESH_WINDOW_SECONDS: Record<MeshWindow, number> = {
  day: 86_400,
  week: 7 * 86_400,
  month: 30 * 86_400,
};

const count = z.number().int().nonnegative();
const amount = z.number().nonnegative();

/**
 * What the SDKs buffer between heartbeats (all optional: the Python SDK omits counters it never
 * incremented, the TypeScript SDK sends `avg_latency_ms: null` when no latency was reported).
 */
export const meshMetricsSchema = z
  .object({
    intents_total: count.optional(),
    intents_succeeded: count.optional(),
    intents_failed: count.optional(),
    avg_latency_ms: amount.nullable().optional(),
    cost_usd: amount.nullable().optional(),
  })
  .strict();
export type MeshMetrics = z.infer<typeof meshMetricsSchema>;

/** `POST /v1/mesh/heartbeat` `{metrics?}`; unknown keys are refused (422), not dropped. */
export const meshHeartbeatSchema = z
  .object({
    metrics: meshMetricsSchema.nullable().optional(),
  })
  .strict();

/** `POST /v1/mesh/agents/{address_id}/kill` `{reason?}` (the SDKs send no body). */
export const meshKillSchema = z
  .object({
    reason: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

/** `POST /v1/mesh/agents/{address_id}/resume` takes no fields. */
export const meshResumeSchema = z.object({}).strict();

/** `GET /v1/mesh/agents?limit&health&window` */
export const meshAgentsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  health: z.enum(MESH_HEALTH_STATUSES).optional(),
  window: z.enum(MESH_WINDOWS).default('day'),
});

/** `GET /v1/mesh/events?limit&event_type` */
export const meshEventsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  event_type: z.enum(MESH_EVENT_TYPES).optional(),
});

/** One agent as the SDKs read it (`MeshAgent` of the TypeScript SDK), field for field. */
export type MeshAgentView = {
  address_id: string;
  address: string;
  display_name: string;
  health_status: MeshHealthStatus;
  last_heartbeat_at: string | null;
  created_at: string;
  intents_period: number;
  cost_period: number;
  metadata: Record<string, unknown> | null;
};

export type MeshSummaryView = {
  total: number;
  healthy: number;
  degraded: number;
  unreachable: number;
  killed: number;
};

export type MeshEventView = {
  event_id: string;
  address: string;
  event_type: string;
  details: Record<string, unknown> | null;
  actor_id: string | null;
  created_at: string;
};
