// Inbox and approvals (reference/axme-wire.md §1.3 "Inbox / human actions", §1.4 "Human tasks list"):
// query and body schemas the gateway validates with. Unknown fields are dropped rather than rejected,
// as for intents. Workflow-safe.
import { z } from 'zod';
import { agentAddressSchema } from './intents.schema';

export const INBOX_THREAD_STATUSES = ['pending', 'active', 'done'] as const;
export type InboxThreadStatusName = (typeof INBOX_THREAD_STATUSES)[number];

/** A reply given as text may be this long; an object reply is bounded by AXLE_MAX_PAYLOAD_BYTES. */
export const INBOX_MESSAGE_MAX_CHARS = 10_000;

/**
 * Change-feed cursors are the thread's change_seq in decimal, zero-padded to this width so they sort
 * as strings too and always meet the reference schema's minimum length of 3.
 */
export const INBOX_CURSOR_WIDTH = 20;

const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

/** `GET /v1/inbox?owner_agent&status&limit` (owner_agent is read by the owner-scope helper). */
export const inboxListQuerySchema = z.object({
  owner_agent: z.string().max(383).optional(),
  status: z.enum(INBOX_THREAD_STATUSES).optional(),
  limit: limit(200, 50),
});

/** `GET /v1/inbox/changes?owner_agent&cursor&limit`: changes after the cursor, oldest first. */
export const inboxChangesQuerySchema = z.object({
  owner_agent: z.string().max(383).optional(),
  cursor: z
    .string()
    .refine(
      (v) => /^[0-9]{1,20}$/.test(v) && BigInt(v) <= 9_223_372_036_854_775_807n,
      'not a cursor this server issued',
    )
    .optional(),
  limit: limit(200, 50),
});

/** `POST /v1/inbox/{id}/reply`: text (the reference form) or a structured message object. */
export const inboxReplySchema = z.object({
  message: z.union([
    z
      .string()
      .max(INBOX_MESSAGE_MAX_CHARS)
      .refine((v) => v.trim() !== '', 'must not be blank'),
    z.record(z.string(), z.unknown()).refine((v) => Object.keys(v).length > 0, 'must not be empty'),
  ]),
});
export type InboxReplyRequest = z.infer<typeof inboxReplySchema>;

/** `POST /v1/inbox/{id}/delegate`. */
export const inboxDelegateSchema = z.object({
  delegate_to: agentAddressSchema,
  note: z.string().max(2000).optional(),
});

/** `POST /v1/inbox/{id}/approve|reject`. */
export const inboxDecisionSchema = z.object({
  comment: z.string().max(2000).nullable().optional(),
});

/** `POST /v1/inbox/{id}/messages/delete`: `self` hides for the owner, `both` deletes for everyone. */
export const inboxDeleteMessagesSchema = z.object({
  mode: z.enum(['self', 'both']),
  message_ids: z.array(z.uuid()).min(1).max(100).optional(),
  limit: z.int().min(1).max(100).optional(),
});

/** `POST /v1/approvals/{approval_id}/decision`. */
export const approvalDecisionSchema = z.object({
  decision: z.enum(['approve', 'reject']),
  comment: z.string().max(2000).nullable().optional(),
});

/** Webhook `source` of every event the inbox emits. */
export const INBOX_WEBHOOK_SOURCE = 'axle.inbox';
