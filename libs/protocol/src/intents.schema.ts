// Request schemas for the intent API (reference/axme-wire.md §1.4). The gateway validates with these
// and the OpenAPI document is generated from them, so they are the single source of the wire shape.
// Unknown fields are dropped rather than rejected: real clients send extras (SPEC "compatibility").
import { z } from 'zod';
import { parseAgentAddress } from './address';

export const INTENT_TYPE_PATTERN = /^[a-z0-9_]+(?:\.[a-z0-9_]+)+\.v[0-9]+$/;

export const agentAddressSchema = z
  .string()
  .min(3)
  .max(383)
  .refine((v) => parseAgentAddress(v) !== null, {
    message: 'invalid agent address',
    params: { code: 'invalid_agent_address' },
  });

export const HUMAN_TASK_TYPES = [
  'approval',
  'review',
  'clarification',
  'provide_data',
  'attach_file',
  'manual_action',
  'confirmation',
  'validate_real_world',
  'validate_output',
  'assignment',
  'delegation',
  'reroute',
  'override',
  'escalate',
] as const;

/**
 * HumanTaskSpec (reference §1.4). `title` is optional (README examples omit it, reference §9.7): the
 * intent's type stands in for it. `form_schema` is compiled as JSON Schema 2020-12 at create.
 */
export const humanTaskSchema = z.looseObject({
  title: z.string().min(1).max(255).optional(),
  description: z.string().max(2000).optional(),
  task_type: z.enum(HUMAN_TASK_TYPES).optional(),
  allowed_outcomes: z.array(z.string().min(1).max(64)).min(1).max(20).optional(),
  required_comment: z.boolean().optional(),
  assignees: z.array(z.string().min(1).max(320)).min(1).max(20).optional(),
  evidence_required: z.boolean().optional(),
  form_schema: z.record(z.string(), z.unknown()).optional(),
  notify_email: z.string().max(320).optional(),
});

export const createIntentSchema = z.object({
  intent_type: z.string().max(255).regex(INTENT_TYPE_PATTERN, 'must look like "domain.action.v1"'),
  correlation_id: z.uuid().optional(),
  to_agent: agentAddressSchema,
  payload: z.record(z.string(), z.unknown()),
  from_agent: z.string().max(383).optional(),
  reply_to: agentAddressSchema.optional(),
  deadline_at: z.iso.datetime({ offset: true }).optional(),
  remind_after_seconds: z.int().min(1).optional(),
  remind_interval_seconds: z.int().min(1).optional(),
  max_reminders: z.int().min(1).optional(),
  escalate_to: agentAddressSchema.optional(),
  max_delivery_attempts: z.int().min(1).max(100).optional(),
  human_task: humanTaskSchema.optional(),
});
export type CreateIntentRequest = z.infer<typeof createIntentSchema>;

/**
 * Resume accepts three body flavours (reference §1.4): control/approve, an agent's step result
 * (`{action: "complete"|"fail", …}` or any object) and a human `task_result`.
 */
export const resumeIntentSchema = z.looseObject({
  action: z.string().max(64).optional(),
  approve_current_step: z.boolean().optional(),
  actor: z.string().max(255).optional(),
  reason: z.string().max(2000).optional(),
  expected_policy_generation: z.int().min(0).optional(),
  task_result: z.looseObject({ outcome: z.string().min(1).max(64) }).optional(),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
});
export type ResumeIntentRequest = z.infer<typeof resumeIntentSchema>;

export const eventsQuerySchema = z.object({
  since: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});

export const streamQuerySchema = z.object({
  since: z.coerce.number().int().min(0).optional(),
  wait_seconds: z.coerce.number().int().min(1).max(60).default(15),
  follow: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
  status: z.string().max(512).optional(),
});

/** `POST /v1/intents/{id}/resolve` (reference §1.4): COMPLETED needs result, FAILED error, CANCELED reason. */
export const resolveIntentSchema = z
  .looseObject({
    status: z.enum(['COMPLETED', 'FAILED', 'CANCELED']),
    actor: z.string().max(255).optional(),
    result: z.unknown().optional(),
    error: z.unknown().optional(),
    reason: z.string().max(2000).optional(),
  })
  .superRefine((body, ctx) => {
    const required = { COMPLETED: 'result', FAILED: 'error', CANCELED: 'reason' } as const;
    const field = required[body.status];
    if (body[field] === undefined || body[field] === null)
      ctx.addIssue({ code: 'custom', path: [field], message: `required when status is ${body.status}` });
  });
export type ResolveIntentRequest = z.infer<typeof resolveIntentSchema>;

/** `POST /v1/intents/{id}/transfer` (Axle extension, SPEC §3 "Handler transfer"). */
export const transferIntentSchema = z.object({
  to_agent: agentAddressSchema,
  reason: z.string().max(2000).optional(),
});

const generation = z.int().min(0).max(2_147_483_647);

/** `POST /v1/intents/{id}/controls`: the mutable controls, compare-and-set on policy_generation. */
export const controlsIntentSchema = z.object({
  controls_patch: z
    .looseObject({ timeout_seconds: z.int().min(1).max(31_536_000).nullable().optional() })
    .refine((v) => Object.keys(v).length > 0, 'must change at least one control'),
  expected_policy_generation: generation.optional(),
  actor: z.string().max(255).optional(),
  reason: z.string().max(2000).optional(),
});

/** Actions a `delegate:<address>` grant can allow (reference §1.4 "Controls / Policy"). */
export const GRANT_ACTIONS = ['resume', 'update_controls', 'update_policy', 'resolve', 'transfer'] as const;
export type GrantAction = (typeof GRANT_ACTIONS)[number];

export const policyIntentSchema = z
  .object({
    grants_patch: z
      .record(
        z.string().regex(/^delegate:/, 'grant keys look like "delegate:agent://org/ws/name"'),
        z.object({ allow: z.array(z.enum(GRANT_ACTIONS)).max(GRANT_ACTIONS.length) }).nullable(),
      )
      .optional(),
    envelope_patch: z
      .object({
        max_retry_count: z.int().min(0).max(100).optional(),
        retry_backoff_seconds: z.int().min(0).max(86_400).optional(),
        execution_timeout_seconds: z.int().min(1).max(31_536_000).optional(),
        ttl_seconds: z.int().min(1).max(31_536_000).optional(),
        expires_at: z.iso.datetime({ offset: true }).optional(),
      })
      .optional(),
    expected_policy_generation: generation.optional(),
    actor: z.string().max(255).optional(),
    reason: z.string().max(2000).optional(),
  })
  .refine((v) => v.grants_patch !== undefined || v.envelope_patch !== undefined, {
    message: 'send grants_patch or envelope_patch',
    path: ['grants_patch'],
  });

const csv = (max: number) =>
  z
    .string()
    .max(max)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );

/** `GET /v1/intents` filters and cursor paging (newest first). */
export const listIntentsQuerySchema = z.object({
  status: csv(256).optional(),
  to_agent: z.string().max(383).optional(),
  from_agent: z.string().max(383).optional(),
  intent_type: z.string().max(255).optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** `POST /v1/intents/bulk-cancel` (CLI `intents cleanup`). */
export const bulkCancelSchema = z.object({
  older_than_hours: z.number().min(0).max(87_600).default(0),
  dry_run: z.boolean().default(false),
  reason: z.string().min(1).max(2000).default('bulk cancel'),
  limit: z.int().min(1).max(1000).default(100),
  status_filter: z.array(z.string().max(32)).max(10).optional(),
});

/** `GET /v1/capabilities` (reference §1.3): what this server implements. */
export const CAPABILITIES = [
  'intents.create',
  'intents.get',
  'intents.list',
  'intents.events',
  'intents.events.stream',
  'intents.resume',
  'intents.resolve',
  'intents.controls',
  'intents.policy',
  'intents.transfer',
  'intents.bulk_cancel',
  'agents.stream',
  'delivery.stream',
  'delivery.poll',
  'delivery.http',
  'delivery.inbox',
  'inbox',
  'approvals',
  'human_tasks',
  'reminders',
  'escalation',
  'deadlines',
  'scenarios',
  'idempotency',
  'sessions',
] as const;
