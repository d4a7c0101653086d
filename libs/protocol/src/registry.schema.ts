// Request schemas for the registry (SPEC §2; reference/axme-wire.md §1.3 "Enterprise / identity"):
// organizations, workspaces, members, service accounts (agents) and their API keys.
import { z } from 'zod';
import { ROLES } from './auth';

export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
export const AGENT_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$/;
export const DELIVERY_MODES = ['stream', 'poll', 'http', 'inbox', 'internal'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];
export function isDeliveryMode(value: unknown): value is DeliveryMode {
  return (DELIVERY_MODES as readonly unknown[]).includes(value);
}
export const AGENT_STATUSES = ['active', 'suspended'] as const;

const slug = z.string().regex(SLUG_PATTERN, 'must be 3-63 lower-case letters, digits or dashes');
const displayName = z.string().trim().min(1).max(200);
const description = z.string().max(2000);
const callbackUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048);

export const createOrganizationSchema = z.strictObject({
  slug,
  name: displayName.optional(),
});

export const updateOrganizationSchema = z.strictObject({
  name: displayName.optional(),
  status: z.enum(['active', 'suspended']).optional(),
});

export const createWorkspaceSchema = z.strictObject({ slug, name: displayName.optional() });

export const createMemberSchema = z.strictObject({
  email: z.email().max(320),
  role: z.enum(ROLES).default('member'),
  display_name: displayName.optional(),
  /** The member's own agent address (inbox and tasks); must be in the member's org. */
  address: z.string().max(383).optional(),
});

export const updateMemberSchema = z.strictObject({
  role: z.enum(ROLES).optional(),
  status: z.enum(['active', 'suspended']).optional(),
  display_name: displayName.optional(),
});

export const createServiceAccountSchema = z
  .strictObject({
    /** Org id or slug; default the caller's org. */
    org_id: z.string().min(1).max(64).optional(),
    /** Workspace id or slug; default `default`. */
    workspace_id: z.string().min(1).max(64).optional(),
    name: z
      .string()
      .regex(AGENT_NAME_PATTERN, 'must be 1-63 lower-case letters, digits, dots, dashes or underscores'),
    display_name: displayName.optional(),
    description: description.optional(),
    delivery_mode: z.enum(DELIVERY_MODES).default('stream'),
    callback_url: callbackUrl.optional(),
    role: z.enum(ROLES).default('member'),
    /** AXME's field; the audit trail records the real caller anyway. */
    created_by_actor_id: z.string().max(255).optional(),
  })
  .refine((v) => v.delivery_mode !== 'http' || v.callback_url !== undefined, {
    message: 'required when delivery_mode is http',
    path: ['callback_url'],
  });

export const updateServiceAccountSchema = z.strictObject({
  display_name: displayName.nullable().optional(),
  description: description.nullable().optional(),
  delivery_mode: z.enum(DELIVERY_MODES).optional(),
  callback_url: callbackUrl.nullable().optional(),
  role: z.enum(ROLES).optional(),
  status: z.enum(AGENT_STATUSES).optional(),
  rate_limit_per_minute: z.int().min(0).max(1_000_000).nullable().optional(),
});

export const createApiKeySchema = z.strictObject({
  name: z.string().trim().min(1).max(100).default('default'),
  expires_at: z.iso.datetime({ offset: true }).optional(),
});

export const listQuerySchema = z.looseObject({
  org_id: z.string().min(1).max(64).optional(),
  workspace_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export type CreateServiceAccountRequest = z.infer<typeof createServiceAccountSchema>;
export type UpdateServiceAccountRequest = z.infer<typeof updateServiceAccountSchema>;
