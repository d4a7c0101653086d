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

export const humanTaskSchema = z.looseObject({
  title: z.string().min(1).max(255),
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
